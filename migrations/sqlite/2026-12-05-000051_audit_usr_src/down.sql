ALTER TABLE audit_events DROP COLUMN audit_usr_src;
