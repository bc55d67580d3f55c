-- The audit trail becomes a keyed hash chain: each row's link is an HMAC over the previous
-- row's link and this row (see storage/audit.rs). Rows written before this migration get
-- their links at the first commit after it, in id order.
ALTER TABLE audit_events ADD COLUMN link TEXT;
-- Finding the rows still to link is a search in a tiny index, not a scan of the trail.
CREATE INDEX audit_events_unlinked ON audit_events (id) WHERE link IS NULL;
-- Filters of GET /api/v1/audit.
CREATE INDEX audit_events_by_usr ON audit_events (usr_name);
CREATE INDEX audit_events_by_action ON audit_events (action);
-- Time filters, and /health's check that the clock is not behind the newest row.
CREATE INDEX audit_events_by_at ON audit_events (at);
