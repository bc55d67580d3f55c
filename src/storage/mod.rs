//! Persistence: the ONLY module that names Diesel. Stores ciphertext, never decrypts.
//!
//! Owns an r2d2 pool of SQLite connections (WAL, foreign keys on, busy timeout) so the CLI
//! and the server share one storage layer without Rocket. All calls are blocking: the web
//! edge runs them on `spawn_blocking`, never on the async executor. Reads take a pooled
//! connection. Writes go through [`Storage::write`] on the process's one writing
//! connection, with group commit (see `writer`): IMMEDIATE transactions, so SQLite takes
//! the write lock up front and two writers never deadlock upgrading a read lock, and one
//! fsync for all the writes that queued while the previous one was being made.
//! Imports: diesel, `types`.

/// Filters and orders a boxed listing by a `types::Cursor` over its `id` column: ids
/// above `n` oldest first (`After`), or below `n` newest first (`Before`). A macro, since
/// each table's boxed query is its own type.
macro_rules! by_cursor {
    ($query:expr, $id:expr, $cursor:expr) => {
        match $cursor {
            crate::types::Cursor::After(n) => $query
                .filter($id.gt(crate::storage::row_id(n)))
                .order($id.asc()),
            crate::types::Cursor::Before(n) => $query
                .filter($id.lt(crate::storage::row_id(n)))
                .order($id.desc()),
        }
    };
}

pub mod admin_sessions;
pub mod admins;
pub mod api_keys;
pub mod audit;
pub mod bindings;
pub mod drift;
pub mod failed_codes;
pub mod institutions;
pub mod master_keys;
pub mod meta;
pub mod migrate;
pub mod oob_events;
pub mod oob_sessions;
pub mod phones;
pub mod schema;
pub mod sms_messages;
mod sql_types;
pub mod stats;
pub mod temp_codes;
pub mod tokens;
pub mod users;
mod writer;

use diesel::connection::SimpleConnection as _;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::{Connection as _, QueryableByName, RunQueryDsl as _, SqliteConnection};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A live database connection, as handed to the storage functions.
pub type Conn = SqliteConnection;

/// What went wrong in the database, reduced to what callers act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No row matched.
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database stayed locked past the busy timeout.
    #[error("database busy")]
    Busy,
    /// Anything else (I/O, corruption, a bug in a query).
    #[error("database error: {0}")]
    Db(String),
}

impl From<DieselError> for Error {
    fn from(e: DieselError) -> Error {
        match e {
            DieselError::NotFound => Error::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                Error::Conflict(info.message().to_owned())
            }
            DieselError::DatabaseError(_, info) if is_busy(info.message()) => Error::Busy,
            other => Error::Db(other.to_string()),
        }
    }
}

fn is_busy(message: &str) -> bool {
    message.contains("database is locked") || message.contains("database is busy")
}

/// How hard SQLite pushes each commit to disk (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Every commit is fsynced before it is acknowledged: an answered validation survives a
    /// power cut. The default.
    Full,
    /// In WAL mode a commit survives a process crash (kill -9) but the last commits may be
    /// lost on power loss or an OS crash. Faster.
    Normal,
}

#[derive(Debug)]
struct SqlitePragmas {
    durability: Durability,
}

impl SqlitePragmas {
    fn apply(&self, conn: &mut SqliteConnection) -> Result<(), DieselError> {
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

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
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
fn make_private(path: &Path) -> Result<(), Error> {
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

/// The database: a pool of reading connections and one writing connection to one file.
#[derive(Clone)]
pub struct Storage {
    pool: Pool<ConnectionManager<SqliteConnection>>,
    writer: Arc<writer::Writer>,
}

impl Storage {
    /// Opens (creating if needed) the SQLite file at `path`.
    /// The file and its WAL/SHM are made private first (see [`make_private`]).
    pub fn open(path: &Path, pool_size: u32, durability: Durability) -> Result<Storage, Error> {
        make_private(path)?;
        // WAL is a property of the file: set it once, on one connection, before the pool
        // opens several at once (concurrent journal-mode switches fight for the lock).
        let mut first = SqliteConnection::establish(&path.to_string_lossy())
            .map_err(|e| Error::Db(format!("cannot open {}: {e}", path.display())))?;
        first.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;")?;
        drop(first);
        let url = path.to_string_lossy().into_owned();
        let writer = writer::Writer::new(Box::new(move || {
            let mut conn = SqliteConnection::establish(&url)
                .map_err(|e| Error::Db(format!("cannot open {url}: {e}")))?;
            SqlitePragmas { durability }.apply(&mut conn)?;
            Ok(conn)
        }))?;
        let manager = ConnectionManager::<SqliteConnection>::new(path.to_string_lossy());
        let pool = Pool::builder()
            .max_size(pool_size.max(1))
            .min_idle(Some(1))
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(30))
            .connection_customizer(Box::new(SqlitePragmas { durability }))
            .build(manager)
            .map_err(|e| Error::Db(format!("cannot open {}: {e}", path.display())))?;
        Ok(Storage {
            pool,
            writer: Arc::new(writer),
        })
    }

    fn conn(&self) -> Result<PooledConnection<ConnectionManager<SqliteConnection>>, Error> {
        self.pool.get().map_err(|e| Error::Db(e.to_string()))
    }

    /// Copies every WAL frame into the database file and empties the WAL, so bytes a
    /// write replaced (a destroyed seed) no longer linger in the log.
    pub fn checkpoint(&self) -> Result<(), Error> {
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
        let copied = self.conn().and_then(|mut conn| {
            diesel::sql_query("VACUUM INTO ?")
                .bind::<diesel::sql_types::Text, _>(target_text)
                .execute(&mut conn)
                .map_err(Error::from)
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

    /// Installs the function that links audit rows (see `audit`): from now on every
    /// commit links the rows it wrote, in the same transaction.
    pub fn set_audit_linker(&self, linker: Arc<audit::Linker>) {
        self.writer.set_linker(linker);
    }

    /// Connections of the reading pool: (open, idle).
    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (state.connections, state.idle_connections)
    }

    /// Runs read-only work on a pooled connection.
    pub fn read<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T, Error>) -> Result<T, Error> {
        let mut conn = self.conn()?;
        f(&mut conn)
    }

    /// Runs `f` in one IMMEDIATE transaction: all of it commits, or none of it (an `Err`
    /// from `f` rolls back and is handed back unchanged). Returns once the commit is on
    /// disk (as `synchronous` defines it), possibly shared with other writes.
    pub fn write<T, E: From<Error>>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, E>,
    ) -> Result<T, E> {
        self.writer.write(f)
    }
}

/// The row id a listing cursor (`types::Cursor`) names, clamped to the id range.
pub(crate) fn row_id(n: i64) -> i32 {
    i32::try_from(n.max(0)).unwrap_or(i32::MAX)
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// A migrated database in a temporary *file* (not `:memory:`), as production uses.
    pub fn temp_storage() -> (tempfile::TempDir, Storage) {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(&dir.path().join("t.sqlite"), 8, Durability::Full).unwrap();
        storage.read(migrate::run_pending).unwrap();
        (dir, storage)
    }

    /// A token row to insert in tests: SHA1/6/30, status `status`, a dummy seal.
    pub fn new_token<'a>(
        serial: &'a str,
        key_id: &'a str,
        status: crate::types::UsrTokenStat,
        inst_rt_id: &'a str,
    ) -> tokens::NewToken<'a> {
        tokens::NewToken {
            token_id: serial,
            token_type: crate::types::TokenType::Hardware,
            algorithm: crate::types::Algorithm::SHA1,
            digits: 6,
            period: 30,
            seed_key_id: key_id,
            seed_nonce: b"nonce-123456",
            seed_ciphertext: b"ciphertext",
            status,
            last_step: -1,
            drift: 0,
            version: 1,
            created_at: 0,
            updated_at: 0,
            inst_rt_id,
        }
    }
}

/// An UPDATE marked safe for Diesel's prepared-statement cache.
///
/// Diesel prepares every UPDATE anew because a changeset with `Option` fields can change
/// its SQL from one call to the next. The validation hot path runs two UPDATEs per
/// success whose SQL their type fixes (tuples of `column.eq(value)`, nothing optional);
/// preparing them on every call was a measurable part of a validation's CPU time.
/// Wrap ONLY such statements: a cached statement whose SQL varied would run the wrong SQL.
#[derive(Debug, Clone, Copy)]
struct Cached<Q>(Q);

impl<Q: diesel::query_builder::QueryId> diesel::query_builder::QueryId for Cached<Q> {
    type QueryId = Cached<Q::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = Q::HAS_STATIC_QUERY_ID;
}

impl<Q> diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite> for Cached<Q>
where
    Q: diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite>,
{
    fn walk_ast<'b>(
        &'b self,
        pass: diesel::query_builder::AstPass<'_, 'b, diesel::sqlite::Sqlite>,
    ) -> diesel::QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _: &diesel::sqlite::Sqlite) -> diesel::QueryResult<bool> {
        Ok(true)
    }
}

impl<Q> diesel::query_dsl::RunQueryDsl<SqliteConnection> for Cached<Q> {}

#[cfg(test)]
mod private_file_tests {
    use super::test_support::temp_storage;
    use std::os::unix::fs::PermissionsExt as _;

    fn mode(path: &std::path::Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    /// Independent of the binary's umask: the library itself creates these files private.
    #[test]
    fn a_new_database_and_a_backup_are_created_0600() {
        let (dir, storage) = temp_storage();
        assert_eq!(mode(&dir.path().join("t.sqlite")), 0o600);
        let copy = dir.path().join("copy.sqlite");
        storage.backup_to(&copy).unwrap();
        assert_eq!(mode(&copy), 0o600);
        assert!(storage.backup_to(&copy).is_err(), "never overwrites");
        assert_eq!(mode(&copy), 0o600);
    }
}
