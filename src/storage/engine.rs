//! What differs between the two engines, in one place: opening connections, the URL that
//! chooses the engine, PostgreSQL's write transactions (SERIALIZABLE, retried), and the
//! few statements only one engine has. Every other query in `storage` is written once.

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::r2d2::R2D2Connection as _;
use diesel::{Connection as _, PgConnection, SqliteConnection};
use std::sync::{Arc, RwLock};

use super::audit::Linker;
use super::{Conn, Error};

/// Whether `url` names a PostgreSQL database (else it is a SQLite file's path).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// `url` without its password, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_once('/').unwrap_or((rest, ""));
    match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}/{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_shown_without_its_password() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/tokend"),
            "postgres://app:***@db:5432/tokend"
        );
        assert_eq!(
            redact_url("postgres://app@db/tokend"),
            "postgres://app@db/tokend"
        );
        assert!(is_postgres_url("postgresql://x/y") && !is_postgres_url("data/t.sqlite"));
    }
}

/// Opens the pool's connections for one engine. Diesel's own `ConnectionManager` for the
/// multi-connection would try each engine in turn on every URL; a SQLite path must never
/// be handed to libpq, nor a `postgres://` URL to SQLite (which would create a file).
#[derive(Debug)]
pub struct Manager {
    url: String,
    postgres: bool,
}

impl Manager {
    /// Connections to the SQLite file at `path`.
    pub fn sqlite(path: &str) -> Manager {
        Manager {
            url: path.to_owned(),
            postgres: false,
        }
    }

    /// Connections to the PostgreSQL database at `url`.
    pub fn postgres(url: &str) -> Manager {
        Manager {
            url: url.to_owned(),
            postgres: true,
        }
    }
}

impl diesel::r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<Conn, Self::Error> {
        let conn = if self.postgres {
            PgConnection::establish(&self.url).map(Conn::Pg)
        } else {
            SqliteConnection::establish(&self.url).map(Conn::Sqlite)
        };
        conn.map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.is_broken()
    }
}

/// One connection attempt before a pool is built: a database that does not exist (or a
/// wrong password) is said once, at once, with PostgreSQL's words, instead of by each of
/// the pool's retries until its checkout times out.
pub fn first_contact(url: &str) -> Result<(), Error> {
    PgConnection::establish(url).map(drop).map_err(|e| {
        Error::Db(format!(
            "cannot connect to {}: {}",
            redact_url(url),
            e.to_string().trim()
        ))
    })
}

/// Opens one PostgreSQL connection outside the pool (leader duties hold theirs).
pub fn connect_postgres(url: &str) -> Result<Conn, Error> {
    PgConnection::establish(url).map(Conn::Pg).map_err(|e| {
        tracing::debug!("cannot connect to {}: {e}", redact_url(url));
        Error::Busy
    })
}

/// A session-level advisory lock on a job key (see `Storage::write_owned`).
#[must_use = "release it after the job"]
pub struct KeyLock(i64);

impl KeyLock {
    /// Waits for and takes the lock of `key` (a 64-bit FNV-1a hash of it; a collision
    /// only makes two unrelated jobs queue).
    pub fn take(conn: &mut Conn, key: &str) -> Result<KeyLock, Error> {
        use diesel::connection::SimpleConnection as _;
        let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        let id = i64::from_ne_bytes(hash.to_ne_bytes());
        if let Conn::Pg(pg) = conn {
            pg.batch_execute(&format!("SELECT pg_advisory_lock({id})"))?;
        }
        Ok(KeyLock(id))
    }

    /// Releases the lock (a connection that fails here is closed by the pool's check,
    /// and its locks with it).
    pub fn release(self, conn: &mut Conn) {
        use diesel::connection::SimpleConnection as _;
        if let Conn::Pg(pg) = conn {
            let _ = pg.batch_execute(&format!("SELECT pg_advisory_unlock({})", self.0));
        }
    }
}

/// The audit linker on PostgreSQL: installed once per process, run by the elected node.
static PG_LINKER: RwLock<Option<Arc<Linker>>> = RwLock::new(None);

/// Installs the linker the PostgreSQL linking duty uses.
pub(super) fn set_pg_linker(linker: Arc<Linker>) {
    if let Ok(mut slot) = PG_LINKER.write() {
        *slot = Some(linker);
    }
}

/// The installed linker, if any.
pub(super) fn pg_linker() -> Option<Arc<Linker>> {
    PG_LINKER.read().ok().and_then(|l| l.clone())
}

/// Makes `oob_events` ids follow commit order on PostgreSQL for the rest of the
/// transaction (a no-op on SQLite, whose one writer commits in id order anyway).
///
/// Why: consumers page events by id (`GET /events?after=N`) and the webhook pushes them
/// in id order. A sequence hands out ids at INSERT, not at COMMIT: without this, event 9
/// could commit after event 10 and be skipped by a consumer that already read past 10.
/// The lock is held to the commit, so the next event's INSERT waits for it. Only OOB
/// results write events (a few per second at most); validations never take it.
pub fn order_events(conn: &mut Conn) -> Result<(), Error> {
    use diesel::connection::SimpleConnection as _;
    if let Conn::Pg(pg) = conn {
        pg.batch_execute("LOCK TABLE oob_events IN SHARE ROW EXCLUSIVE MODE")?;
    }
    Ok(())
}

/// PostgreSQL write transactions: SERIALIZABLE, retried on a serialization failure.
pub mod retry {
    use super::*;
    use crate::storage::JobError;
    use std::time::Duration;

    /// Attempts of one job before its last serialization failure is answered (503).
    const MAX_ATTEMPTS: u32 = 40;

    /// A short random pause growing with the attempt, so two retried jobs that collided
    /// do not collide again in step.
    fn pause(attempt: u32) {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let ceiling_us = 200u32 << attempt.min(8);
        std::thread::sleep(Duration::from_micros(u64::from(nanos % ceiling_us)));
    }

    /// Runs `f` in one SERIALIZABLE transaction on `conn`, again from the start each time
    /// PostgreSQL refuses it as conflicting with a concurrent one, so its outcome is that
    /// of some serial order of all writes of all nodes (what SQLite's one writer gives).
    pub fn serializable<T, E: JobError>(
        conn: &mut Conn,
        mut f: impl FnMut(&mut Conn) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut attempt = 0;
        loop {
            match once(conn, &mut f) {
                Err(e)
                    if matches!(e.storage_error(), Some(Error::Serialization))
                        && attempt < MAX_ATTEMPTS =>
                {
                    attempt += 1;
                    pause(attempt);
                }
                outcome => return outcome,
            }
        }
    }

    fn once<T, E: JobError>(
        conn: &mut Conn,
        f: &mut impl FnMut(&mut Conn) -> Result<T, E>,
    ) -> Result<T, E> {
        match conn {
            Conn::Pg(pg) => AnsiTransactionManager::begin_transaction_sql(
                pg,
                "BEGIN ISOLATION LEVEL SERIALIZABLE",
            )
            .map_err(Error::from)?,
            Conn::Sqlite(_) => return Err(Error::Db("not a PostgreSQL connection".into()).into()),
        }
        let outcome = f(conn);
        let ended = match &outcome {
            Ok(_) => <Conn as TransactionManager<Conn>>::commit_transaction(conn),
            Err(_) => <Conn as TransactionManager<Conn>>::rollback_transaction(conn),
        };
        match (outcome, ended) {
            (Ok(value), Ok(())) => Ok(value),
            (Ok(_), Err(e)) => {
                // A failed COMMIT (a serialization failure at commit) may leave the
                // transaction open: end it so the pooled connection starts clean.
                let _ = <Conn as TransactionManager<Conn>>::rollback_transaction(conn);
                Err(Error::from(e).into())
            }
            (Err(e), _) => Err(e),
        }
    }
}
