//! How a running process keeps its keyring in step with the register of master keys
//! (`storage::master_keys`) while `tokend rekey` rotates the key in another process.
//!
//! The register says which key is active and which one a rotation is retiring; key files
//! live in the KEY DIRECTORY (the directory of the master key file, the data directory by
//! default), named `master*.key`. A process learns a new key without a restart:
//!
//! - when it meets a sealed seed under a key id it does not hold, it re-reads the register,
//!   loads the registered active/retiring keys it lacks from the key directory, makes the
//!   register's active key its own, and tries once more;
//! - every write that stores a new seal first checks, inside its transaction, that the
//!   seal's key is the register's active key; if a rotation started meanwhile it reloads
//!   and seals again, so no seed is ever stored under a retiring key (the race with
//!   `rekey`'s last pass is closed by the database's write lock, not by timing).

use std::path::{Path, PathBuf};

use super::{Error, Service};
use crate::crypto::keyfile;
use crate::crypto::{Keyring, MasterKey};
use crate::storage::master_keys::{self, MasterKeyRow, ACTIVE, RETIRED, RETIRING};
use crate::storage::{self, Conn};

/// What [`apply_register`] could not do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Missing {
    /// Registered active or retiring keys that are neither held nor in the key directory.
    pub keys: Vec<String>,
    /// Retired keys whose wrapped verification keys could not be taken up, with why.
    pub retired: Vec<(String, String)>,
}

/// Brings `keyring` in line with the register: loads the active and retiring keys it
/// lacks from `found` (keys read from the key directory; a key is taken only if its
/// fingerprint is the registered one), makes the registered active key the active one if
/// it is held, and takes up the verification keys of retired keys.
pub fn apply_register(
    keyring: &Keyring,
    rows: &[MasterKeyRow],
    found: &[(PathBuf, MasterKey)],
) -> Missing {
    let mut missing = Missing::default();
    for row in rows
        .iter()
        .filter(|r| r.state == ACTIVE || r.state == RETIRING)
    {
        if keyring.has_key(&row.key_id) {
            continue;
        }
        let key = found
            .iter()
            .map(|(_, k)| k)
            .find(|k| k.fingerprint() == row.fingerprint);
        match key.map(|k| keyring.add_key(k)) {
            Some(Ok(_)) => {}
            _ => missing.keys.push(row.key_id.clone()),
        }
    }
    if let Some(active) = rows.iter().find(|r| r.state == ACTIVE) {
        if keyring.has_key(&active.key_id) {
            // Held, so setting it cannot fail.
            let _ = keyring.set_active(&active.key_id);
        }
    }
    for row in rows.iter().filter(|r| r.state == RETIRED) {
        let (Some(by), Some(blob)) = (&row.wrapped_by, &row.wrapped_keys) else {
            continue;
        };
        if let Err(e) = keyring.add_wrapped(&row.key_id, by, blob) {
            missing.retired.push((row.key_id.clone(), e.to_string()));
        }
    }
    missing
}

/// Whether the register lets a new seal under `key_id` be stored: it is the active key
/// (or no key is registered yet). Call it inside the storing transaction.
pub fn is_sealing_key(c: &mut Conn, key_id: &str) -> Result<bool, storage::Error> {
    Ok(master_keys::find_active_key_id(c)?.is_none_or(|active| active == key_id))
}

/// The master keys in `dir`, or none if it cannot be read (logged).
pub fn keys_in(dir: &Path) -> Vec<(PathBuf, MasterKey)> {
    keyfile::master_keys_in(dir).unwrap_or_else(|e| {
        tracing::warn!("cannot read the key directory: {e}");
        Vec::new()
    })
}

/// What to do about registered keys this process does not find in `dir`: when key files
/// there cannot be read, each with its error ("permission denied" and who owns it, when
/// that is the cause); else put the file in the directory.
pub fn why_missing(dir: &Path, key_id: &str) -> String {
    use std::os::unix::fs::MetadataExt as _;
    let unreadable = keyfile::unreadable_in(dir);
    if unreadable.is_empty() {
        return format!(
            "put its file ({}) in the key directory {}",
            keyfile::key_file_name(key_id),
            dir.display()
        );
    }
    // The owner of /proc/self is this process's effective user.
    let me =
        std::fs::metadata("/proc/self").map_or_else(|_| "?".to_owned(), |m| m.uid().to_string());
    let each: Vec<String> = unreadable
        .iter()
        .map(|(path, e)| {
            let owner = std::fs::metadata(path).map_or_else(
                |_| String::new(),
                |m| {
                    format!(
                        ", owned by uid {} with mode {:o}",
                        m.uid(),
                        m.mode() & 0o777
                    )
                },
            );
            format!("{} cannot be read: {e}{owner}", path.display())
        })
        .collect();
    format!(
        "{}; this process runs as uid {me}: give the file to that user (chown), or run \
         tokend rekey as that user or as root, which does it",
        each.join("; ")
    )
}

impl Service {
    /// Where this process looks for key files it does not hold yet.
    pub fn with_key_dir(mut self, dir: PathBuf) -> Service {
        self.key_dir = Some(dir);
        self
    }

    /// The key directory, if one was given.
    pub fn key_dir(&self) -> Option<&Path> {
        self.key_dir.as_deref()
    }

    /// Re-reads the register and the key directory (only when a registered key is not
    /// held) and applies them: see the module documentation. Logs what it could not do.
    pub fn reload_keys(&self) -> Result<(), Error> {
        let missing = self.reload_keys_quietly()?;
        for id in &missing.keys {
            tracing::error!(key_id = %id, "a registered master key is not available: {}", self.why_missing(id));
        }
        for (id, why) in &missing.retired {
            tracing::warn!(key_id = %id, "cannot take up a retired key's verification keys: {why}");
        }
        Ok(())
    }

    /// [`Service::reload_keys`] without the logs: what it could not do.
    pub(crate) fn reload_keys_quietly(&self) -> Result<Missing, Error> {
        let rows = self.storage.read(master_keys::find_master_keys)?;
        let lacking = rows.iter().any(|r| {
            (r.state == ACTIVE || r.state == RETIRING) && !self.keyring.has_key(&r.key_id)
        });
        let mut found = match (&self.key_dir, lacking) {
            (Some(dir), true) => keys_in(dir),
            _ => Vec::new(),
        };
        if lacking {
            let ids: Vec<String> = rows
                .iter()
                .filter(|r| r.state == ACTIVE || r.state == RETIRING)
                .filter(|r| !self.keyring.has_key(&r.key_id))
                .map(|r| r.key_id.clone())
                .collect();
            found.extend(self.hsm_keys_for(&ids));
        }
        Ok(apply_register(&self.keyring, &rows, &found))
    }

    /// What to do about the registered key `id` this process does not hold.
    pub(crate) fn why_missing(&self, id: &str) -> String {
        if let Some(why) = self.why_hsm_key_missing(id) {
            return why;
        }
        self.key_dir
            .as_deref()
            .map_or_else(|| "no key directory".to_owned(), |d| why_missing(d, id))
    }

    /// Runs `attempt`, which seals with the active key and stores the seal in a write
    /// that first checks [`is_sealing_key`] (answering `None` when it does not hold):
    /// after a rotation made another key active, the keys are reloaded and it runs again.
    pub(crate) fn store_sealed<T>(
        &self,
        mut attempt: impl FnMut() -> Result<Option<T>, Error>,
    ) -> Result<T, Error> {
        for _ in 0..3 {
            if let Some(done) = attempt()? {
                return Ok(done);
            }
            self.reload_keys()?;
        }
        Err(Error::Internal(
            "the database's active master key is not available to this process: put its \
             key file in the key directory"
                .into(),
        ))
    }
}
