-- Institutions (jXchange InstRtId). Users already carry theirs; tokens, OOB sessions, API
-- keys and audit rows get one here.
--
-- A token or session bound to a user takes the user's institution. Rows with no user get
-- '' here and are adopted into the configured default institution at the next start (the
-- migration cannot know the configuration); no query ever matches ''.
ALTER TABLE tokens ADD COLUMN inst_rt_id TEXT NOT NULL DEFAULT '';
UPDATE tokens SET inst_rt_id = COALESCE(
    (SELECT u.inst_rt_id FROM bindings b JOIN users u ON u.id = b.user_pk
     WHERE b.token_pk = tokens.id ORDER BY b.id LIMIT 1), '');
-- The hardware inventory lists an institution's unbound tokens in serial order.
CREATE INDEX tokens_by_inst ON tokens (inst_rt_id, token_id);

ALTER TABLE oob_sessions ADD COLUMN inst_rt_id TEXT NOT NULL DEFAULT '';
UPDATE oob_sessions SET inst_rt_id = COALESCE(
    (SELECT u.inst_rt_id FROM users u WHERE u.id = oob_sessions.user_pk), '');

-- NULL: a cross-institution key. Keys made before institutions existed saw everything and
-- keep doing so until revoked (listed as "all institutions").
ALTER TABLE api_keys ADD COLUMN inst_rt_id TEXT;

-- NULL on rows written before institutions existed (the hash chain covers the column only
-- when it is set, so their links still verify).
ALTER TABLE audit_events ADD COLUMN inst_rt_id TEXT;
CREATE INDEX audit_by_inst ON audit_events (inst_rt_id, id);
