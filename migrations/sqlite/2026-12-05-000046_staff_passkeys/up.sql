-- Staff passkeys (WebAuthn, issue 25): each registered authenticator of a console
-- account. credential: the webauthn-rs Passkey as JSON (a public key, its id and its
-- signature counter: nothing secret). A WebAuthn ceremony's state waits on its console
-- session (webauthn_state) between its two requests, and is used once.
CREATE TABLE staff_passkeys (
    id INTEGER PRIMARY KEY NOT NULL,
    admin_id INTEGER NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    credential TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX staff_passkeys_by_admin ON staff_passkeys (admin_id);
ALTER TABLE admin_sessions ADD COLUMN webauthn_state TEXT;
