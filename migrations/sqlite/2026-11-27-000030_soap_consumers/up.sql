-- The jXchange consumer an API key is registered for (`apikey create --consumer-name
-- --consumer-prod`): a request whose header names another ValidConsmName or
-- ValidConsmProd is fault 2505. NULL: not registered, not checked.
ALTER TABLE api_keys ADD COLUMN consumer_name TEXT;
ALTER TABLE api_keys ADD COLUMN consumer_prod TEXT;
