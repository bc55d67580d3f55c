DROP INDEX audit_events_by_at;
DROP INDEX audit_events_by_action;
DROP INDEX audit_events_by_usr;
DROP INDEX audit_events_unlinked;
ALTER TABLE audit_events DROP COLUMN link;
