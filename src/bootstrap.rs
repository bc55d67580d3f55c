//! First start and every start: the data directory, the master key, the Rocket secret key,
//! the database (migrated), and the master-key fingerprint check.
//!
//! On a fresh machine `cargo run --release` must just work, so missing keys are generated
//! into the data directory (mode 0600) with a loud warning saying where they are and that
//! they must be backed up. Imports: config, crypto, domain, storage.

use anyhow::{bail, Context as _};
use std::fs;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::PathBuf;
use zeroize::Zeroizing;

use crate::config::Settings;
use crate::crypto::keyfile::{self, Origin};
use crate::crypto::{digest, Keyring, MasterKey};
use crate::domain::Service;
use crate::storage::{institutions, meta, migrate, Storage};

/// Environment variable holding the base64 master key; wins over any key file.
pub const MASTER_KEY_ENV: &str = "TOKEND_MASTER_KEY";

pub const FINGERPRINT: &str = "master_key_fingerprint";

/// Creates the data directory (mode 0700) if needed.
pub fn ensure_data_dir(settings: &Settings) -> anyhow::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&settings.data_dir)
        .with_context(|| {
            format!(
                "cannot create data directory {}",
                settings.data_dir.display()
            )
        })
}

/// Opens the database and applies pending migrations.
pub fn open_storage(settings: &Settings) -> anyhow::Result<Storage> {
    ensure_data_dir(settings)?;
    let path = settings.database_path();
    let storage = Storage::open(&path, settings.db_pool_size, settings.sqlite_synchronous)?;
    let applied = storage.read(migrate::run_pending)?;
    if applied > 0 {
        tracing::info!("applied {applied} migration(s) to {}", path.display());
    }
    let placed = storage.read(|c| institutions::adopt_unplaced(c, &settings.inst_rt_id))?;
    if placed > 0 {
        tracing::info!(
            "placed {placed} token(s)/OOB session(s) without an institution in the default \
             institution {}",
            settings.inst_rt_id
        );
    }
    Ok(storage)
}

/// The master key: `TOKEND_MASTER_KEY`, else `master_key_file`, else `<data_dir>/master.key`
/// (generated on first start).
pub fn load_master_key(settings: &Settings) -> anyhow::Result<MasterKey> {
    if let Ok(text) = std::env::var(MASTER_KEY_ENV) {
        return MasterKey::from_base64(&Zeroizing::new(text))
            .with_context(|| format!("{MASTER_KEY_ENV} is not a valid master key"));
    }
    let path = settings
        .master_key_file
        .clone()
        .unwrap_or_else(|| settings.data_dir.join("master.key"));
    let (text, origin) = keyfile::read_or_create(&path, || Ok(MasterKey::generate()?.to_base64()))?;
    if origin == Origin::Created {
        tracing::warn!(
            "GENERATED A NEW MASTER KEY at {} (mode 0600). Every token seed is encrypted \
             with it: BACK IT UP and keep it apart from database backups; without it no \
             seed can ever be read again.",
            path.display()
        );
    }
    MasterKey::from_base64(&text)
        .with_context(|| format!("{} is not a valid master key", path.display()))
}

/// Refuses a master key other than the one the database was first used with.
pub fn check_fingerprint(storage: &Storage, key: &MasterKey) -> anyhow::Result<()> {
    let mine = key.fingerprint();
    let stored = storage.write(|c| meta::insert_value_once(c, FINGERPRINT, &mine))?;
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

/// The Rocket `secret_key` (private cookies): from the configuration if set, else from
/// `<data_dir>/rocket-secret.key`, generated on first start. Rocket's release profile
/// refuses to start without one.
pub fn secret_key(
    settings: &Settings,
    figment: &rocket::figment::Figment,
) -> anyhow::Result<Option<Zeroizing<String>>> {
    let configured = figment
        .extract::<rocket::Config>()
        .map(|c| !c.secret_key.is_zero())
        .unwrap_or(false);
    if configured {
        return Ok(None);
    }
    let path: PathBuf = settings.data_dir.join("rocket-secret.key");
    let (text, origin) = keyfile::read_or_create(&path, || {
        Ok(Zeroizing::new(digest::b64_standard(&digest::random_bytes(
            32,
        )?)))
    })?;
    if origin == Origin::Created {
        tracing::warn!(
            "generated the Rocket secret key at {} (mode 0600)",
            path.display()
        );
    }
    Ok(Some(Zeroizing::new(text.trim().to_owned())))
}

/// Everything `serve` needs: the service (storage migrated, key checked).
pub fn service(settings: &Settings) -> anyhow::Result<Service> {
    let storage = open_storage(settings)?;
    let key = load_master_key(settings)?;
    check_fingerprint(&storage, &key)?;
    let keyring = Keyring::new(&key)?;
    Ok(Service::new(storage, keyring, settings.policy()).with_oob(settings.oob_runtime()))
}
