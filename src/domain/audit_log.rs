//! Reading the audit trail for the admin console (writing it is `audit.rs`): newest
//! first, filtered by user, token, action and time.

pub use crate::storage::audit_log::{AuditFilter, AuditLine};

use super::{Error, Service};
use crate::storage::audit_log::find_audit_lines;

impl Service {
    /// The audit log, newest first, `limit` rows at most.
    pub fn audit_log(&self, filter: &AuditFilter, limit: i64) -> Result<Vec<AuditLine>, Error> {
        Ok(self.storage.read(|c| find_audit_lines(c, filter, limit))?)
    }
}
