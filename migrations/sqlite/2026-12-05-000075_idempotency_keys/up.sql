-- Issue 29: Idempotency-Key. A retried creating or sending request carrying the same key
-- (per API key) does its work once, on any node and across restarts: the first request
-- claims the key (answer_status NULL while it runs), and its answer is stored here,
-- sealed under the master key (an enrollment answer holds the seed's base32 text, an
-- OOBValidate one its code), until expires_at (ms, idempotency_retention_secs). The
-- fingerprint (SHA-256 of the method, path and body) tells a retry from a different
-- request reusing the key.
CREATE TABLE idempotency_keys (
    api_key TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    claimed_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    answer_status INTEGER,
    answer_sealed BLOB,
    PRIMARY KEY (api_key, idem_key)
);
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);
