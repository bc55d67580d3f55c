-- A key made with `tokend apikey create --soap-digest` (issue 28): WS-Security's
-- PasswordDigest needs the key itself to recompute the digest, so such a key is kept
-- sealed under the master key (AES-256-GCM, bound to the key's name) as seeds are.
-- NULL for every other key, which stays stored only as its hash.
ALTER TABLE api_keys ADD COLUMN digest_secret BYTEA;
