-- OOB rows hold phone numbers: they are purged once older than the retention
-- (oob_retention_secs). The purge finds old sessions by expiry and old session-less SMS
-- (test SMS) by creation time.
CREATE INDEX oob_sessions_by_expiry ON oob_sessions (expires_at);
CREATE INDEX sms_messages_by_created ON sms_messages (created_at);
