//! Readiness, for load balancers: whether this node can serve now. `/health` stays the
//! liveness answer (the process runs and its database answers); `/ready` also writes
//! (a no-op UPDATE: a read-only standby after a failover, or a database cut off, is not
//! ready) and checks that every master key a seed may be sealed under (active, or
//! retiring during a rotation) is held by this node — a node that cannot unseal is not
//! ready, and is taken out of rotation instead of answering fault 7099.
//! With the master key in an HSM (`master_key_source = "pkcs11"`), `/ready` also asks the
//! HSM whether it answers and still holds the wrapping key: a node that lost its HSM is
//! not ready (it could not take up a new data key, nor start again), though it still
//! opens seeds with the data keys it holds in memory.

use super::Service;
use crate::storage::master_keys::{self, ACTIVE, RETIRING};
use crate::storage::{meta, migrate};

/// What `/ready` reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Readiness {
    /// The database answered a read.
    pub database: bool,
    /// It took a write.
    pub writable: bool,
    /// Every migration is applied.
    pub migrations_current: bool,
    /// Key ids in use this node does not hold (empty: it can unseal every seed).
    pub missing_keys: Vec<String>,
    /// The HSM answered and holds the wrapping key: `None` without an HSM; the error
    /// (no key material, no PIN) when it did not.
    pub hsm: Option<Result<(), String>>,
}

impl Readiness {
    /// This node can serve.
    pub fn ok(&self) -> bool {
        self.database
            && self.writable
            && self.migrations_current
            && self.missing_keys.is_empty()
            && !matches!(self.hsm, Some(Err(_)))
    }
}

impl Service {
    /// Whether this node can serve now (see the module's doc).
    pub fn readiness(&self) -> Readiness {
        let read = self
            .storage
            .read(|c| Ok((migrate::is_current(c)?, master_keys::find_master_keys(c)?)));
        let Ok((migrations_current, keys)) = read else {
            return Readiness::default();
        };
        let lacking = |keys: &[master_keys::MasterKeyRow]| -> Vec<String> {
            keys.iter()
                .filter(|k| {
                    (k.state == ACTIVE || k.state == RETIRING) && !self.keyring.has_key(&k.key_id)
                })
                .map(|k| k.key_id.clone())
                .collect()
        };
        let mut missing_keys = lacking(&keys);
        if !missing_keys.is_empty() && self.reload_keys().is_ok() {
            missing_keys = lacking(&keys);
        }
        let writable = self
            .storage
            .write(|c| Ok::<_, super::Error>(meta::probe_write(c)?))
            .is_ok();
        let hsm = self.hsm().map(|h| h.probe().map_err(|e| e.to_string()));
        Readiness {
            database: true,
            writable,
            migrations_current,
            missing_keys,
            hsm,
        }
    }
}
