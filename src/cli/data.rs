//! The database as a whole: `backup`, `restore` and `copy-to`.

use anyhow::{bail, Context as _};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::bootstrap::{self, install, Install};
use crate::config::Settings;

/// Copies the install into PostgreSQL and says what to configure next.
pub(super) fn copy_to(settings: &Settings, url: &str, force: bool) -> anyhow::Result<()> {
    if settings.is_postgres() {
        bail!(
            "this install already runs on PostgreSQL ({}): copy-to moves a SQLite install",
            bootstrap::database_label(settings)
        );
    }
    let _copying = bootstrap::dir_lock::exclusive(settings, force)?;
    let service = bootstrap::service(settings, Install::Existing)?;
    let target = bootstrap::open_postgres(url)?;
    // Each table on stdout as it is done, so a long copy shows where it is; the copy is
    // one transaction, so a failure leaves the target as it was.
    let report = service
        .copy_to(&target, &mut |(table, here, there)| {
            println!("{table:<16} {here:>9} rows copied, {there:>9} there");
        })
        .context("the copy failed; the target database was left unchanged")?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "audit chain in the copy: {} rows verified{}",
        report.chain.linked,
        report
            .chain
            .broken
            .map(|(row, why)| format!(", BROKEN at row {row}: {why}"))
            .unwrap_or_default()
    )?;
    if !report.is_whole() {
        bail!("the copy does not match its source: do not switch to it");
    }
    writeln!(
        out,
        "copied. Next, on every node: set database_url = \"{}\" (ROCKET_DATABASE_URL), one \
         secret_key shared by all nodes (ROCKET_SECRET_KEY), and the same master key as \
         here; then start the nodes. {} is no longer used: keep it as the last SQLite backup.",
        crate::storage::engine::redact_url(url),
        settings.database_path().display()
    )?;
    Ok(())
}

/// Writes the backup and says what restoring it needs.
pub(super) fn backup(settings: &Settings, file: &std::path::Path) -> anyhow::Result<()> {
    let storage = bootstrap::open_storage(settings, Install::Existing)?;
    storage
        .backup_to(file)
        .with_context(|| format!("cannot back up to {}", file.display()))?;
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    let key_id = crate::domain::start::stored_fingerprint(&storage)?
        .map_or_else(|| "none yet".to_owned(), |f| f.chars().take(16).collect());
    println!(
        "backup written to {} ({size} bytes, integrity ok); restoring it needs the master \
         key with id {key_id} — keep that key apart from the backup",
        file.display()
    );
    Ok(())
}

/// `tokend restore FILE`: makes a backup the database, in place, on a stopped install.
///
/// Refused while a service serves the data directory (its lock). The backup is copied
/// beside the database, migrated and checked there (integrity, then its audit chain
/// under this install's keys) before anything is replaced; then the database's `-wal`
/// and `-shm` are removed — a WAL left by a crashed process would otherwise be replayed
/// onto the restored file, mixing newer rows into it and breaking its audit chain — the
/// database it replaces is kept beside it, and the copy takes its place.
pub(super) fn restore(settings: &Settings, file: &Path) -> anyhow::Result<()> {
    if settings.is_postgres() {
        bail!(
            "tokend restore puts back a SQLite backup; this install runs on PostgreSQL ({}): \
             restore with PostgreSQL's tools (pg_restore, or your provider's point-in-time \
             recovery), then run tokend audit verify",
            bootstrap::database_label(settings)
        );
    }
    if !settings.data_dir.exists() {
        // A restore onto a new host needs the data directory (and the master key) in
        // place; a mistyped directory is refused like every other command's.
        install::require_database_file(settings)?;
    }
    let Some(_lock) = bootstrap::dir_lock::alone(settings)? else {
        bail!(
            "a tokend service is serving {} (it holds tokend.lock there): stop it first \
             (sudo systemctl stop tokend), then run tokend restore again",
            settings.data_dir.display()
        );
    };
    let db = settings.database_path();
    let candidate = sibling(&db, ".restoring");
    remove_if_present(&candidate)?;
    for suffix in ["-wal", "-shm"] {
        remove_if_present(&sibling(&candidate, suffix))?;
    }
    copy_private(file, &candidate)?;
    let checked = check(settings, file, &candidate);
    let Checked {
        holdings,
        older_key,
        configured_id,
    } = match checked {
        Ok(found) => found,
        Err(e) => {
            let _ = std::fs::remove_file(&candidate);
            return Err(e);
        }
    };
    for suffix in ["-wal", "-shm"] {
        remove_if_present(&sibling(&candidate, suffix))?;
    }
    let kept = db.exists().then(|| {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        sibling(&db, &format!(".before-restore-{stamp}"))
    });
    let removed = set_aside(&db, kept.as_deref())?;
    std::fs::rename(&candidate, &db)
        .with_context(|| format!("cannot move the restored copy to {}", db.display()))?;
    install::hand_over_database(settings)?;
    let reinstated = match &older_key {
        Some((path, id)) => {
            bootstrap::key_files::reinstate_for_restore(settings, path, id, &configured_id)?
        }
        None => None,
    };
    report(
        file,
        &db,
        &holdings,
        &removed,
        kept.as_deref(),
        older_key.as_ref().map(|(p, _)| p.as_path()),
        reinstated.as_deref(),
    );
    Ok(())
}

/// Says what `restore` did and what to do next.
fn report(
    file: &Path,
    db: &Path,
    holdings: &crate::domain::restore::Holdings,
    removed: &[String],
    kept: Option<&Path>,
    older_key: Option<&Path>,
    reinstated: Option<&str>,
) {
    let head = holdings.chain.head.clone().map_or_else(
        || "none".to_owned(),
        |(id, link)| format!("row {id} {link}"),
    );
    println!(
        "restored {} into {}: {} user(s), {} token(s), {} audit row(s); audit chain whole \
         ({} rows verified, head {head})",
        file.display(),
        db.display(),
        holdings.users,
        holdings.tokens,
        holdings.audit_rows,
        holdings.chain.linked
    );
    if removed.is_empty() {
        eprintln!("no -wal or -shm file was beside the database");
    } else {
        eprintln!(
            "removed {} from beside the database (never replayed onto the backup)",
            removed.join(", ")
        );
    }
    if let Some(kept) = kept {
        eprintln!(
            "the database it replaced is kept as {} (with its WAL)",
            kept.display()
        );
    }
    match (reinstated, older_key) {
        (Some(what), _) => eprintln!(
            "this backup was made before a key rotation: {what}. Run tokend rekey after \
             the start to rotate again"
        ),
        (None, Some(key)) => eprintln!(
            "this backup was made before a key rotation: its seeds are under the retired \
             key in {}. Start the service with master_key_file (or TOKEND_MASTER_KEY) set \
             to that key, then run tokend rekey to rotate again",
            key.display()
        ),
        (None, None) => {}
    }
    eprintln!("next: start the service (sudo systemctl start tokend)");
}

/// What the check of a backup found.
struct Checked {
    holdings: crate::domain::restore::Holdings,
    /// The retired key file (and its id) the backup needs, when not the configured key.
    older_key: Option<(PathBuf, String)>,
    /// The configured key's id.
    configured_id: String,
}

/// Opens the copy as a service and checks it; what it holds, and the older key it
/// needed, if any.
fn check(settings: &Settings, file: &Path, candidate: &Path) -> anyhow::Result<Checked> {
    let opened = bootstrap::backup::open(settings, candidate)
        .with_context(|| format!("{} is refused, nothing was replaced", file.display()))?;
    let holdings = opened
        .service
        .holdings()
        .with_context(|| format!("cannot read {}", file.display()))?;
    if let Some((row, why)) = holdings.chain.broken {
        bail!(
            "{} is refused, nothing was replaced: its audit chain is BROKEN at row {row} \
             ({why}); restore an older backup",
            file.display()
        );
    }
    opened.service.settle_file()?;
    Ok(Checked {
        holdings,
        older_key: opened.older_key,
        configured_id: opened.configured_id,
    })
}

/// Moves the database `db` and its WAL to `kept` (so the replaced database stays whole,
/// for a look later), removes its `-shm`, and removes a WAL without a database; the
/// files moved or removed from beside `db`. Nothing named `db-wal` is left to be
/// replayed onto the restored file.
fn set_aside(db: &Path, kept: Option<&Path>) -> anyhow::Result<Vec<String>> {
    let mut gone = Vec::new();
    if let Some(kept) = kept {
        std::fs::rename(db, kept).with_context(|| format!("cannot move {} aside", db.display()))?;
    }
    let wal = sibling(db, "-wal");
    match kept {
        Some(kept) if wal.exists() => {
            std::fs::rename(&wal, sibling(kept, "-wal"))
                .with_context(|| format!("cannot move {} aside", wal.display()))?;
            gone.push(wal.display().to_string());
        }
        _ => {
            if remove_if_present(&wal)? {
                gone.push(wal.display().to_string());
            }
        }
    }
    let shm = sibling(db, "-shm");
    if remove_if_present(&shm)? {
        gone.push(shm.display().to_string());
    }
    Ok(gone)
}

/// `path` with `suffix` added to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", path.display()))
}

/// Removes `path`; whether it was there.
fn remove_if_present(path: &Path) -> anyhow::Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}

/// Copies `from` to the new file `to` (mode 0600, given to the data directory's owner).
fn copy_private(from: &Path, to: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut source =
        std::fs::File::open(from).with_context(|| format!("cannot read {}", from.display()))?;
    let mut target = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .with_context(|| format!("cannot create {}", to.display()))?;
    std::io::copy(&mut source, &mut target)
        .and_then(|_| target.sync_all())
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    if let Some(dir) = to.parent() {
        install::hand_over(to, dir)?;
    }
    Ok(())
}
