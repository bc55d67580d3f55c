//! Group commit: every write of this process goes through one connection, and the writes
//! that arrive while a commit is being made to disk share the next commit.
//!
//! Why: with `synchronous = FULL` each commit costs an fsync of the WAL, and separate
//! writers on separate connections also wait for each other through SQLite's busy handler,
//! which sleeps in steps of milliseconds. Here one writer thread owns the batch: it takes
//! every job queued in its inbox, opens an IMMEDIATE transaction if none is open, runs each
//! job inside a savepoint (so a failing job rolls back alone), commits, and only then
//! answers each job's caller. No caller is answered before the commit that holds its work
//! has succeeded, so durability is exactly that of one transaction per write; only the
//! fsyncs are shared. Jobs of a batch run one after another on one connection, each seeing
//! the ones before: the batch is a serial schedule, as separate transactions would be.
//!
//! ONE way into a batch, the inbox, for two kinds of job:
//! - an **owned** job ([`Writer::submit`], [`Writer::submit_async`]) owns what it uses and
//!   runs on the writer thread; its caller sleeps once and is woken once, by its own
//!   answer: the hot writes (a validation's success or failure count). Its caller either
//!   waits (a blocking thread) or awaits (an async task: the web edge's validations on
//!   SQLite, which so use no blocking thread at all);
//! - a **lent** job ([`Writer::write`], `lent`) borrows from its caller (most of the
//!   domain's writes): when its turn in the batch comes, the writer thread lends it the
//!   connection, the caller runs its closure on its own thread, in its savepoint, and
//!   hands the connection back. It costs two more hand-offs than an owned job, on writes
//!   that are not the hot path, and keeps every batch and commit decision on the writer
//!   thread (before, such callers queued on the connection's mutex and committed
//!   themselves, coordinated with the thread by a counter of waiters).

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::result::Error as DieselError;
use diesel::Connection as _;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;

use super::audit::{self, Linker};
use super::{Conn, Error};
use lent::Lend;
use owned::Inbox;

mod lent;
mod owned;

// The batch's vocabulary, shared by both kinds of job (`owned`, `lent`).

/// An owned job's work: runs on the writer thread in the open batch and returns its
/// answer, to be handed over once the batch's commit is known.
type OwnedRun = Box<dyn FnOnce(&mut State) -> Box<dyn Answer> + Send>;

/// A job of the inbox.
enum Job {
    /// Runs on the writer thread (`OwnedRun`).
    Owned(OwnedRun),
    /// Its caller is lent the connection to run its own closure (`lent`).
    Lent(Lend),
}

/// A job's answer, waiting for its batch's commit.
trait Answer: Send {
    /// Hands the answer to its caller: the job's own outcome if the batch committed
    /// (`failure` is `None`) or the job was refused; the commit's failure otherwise.
    fn deliver(self: Box<Self>, failure: Option<&str>);
}

/// What a job's turn left for the rest of the batch.
enum Turn {
    /// An answer to hand over once the batch's commit is known.
    Waits(Box<dyn Answer>),
    /// Nothing: the caller is answered already.
    Answered,
    /// The job panicked: abandon the batch.
    Panicked,
}

/// A batch is committed after this many jobs even if more are queued in the writer
/// thread's inbox, so a steady stream of writers cannot postpone a commit (and
/// every answer) without end.
const MAX_BATCH: usize = 64;

/// The writing connection and the batch it is assembling.
struct State {
    /// Always a SQLite connection (`Storage::open` makes it).
    conn: Conn,
    /// Whether `BEGIN IMMEDIATE` is open (a batch is being assembled).
    open: bool,
    /// The number of the batch being assembled, or of the last one if none is open.
    batch: u64,
    /// Successful jobs in the open batch.
    jobs: usize,
}

/// The process's single writing connection and its writer thread.
pub(super) struct Writer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// The writing connection, held by the writer thread and lent to a lent job's caller
/// while that job runs (so the mutex is never contended), and the inbox.
struct Shared {
    state: Mutex<State>,
    /// Links new audit rows before each commit, once the domain has installed it.
    linker: RwLock<Option<Arc<Linker>>>,
    /// Opens a replacement connection after a panic left the old one mid-transaction.
    reopen: Box<dyn Fn() -> Result<Conn, Error> + Send + Sync>,
    inbox: Mutex<Inbox>,
    arrived: Condvar,
}

/// What a job did inside its savepoint.
enum Ran<T, E> {
    Done(T),
    Refused(E),
}

impl Writer {
    /// Opens the writing connection and starts the writer thread.
    pub(super) fn new(
        reopen: Box<dyn Fn() -> Result<Conn, Error> + Send + Sync>,
    ) -> Result<Writer, Error> {
        let conn = reopen()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                conn,
                open: false,
                batch: 0,
                jobs: 0,
            }),
            linker: RwLock::new(None),
            reopen,
            inbox: Mutex::new(Inbox::default()),
            arrived: Condvar::new(),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("tokend-writer".into())
            .spawn(move || worker.serve())
            .map_err(|e| Error::Db(format!("cannot start the writer thread: {e}")))?;
        Ok(Writer {
            shared,
            thread: Some(thread),
        })
    }

    /// See [`Shared::set_linker`].
    pub(super) fn set_linker(&self, linker: Arc<Linker>) {
        self.shared.set_linker(linker);
    }
}

impl Shared {
    /// Opens the batch if needed and runs `f` in a savepoint of it.
    fn run<T, E>(
        state: &mut State,
        f: impl FnOnce(&mut Conn) -> Result<T, E>,
    ) -> Result<Ran<T, E>, Error> {
        if !state.open {
            match &mut state.conn {
                Conn::Sqlite(c) => {
                    AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?
                }
                Conn::Pg(_) => return Err(Error::Db("the group-commit writer is SQLite's".into())),
            }
            state.open = true;
            state.batch += 1;
            state.jobs = 0;
        }
        let outcome = state.conn.transaction(|c| f(c).map_err(JobError::Refused));
        match outcome {
            Ok(value) => {
                state.jobs += 1;
                Ok(Ran::Done(value))
            }
            Err(JobError::Refused(e)) => Ok(Ran::Refused(e)),
            Err(JobError::Db(e)) => Err(e.into()),
        }
    }

    /// From now on, every commit first links the audit rows it wrote.
    pub(super) fn set_linker(&self, linker: Arc<Linker>) {
        if let Ok(mut slot) = self.linker.write() {
            *slot = Some(linker);
        }
    }

    /// Links the batch's audit rows, if a linker is installed.
    fn link(&self, state: &mut State) -> Result<(), Error> {
        let linker = self.linker.read().ok().and_then(|l| l.clone());
        match linker {
            Some(linker) => audit::link_pending(&mut state.conn, &*linker).map(drop),
            None => Ok(()),
        }
    }

    /// Links the batch's audit rows and commits the batch (rolling it back if either
    /// fails), then wakes its waiters.
    fn commit(&self, state: &mut State) -> Option<String> {
        let committed = self.link(state).and_then(|()| {
            <Conn as diesel::Connection>::TransactionManager::commit_transaction(&mut state.conn)
                .map_err(Error::from)
        });
        let failure = match committed {
            Ok(()) => None,
            Err(e) => {
                // A failed COMMIT may leave the transaction open; end it so the next batch
                // starts clean. Nothing of this batch is on disk either way.
                let _ = <Conn as diesel::Connection>::TransactionManager::rollback_transaction(
                    &mut state.conn,
                );
                Some(e.to_string())
            }
        };
        state.open = false;
        failure
    }

    /// Abandons the open batch: the connection (and with it the open transaction, in
    /// whatever state a panic left it) is replaced; the batch's callers are told it failed
    /// by the writer thread (`run_batch`), so no caller is ever answered for work that was
    /// not committed.
    fn abandon(&self, state: &mut State, reason: &str) {
        state.open = false;
        tracing::error!("the writer abandons its batch: {reason}");
        match (self.reopen)() {
            Ok(conn) => state.conn = conn,
            Err(e) => tracing::error!("cannot reopen the writing connection: {e}"),
        }
    }

    /// Takes the connection. Jobs' panics are caught where they run (`run_batch`, and a
    /// lent job's caller), so a poisoned mutex can only come from a bug here; its batch is
    /// abandoned the same way.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| {
            let mut state = poisoned.into_inner();
            self.state.clear_poison();
            self.abandon(&mut state, "the writer was poisoned");
            state
        })
    }
}

/// A job's own refusal, or Diesel's error about the savepoint itself.
enum JobError<E> {
    Refused(E),
    Db(DieselError),
}

impl<E> From<DieselError> for JobError<E> {
    fn from(e: DieselError) -> Self {
        JobError::Db(e)
    }
}

#[cfg(test)]
mod tests;
