-- When each API key last authenticated a request (written at most once a minute per
-- key and process), for the console's API keys page.
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;
