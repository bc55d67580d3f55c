ALTER TABLE api_keys DROP COLUMN consumer_prod;
ALTER TABLE api_keys DROP COLUMN consumer_name;
