DROP INDEX sms_messages_by_created;
DROP INDEX oob_sessions_by_expiry;
