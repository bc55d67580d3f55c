//! What a process does with the database before it holds a keyring (bootstrap and the
//! CLI): place the rows written before institutions existed, read and start the register
//! of master keys, claim and read the database's master-key fingerprint. These writes go
//! through the domain, so neither bootstrap nor the CLI writes a table itself.

use chrono::{DateTime, Utc};

use super::to_ms;
use crate::storage::master_keys::{self, MasterKeyRow};
use crate::storage::{self, institutions, meta, Storage};

/// The `meta` entry holding the fingerprint of the master key the database was first
/// used with.
pub const FINGERPRINT: &str = "master_key_fingerprint";
/// The register's state of the key new seals are made under.
pub const ACTIVE: &str = master_keys::ACTIVE;
/// The register's state of the key a rotation (`tokend rekey`) is moving seeds from.
pub const RETIRING: &str = master_keys::RETIRING;
/// The register's state of a key no seal is under any more.
pub const RETIRED: &str = master_keys::RETIRED;

/// Places tokens and OOB sessions without an institution in the default one; how many.
pub fn adopt_unplaced(storage: &Storage, default_inst: &str) -> Result<usize, storage::Error> {
    storage.read(|c| institutions::adopt_unplaced(c, default_inst))
}

/// The register of master keys, oldest first.
pub fn key_register(storage: &Storage) -> Result<Vec<MasterKeyRow>, storage::Error> {
    storage.read(master_keys::find_master_keys)
}

/// Registers the first master key as the active one; a key registered meanwhile by
/// another process (a conflict) is fine.
pub fn register_first_key(
    storage: &Storage,
    key_id: &str,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> Result<(), storage::Error> {
    storage.write(|c| {
        match master_keys::insert_master_key(c, key_id, fingerprint, ACTIVE, to_ms(now)) {
            Ok(()) | Err(storage::Error::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    })
}

/// Stores `mine` as the database's master-key fingerprint unless one is stored already;
/// the stored one either way.
pub fn claim_fingerprint(storage: &Storage, mine: &str) -> Result<String, storage::Error> {
    storage.write(|c| meta::insert_value_once(c, FINGERPRINT, mine))
}

/// The database's master-key fingerprint, if one was stored.
pub fn stored_fingerprint(storage: &Storage) -> Result<Option<String>, storage::Error> {
    storage.read(|c| meta::find_value(c, FINGERPRINT))
}
