-- Issue 26: WS-Security nonces seen on /jxchange, per API key, so a captured envelope
-- replayed within its time window is refused on every node. A row lives until the
-- message it came with could no longer pass the timestamp check (expires_at, ms); the
-- next nonce's transaction deletes the expired ones.
CREATE TABLE soap_nonces (
    nonce_key TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX soap_nonces_by_expiry ON soap_nonces (expires_at);
