ALTER TABLE api_keys DROP COLUMN digest_secret;
