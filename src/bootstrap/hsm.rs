//! The master key source at start (issue 32): with `master_key_source = "pkcs11"`, the
//! HSM is connected, its wrapping key checked, and the registered data keys unwrapped
//! (`domain::hsm_keys`); a new install gets its first data key, wrapped in the HSM. Every
//! refusal names the setting to fix: an unreachable module or token, a wrong PIN, a
//! missing key. With `file` or `env` the key comes from `master_key`.

use anyhow::{anyhow, bail, Context as _};
use std::path::PathBuf;
use std::sync::Arc;

use super::{load_master_key, Install};
use crate::config::{KeySourceKind, Pkcs11Settings, Settings};
use crate::crypto::hsm::{Hsm, HsmError};
use crate::crypto::MasterKey;
use crate::domain::hsm_keys::{live_hsm_key_ids, HsmKeys};
use crate::domain::start::{self, ACTIVE, RETIRING};
use crate::storage::leader::{self, Duty};
use crate::storage::Storage;

/// The keys a process starts with: the configured key (checked against the register by
/// `keyring`), the other keys it could unwrap, and the HSM when the source is pkcs11.
pub struct StartKeys {
    /// The key this process was started with.
    pub configured: MasterKey,
    /// Other keys it holds (data keys unwrapped from the HSM), with where they came from.
    pub extra: Vec<(PathBuf, MasterKey)>,
    /// The HSM, kept for data keys met later and for `/ready`.
    pub hsm: Option<Arc<HsmKeys>>,
}

/// With `master_key_source = "pkcs11"`: the HSM connected and its wrapping key checked,
/// BEFORE the database is opened, so a wrong PIN or an unreachable HSM leaves nothing
/// behind. `None` for the other sources.
pub fn connect_source(settings: &Settings) -> anyhow::Result<Option<Arc<HsmKeys>>> {
    if settings.key_source.master_key_source != KeySourceKind::Pkcs11 {
        return Ok(None);
    }
    let p = settings.key_source.pkcs11()?;
    let hsm = HsmKeys::new(connect(&p)?, &p.token_label, &p.key_label);
    if !hsm.has_wrapping_key().map_err(|e| explain(e, &p))? {
        return Err(explain(HsmError::NoKey(p.key_label.clone()), &p));
    }
    Ok(Some(Arc::new(hsm)))
}

/// The keys for a start, from the configured source: `hsm` from [`connect_source`].
pub fn start_keys(
    settings: &Settings,
    storage: &Storage,
    install: Install,
    hsm: Option<Arc<HsmKeys>>,
) -> anyhow::Result<StartKeys> {
    let Some(hsm) = hsm else {
        let configured = load_master_key(settings, storage, install)?;
        return beside_file(settings, storage, configured);
    };
    let p = settings.key_source.pkcs11()?;
    let (configured, extra) = data_keys(storage, &hsm, &p, install)?;
    Ok(StartKeys {
        configured,
        extra,
        hsm: Some(hsm),
    })
}

/// With a key file configured while a rotation into the HSM is in progress (`tokend
/// rekey --to pkcs11`, interrupted): the HSM's data keys in use, when the pkcs11 settings
/// and the PIN are given, so the rotation can be resumed before the source is switched.
fn beside_file(
    settings: &Settings,
    storage: &Storage,
    configured: MasterKey,
) -> anyhow::Result<StartKeys> {
    let mut keys = StartKeys {
        configured,
        extra: Vec::new(),
        hsm: None,
    };
    let ids = live_hsm_key_ids(storage)?;
    if ids.is_empty() {
        return Ok(keys);
    }
    let Ok(p) = settings.key_source.pkcs11() else {
        return Ok(keys);
    };
    let hsm = HsmKeys::new(connect(&p)?, &p.token_label, &p.key_label);
    (keys.extra, _) = hsm.unwrap_stored(storage, |id| ids.iter().any(|i| i == id))?;
    keys.hsm = Some(Arc::new(hsm));
    Ok(keys)
}

/// Connects to the HSM the settings name and logs in; an error naming the setting.
pub fn connect(p: &Pkcs11Settings) -> anyhow::Result<Hsm> {
    Hsm::connect(&p.module, &p.token_label, &p.pin).map_err(|e| explain(e, p))
}

/// An HSM failure as an operator's error: which setting to look at, and what to do.
pub fn explain(e: HsmError, p: &Pkcs11Settings) -> anyhow::Error {
    match e {
        HsmError::Module { module, why } => anyhow!(
            "cannot load pkcs11_module = {module}: {why}. Install the HSM vendor's PKCS#11 \
             library there, or fix the path"
        ),
        HsmError::NoToken { label, seen } => anyhow!(
            "the HSM is not reachable: no token labelled {label:?} (pkcs11_token_label) in \
             pkcs11_module = {} (tokens present: {seen}). Check that the HSM is up and \
             reachable from this host, and the token's label",
            p.module.display()
        ),
        HsmError::Pin(why) => anyhow!(
            "the HSM token {:?} refused the PIN from {} ({why}): wrong PIN, or the PIN is \
             locked. Fix the PIN; it never goes in the configuration",
            p.token_label,
            p.pin_source
        ),
        HsmError::NoKey(label) => anyhow!(
            "no AES key labelled {label:?} (pkcs11_key_label) in the HSM token {:?}: create \
             it with tokend hsm init, or set pkcs11_key_label to the key's label. If the key \
             was deleted, the seeds it protects cannot be read until it is restored from \
             the HSM's own backup",
            p.token_label
        ),
        HsmError::Unfit(label) => anyhow!(
            "the key labelled {label:?} (pkcs11_key_label) in the HSM token {:?} is not a \
             sensitive, non-extractable AES-256 key; tokend refuses a key that could leave \
             the HSM. Use another label",
            p.token_label
        ),
        other => anyhow!(
            "the HSM token {:?} (pkcs11_module = {}): {other}",
            p.token_label,
            p.module.display()
        ),
    }
}

/// The configured data key (the register's active one, or during a rotation out of the
/// HSM the retiring one) and every other registered data key the HSM unwraps. A new
/// install (`serve`, `migrate`) gets its first data key.
fn data_keys(
    storage: &Storage,
    hsm: &HsmKeys,
    p: &Pkcs11Settings,
    install: Install,
) -> anyhow::Result<(MasterKey, Vec<(PathBuf, MasterKey)>)> {
    let rows = start::key_register(storage)?;
    if rows.is_empty() {
        return Ok((first_data_key(storage, hsm, install)?, Vec::new()));
    }
    let live: Vec<_> = rows
        .iter()
        .filter(|r| r.state == ACTIVE || r.state == RETIRING)
        .collect();
    let (found, failed) = hsm.unwrap_stored(storage, |id| live.iter().any(|r| r.key_id == id))?;
    if let Some((id, why)) = failed.first() {
        bail!(
            "data key {id} of this database does not unwrap in the HSM token {:?}: {why}. \
             Check pkcs11_token_label and that the HSM key was not deleted (restore it from \
             the HSM's backup)",
            p.token_label
        );
    }
    let mut keys = found;
    let order = [ACTIVE, RETIRING];
    let pick = order.iter().find_map(|state| {
        let row = live.iter().find(|r| r.state == *state)?;
        keys.iter().position(|(_, k)| k.key_id() == row.key_id)
    });
    let Some(at) = pick else {
        let active = rows.iter().find(|r| r.state == ACTIVE);
        bail!(
            "master_key_source = \"pkcs11\", but the database's active master key (id {}) \
             is not a data key of the HSM: it is a key file (moved out of the HSM by \
             tokend rekey --to file, or never moved in). Set master_key_source = \"file\" \
             and master_key_file, or move the install into the HSM with tokend rekey --to \
             pkcs11",
            active.map_or("none", |r| r.key_id.as_str())
        );
    };
    let (_, configured) = keys.remove(at);
    Ok((configured, keys))
}

/// The first data key of a new install: the one another node stored if there is one, else
/// a new one wrapped now. Nodes starting together on one PostgreSQL database take turns
/// (the bootstrap duty, as for migrations), so exactly one makes it and the others find
/// it: made concurrently, each node would register its own and all but one would then
/// refuse to start on the fingerprint check.
fn first_data_key(storage: &Storage, hsm: &HsmKeys, install: Install) -> anyhow::Result<MasterKey> {
    leader::exclusively(storage, Duty::Bootstrap, || {
        first_data_key_alone(storage, hsm, install)
    })
}

fn first_data_key_alone(
    storage: &Storage,
    hsm: &HsmKeys,
    install: Install,
) -> anyhow::Result<MasterKey> {
    if install == Install::Existing {
        bail!(
            "no master key is registered in this database yet: start tokend serve or run \
             tokend migrate first, which make the first data key in the HSM"
        );
    }
    let (stored, _) = hsm.unwrap_stored(storage, |_| true)?;
    if stored.is_empty() {
        hsm.new_data_key(storage, hsm.key_label(), chrono::Utc::now())
            .context("cannot make the first data key in the HSM")?;
        tracing::warn!(
            "made the first data key of this install, wrapped by the HSM key {:?}: the \
             seeds are sealed under it, and it is stored only wrapped. BACK UP THE HSM KEY \
             with the HSM's own tools: without it no seed can ever be read again",
            hsm.key_label()
        );
    }
    let (mut stored, failed) = hsm.unwrap_stored(storage, |_| true)?;
    if let Some((id, why)) = failed.first() {
        bail!("the first data key {id} does not unwrap: {why}");
    }
    if stored.is_empty() {
        bail!("the first data key was stored but cannot be read back");
    }
    Ok(stored.remove(0).1)
}
