//! The master key a process starts with, and the keyring it gets checked against the
//! database's register of master keys: where the key is read from (and, for `serve` and
//! `migrate` on a new install only, generated), and every refusal naming the setting or
//! file it could not use and why.

use anyhow::{bail, Context as _};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

use super::{install, key_dir, Install, MASTER_KEY_ENV};
use crate::config::{KeySourceKind, Settings};
use crate::crypto::keyfile::{self, Origin};
use crate::crypto::{Keyring, MasterKey};
use crate::domain::keys::{apply_register, keys_in, why_missing};
use crate::domain::start::{self, ACTIVE, RETIRED, RETIRING};
use crate::storage::master_keys::MasterKeyRow;
use crate::storage::Storage;

/// The master key: `TOKEND_MASTER_KEY`, else `master_key_file`, else `<data_dir>/master.key`,
/// generated on first start. When `master.key` is missing from a database that already
/// has keys, the active key is taken from a `master*.key` file of the data directory
/// (after a rotation the operator may have removed the retired `master.key` and kept the
/// new key under the name rekey gave it); none is generated.
pub fn load_master_key(
    settings: &Settings,
    storage: &Storage,
    install: Install,
) -> anyhow::Result<MasterKey> {
    if let Ok(text) = std::env::var(MASTER_KEY_ENV) {
        return MasterKey::from_base64(&Zeroizing::new(text))
            .with_context(|| format!("{MASTER_KEY_ENV} is not a valid master key"));
    }
    if settings.key_source.master_key_source == KeySourceKind::Env {
        bail!(
            "master_key_source = \"env\", and {MASTER_KEY_ENV} is not set: give the base64 \
             master key in {MASTER_KEY_ENV}, or set master_key_source to \"file\" or \"pkcs11\""
        );
    }
    let path = settings
        .master_key_file
        .clone()
        .unwrap_or_else(|| settings.data_dir.join("master.key"));
    if settings.master_key_file.is_none() && !path.exists() {
        // After a rotation the operator may have removed the retired master.key and kept
        // the new key under the name rekey gave it: use it rather than generate a key.
        // A database that already has keys never gets a generated one.
        let rows = start::key_register(storage)?;
        if let Some(active) = rows.iter().find(|r| r.state == ACTIVE) {
            return keys_in(&settings.data_dir)
                .into_iter()
                .find(|(_, k)| k.fingerprint() == active.fingerprint)
                .map(|(_, key)| key)
                .with_context(|| {
                    format!(
                        "no master key: {} does not exist and no master*.key file in {} is \
                         the database's active key (id {}); refusing to start. Restore the \
                         key file, or set master_key_file or {MASTER_KEY_ENV}.",
                        path.display(),
                        settings.data_dir.display(),
                        active.key_id
                    )
                });
        }
    }
    if install == Install::Existing && !path.exists() {
        bail!(
            "no master key: {MASTER_KEY_ENV} is not set and {} ({}) does not exist; \
             refusing to generate one for an existing database. Give this command the \
             service's key: the same {MASTER_KEY_ENV} or master_key_file \
             (ROCKET_MASTER_KEY_FILE) as the service (docs/operations.md, \"The command \
             line beside the service\")",
            path.display(),
            if settings.master_key_file.is_some() {
                "master_key_file"
            } else {
                "<data_dir>/master.key"
            }
        );
    }
    let (text, origin) = keyfile::read_or_create(&path, || Ok(MasterKey::generate()?.to_base64()))
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot read the master key ({}): {e}",
                key_setting(settings)
            )
        })?;
    if origin == Origin::Created {
        install::hand_over(&path, &key_dir(settings))?;
        tracing::warn!(
            "GENERATED A NEW MASTER KEY at {} (mode 0600). Every token seed is encrypted \
             with it: BACK IT UP and keep it apart from database backups; without it no \
             seed can ever be read again.",
            path.display()
        );
    }
    MasterKey::from_base64(&text)
        .with_context(|| format!("{} is not a valid master key", key_setting(settings)))
}

/// When a key was retired, for messages.
fn retired_when(row: &MasterKeyRow) -> String {
    row.retired_at
        .and_then(crate::domain::from_ms)
        .map_or_else(String::new, |t| format!(" on {}", t.to_rfc3339()))
}

/// The register of master keys; registers `key` as the active one on a database that has
/// none yet (after the fingerprint check of [`check_fingerprint`]).
fn register(storage: &Storage, key: &MasterKey) -> anyhow::Result<Vec<MasterKeyRow>> {
    let rows = start::key_register(storage)?;
    if !rows.is_empty() {
        return Ok(rows);
    }
    check_fingerprint(storage, key)?;
    start::register_first_key(
        storage,
        &key.key_id(),
        &key.fingerprint(),
        chrono::Utc::now(),
    )?;
    Ok(start::key_register(storage)?)
}

/// The keyring for `configured` (the key this process was started with), checked against
/// the register of master keys (see `domain::keys` and `domain::rekey`):
///
/// - the active key: it is used; during a rotation the retiring key must be available too
///   (from the key directory), since seeds not re-encrypted yet are under it;
/// - the retiring key (a rotation is in progress): the active key must be in the key
///   directory; both are used;
/// - a retired key: the active key is used if it is in the key directory (with a warning
///   to configure it), else the start is REFUSED;
/// - any other key: REFUSED, as before rotations existed.
///
/// `extra` are keys held besides the key directory's (data keys unwrapped by an HSM).
pub fn keyring(
    storage: &Storage,
    configured: &MasterKey,
    dir: &Path,
    extra: Vec<(PathBuf, MasterKey)>,
) -> anyhow::Result<Keyring> {
    let rows = register(storage, configured)?;
    let active = rows
        .iter()
        .find(|r| r.state == ACTIVE)
        .context("the database's register of master keys has no active key")?;
    let Some(mine) = rows
        .iter()
        .find(|r| r.fingerprint == configured.fingerprint())
    else {
        bail!(
            "the master key (id {}) is not the key this database was created with, nor one \
             it was rotated to (active key id {}); refusing to start. Set {MASTER_KEY_ENV} or \
             master_key_file to the right key.",
            configured.key_id(),
            active.key_id
        );
    };
    let mut found = keys_in(dir);
    found.extend(extra);
    let keyring = if mine.state == ACTIVE {
        Keyring::new(configured)?
    } else {
        keyring_for_rotated(mine, active, configured, &found, dir)?
    };
    let missing = apply_register(&keyring, &rows, &found);
    if let Some(id) = missing.keys.first() {
        bail!(
            "a key rotation (tokend rekey) is in progress and key {id} is neither configured \
             nor readable in {}; refusing to start: the seeds still under it could not be \
             read. {}.",
            dir.display(),
            why_missing(dir, id)
        );
    }
    for (id, why) in &missing.retired {
        tracing::warn!(
            "the audit links and one-time codes made under retired key {id} cannot be \
             checked: {why}"
        );
    }
    Ok(keyring)
}

/// Refuses a master key other than the one the database was first used with (for a
/// database whose register of master keys is still empty; see [`keyring`]).
pub fn check_fingerprint(storage: &Storage, key: &MasterKey) -> anyhow::Result<()> {
    let mine = key.fingerprint();
    let stored = start::claim_fingerprint(storage, &mine)?;
    if stored != mine {
        bail!(
            "the master key (id {}) is not the key this database was created with (id {}); \
             refusing to start. Set {MASTER_KEY_ENV} or master_key_file to the original key.",
            key.key_id(),
            &stored[..16.min(stored.len())]
        );
    }
    Ok(())
}

/// Which setting named the master key this process reads, for messages.
fn key_setting(settings: &Settings) -> String {
    match &settings.master_key_file {
        Some(path) => format!("master_key_file = {}", path.display()),
        None => format!(
            "{MASTER_KEY_ENV} unset, master_key_file unset: {}",
            settings.data_dir.join("master.key").display()
        ),
    }
}

/// The keyring when the configured key is not the active one: the active key must be in
/// the key directory (see [`keyring`]).
fn keyring_for_rotated(
    mine: &MasterKeyRow,
    active: &MasterKeyRow,
    configured: &MasterKey,
    found: &[(PathBuf, MasterKey)],
    dir: &Path,
) -> anyhow::Result<Keyring> {
    let Some((path, key)) = found
        .iter()
        .find(|(_, k)| k.fingerprint() == active.fingerprint)
    else {
        if mine.state == RETIRING {
            bail!(
                "a key rotation (tokend rekey) from the configured master key (id {}) to \
                 key {} is in progress, and key {} is not readable in {}; refusing to \
                 start. {}.",
                mine.key_id,
                active.key_id,
                active.key_id,
                dir.display(),
                why_missing(dir, &active.key_id)
            );
        }
        bail!(
            "the master key (id {}) was retired by tokend rekey{}: every seed is now under \
             key {}, which is neither configured nor readable in {}; refusing to start. \
             Start with the new key: set master_key_file (or {MASTER_KEY_ENV}) to it, or \
             {}.",
            mine.key_id,
            retired_when(mine),
            active.key_id,
            dir.display(),
            why_missing(dir, &active.key_id)
        );
    };
    if mine.state == RETIRED {
        tracing::warn!(
            "the configured master key (id {}) was retired by tokend rekey{}; using the \
             active key {} from {}. Set master_key_file (or {MASTER_KEY_ENV}) to the new \
             key, and keep the retired one only as long as database backups made before \
             the rotation.",
            mine.key_id,
            retired_when(mine),
            active.key_id,
            path.display()
        );
    }
    let keyring = Keyring::new(key)?;
    if mine.state == RETIRING {
        keyring.add_key(configured)?;
    }
    Ok(keyring)
}
