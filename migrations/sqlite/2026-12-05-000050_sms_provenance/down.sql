DROP INDEX sms_messages_by_sender;
DROP INDEX sms_messages_by_institution;
ALTER TABLE sms_messages DROP COLUMN sent_by;
ALTER TABLE sms_messages DROP COLUMN inst_rt_id;
ALTER TABLE oob_events DROP COLUMN reason;
