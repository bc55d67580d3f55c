-- The chain's own order, set with each link: on PostgreSQL several nodes write and ids are
-- handed out before commit, so the order rows become visible (and are linked) need not be
-- id order. Rows linked so far were linked in id order: their id is their place.
ALTER TABLE audit_events ADD COLUMN chain_pos BIGINT;
UPDATE audit_events SET chain_pos = id WHERE link IS NOT NULL;
CREATE UNIQUE INDEX audit_events_by_chain_pos ON audit_events (chain_pos);
