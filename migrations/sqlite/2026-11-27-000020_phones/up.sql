-- Phones with a lifecycle (issue 17). phone_changed_at: when the phone on file last
-- changed after the user existed (NULL: set at creation or never); the SIM-swap guard
-- holds the SMS fallback for sim_swap_hold_secs after it. hold_lifted_at: when an admin
-- lifted that hold (it covers only changes before it).
ALTER TABLE users ADD COLUMN phone_changed_at BIGINT;
ALTER TABLE users ADD COLUMN hold_lifted_at BIGINT;
-- An explicit OOBValidate naming only a number looks up whose phone it is (the hold).
CREATE INDEX users_by_phone ON users (inst_rt_id, phone_num);

-- "Explain this failure": a keyed hash (HMAC under a key derived from the master key) of
-- each wrong code, kept for explain_retention_secs, never the code itself. token_pk is a
-- plain reference (no foreign key): rows are short-lived and swept by expires_at.
CREATE TABLE failed_codes (
    id INTEGER PRIMARY KEY NOT NULL,
    token_pk INTEGER NOT NULL,
    at BIGINT NOT NULL,
    code_hash TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX failed_codes_by_token ON failed_codes (token_pk, at);
CREATE INDEX failed_codes_by_expiry ON failed_codes (expires_at);
