-- Issue 26: an SMS text with a live code is sealed at rest like a seed (AES-256-GCM under
-- the master key, bound to its session and number), in body_sealed, until it is sent
-- (http) or its session ends or expires; body keeps only the text with the code masked.
-- Texts written before this migration are in clear: they are masked by dropping them.
ALTER TABLE sms_messages ADD COLUMN body_sealed BLOB;
UPDATE sms_messages SET body = NULL;
-- The sweeper looks for live texts past their session's expiry: now the sealed ones.
DROP INDEX sms_messages_with_text;
CREATE INDEX sms_messages_with_text ON sms_messages (session_pk) WHERE body_sealed IS NOT NULL;
