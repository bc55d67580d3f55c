//! Restoring a backup (`tokend restore`): what only the domain can check about the copy
//! about to become the database — that its audit chain verifies under this install's keys
//! (a chain that does not is refused before it replaces anything) — and what it holds,
//! so the operator reads what was restored. The file handling is the CLI's.

use super::audit::ChainReport;
use super::{Error, Service};
use crate::storage;

/// What a backup holds, as `tokend restore` reports it.
#[derive(Debug)]
pub struct Holdings {
    /// Users.
    pub users: i64,
    /// Tokens, whatever their state.
    pub tokens: i64,
    /// Audit rows.
    pub audit_rows: i64,
    /// The audit chain as verified in this database.
    pub chain: ChainReport,
}

impl Service {
    /// Counts what this service's database holds and verifies its audit chain.
    pub fn holdings(&self) -> Result<Holdings, Error> {
        let (users, tokens, audit_rows) = self.storage.read(storage::stats::holdings)?;
        Ok(Holdings {
            users,
            tokens,
            audit_rows,
            chain: self.verify_audit_chain()?,
        })
    }
}

impl Service {
    /// Moves every commit of the SQLite write-ahead log into the database file, so the
    /// file alone holds the database (before it is renamed into place).
    pub fn settle_file(&self) -> Result<(), Error> {
        Ok(self.storage.checkpoint()?)
    }
}
