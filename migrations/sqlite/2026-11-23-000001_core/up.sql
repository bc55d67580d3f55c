-- tokend core schema. Portable SQL: no AUTOINCREMENT, no SQLite-only types; times are
-- BIGINT milliseconds since the Unix epoch (UTC), so PostgreSQL can take the same shape.

CREATE TABLE meta (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY NOT NULL,
    inst_rt_id TEXT NOT NULL,
    usr_name TEXT NOT NULL,
    phone_num TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (inst_rt_id, usr_name)
);

-- One row per token. The seed is only ever stored sealed (AES-256-GCM, AAD = token_id).
-- last_step is the replay guard: a code is accepted only for a newer step, enforced by a
-- conditional UPDATE. version changes on every write to the token or its bindings and
-- feeds the jXchange ActIntentKey.
CREATE TABLE tokens (
    id INTEGER PRIMARY KEY NOT NULL,
    token_id TEXT NOT NULL UNIQUE,
    token_type TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    digits INTEGER NOT NULL,
    period INTEGER NOT NULL,
    seed_key_id TEXT NOT NULL,
    seed_nonce BLOB NOT NULL,
    seed_ciphertext BLOB NOT NULL,
    status TEXT NOT NULL,
    last_step BIGINT NOT NULL,
    drift INTEGER NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A user's binding to a token (jXchange MFATokenInqInfoRec): its own status, failure
-- count and last successful authentication.
CREATE TABLE bindings (
    id INTEGER PRIMARY KEY NOT NULL,
    token_pk INTEGER NOT NULL REFERENCES tokens (id),
    user_pk INTEGER NOT NULL REFERENCES users (id),
    status TEXT NOT NULL,
    description TEXT,
    failure_count INTEGER NOT NULL,
    last_authen_at BIGINT,
    last_receipt_id TEXT,
    locked_at BIGINT,
    lock_reason TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (token_pk, user_pk)
);
CREATE INDEX bindings_by_user ON bindings (user_pk);

CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    key_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- Every state change and every validation. Never a seed, never a code.
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    audit_usr_id TEXT,
    audit_ws_id TEXT,
    tracking_id TEXT,
    bus_correl_id TEXT,
    action TEXT NOT NULL,
    token_id TEXT,
    usr_name TEXT,
    result TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX audit_events_by_token ON audit_events (token_id);
