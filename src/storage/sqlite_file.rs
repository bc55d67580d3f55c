//! The embedded SQLite database: its connections' pragmas, its file kept private
//! (created 0600 before SQLite opens it, and older installs' 0644 files and their WAL and
//! SHM tightened), checkpointed, and copied whole while serving (`tokend backup`).

use diesel::connection::SimpleConnection as _;
use diesel::{Connection as _, QueryableByName, RunQueryDsl as _, SqliteConnection};
use std::path::Path;

use diesel::r2d2::CustomizeConnection;
use diesel::result::Error as DieselError;

use super::{Conn, Durability, Error, Storage};

#[derive(Debug)]
pub(super) struct SqlitePragmas {
    pub(super) durability: Durability,
}

impl SqlitePragmas {
    pub(super) fn apply(&self, conn: &mut SqliteConnection) -> Result<(), DieselError> {
        let sync = match self.durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = 10000; PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON; \
             PRAGMA secure_delete = ON;"
        ))
    }
}

/// Page cache of each reading connection, KiB. SQLite's default (2,000 KiB) is per
/// connection: sixteen readers would hold 32 MiB of mostly duplicate pages. A reader
/// needs the upper levels of a few B-trees; the rest comes from the OS page cache.
const READER_CACHE_KIB: u32 = 512;

impl CustomizeConnection<Conn, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut Conn) -> Result<(), diesel::r2d2::Error> {
        let Conn::Sqlite(conn) = conn else {
            return Ok(());
        };
        self.apply(conn)
            .and_then(|()| conn.batch_execute(&format!("PRAGMA cache_size = -{READER_CACHE_KIB};")))
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Creates `path` empty with mode 0600; fails if it exists. SQLite would create a database
/// file with mode 0644 (less the umask) and gives its WAL, SHM and journal files the
/// database file's mode: creating the file first keeps all of them private whatever the
/// umask of whoever calls.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Makes the database at `path` private to its owner: creates it empty with mode 0600 when
/// missing, and takes group and other permissions off an existing database and its WAL
/// and SHM (as older versions created them 0644), saying so.
pub(super) fn make_private(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt as _;
    match create_private(path) {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::Db(format!("cannot create {}: {e}", path.display()))),
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode & 0o700))
                .map_err(|e| Error::Db(format!("cannot chmod {}: {e}", file.display())))?;
            tracing::warn!(
                "{} was readable by others (mode {mode:o}): now {:o}",
                file.display(),
                mode & 0o700
            );
        }
    }
    Ok(())
}

impl Storage {
    /// Copies every WAL frame into the database file and empties the WAL, so bytes a
    /// write replaced (a destroyed seed) no longer linger in the log.
    /// A no-op on PostgreSQL, which has no such log in the data directory.
    pub fn checkpoint(&self) -> Result<(), Error> {
        if self.is_postgres() {
            return Ok(());
        }
        let mut conn = self.conn()?;
        conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(())
    }

    /// Writes a consistent copy of the whole database to `target`, a file that must not
    /// exist yet, while the service keeps serving: SQLite's `VACUUM INTO` reads one
    /// snapshot (every commit before it, none after), so the copy is never torn, and it
    /// is compact. Then checks the copy with `PRAGMA integrity_check`. The copy holds
    /// sealed seeds only; restoring it needs the master key as well.
    pub fn backup_to(&self, target: &Path) -> Result<(), Error> {
        if self.is_postgres() {
            return Err(Error::Db(
                "tokend backup copies the embedded SQLite database; this install runs on \
                 PostgreSQL, whose own tools are the backup: pg_dump (a consistent logical \
                 copy), or pg_basebackup with WAL archiving / your provider's snapshots for \
                 point-in-time recovery. Restoring also needs the master key."
                    .to_owned(),
            ));
        }
        let target_text = target
            .to_str()
            .ok_or_else(|| Error::Db(format!("{} is not UTF-8", target.display())))?;
        // The copy holds what the database holds: created empty with mode 0600 first
        // (VACUUM INTO accepts an empty file), it never exists with wider permissions.
        create_private(target).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                Error::Db(format!("{} exists already", target.display()))
            }
            _ => Error::Db(format!("cannot create {}: {e}", target.display())),
        })?;
        let copied = self.conn().and_then(|mut conn| match &mut *conn {
            Conn::Sqlite(conn) => diesel::sql_query("VACUUM INTO ?")
                .bind::<diesel::sql_types::Text, _>(target_text)
                .execute(conn)
                .map(drop)
                .map_err(Error::from),
            Conn::Pg(_) => Err(Error::Db("not a SQLite database".to_owned())),
        });
        if let Err(e) = copied {
            // Only the empty file made above: nothing else by that name existed.
            let _ = std::fs::remove_file(target);
            return Err(e);
        }
        let mut copy = SqliteConnection::establish(target_text)
            .map_err(|e| Error::Db(format!("cannot open the copy: {e}")))?;
        #[derive(QueryableByName)]
        struct Check {
            #[diesel(sql_type = diesel::sql_types::Text)]
            integrity_check: String,
        }
        let verdict: Vec<Check> = diesel::sql_query("PRAGMA integrity_check").load(&mut copy)?;
        match verdict.first().map(|c| c.integrity_check.as_str()) {
            Some("ok") => Ok(()),
            other => Err(Error::Db(format!(
                "the copy fails its integrity check: {other:?}"
            ))),
        }
    }
}
