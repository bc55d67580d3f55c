-- Issue 26: where an audit row's AuditUsrId came from. tokend verifies neither source: the
-- consumer asserts it, in the header's AuditUsrId ('AuditUsrId') or, when that is empty,
-- as the user of the end user's AuthenUsrCred ('AuthenUsrCred', a credential tokend does
-- NOT verify). NULL when the row has no audit user, and on rows from before.
ALTER TABLE audit_events ADD COLUMN audit_usr_src TEXT;
