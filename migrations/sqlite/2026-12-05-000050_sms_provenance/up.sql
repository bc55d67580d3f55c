-- Issue 26: what an SMS and its session record about where it went and who asked.
-- Why a session ended when its code did not decide it (a phone change ended it), or what
-- the consumer must know of it (it went to a number that is not the user's phone on file).
ALTER TABLE oob_events ADD COLUMN reason TEXT;
-- The institution and the API key (the audit's actor) each SMS was sent for: the hourly
-- caps per institution and per key (SMS pumping) count them in the database, so they hold
-- across nodes. NULL on rows from before: they count for no institution and no key.
ALTER TABLE sms_messages ADD COLUMN inst_rt_id TEXT;
ALTER TABLE sms_messages ADD COLUMN sent_by TEXT;
CREATE INDEX sms_messages_by_institution ON sms_messages (inst_rt_id, created_at);
CREATE INDEX sms_messages_by_sender ON sms_messages (sent_by, created_at);
