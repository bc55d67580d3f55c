ALTER TABLE admin_sessions DROP COLUMN via;
ALTER TABLE admin_sessions DROP COLUMN factor_at;
