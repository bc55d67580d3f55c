DROP TABLE approvals;
ALTER TABLE admins DROP COLUMN disabled_at;
ALTER TABLE admins DROP COLUMN inst_rt_id;
ALTER TABLE admins DROP COLUMN role;
