//! Which process may make an install, who owns its files, and whether a service runs on
//! it.
//!
//! - **Only `serve` and `migrate` create an install** ([`Install::Create`]). Every other
//!   command needs one already ([`Install::Existing`]): run from the wrong directory, it
//!   would otherwise create a whole new database and master key, and print an API key
//!   that works nowhere. The refusal names the path it looked at.
//! - **Files the CLI writes belong to the data directory's owner.** Under systemd the
//!   service runs as `tokend` and an operator types `sudo tokend …`: a key file or a WAL
//!   created by root with mode 0600 is unreadable by the service, and every validation
//!   then fails. So a command run as root gives each file it creates there to the
//!   directory's owner, and a command run as any other user who does not own the
//!   directory refuses before it writes anything.
//! - **Whether a service runs** is `dir_lock`'s: `tokend restore` takes its lock
//!   exclusively, so it can tell (and refuse), and no service starts half-way through.
//!
//! Imports: config, storage (the engine's migration check) and std/rustix.

use anyhow::{bail, Context as _};
use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use crate::config::Settings;

/// Whether a command may create the install it runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Install {
    /// `serve` and `migrate`: create the database and the master key when missing.
    Create,
    /// Every other command: refuse a data directory (or PostgreSQL database) that holds
    /// no tokend database, and never generate a master key.
    Existing,
}

/// Refuses a SQLite install whose database file does not exist (before anything would
/// create it), naming the path looked at and where that path came from.
pub fn require_database_file(settings: &Settings) -> anyhow::Result<()> {
    let path = settings.database_path();
    if settings.is_postgres() || path.exists() {
        return Ok(());
    }
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| "?".to_owned());
    bail!(
        "no tokend database at {} (data_dir = {:?}, from ROCKET_DATA_DIR or Rocket.toml; \
         working directory {cwd}); refusing to create a new install. Run this command with \
         the data directory of the service (e.g. ROCKET_DATA_DIR=/var/lib/tokend, or from \
         the directory you start it in); only tokend serve and tokend migrate create an \
         install",
        path.display(),
        settings.data_dir
    )
}

/// The owner (uid, gid) of `dir`.
fn owner_of(dir: &Path) -> std::io::Result<(u32, u32)> {
    fs::metadata(dir).map(|m| (m.uid(), m.gid()))
}

/// The user name of `uid` from /etc/passwd, for messages (the number when not found).
pub fn user_name(uid: u32) -> String {
    fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                let id = fields.nth(1)?;
                (id.parse::<u32>().ok()? == uid).then(|| name.to_owned())
            })
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}

/// Refuses to run a command as a user who neither owns `dir` nor is root: the files it
/// would write there could not be given to the directory's owner, the user the service
/// runs as. Nothing is checked when `dir` does not exist yet.
pub fn check_operator(dir: &Path) -> anyhow::Result<()> {
    let Ok((uid, _)) = owner_of(dir) else {
        return Ok(());
    };
    let me = rustix::process::geteuid().as_raw();
    if me == 0 || me == uid {
        return Ok(());
    }
    let owner = user_name(uid);
    bail!(
        "{} belongs to {owner} (uid {uid}), the user the service runs as, and this command \
         runs as {} (uid {me}): files it wrote there would be unreadable by the service. \
         Run it as {owner} (sudo -u {owner} tokend …) or as root (sudo tokend …), which \
         gives the files it writes to {owner}",
        dir.display(),
        user_name(me)
    )
}

/// Gives `path` (a file this process just wrote in `dir`) to `dir`'s owner and makes it
/// private to that owner (mode 0600), so the service running as that user can read it.
/// Refuses (an error naming both users) when this process may not: it is neither root
/// nor the directory's owner.
pub fn hand_over(path: &Path, dir: &Path) -> anyhow::Result<()> {
    let (uid, gid) =
        owner_of(dir).with_context(|| format!("cannot read the owner of {}", dir.display()))?;
    let meta = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.uid() != uid || meta.gid() != gid {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).with_context(|| {
            format!(
                "cannot give {} to {} (the owner of {}), the user the service runs as: run \
                 this command as that user or as root",
                path.display(),
                user_name(uid),
                dir.display()
            )
        })?;
    }
    if meta.permissions().mode() & 0o777 != 0o600 {
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot chmod {}", path.display()))?;
    }
    Ok(())
}

/// Gives the SQLite database and its `-wal` and `-shm` files to the data directory's
/// owner (see [`hand_over`]): SQLite creates them as whoever opens the database first,
/// and a WAL left behind by root would stop the service from opening its database.
pub fn hand_over_database(settings: &Settings) -> anyhow::Result<()> {
    if settings.is_postgres() {
        return Ok(());
    }
    let db = settings.database_path();
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", db.display()));
        if file.exists() {
            hand_over(&file, &settings.data_dir)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings_in(dir: &Path) -> Settings {
        let figment = rocket::figment::Figment::from(
            rocket::figment::providers::Serialized::defaults(serde_json::json!({})),
        )
        .merge(("data_dir", dir));
        Settings::load(&figment).unwrap()
    }

    #[test]
    fn a_missing_database_is_refused_naming_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let settings = settings_in(&dir.path().join("elsewhere"));
        let err = require_database_file(&settings).unwrap_err().to_string();
        assert!(err.contains("elsewhere/tokend.sqlite"), "{err}");
        assert!(err.contains("refusing to create a new install"), "{err}");
    }
}
