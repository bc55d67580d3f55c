//! Moving an install from SQLite to PostgreSQL (`tokend copy-to`): the copy itself is
//! storage's; the domain checks what only it can, that the audit chain verifies in the
//! copy under this install's keys (so the copy is whole and in order, not just counted).

use super::audit::ChainReport;
use super::{Error, Service};
use crate::storage::{self, Storage};

/// What `copy-to` did.
#[derive(Debug)]
pub struct CopyReport {
    /// Per table: name, rows in SQLite, rows in PostgreSQL.
    pub tables: Vec<storage::copy::Copied>,
    /// The audit chain as verified in the copy.
    pub chain: ChainReport,
}

impl CopyReport {
    /// Whether every table has as many rows there as here and the chain verifies there.
    pub fn is_whole(&self) -> bool {
        self.tables.iter().all(|(_, here, there)| here == there) && self.chain.broken.is_none()
    }
}

impl Service {
    /// Copies this (SQLite) install into `target`, an empty, migrated PostgreSQL database,
    /// then counts the rows there and verifies the audit chain there.
    pub fn copy_to(
        &self,
        target: &Storage,
        progress: &mut dyn FnMut(&storage::copy::Copied),
    ) -> Result<CopyReport, Error> {
        let tables = storage::copy::copy_to_postgres(&self.storage, target, progress)?;
        let chain = self.verify_audit_chain_in(target)?;
        Ok(CopyReport { tables, chain })
    }
}
