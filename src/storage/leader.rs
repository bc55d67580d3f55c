//! Duties only one node may perform at a time, elected through PostgreSQL advisory locks.
//!
//! Most background work needs no election: SMS and webhook events are claimed row by row
//! with leases (conditional UPDATEs), and the OOB sweeper ends each session with a
//! compare-and-swap, so every node may run them and each row is handled once. The audit
//! chain is different: its links must be made one after another by one writer. So the
//! linker runs on the node that holds a session-level advisory lock, on the very
//! connection that holds it: if that node dies or loses the database, PostgreSQL drops the
//! connection and the lock with it, another node's next attempt takes the duty over, and
//! the old node cannot link anything more (its statements fail on the dead connection).
//! On SQLite there is one writer per file and the linker runs at every commit; no duty is
//! elected.

use diesel::connection::SimpleConnection as _;
use diesel::r2d2::R2D2Connection as _;
use diesel::sql_types::{BigInt, Bool};
use diesel::{QueryableByName, RunQueryDsl as _};

use super::{audit, engine, Conn, Error, Storage};

/// The advisory-lock keys of tokend's duties (one 64-bit key space per database).
#[derive(Debug, Clone, Copy)]
pub enum Duty {
    /// Links new audit rows into the chain.
    AuditLinker,
    /// Applies pending migrations and creates the first admin (held briefly at start).
    Bootstrap,
    /// Archives and prunes the audit trail (`tokend audit archive`, the daily archive):
    /// one run at a time across nodes, so two never write the same segment.
    AuditArchive,
    /// Held *shared* by every serving node for as long as it serves: the count of its
    /// holders is the number of live nodes ([`live_nodes`]).
    Presence,
}

impl Duty {
    /// A key unlikely to collide with another application's locks in a shared database.
    fn key(self) -> i64 {
        const BASE: i64 = 0x746F_6B65_6E64_0000; // "tokend\0\0"
        match self {
            Duty::AuditLinker => BASE + 1,
            Duty::Bootstrap => BASE + 2,
            Duty::Presence => BASE + 3,
            Duty::AuditArchive => BASE + 4,
        }
    }
}

#[derive(QueryableByName)]
struct Taken {
    #[diesel(sql_type = Bool)]
    taken: bool,
}

/// One node's claim on a duty.
pub struct Leader {
    duty: Duty,
    url: Option<String>,
    /// The connection holding the lock, or waiting to take it.
    conn: Option<Conn>,
    holds: bool,
}

impl Leader {
    /// A claim on `duty`, not yet taken.
    pub fn new(storage: &Storage, duty: Duty) -> Leader {
        Leader {
            duty,
            url: storage.postgres_url().map(str::to_owned),
            conn: None,
            holds: false,
        }
    }

    /// Whether this node holds the duty now, taking it if it is free. Always true on
    /// SQLite. A lost connection loses the duty; the next call tries again.
    pub fn holds(&mut self) -> bool {
        let Some(url) = &self.url else {
            return true;
        };
        if self.conn.as_mut().is_some_and(|c| c.ping().is_err()) {
            if self.holds {
                tracing::warn!("lost the {:?} duty with the database connection", self.duty);
            }
            self.conn = None;
            self.holds = false;
        }
        if self.holds {
            return true;
        }
        if self.conn.is_none() {
            self.conn = engine::connect_postgres(url).ok();
        }
        let Some(Conn::Pg(conn)) = self.conn.as_mut() else {
            return false;
        };
        self.holds = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS taken")
            .bind::<BigInt, _>(self.duty.key())
            .get_result::<Taken>(conn)
            .is_ok_and(|t| t.taken);
        if self.holds {
            tracing::info!("this node now performs the {:?} duty", self.duty);
        }
        self.holds
    }

    /// Links the audit rows written since the last round, on the lock's own connection.
    /// SQLite links at commit: nothing to do there.
    pub fn link_audit(&mut self) -> Result<usize, Error> {
        let (Some(conn), true) = (self.conn.as_mut(), self.holds) else {
            return Ok(0);
        };
        let Some(linker) = engine::pg_linker() else {
            return Ok(0);
        };
        let linked = engine::retry::serializable(conn, |c| audit::link_pending(c, &*linker));
        if linked.is_err() {
            // Whatever happened, the next round starts from a fresh claim.
            self.conn = None;
            self.holds = false;
        }
        linked
    }
}

/// Runs `f` while holding `duty` on PostgreSQL, waiting for the node that holds it (so
/// nodes starting at once migrate once and create one first admin); runs `f` directly on
/// SQLite, where one file's migrations are serialised by SQLite itself.
pub fn exclusively<T, E: From<Error>>(
    storage: &Storage,
    duty: Duty,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let Some(url) = storage.postgres_url() else {
        return f();
    };
    let Ok(Conn::Pg(mut conn)) = engine::connect_postgres(url) else {
        let url = engine::redact_url(url);
        return Err(Error::Db(format!("cannot connect to {url}")).into());
    };
    let key = duty.key();
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(key)
        .execute(&mut conn)
        .map_err(Error::from)?;
    let outcome = f();
    // Closing the connection releases the lock too; unlocking first says so explicitly.
    let _ = conn.batch_execute(&format!("SELECT pg_advisory_unlock({key})"));
    outcome
}

/// A serving node's presence on PostgreSQL: a shared advisory lock on its own connection,
/// released when the node stops or dies (its connection closes). Nothing on SQLite.
pub struct Presence {
    _conn: Option<Conn>,
}

impl Presence {
    /// Announces this node; a node that cannot is simply not counted.
    pub fn announce(storage: &Storage) -> Presence {
        let conn = storage.postgres_url().and_then(|url| {
            let Ok(Conn::Pg(mut pg)) = engine::connect_postgres(url) else {
                return None;
            };
            let key = Duty::Presence.key();
            pg.batch_execute(&format!("SELECT pg_advisory_lock_shared({key})"))
                .ok()
                .map(|()| Conn::Pg(pg))
        });
        Presence { _conn: conn }
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// How many nodes serve this PostgreSQL database now (holders of [`Duty::Presence`]);
/// `None` on SQLite. PostgreSQL shows a 64-bit advisory key as its high and low halves.
pub fn live_nodes(storage: &Storage) -> Result<Option<i64>, Error> {
    let Some(url) = storage.postgres_url() else {
        return Ok(None);
    };
    let Ok(Conn::Pg(mut pg)) = engine::connect_postgres(url) else {
        return Err(Error::Busy);
    };
    let key = Duty::Presence.key();
    let (high, low) = (key >> 32, key & 0xFFFF_FFFF);
    let count: Count = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND classid = {high} AND objid = {low} AND objsubid = 1"
    ))
    .get_result(&mut pg)?;
    Ok(Some(count.n))
}
