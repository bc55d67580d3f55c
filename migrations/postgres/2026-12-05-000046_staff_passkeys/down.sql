ALTER TABLE admin_sessions DROP COLUMN webauthn_state;
DROP TABLE staff_passkeys;
