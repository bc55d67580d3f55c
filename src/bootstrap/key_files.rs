//! Where master key files live once a rotation is over.
//!
//! In the default layout (neither `master_key_file` nor `TOKEND_MASTER_KEY`: the key is
//! `<data_dir>/master.key`) a rotation used to leave the old `master.key` and the new
//! `master.<id>.key` side by side, so every start warned, and the docs' advice to
//! replace `master.key` destroyed the key that backups made before the rotation need.
//! Now:
//!
//! - after a rotation `tokend rekey` moves the retired key to `<key dir>/retired/
//!   master.<id>.key` (kept: a pre-rotation backup needs it) and makes the new key
//!   `master.key`, in that order, so a start at any moment finds the active key;
//! - `tokend restore` of a backup made before a rotation finds its key there, and in the
//!   default layout swaps it back in as `master.key` (the newer key goes to `retired/`).
//!
//! With `master_key_file` or `TOKEND_MASTER_KEY` nothing is moved: the operator's
//! configuration names the key, and the messages say what to change.

use anyhow::Context as _;
use std::fs;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

use super::{install, key_dir, MASTER_KEY_ENV};
use crate::config::Settings;
use crate::crypto::{keyfile, MasterKey};
use crate::domain::keys::keys_in;

/// The directory retired key files are kept in: `retired/` under the key directory
/// (not searched for keys by a running service, only by `tokend restore`).
pub fn retired_dir(settings: &Settings) -> PathBuf {
    key_dir(settings).join("retired")
}

/// Whether the key is `<data_dir>/master.key`, which tokend may rename.
pub fn is_default_layout(settings: &Settings) -> bool {
    settings.master_key_file.is_none() && std::env::var_os(MASTER_KEY_ENV).is_none()
}

/// The keys `tokend restore` may need: the key directory's and the retired ones.
pub fn known_keys(settings: &Settings) -> Vec<(PathBuf, MasterKey)> {
    let mut keys = keys_in(&key_dir(settings));
    keys.extend(keys_in(&retired_dir(settings)));
    keys
}

/// Moves `file` (a key file of the key directory) into `retired/` as
/// `master.<id>.key`; its new path.
fn retire(settings: &Settings, file: &Path, key_id: &str) -> anyhow::Result<PathBuf> {
    let dir = retired_dir(settings);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let owner = fs::metadata(key_dir(settings))
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .ok();
    if let Some(uid) = owner {
        std::os::unix::fs::chown(&dir, Some(uid), None)
            .with_context(|| format!("cannot give {} to uid {uid}", dir.display()))?;
    }
    let target = dir.join(keyfile::key_file_name(key_id));
    fs::rename(file, &target)
        .with_context(|| format!("cannot move {} to {}", file.display(), target.display()))?;
    install::hand_over(&target, &dir)?;
    Ok(target)
}

/// After a rotation from `old` to `new`, in the default layout: retires `master.key`
/// (when it is key `old`) and makes key `new`'s file `master.key`. What it did, for the
/// operator; `None` when nothing was moved (another layout, or files not where rekey
/// left them).
pub fn settle_after_rotation(
    settings: &Settings,
    old: &str,
    new: &str,
) -> anyhow::Result<Option<String>> {
    if !is_default_layout(settings) {
        return Ok(None);
    }
    let dir = key_dir(settings);
    let current = dir.join("master.key");
    let found = keys_in(&dir);
    let holds = |path: &Path, id: &str| found.iter().any(|(p, k)| p == path && k.key_id() == id);
    let Some((new_file, _)) = found
        .iter()
        .find(|(p, k)| k.key_id() == new && *p != current)
    else {
        return Ok(None);
    };
    if current.exists() && !holds(&current, old) {
        return Ok(None);
    }
    let retired = if current.exists() {
        Some(retire(settings, &current, old)?)
    } else {
        None
    };
    fs::rename(new_file, &current).with_context(|| {
        format!(
            "cannot rename {} to {}",
            new_file.display(),
            current.display()
        )
    })?;
    Ok(Some(format!(
        "key {new} is now {}{}",
        current.display(),
        retired.map_or_else(String::new, |r| format!(
            "; the retired key {old} was moved to {} (keep it as long as backups made before \
             this rotation: tokend restore finds it there)",
            r.display()
        ))
    )))
}

/// After a rotation from the key file `old` into the HSM, in the default layout: moves
/// `master.key` (when it is key `old`) into `retired/`, so no start reads it again. What
/// it did; `None` otherwise.
pub fn settle_after_move_to_hsm(settings: &Settings, old: &str) -> anyhow::Result<Option<String>> {
    if !is_default_layout(settings) {
        return Ok(None);
    }
    let current = key_dir(settings).join("master.key");
    let holds_old = keys_in(&key_dir(settings))
        .iter()
        .any(|(p, k)| *p == current && k.key_id() == old);
    if !holds_old {
        return Ok(None);
    }
    let retired = retire(settings, &current, old)?;
    Ok(Some(format!(
        "the retired key file {old} was moved to {}: take it off this host",
        retired.display()
    )))
}

/// Before a restored database whose active key is `older` (a file found by
/// [`known_keys`]) is used, in the default layout: makes it `master.key` again and
/// retires the current `master.key` (key `current_id`). What it did; `None` in another
/// layout, where the operator points the configuration at the key.
pub fn reinstate_for_restore(
    settings: &Settings,
    older: &Path,
    older_id: &str,
    current_id: &str,
) -> anyhow::Result<Option<String>> {
    if !is_default_layout(settings) {
        return Ok(None);
    }
    let current = key_dir(settings).join("master.key");
    let retired = if current.exists() {
        Some(retire(settings, &current, current_id)?)
    } else {
        None
    };
    fs::rename(older, &current)
        .with_context(|| format!("cannot move {} to {}", older.display(), current.display()))?;
    install::hand_over(&current, &key_dir(settings))?;
    Ok(Some(format!(
        "the backup's key {older_id} is {} again{}",
        current.display(),
        retired.map_or_else(String::new, |r| format!(
            "; the newer key {current_id} was moved to {} (a later backup needs it)",
            r.display()
        ))
    )))
}
