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
pub mod install;

pub use install::Install;

use crate::config::Settings;
use crate::crypto::keyfile::{self, Origin};
use crate::crypto::{digest, Keyring, MasterKey};
use crate::domain::keys::{apply_register, keys_in, why_missing};
use crate::domain::start::{self, ACTIVE, RETIRED, RETIRING};
use crate::domain::Service;
use crate::storage::leader::{self, Duty};
use crate::storage::master_keys::MasterKeyRow;
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
                "cannot create data directory {}",
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
    let storage = Storage::connect(&url, settings.db_pool_size, compose::durability(settings))?;
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
        .with_context(|| format!("{} is not a valid master key", path.display()))
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
pub fn keyring(storage: &Storage, configured: &MasterKey, dir: &Path) -> anyhow::Result<Keyring> {
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
    let found = keys_in(dir);
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

/// Everything a command needs: the service (storage migrated, key checked). Only `serve`
/// and `migrate` pass [`Install::Create`].
pub fn service(settings: &Settings, install: Install) -> anyhow::Result<Service> {
    let storage = open_storage(settings, install)?;
    let key = load_master_key(settings, &storage, install)?;
    let dir = key_dir(settings);
    let keyring = keyring(&storage, &key, &dir)?;
    Ok(Service::new(storage, keyring, compose::policy(settings))
        .with_oob(compose::oob_runtime(settings)?)
        .with_phones(compose::phone_policy(settings))
        .with_staff(compose::staff_policy(settings)?)
        .with_key_dir(dir))
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
