ALTER TABLE users DROP COLUMN oob_failed_sessions;
DROP INDEX admin_sessions_by_admin;
DROP TABLE admin_sessions;
