//! First start and every start: the data directory, the master key, the Rocket secret key,
//! the database (migrated), and the master-key fingerprint check.
//!
//! On a fresh machine `cargo run --release` must just work, so missing keys are generated
//! into the data directory (mode 0600) with a loud warning saying where they are and that
//! they must be backed up. What the settings mean to each layer is composed in `compose`.
//! Imports: config, crypto, domain, storage, sms and web (composition only).

use anyhow::{bail, Context as _};
use std::fs;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

pub mod backup;
pub mod compose;
pub mod dir_lock;
pub mod hsm;
pub mod install;
pub mod key_files;
mod master_key;

pub use install::Install;
pub use master_key::{check_fingerprint, keyring, load_master_key};

use crate::config::Settings;
use crate::crypto::digest;
use crate::crypto::keyfile::{self, Origin};
use crate::domain::start;
use crate::domain::Service;
use crate::storage::leader::{self, Duty};
use crate::storage::{engine, migrate, Storage};

/// The database as messages name it: the SQLite file, or the PostgreSQL URL without its
/// password.
pub fn database_label(settings: &Settings) -> String {
    if settings.is_postgres() {
        engine::redact_url(&settings.database_url())
    } else {
        settings.database_path().display().to_string()
    }
}

/// Environment variable holding the base64 master key; wins over any key file.
pub const MASTER_KEY_ENV: &str = "TOKEND_MASTER_KEY";

/// The `meta` entry holding the database's master-key fingerprint.
pub const FINGERPRINT: &str = start::FINGERPRINT;

/// Makes every file this process creates private to its user (umask 077): the database
/// and its WAL and SHM files, backups (`VACUUM INTO`), key files, temporary files. SQLite
/// creates files with mode 0644 less the umask, and these files hold phone numbers,
/// hashes and sealed seeds. Called first thing by the binary, before any file is opened.
pub fn private_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// Creates the data directory (mode 0700) if needed.
pub fn ensure_data_dir(settings: &Settings) -> anyhow::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&settings.data_dir)
        .with_context(|| {
            format!(
                "cannot create the data directory {} (data_dir, ROCKET_DATA_DIR)",
                settings.data_dir.display()
            )
        })
}

/// Opens the database and applies pending migrations. On PostgreSQL, nodes starting at
/// the same moment take turns (an advisory lock), so each migration runs once. With
/// [`Install::Existing`] a missing database is refused rather than created (see
/// `install`), and files the CLI makes in the data directory go to its owner.
pub fn open_storage(settings: &Settings, install: Install) -> anyhow::Result<Storage> {
    if install == Install::Existing {
        install::require_database_file(settings)?;
    }
    ensure_data_dir(settings)?;
    let url = settings.database_url();
    let storage = Storage::connect(&url, settings.db_pool_size, compose::durability(settings))
        .with_context(|| {
            if settings.is_postgres() {
                format!(
                    "cannot open the database {} (database_url, ROCKET_DATABASE_URL)",
                    database_label(settings)
                )
            } else {
                format!(
                    "cannot open the database {} (in data_dir, ROCKET_DATA_DIR)",
                    database_label(settings)
                )
            }
        })?;
    if install == Install::Existing
        && settings.is_postgres()
        && storage.read(|c| Ok(migrate::is_fresh(c)))?
    {
        bail!(
            "no tokend database in {} (database_url, from ROCKET_DATABASE_URL or \
             Rocket.toml): it holds no tokend tables; refusing to create a new install. \
             Only tokend serve and tokend migrate create one",
            database_label(settings)
        );
    }
    let applied = leader::exclusively(&storage, Duty::Bootstrap, || {
        storage.read(migrate::run_pending)
    })?;
    if applied > 0 {
        tracing::info!(
            "applied {applied} migration(s) to {}",
            database_label(settings)
        );
    }
    install::hand_over_database(settings)?;
    let placed = start::adopt_unplaced(&storage, &settings.inst_rt_id)?;
    if placed > 0 {
        tracing::info!(
            "placed {placed} token(s)/OOB session(s) without an institution in the default \
             institution {}",
            settings.inst_rt_id
        );
    }
    Ok(storage)
}

/// Opens a PostgreSQL database other than the configured one (the target of `copy-to`)
/// and applies pending migrations.
pub fn open_postgres(url: &str) -> anyhow::Result<Storage> {
    if !engine::is_postgres_url(url) {
        bail!("{url:?} is not a postgres:// or postgresql:// URL");
    }
    let storage = Storage::open_postgres(url, 2)?;
    leader::exclusively(&storage, Duty::Bootstrap, || {
        storage.read(migrate::run_pending)
    })?;
    Ok(storage)
}

/// The key directory: where `tokend rekey` puts a new key file and where every process
/// looks for a key it does not hold (files named `master*.key`): the directory of
/// `master_key_file`, else the data directory.
pub fn key_dir(settings: &Settings) -> PathBuf {
    match settings.master_key_file.as_deref().map(Path::parent) {
        Some(Some(parent)) if !parent.as_os_str().is_empty() => parent.to_owned(),
        Some(_) => PathBuf::from("."),
        None => settings.data_dir.clone(),
    }
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
    if settings.is_postgres() {
        bail!(
            "with database_url set to PostgreSQL, every node must sign admin cookies with the \
             same key: set secret_key (ROCKET_SECRET_KEY) to one value on every node, e.g. the \
             output of `openssl rand -base64 32`. A key generated into each node's data_dir \
             would sign an admin out whenever the load balancer changed node."
        );
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

/// Everything a command needs: the service (storage migrated, key checked). Only `serve`
/// and `migrate` pass [`Install::Create`].
pub fn service(settings: &Settings, install: Install) -> anyhow::Result<Service> {
    let hsm = hsm::connect_source(settings)?;
    let storage = open_storage(settings, install)?;
    let keys = hsm::start_keys(settings, &storage, install, hsm)?;
    let dir = key_dir(settings);
    let keyring = keyring(&storage, &keys.configured, &dir, keys.extra)?;
    let service = Service::new(storage, keyring, compose::policy(settings))
        .with_hsm(keys.hsm)
        .with_oob(compose::oob_runtime(settings)?)
        .with_phones(compose::phone_policy(settings))
        .with_staff(compose::staff_policy(settings)?)
        .with_key_dir(dir);
    let collisions = service
        .key_user_names()
        .context("cannot fold the user names")?;
    for c in collisions {
        tracing::warn!(
            "user {:?} of institution {:?} folds onto another user's name (names compare \
             after NFKC and case folding): it is found by its exact name only; rename or \
             delete one of the two",
            c.usr_name,
            c.inst_rt_id
        );
    }
    Ok(service)
}
