DROP INDEX failed_codes_by_expiry;
DROP INDEX failed_codes_by_token;
DROP TABLE failed_codes;
DROP INDEX users_by_phone;
ALTER TABLE users DROP COLUMN hold_lifted_at;
ALTER TABLE users DROP COLUMN phone_changed_at;
