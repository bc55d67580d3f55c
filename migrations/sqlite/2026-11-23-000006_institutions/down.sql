DROP INDEX audit_by_inst;
ALTER TABLE audit_events DROP COLUMN inst_rt_id;
ALTER TABLE api_keys DROP COLUMN inst_rt_id;
ALTER TABLE oob_sessions DROP COLUMN inst_rt_id;
DROP INDEX tokens_by_inst;
ALTER TABLE tokens DROP COLUMN inst_rt_id;
