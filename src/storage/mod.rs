//! Persistence: the ONLY module that names Diesel. Stores ciphertext, never decrypts.
//!
//! Two engines behind one set of queries: embedded SQLite (the default: one file in the
//! data directory) and PostgreSQL (`database_url = "postgres://…"`, for several nodes).
//! [`Conn`] is Diesel's multi-connection over both, so every query in this module is
//! written once against it; the few statements only one engine has are named in
//! `engine`. Calls are blocking, so the web edge runs them on `spawn_blocking`, except on
//! SQLite's hot path ([`Storage::in_process`]): reads of microseconds, and the owned
//! writes awaited ([`Storage::write_owned_async`], [`Storage::accept_success_async`]).
//! Reads take a pooled connection.
//!
//! Writes go through [`Storage::write`], whose promise is the same on both engines: the
//! job runs as if no other write ran at the same time (a serial schedule), and it is
//! durable when `write` returns. [`Storage::write_owned`] is the same write for a job
//! that owns what it uses (the hot writes of a validation), which lets SQLite run it on
//! its writer thread; and a validation's success is one call,
//! [`Storage::accept_success`] (`success`), whose statements differ by engine.
//! - SQLite: the process's one writing connection, with group commit (see `writer`):
//!   IMMEDIATE transactions, so SQLite takes the write lock up front, and one fsync for
//!   all the writes that queued while the previous one was being made.
//! - PostgreSQL: a pooled connection, one SERIALIZABLE transaction per job, retried from
//!   the start when PostgreSQL reports a serialization failure or a deadlock (see
//!   `engine::retry`). Every node can write; none waits for another's unrelated writes.
//!
//! Whether a failure may be retried travels in the error value ([`Error::Serialization`],
//! [`Error::Closed`]; a job's own error type shows it through [`JobError`]). The domain
//! never asks which engine runs. On PostgreSQL reads do not test their connection first;
//! writes do (see [`Storage::open_postgres`]). Imports: diesel, `types`.

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
pub mod alerts;
pub mod api_keys;
pub mod approvals;
pub mod audit;
pub mod audit_anchor;
pub mod audit_archive;
pub mod bindings;
pub mod copy;
pub mod drift;
mod error;
pub mod failed_codes;
pub mod hsm_data_keys;
pub mod idempotency_keys;
pub mod institutions;
pub mod master_keys;
pub mod meta;
pub mod migrate;
pub mod oob_events;
pub mod oob_sessions;
pub mod overview;
pub mod phones;
pub mod schema;
#[cfg(test)]
mod schema_tests;
pub mod sms_messages;
pub mod soap_nonces;
mod sql_types;
mod sqlite_file;
pub mod staff_passkeys;
pub mod stats;
pub mod success;
pub mod temp_codes;
pub mod tokens;
pub mod users;
pub mod webhooks;
mod writer;
pub use error::{Error, JobError};
use sqlite_file::{make_private, SqlitePragmas};

pub mod engine;
pub mod leader;

use diesel::connection::SimpleConnection as _;
use diesel::r2d2::{Pool, PooledConnection};
use diesel::result::Error as DieselError;
use diesel::{Connection as _, PgConnection, SqliteConnection};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A live database connection, as handed to the storage functions: SQLite or PostgreSQL.
/// Queries are written once against it (Diesel's `MultiConnection`).
#[derive(diesel::MultiConnection)]
pub enum Conn {
    /// PostgreSQL (several nodes).
    Pg(PgConnection),
    /// Embedded SQLite (one node).
    Sqlite(SqliteConnection),
}

impl Conn {
    /// Whether this is a PostgreSQL connection.
    pub fn is_postgres(&self) -> bool {
        matches!(self, Conn::Pg(_))
    }
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

/// The database: a pool of connections, and on SQLite the one writing connection.
#[derive(Clone)]
pub struct Storage {
    pool: Pool<engine::Manager>,
    engine: Arc<Engine>,
}

/// What differs between the engines once the pool is open.
enum Engine {
    /// The file's one writing connection (group commit).
    Sqlite(Box<writer::Writer>),
    /// Every pooled connection writes; `url` opens the leader connections (`leader`).
    Postgres { url: String },
}

/// How long a request waits for a pooled connection before it is answered 503: short on
/// PostgreSQL, so a node that lost its database says so at once instead of queueing.
const PG_CHECKOUT_TIMEOUT: Duration = Duration::from_secs(3);

impl Storage {
    /// Opens the database `url` names: `postgres://…` (or `postgresql://…`) is
    /// PostgreSQL; anything else is the path of a SQLite file ([`Storage::open`]).
    pub fn connect(url: &str, pool_size: u32, durability: Durability) -> Result<Storage, Error> {
        if engine::is_postgres_url(url) {
            Storage::open_postgres(url, pool_size)
        } else {
            Storage::open(Path::new(url), pool_size, durability)
        }
    }

    /// Opens a PostgreSQL database.
    ///
    /// A connection the server closed (a restart, a failover, a cut network) is not seen
    /// as broken until it is used, and each such connection would fail one request after
    /// the database came back. The pool does not test every checkout for that (a
    /// `SELECT 1` round trip on every read and write: a third of a validation's round
    /// trips once the success write became one statement); instead:
    /// - a read that fails on a closed connection runs again, once, on a connection that
    ///   answered a ping (dead ones are discarded on the way; see [`Storage::read`]): a
    ///   read changes nothing, so running it twice is harmless;
    /// - a write pings its connection first ([`Storage::live_conn`]), as the pool did:
    ///   when a write fails on a closed connection nobody can tell whether its COMMIT
    ///   reached the server, so a write is never retried, and the ping keeps a
    ///   connection that died while idle from failing one.
    pub fn open_postgres(url: &str, pool_size: u32) -> Result<Storage, Error> {
        engine::first_contact(url)?;
        let pool = Pool::builder()
            .max_size(pool_size.max(1))
            .min_idle(Some(0))
            .test_on_check_out(false)
            .connection_timeout(PG_CHECKOUT_TIMEOUT)
            .build_unchecked(engine::Manager::postgres(url));
        // Fail start-up on a wrong URL or a database that is down, as SQLite does on a
        // path it cannot open, rather than serving 503s.
        drop(pool.get().map_err(|e| {
            Error::Db(format!(
                "cannot connect to {}: {e}",
                engine::redact_url(url)
            ))
        })?);
        Ok(Storage {
            pool,
            engine: Arc::new(Engine::Postgres {
                url: url.to_owned(),
            }),
        })
    }

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
        let writer_url = url.clone();
        let writer = writer::Writer::new(Box::new(move || {
            let mut conn = SqliteConnection::establish(&writer_url)
                .map_err(|e| Error::Db(format!("cannot open {writer_url}: {e}")))?;
            SqlitePragmas { durability }.apply(&mut conn)?;
            Ok(Conn::Sqlite(conn))
        }))?;
        let pool = Pool::builder()
            .max_size(pool_size.max(1))
            .min_idle(Some(1))
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(30))
            .connection_customizer(Box::new(SqlitePragmas { durability }))
            .build(engine::Manager::sqlite(&url))
            .map_err(|e| Error::Db(format!("cannot open {}: {e}", path.display())))?;
        Ok(Storage {
            pool,
            engine: Arc::new(Engine::Sqlite(Box::new(writer))),
        })
    }

    /// Whether this is a PostgreSQL database (several nodes may share it).
    pub fn is_postgres(&self) -> bool {
        matches!(*self.engine, Engine::Postgres { .. })
    }

    /// The PostgreSQL URL, for the leader connections; `None` on SQLite.
    pub(crate) fn postgres_url(&self) -> Option<&str> {
        match &*self.engine {
            Engine::Postgres { url } => Some(url),
            Engine::Sqlite(_) => None,
        }
    }

    fn conn(&self) -> Result<PooledConnection<engine::Manager>, Error> {
        self.pool.get().map_err(|e| {
            if self.is_postgres() {
                tracing::warn!("no database connection: {e}");
                Error::Busy
            } else {
                Error::Db(e.to_string())
            }
        })
    }

    /// Installs the function that links audit rows (see `audit`): from now on every
    /// commit links the rows it wrote, in the same transaction.
    ///
    /// On PostgreSQL the rows are not linked at commit (every node would queue on the
    /// chain's head): the elected linker (`leader`, [`Storage::link_audit`]) links them
    /// shortly after, in the order they became visible.
    pub fn set_audit_linker(&self, linker: Arc<audit::Linker>) {
        match &*self.engine {
            Engine::Sqlite(writer) => writer.set_linker(linker),
            Engine::Postgres { .. } => engine::set_pg_linker(linker),
        }
    }

    /// Connections of the reading pool: (open, idle).
    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (state.connections, state.idle_connections)
    }

    /// A pooled connection; on PostgreSQL one that has just answered a ping (`SELECT 1`):
    /// connections the server closed fail theirs and are discarded on the way (the pool
    /// opens new ones), so after an outage this passes over the pool at most once.
    fn live_conn(&self) -> Result<PooledConnection<engine::Manager>, Error> {
        if !self.is_postgres() {
            return self.conn();
        }
        for _ in 0..=self.pool.max_size() {
            let mut conn = self.conn()?;
            if diesel::r2d2::R2D2Connection::ping(&mut *conn).is_ok() {
                return Ok(conn);
            }
            // A failed ping leaves the connection marked broken: dropped, not pooled.
        }
        Err(Error::Busy)
    }

    /// Runs read-only work on a pooled connection.
    ///
    /// On PostgreSQL the connection is not tested first (see [`Storage::open_postgres`]):
    /// when `f` fails because the connection turned out closed, `f` runs again, once, on
    /// a connection that answered a ping. So `f` may run twice: it must only read.
    pub fn read<T>(&self, mut f: impl FnMut(&mut Conn) -> Result<T, Error>) -> Result<T, Error> {
        let mut conn = self.conn()?;
        match f(&mut conn) {
            Err(Error::Closed) if self.is_postgres() => {
                drop(conn);
                let mut conn = self.live_conn()?;
                f(&mut conn)
            }
            outcome => outcome,
        }
    }

    /// Runs one statement that PostgreSQL commits on its own, with no BEGIN or COMMIT
    /// around it (autocommit): the answer comes after the commit, so a result from `f`
    /// is durable. On a connection that answered a ping (a closed connection cannot tell
    /// whether the commit happened, so the write is not retried). PostgreSQL's one-trip
    /// success (`success`); SQLite's writes all go through the writer.
    fn write_at_once<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T, Error>) -> Result<T, Error> {
        let mut conn = self.live_conn()?;
        f(&mut conn)
    }

    /// Runs `f` in one IMMEDIATE transaction: all of it commits, or none of it (an `Err`
    /// from `f` rolls back and is handed back unchanged). Returns once the commit is on
    /// disk (as `synchronous` defines it), possibly shared with other writes.
    ///
    /// On PostgreSQL, `f` may run more than once (see the module doc): it must do nothing
    /// but database work, and start from what it reads.
    pub fn write<T, E: JobError>(&self, f: impl FnMut(&mut Conn) -> Result<T, E>) -> Result<T, E> {
        self.write_queued(None, f)
    }

    /// [`Storage::write`] for the hot writes (a validation's failure count, its audit
    /// row), whose job owns what it uses: on SQLite it runs on the writer thread, which
    /// runs the queued jobs back to back and wakes each caller once, when its batch is on
    /// disk (see `writer`). Same promise.
    ///
    /// On PostgreSQL, jobs with the same `key` (one user's) queue on an advisory lock
    /// taken before their transaction begins, instead of colliding and retrying (thirty
    /// racing requests on one binding would otherwise retry each other into 503s). The
    /// lock is the connection's: released after the job, or with the connection if a
    /// panic made the pool discard it. SQLite's one writer serialises every job anyway.
    pub fn write_owned<T, E>(
        &self,
        key: &str,
        f: impl FnMut(&mut Conn) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: JobError + Send + 'static,
    {
        match &*self.engine {
            Engine::Sqlite(writer) => writer.submit(f),
            Engine::Postgres { .. } => self.write_queued(Some(key), f),
        }
    }

    /// [`Storage::write_owned`] for an async caller, with the same promise: on SQLite the
    /// job goes to the writer thread and the caller's task awaits its answer, so no thread
    /// blocks on the commit; on PostgreSQL, whose driver blocks, the write runs on the
    /// blocking pool. The job is queued when this is called, not when first polled.
    pub fn write_owned_async<T, E>(
        &self,
        key: &str,
        f: impl FnMut(&mut Conn) -> Result<T, E> + Send + 'static,
    ) -> impl std::future::Future<Output = Result<T, E>> + Send + 'static
    where
        T: Send + 'static,
        E: JobError + Send + 'static,
    {
        let on_writer = match &*self.engine {
            Engine::Sqlite(writer) => Ok(writer.submit_async(f)),
            Engine::Postgres { .. } => Err((self.clone(), key.to_owned(), f)),
        };
        async move {
            match on_writer {
                Ok(answer) => answer.await,
                Err((storage, key, f)) => {
                    tokio::task::spawn_blocking(move || storage.write_queued(Some(&key), f))
                        .await
                        .unwrap_or_else(|e| {
                            Err(E::from(Error::Db(format!("the write failed: {e}"))))
                        })
                }
            }
        }
    }

    /// Whether reads and writes happen in this process (SQLite): a read costs
    /// microseconds and a write can be awaited (`write_owned_async`), so an async caller
    /// may run them on its own thread. On PostgreSQL a read is a network round trip on a
    /// blocking driver, to be kept off an async executor's threads.
    pub fn in_process(&self) -> bool {
        matches!(*self.engine, Engine::Sqlite(_))
    }

    /// Whether a read would get a pooled connection without waiting: one is idle, or the
    /// pool may open another. A checkout otherwise blocks until a connection is returned,
    /// which on an async thread would stall every task on it; an async caller that sees
    /// `false` hands its work to the blocking pool instead (a racy check, and a read that
    /// loses the race waits only for another read to end).
    pub fn reader_free(&self) -> bool {
        let state = self.pool.state();
        state.idle_connections > 0 || state.connections < self.pool.max_size()
    }

    /// The one write path of both: on PostgreSQL, behind the key's lock when there is one.
    fn write_queued<T, E: JobError>(
        &self,
        key: Option<&str>,
        f: impl FnMut(&mut Conn) -> Result<T, E>,
    ) -> Result<T, E> {
        let Engine::Sqlite(writer) = &*self.engine else {
            let mut conn = self.live_conn()?;
            let lock = key
                .map(|k| engine::KeyLock::take(&mut conn, k))
                .transpose()?;
            let outcome = engine::retry::serializable(&mut conn, f);
            if let Some(lock) = lock {
                lock.release(&mut conn);
            }
            return outcome;
        };
        writer.write(f)
    }
}

/// Runs a statement whose failure the caller may catch and go on from (a unique
/// violation it maps to a fault, or skips): on PostgreSQL inside a savepoint, since there
/// any error aborts the whole transaction; SQLite undoes only the failed statement, so it
/// runs bare there (no extra statements on the embedded engine's path).
pub(crate) fn refusable<T>(
    conn: &mut Conn,
    f: impl FnOnce(&mut Conn) -> Result<T, DieselError>,
) -> Result<T, Error> {
    if conn.is_postgres() {
        Ok(conn.transaction(f)?)
    } else {
        Ok(f(conn)?)
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

    /// An audit row to insert in tests: a validation's success at `at` with `detail`.
    pub fn audit_event(at: i64, detail: Option<&str>) -> audit::NewAuditEvent<'_> {
        audit::NewAuditEvent {
            at,
            actor: "t",
            audit_usr_id: None,
            audit_ws_id: None,
            tracking_id: None,
            bus_correl_id: None,
            action: crate::types::AuditAction::Validate,
            token_id: None,
            usr_name: None,
            result: crate::types::AuditResult::Success,
            detail,
            inst_rt_id: None,
            audit_usr_src: None,
        }
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

/// Runs `$body` with `$c` bound to the engine's own connection (`SqliteConnection` or
/// `PgConnection`), the body expanded once per engine so each arm infers its own backend.
///
/// Why: a query run on [`Conn`] goes through Diesel's multi-connection wrapper, which
/// renders the statement's SQL text on every call (to translate it for the engine) and
/// asks the wrapped query whether it may be cached through a reference that loses any
/// override (see [`Fixed`]). Run on the engine's connection, a query with a static query
/// id is found in the prepared-statement cache by its type alone: no SQL is rendered and
/// nothing is prepared again. For the statements every validation or inquiry runs.
macro_rules! on_engine {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            crate::storage::Conn::Sqlite($c) => $body,
            crate::storage::Conn::Pg($c) => $body,
        }
    };
}
pub(crate) use on_engine;

/// A value bound into a [`Fixed`] statement.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bind<'a> {
    /// An `INTEGER` (32-bit) value.
    Int(i32),
    /// A `BIGINT` value.
    BigInt(i64),
    /// A `TEXT` value.
    Text(&'a str),
    /// A `TEXT` value or NULL.
    OptText(Option<&'a str>),
}

/// A statement of fixed SQL text, `?` marking each bound value in order; the backend's
/// placeholders (`?` or `$n`) are written by Diesel. For the UPDATEs every validation runs.
///
/// Why not Diesel's DSL: Diesel never caches a prepared UPDATE (its `UpdateStatement`
/// always answers "unsafe to cache", since an `Option` changeset can change its SQL), and
/// an override on a wrapper is not asked either (Diesel asks through `&T`, whose blanket
/// impl walks the inner statement). A profile of the success path showed
/// `sqlite3_prepare_v3` under the replay guard's UPDATE on every call. This fragment
/// never says "unsafe", so it is prepared once per connection and found again by its SQL.
/// Keep the SQL portable (both engines run it) and the column names those of `schema`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fixed<'a> {
    sql: &'static str,
    binds: &'a [Bind<'a>],
}

impl<'a> Fixed<'a> {
    /// The statement `sql` with `binds` for its `?`s, in order.
    pub(crate) fn new(sql: &'static str, binds: &'a [Bind<'a>]) -> Fixed<'a> {
        debug_assert_eq!(sql.matches('?').count(), binds.len(), "{sql}");
        Fixed { sql, binds }
    }

    /// Executes it on the engine's own connection ([`on_engine`]); rows affected.
    pub(crate) fn execute(self, conn: &mut Conn) -> diesel::QueryResult<usize> {
        on_engine!(conn, |c| diesel::RunQueryDsl::execute(self, c))
    }
}

impl<DB> diesel::query_builder::QueryFragment<DB> for Fixed<'_>
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<diesel::sql_types::Integer>
        + diesel::sql_types::HasSqlType<diesel::sql_types::BigInt>
        + diesel::sql_types::HasSqlType<diesel::sql_types::Text>,
    i32: diesel::serialize::ToSql<diesel::sql_types::Integer, DB>,
    i64: diesel::serialize::ToSql<diesel::sql_types::BigInt, DB>,
    str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
    for<'v> Option<&'v str>:
        diesel::serialize::ToSql<diesel::sql_types::Nullable<diesel::sql_types::Text>, DB>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> diesel::QueryResult<()> {
        use diesel::sql_types::{BigInt, Integer, Nullable, Text};
        let mut binds = self.binds.iter();
        for (i, piece) in self.sql.split('?').enumerate() {
            if i > 0 {
                match binds.next() {
                    Some(Bind::Int(v)) => out.push_bind_param::<Integer, i32>(v)?,
                    Some(Bind::BigInt(v)) => out.push_bind_param::<BigInt, i64>(v)?,
                    Some(Bind::Text(v)) => out.push_bind_param::<Text, str>(v)?,
                    Some(Bind::OptText(v)) => {
                        out.push_bind_param::<Nullable<Text>, Option<&str>>(v)?
                    }
                    None => {
                        return Err(DieselError::QueryBuilderError(
                            format!("a value is missing in {}", self.sql).into(),
                        ))
                    }
                }
            }
            out.push_sql(piece);
        }
        Ok(())
    }
}

/// Keyed by its SQL text in the statement cache (no per-statement type to key it by).
impl diesel::query_builder::QueryId for Fixed<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<C> diesel::query_dsl::RunQueryDsl<C> for Fixed<'_> {}

/// A `Fixed` statement that returns rows (`… RETURNING`, a `WITH … SELECT`) loads them by
/// column name (`QueryableByName`), like `sql_query`, but from the statement cache.
impl diesel::query_builder::Query for Fixed<'_> {
    type SqlType = diesel::sql_types::Untyped;
}

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

#[cfg(test)]
mod reader_tests {
    use super::*;

    /// While every pooled connection is checked out a read would wait, and the async edge
    /// must hear so; one returned, it may read again.
    #[test]
    fn no_reader_is_free_while_every_connection_is_out() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(&dir.path().join("t.sqlite"), 2, Durability::Full).unwrap();
        assert!(storage.in_process());
        assert!(storage.reader_free());
        let held = (storage.conn().unwrap(), storage.conn().unwrap());
        assert!(!storage.reader_free());
        drop(held.0);
        assert!(storage.reader_free());
    }
}
