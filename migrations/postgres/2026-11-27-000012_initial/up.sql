-- The whole schema as of SQLite's migration 000012, in one step: PostgreSQL support
-- arrived then, so no PostgreSQL database ever held an older shape. Later migrations
-- have a twin here with the same directory name. Ids are SERIAL (int4) as SQLite's
-- INTEGER PRIMARY KEY columns are read as i32; times are BIGINT milliseconds.

CREATE TABLE meta (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id SERIAL PRIMARY KEY,
    inst_rt_id TEXT NOT NULL,
    usr_name TEXT NOT NULL,
    phone_num TEXT,
    created_at BIGINT NOT NULL,
    oob_failed_sessions INTEGER NOT NULL DEFAULT 0,
    UNIQUE (inst_rt_id, usr_name)
);
CREATE INDEX users_by_folded_name ON users (inst_rt_id, lower(usr_name), usr_name);

CREATE TABLE tokens (
    id SERIAL PRIMARY KEY,
    token_id TEXT NOT NULL UNIQUE,
    token_type TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    digits INTEGER NOT NULL,
    period INTEGER NOT NULL,
    seed_key_id TEXT NOT NULL,
    seed_nonce BYTEA NOT NULL,
    seed_ciphertext BYTEA NOT NULL,
    status TEXT NOT NULL,
    last_step BIGINT NOT NULL,
    drift INTEGER NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    inst_rt_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX tokens_by_inst ON tokens (inst_rt_id, token_id);

CREATE TABLE bindings (
    id SERIAL PRIMARY KEY,
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
    id SERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    key_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    inst_rt_id TEXT
);

CREATE TABLE audit_events (
    id SERIAL PRIMARY KEY,
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
    detail TEXT,
    link TEXT,
    inst_rt_id TEXT,
    chain_pos BIGINT
);
CREATE INDEX audit_events_by_token ON audit_events (token_id);
CREATE INDEX audit_events_unlinked ON audit_events (id) WHERE link IS NULL;
CREATE INDEX audit_events_by_usr ON audit_events (usr_name);
CREATE INDEX audit_events_by_action ON audit_events (action);
CREATE INDEX audit_events_by_at ON audit_events (at);
CREATE INDEX audit_by_inst ON audit_events (inst_rt_id, id);
CREATE UNIQUE INDEX audit_events_by_chain_pos ON audit_events (chain_pos);

CREATE TABLE temp_codes (
    id SERIAL PRIMARY KEY,
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

CREATE TABLE oob_sessions (
    id SERIAL PRIMARY KEY,
    alrt_pkg_id TEXT NOT NULL UNIQUE,
    user_pk INTEGER REFERENCES users (id),
    phone_num TEXT NOT NULL,
    mode TEXT NOT NULL,
    origin TEXT NOT NULL,
    otp_kind TEXT NOT NULL,
    otp_hash TEXT NOT NULL,
    sms_template TEXT NOT NULL,
    state TEXT NOT NULL,
    send_stat TEXT NOT NULL,
    resend_count INTEGER NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    ended_at BIGINT,
    inst_rt_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX oob_sessions_by_state ON oob_sessions (state, mode, expires_at);
CREATE INDEX oob_sessions_by_phone ON oob_sessions (phone_num, state);
CREATE INDEX oob_sessions_by_user ON oob_sessions (user_pk, state);
CREATE INDEX oob_sessions_by_expiry ON oob_sessions (expires_at);

CREATE TABLE sms_messages (
    id SERIAL PRIMARY KEY,
    session_pk INTEGER REFERENCES oob_sessions (id),
    user_pk INTEGER REFERENCES users (id),
    phone_num TEXT NOT NULL,
    body TEXT,
    provider TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX sms_messages_due ON sms_messages (state, next_attempt_at);
CREATE INDEX sms_messages_by_phone ON sms_messages (phone_num, created_at);
CREATE INDEX sms_messages_by_user ON sms_messages (user_pk, created_at);
CREATE INDEX sms_messages_with_text ON sms_messages (session_pk) WHERE body IS NOT NULL;
CREATE INDEX sms_messages_by_created ON sms_messages (created_at);

CREATE TABLE sms_attempts (
    id SERIAL PRIMARY KEY,
    message_pk INTEGER NOT NULL REFERENCES sms_messages (id),
    at BIGINT NOT NULL,
    result TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX sms_attempts_by_message ON sms_attempts (message_pk);

CREATE TABLE oob_events (
    id SERIAL PRIMARY KEY,
    session_pk INTEGER NOT NULL UNIQUE REFERENCES oob_sessions (id),
    alrt_pkg_id TEXT NOT NULL,
    usr_name TEXT,
    result TEXT NOT NULL,
    at BIGINT NOT NULL,
    delivered_at BIGINT,
    attempts INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    refused_at BIGINT
);
CREATE INDEX oob_events_undelivered ON oob_events (delivered_at, next_attempt_at);

CREATE TABLE admins (
    id SERIAL PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    must_change BOOLEAN NOT NULL,
    failure_count INTEGER NOT NULL,
    locked_until BIGINT,
    last_sign_in_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE admin_sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    admin_id INTEGER NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    issued_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX admin_sessions_by_admin ON admin_sessions (admin_id);

CREATE TABLE master_keys (
    key_id TEXT PRIMARY KEY NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    retired_at BIGINT,
    wrapped_by TEXT,
    wrapped_keys BYTEA
);
