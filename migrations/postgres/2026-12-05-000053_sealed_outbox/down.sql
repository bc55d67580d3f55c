DROP INDEX sms_messages_with_text;
CREATE INDEX sms_messages_with_text ON sms_messages (session_pk) WHERE body IS NOT NULL;
ALTER TABLE sms_messages DROP COLUMN body_sealed;
