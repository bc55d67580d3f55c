ALTER TABLE oob_events DROP COLUMN refused_at;
