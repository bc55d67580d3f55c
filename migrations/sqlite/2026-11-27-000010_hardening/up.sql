-- Console sessions live in the database, not only in the cookie: sign-out, idle and
-- absolute expiry end a session for every process on the database (the cookie alone
-- stayed valid until its own timestamps ran out). The cookie carries a random id; only
-- its SHA-256 is stored, so a database reader cannot take over a session.
CREATE TABLE admin_sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    admin_id INTEGER NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    issued_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX admin_sessions_by_admin ON admin_sessions (admin_id);

-- Lock-fallback OOB sessions of a user that ended Failed or Expired in a row: at
-- oob_max_failed_sessions the SMS fallback stops until a success or an admin acts.
ALTER TABLE users ADD COLUMN oob_failed_sessions INTEGER NOT NULL DEFAULT 0;
