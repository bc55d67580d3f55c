-- Issue 32: master keys in an HSM (master_key_source = "pkcs11"), envelope encryption.
-- The HSM's own AES key never leaves it; it wraps (AES-256-GCM inside the HSM, bound to
-- the key id) the 32-byte data keys that the register of master keys (master_keys) names
-- and that seal the seeds. This table holds each data key only in that wrapped form: a
-- copy of the database and of the data directory, without the HSM, opens no seed.
-- hsm_key_label is the label (CKA_LABEL) of the HSM key that wrapped it.
CREATE TABLE hsm_data_keys (
    key_id TEXT PRIMARY KEY NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    hsm_key_label TEXT NOT NULL,
    wrapped BYTEA NOT NULL,
    added_at BIGINT NOT NULL
);
