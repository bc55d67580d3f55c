-- The register of master keys (tokend rekey). Key material is never stored here: only
-- ids and fingerprints, and, for a retired key, its verification keys (audit chain and
-- one-time code HMAC keys, never its seed key) wrapped with AES-256-GCM under a later key.
-- state: 'active' (exactly one: new seals, links, hashes and ActIntentKeys use it),
-- 'retiring' (the outgoing key while a rotation runs: seeds not re-encrypted yet still
-- open with it), 'retired' (no seed is under it any more; a start with it is refused).
CREATE TABLE master_keys (
    key_id TEXT PRIMARY KEY NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    retired_at BIGINT,
    wrapped_by TEXT,
    wrapped_keys BLOB
);

-- The key the database was created with is the active one. meta.master_key_fingerprint
-- stays, following the active key, so an older tokend still refuses a key it cannot use.
INSERT INTO master_keys (key_id, fingerprint, state, added_at)
    SELECT substr(value, 1, 16), value, 'active', 0
    FROM meta WHERE name = 'master_key_fingerprint';
