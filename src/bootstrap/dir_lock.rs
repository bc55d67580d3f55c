//! Who uses a SQLite data directory (issues 26 and 27): `serve` holds a shared lock on
//! `<data_dir>/tokend.lock` for as long as it runs; `copy-to` and `restore` take it
//! exclusively, so a copy never runs while a server writes commits it would leave behind
//! (unless `--force`), a restore never replaces the database under a running server, and
//! a server does not start in the middle of either. `rekey` looks at it to know whether
//! a server must confirm a new key. Advisory `flock(2)` locks: the kernel drops them when
//! the process dies, so a crash never leaves the directory locked. Other subcommands
//! (migrate, backup, apikey…) take no lock: they are safe beside a running server.
//! PostgreSQL installs take none. The lock file belongs to the data directory's owner
//! whoever makes it (see `install::hand_over`).

use anyhow::{bail, Context as _};
use rustix::fs::{flock, FlockOperation};
use std::fs::{File, OpenOptions};

use crate::config::Settings;

/// The lock file's name in the data directory.
const LOCK_FILE: &str = "tokend.lock";

/// A held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct DirLock {
    _held: Option<File>,
}

fn open(settings: &Settings) -> anyhow::Result<File> {
    let path = settings.data_dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    // Made by root (`sudo tokend restore`), it must stay the service's: a lock file the
    // service's user cannot open would stop it from starting (issue 27).
    super::install::hand_over(&path, &settings.data_dir)?;
    Ok(file)
}

fn try_lock(file: &File, op: FlockOperation) -> bool {
    flock(file, op).is_ok()
}

/// The lock `serve` holds: shared, so it never stops another server, only a copy.
pub fn serving(settings: &Settings) -> anyhow::Result<DirLock> {
    if settings.is_postgres() {
        return Ok(DirLock { _held: None });
    }
    let file = open(settings)?;
    if !try_lock(&file, FlockOperation::NonBlockingLockShared) {
        bail!(
            "{} is being copied by `tokend copy-to`: start the server once the copy is done",
            settings.data_dir.display()
        );
    }
    Ok(DirLock { _held: Some(file) })
}

/// The lock `copy-to` holds: exclusive, refused while a server runs on the directory
/// unless `force` (then the copy goes on, unlocked, as the operator said).
pub fn exclusive(settings: &Settings, force: bool) -> anyhow::Result<DirLock> {
    let file = open(settings)?;
    if try_lock(&file, FlockOperation::NonBlockingLockExclusive) {
        return Ok(DirLock { _held: Some(file) });
    }
    if force {
        tracing::warn!(
            "copy-to --force: a tokend server is using {}; commits after the copy's snapshot will be missing from the copy",
            settings.data_dir.display()
        );
        return Ok(DirLock { _held: None });
    }
    bail!(
        "a tokend server is using {Dir}: stop it first, or commits made after the copy's \
         snapshot would be lost when you switch (pass --force to copy anyway)",
        Dir = settings.data_dir.display()
    )
}

/// The lock `tokend restore` holds: exclusive, never forced; `None` when a server uses
/// the directory (the restore then refuses).
pub fn alone(settings: &Settings) -> anyhow::Result<Option<DirLock>> {
    let file = open(settings)?;
    Ok(try_lock(&file, FlockOperation::NonBlockingLockExclusive)
        .then_some(DirLock { _held: Some(file) }))
}

/// Whether a server uses the (SQLite) data directory now.
pub fn is_served(settings: &Settings) -> anyhow::Result<bool> {
    if settings.is_postgres() || !settings.data_dir.exists() {
        return Ok(false);
    }
    Ok(alone(settings)?.is_none())
}
