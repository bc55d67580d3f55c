//! Master keys kept in an HSM (issue 32, `master_key_source = "pkcs11"`): envelope
//! encryption. The register of master keys (`storage::master_keys`) names DATA KEYS as it
//! names key files; for a data key that lives in the HSM, `storage::hsm_data_keys` holds
//! it wrapped by the HSM's non-extractable AES key. A process unwraps the data keys it
//! needs when it starts and when it meets one it does not hold (a rotation by `tokend
//! rekey`, on any node), and keeps them in memory (zeroed on drop): validation, enrollment
//! and every seal or open make no HSM call. The HSM is asked again only by `/ready` and the
//! key watch (`probe`), so a node that lost its HSM says so while it keeps serving with the
//! keys it holds.

use chrono::{DateTime, Utc};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use super::{to_ms, Error, Service};
use crate::crypto::hsm::{Hsm, HsmError};
use crate::crypto::MasterKey;
use crate::storage::hsm_data_keys::{self, HsmDataKeyRow};
use crate::storage::{self, Storage};

/// The HSM as a process holds it: the logged-in connection, the token's label and the
/// label of the key new data keys are wrapped under.
#[derive(Debug)]
pub struct HsmKeys {
    hsm: Hsm,
    token_label: String,
    key_label: String,
    /// The last probe: 0 never probed, 1 reachable, 2 lost (to log a change once).
    last_probe: AtomicU8,
}

/// Data keys unwrapped, as `(where from, key)`, and those that did not unwrap, as
/// `(key id, why)`.
pub type Unwrapped = (Vec<(PathBuf, MasterKey)>, Vec<(String, String)>);

impl HsmKeys {
    /// Wraps a connected HSM.
    pub fn new(hsm: Hsm, token_label: &str, key_label: &str) -> HsmKeys {
        HsmKeys {
            hsm,
            token_label: token_label.to_owned(),
            key_label: key_label.to_owned(),
            last_probe: AtomicU8::new(0),
        }
    }

    /// The label of the HSM key new data keys are wrapped under (`pkcs11_key_label`).
    pub fn key_label(&self) -> &str {
        &self.key_label
    }

    /// Whether the HSM holds the wrapping key `pkcs11_key_label`.
    pub fn has_wrapping_key(&self) -> Result<bool, HsmError> {
        self.hsm.has_key(&self.key_label)
    }

    /// Where a data key wrapped under `label` comes from, as messages name it (an RFC
    /// 7512 PKCS#11 URI).
    pub fn uri(&self, label: &str) -> PathBuf {
        PathBuf::from(format!("pkcs11:token={};object={label}", self.token_label))
    }

    /// Generates a data key, has the HSM key `label` wrap it, and stores the wrapped form
    /// (before the register names it, so any node that meets its id can unwrap it).
    pub fn new_data_key(
        &self,
        storage: &Storage,
        label: &str,
        now: DateTime<Utc>,
    ) -> Result<MasterKey, Error> {
        let key = MasterKey::generate()?;
        let wrapped = self.hsm.wrap(label, &key).map_err(hsm_error)?;
        storage.write(|c| {
            hsm_data_keys::insert_hsm_data_key(
                c,
                &key.key_id(),
                &key.fingerprint(),
                label,
                &wrapped,
                to_ms(now),
            )
        })?;
        Ok(key)
    }

    /// Unwraps the stored data keys whose id `wanted` accepts.
    pub fn unwrap_stored(
        &self,
        storage: &Storage,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<Unwrapped, storage::Error> {
        let rows = storage.read(hsm_data_keys::find_hsm_data_keys)?;
        let (mut found, mut failed) = (Vec::new(), Vec::new());
        for row in rows.iter().filter(|r| wanted(&r.key_id)) {
            match self.unwrap_row(row) {
                Ok(key) => found.push((self.uri(&row.hsm_key_label), key)),
                Err(why) => failed.push((row.key_id.clone(), why)),
            }
        }
        Ok((found, failed))
    }

    fn unwrap_row(&self, row: &HsmDataKeyRow) -> Result<MasterKey, String> {
        let key = self
            .hsm
            .unwrap(&row.hsm_key_label, &row.key_id, &row.wrapped)
            .map_err(|e| format!("HSM key {:?}: {e}", row.hsm_key_label))?;
        if key.fingerprint() != row.fingerprint {
            return Err("the unwrapped key is not the registered one".to_owned());
        }
        Ok(key)
    }

    /// Whether the HSM answers and still holds the wrapping key (an HSM round trip, for
    /// `/ready` and the key watch; never on a validation). A change is logged once.
    pub fn probe(&self) -> Result<(), HsmError> {
        let result = match self.hsm.has_key(&self.key_label) {
            Ok(true) => Ok(()),
            Ok(false) => Err(HsmError::NoKey(self.key_label.clone())),
            Err(e) => Err(e),
        };
        let now = if result.is_ok() { 1 } else { 2 };
        let before = self.last_probe.swap(now, Ordering::Relaxed);
        match &result {
            Err(e) if before != 2 => tracing::error!(
                "the HSM (token {:?}) is not available: {e}; seeds stay readable with the \
                 data keys held in memory, but a new data key (tokend rekey) cannot be \
                 unwrapped and a restart would fail",
                self.token_label
            ),
            Ok(()) if before == 2 => {
                tracing::info!("the HSM (token {:?}) answers again", self.token_label);
            }
            _ => {}
        }
        result
    }
}

/// The registered keys in use (active, or retiring during a rotation) that are data keys
/// wrapped by an HSM: a process whose source is a key file needs the HSM for them while
/// a rotation into the HSM is in progress.
pub fn live_hsm_key_ids(storage: &Storage) -> Result<Vec<String>, storage::Error> {
    use crate::storage::master_keys::{find_master_keys, ACTIVE, RETIRING};
    storage.read(|c| {
        let live: Vec<String> = find_master_keys(c)?
            .into_iter()
            .filter(|r| r.state == ACTIVE || r.state == RETIRING)
            .map(|r| r.key_id)
            .collect();
        Ok(hsm_data_keys::find_hsm_data_keys(c)?
            .into_iter()
            .map(|r| r.key_id)
            .filter(|id| live.contains(id))
            .collect())
    })
}

/// An HSM failure as the domain reports it (never key material).
fn hsm_error(e: HsmError) -> Error {
    Error::Internal(format!("HSM: {e}"))
}

impl Service {
    /// Makes this process unwrap data keys with `hsm` (see the module documentation).
    pub fn with_hsm(mut self, hsm: Option<Arc<HsmKeys>>) -> Service {
        self.hsm = hsm;
        self
    }

    /// The HSM this process holds, if its master key source is pkcs11.
    pub fn hsm(&self) -> Option<&Arc<HsmKeys>> {
        self.hsm.as_ref()
    }

    /// The stored data keys among `ids` unwrapped by this process's HSM (none without
    /// one); failures are logged.
    pub(crate) fn hsm_keys_for(&self, ids: &[String]) -> Vec<(PathBuf, MasterKey)> {
        let Some(hsm) = &self.hsm else {
            return Vec::new();
        };
        match hsm.unwrap_stored(&self.storage, |id| ids.iter().any(|i| i == id)) {
            Ok((found, failed)) => {
                for (id, why) in failed {
                    tracing::error!(key_id = %id, "cannot unwrap data key {id}: {why}");
                }
                found
            }
            Err(e) => {
                tracing::error!("cannot read the wrapped data keys: {e}");
                Vec::new()
            }
        }
    }

    /// A new data key wrapped by `hsm`'s key `label`, stored wrapped (for `tokend rekey
    /// --to pkcs11`; the rotation then registers it).
    pub fn new_hsm_data_key(
        &self,
        hsm: &HsmKeys,
        label: &str,
        now: DateTime<Utc>,
    ) -> Result<MasterKey, Error> {
        hsm.new_data_key(&self.storage, label, now)
    }

    /// Whether `hsm` holds a key labelled `label`.
    pub fn hsm_has_key(&self, hsm: &HsmKeys, label: &str) -> Result<bool, HsmError> {
        hsm.hsm.has_key(label)
    }

    /// Why the registered key `id` is not held, when it is a data key wrapped by an HSM;
    /// `None` for a key file.
    pub(crate) fn why_hsm_key_missing(&self, id: &str) -> Option<String> {
        let rows = self.storage.read(hsm_data_keys::find_hsm_data_keys).ok()?;
        let row = rows.into_iter().find(|r| r.key_id == id)?;
        Some(match &self.hsm {
            None => format!(
                "key {id} is a data key wrapped by the HSM key {:?}, and this process has no \
                 HSM (master_key_source is not \"pkcs11\"): restart it with \
                 master_key_source = \"pkcs11\" and the pkcs11_* settings",
                row.hsm_key_label
            ),
            Some(hsm) => match hsm.unwrap_row(&row) {
                Ok(_) => format!("key {id} unwraps now; it will be taken up at the next look"),
                Err(why) => format!("key {id} does not unwrap: {why}"),
            },
        })
    }
}
