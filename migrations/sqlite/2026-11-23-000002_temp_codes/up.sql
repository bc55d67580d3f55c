-- Temporary codes for a user whose token is lost (jXchange MFATokenTempPswdInq).
-- Only a keyed hash of the code is stored.
CREATE TABLE temp_codes (
    id INTEGER PRIMARY KEY NOT NULL,
    user_pk INTEGER NOT NULL REFERENCES users (id),
    code_hash TEXT NOT NULL,
    one_time BOOLEAN NOT NULL,
    failure_count INTEGER NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT,
    ended_at BIGINT
);
CREATE INDEX temp_codes_by_user ON temp_codes (user_pk);
