//! Opening a backup as a service of its own, to check it before `tokend restore` makes
//! it the database: migrated like any start (a backup from an older version is brought
//! up to date), and opened with this install's master key — or, for a backup made
//! before a key rotation, with the retired key it was made under, found in the key
//! directory (which is where `docs/operations.md` says to keep retired keys).

use anyhow::Context as _;
use std::path::{Path, PathBuf};

use super::{compose, hsm, key_dir, key_files, keyring, Install};
use crate::config::Settings;
use crate::domain::start::{self, ACTIVE};
use crate::domain::Service;
use crate::storage::{migrate, Storage};

/// A backup opened as a service, and the key file it needed when that is not the
/// configured key (a backup from before a rotation).
pub struct OpenedBackup {
    /// The service on the backup's copy.
    pub service: Service,
    /// The retired key file the backup's seeds are under and its id, when not the
    /// configured key.
    pub older_key: Option<(PathBuf, String)>,
    /// The id of the configured key.
    pub configured_id: String,
}

/// Opens the SQLite file `copy` (a copy of the backup: it is migrated, so the backup
/// itself stays as it was) with this install's settings and keys.
pub fn open(settings: &Settings, copy: &Path) -> anyhow::Result<OpenedBackup> {
    let hsm = hsm::connect_source(settings)?;
    let url = copy.to_string_lossy().into_owned();
    let storage = Storage::connect(&url, 2, compose::durability(settings))
        .with_context(|| format!("cannot open {} as a tokend database", copy.display()))?;
    storage
        .read(migrate::run_pending)
        .context("cannot bring the backup up to this version's schema")?;
    let dir = key_dir(settings);
    let keys = hsm::start_keys(settings, &storage, Install::Existing, hsm)?;
    let configured = keys.configured;
    let (ring, older_key) = match keyring(&storage, &configured, &dir, keys.extra) {
        Ok(ring) => (ring, None),
        Err(first) => {
            // Made before a rotation: its active key is a retired one, kept in the key
            // directory.
            let rows = start::key_register(&storage)?;
            let active = rows.iter().find(|r| r.state == ACTIVE);
            let found = active.and_then(|a| {
                key_files::known_keys(settings)
                    .into_iter()
                    .find(|(_, k)| k.fingerprint() == a.fingerprint)
            });
            let Some((path, key)) = found else {
                return Err(first.context(format!(
                    "the backup's seeds are under a master key that is neither configured \
                     nor in the key directory {} or its retired/: put that key's file there \
                     (a backup made before a rotation needs the key retired by it)",
                    dir.display()
                )));
            };
            let id = key.key_id();
            (keyring(&storage, &key, &dir, Vec::new())?, Some((path, id)))
        }
    };
    let service = Service::new(storage, ring, compose::policy(settings)).with_hsm(keys.hsm);
    Ok(OpenedBackup {
        service,
        older_key,
        configured_id: configured.key_id(),
    })
}
