//! Group commit: every write of this process goes through one connection, and the writes
//! that arrive while a commit is being made to disk share the next commit.
//!
//! Why: with `synchronous = FULL` each commit costs an fsync of the WAL, and separate
//! writers on separate connections also wait for each other through SQLite's busy handler,
//! which sleeps in steps of milliseconds. Here writers queue on a mutex instead. The one
//! holding it opens an IMMEDIATE transaction if none is open, runs its work inside a
//! savepoint (so a failing job rolls back alone), and then commits only if nobody else is
//! queued: otherwise it leaves the commit to the last of them and waits until its batch is
//! on disk. No caller is answered before the commit that holds its work has succeeded, so
//! durability is exactly that of one transaction per write; only the fsyncs are shared.
//! Jobs of a batch run one after another on one connection, each seeing the ones before:
//! the batch is a serial schedule, as separate transactions would be.
//!
//! The hot writes (a validation's success or failure count) are owned jobs instead
//! ([`Writer::submit`]): a dedicated writer thread takes every job queued in its inbox,
//! runs them back to back, commits, and only then hands each caller its answer. A caller
//! sleeps once and is woken once, by its own answer; through the mutex it sleeps twice
//! (queueing for the writer, then for the commit) and every commit wakes all waiters at
//! once, which the profile showed as thread hand-offs. Both kinds share the one connection
//! and its batches: the thread queues for the mutex like any writer (see `queued`). An
//! owned job's caller either waits (a blocking thread) or awaits (an async task,
//! [`Writer::submit_async`]: the web edge's validations on SQLite, which so use no
//! blocking thread at all).

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::result::Error as DieselError;
use diesel::Connection as _;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;

use super::audit::{self, Linker};
use super::{Conn, Error};
use owned::Inbox;

mod owned;

/// A batch is committed after this many jobs even if more are queued (on the mutex or in
/// the writer thread's inbox), so a steady stream of writers cannot postpone a commit (and
/// every answer) without end.
const MAX_BATCH: usize = 64;

/// Batches whose commit failed, remembered until their waiters have read the failure.
const FAILED_KEPT: usize = 64;

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

/// What waiters need to know, behind its own lock so that waking them does not make them
/// queue for the writer again.
#[derive(Default)]
struct Outcomes {
    /// The last batch that is finished (committed or failed).
    done: u64,
    /// Recent batches whose commit failed, with the reason.
    failed: Vec<(u64, String)>,
}

/// The process's single writing connection and its writer thread.
pub(super) struct Writer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// The writing connection, shared by the callers that take its mutex and by the writer
/// thread.
struct Shared {
    state: Mutex<State>,
    outcomes: Mutex<Outcomes>,
    finished: Condvar,
    /// Callers waiting for the mutex: while any is, the holder does not commit.
    queued: AtomicUsize,
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
            outcomes: Mutex::new(Outcomes::default()),
            finished: Condvar::new(),
            queued: AtomicUsize::new(0),
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

    /// See [`Shared::write`].
    pub(super) fn write<T, E: From<Error>>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, E>,
    ) -> Result<T, E> {
        self.shared.write(f)
    }

    /// See [`Shared::set_linker`].
    pub(super) fn set_linker(&self, linker: Arc<Linker>) {
        self.shared.set_linker(linker);
    }
}

impl Shared {
    /// Runs `f` in the current batch and returns once the batch is durable. An `Err` from
    /// `f` rolls back `f`'s work only, and is returned at once — before the batch that
    /// holds earlier jobs is committed. So a refusal must answer from what it read inside
    /// its own job (a reading connection may not see that batch yet): validation's
    /// `StatusChanged` carries the binding as the job saw it for that reason.
    pub(super) fn write<T, E: From<Error>>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, E>,
    ) -> Result<T, E> {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let mut state = self.lock();
        self.queued.fetch_sub(1, Ordering::SeqCst);
        let ran = match panic::catch_unwind(AssertUnwindSafe(|| Self::run(&mut state, f))) {
            Ok(ran) => ran,
            Err(payload) => {
                self.abandon(&mut state, "a write panicked");
                drop(state);
                panic::resume_unwind(payload);
            }
        };
        let batch = state.batch;
        let must_commit =
            state.open && (self.queued.load(Ordering::SeqCst) == 0 || state.jobs >= MAX_BATCH);
        if must_commit {
            self.commit(&mut state);
        }
        drop(state);
        match ran {
            Err(e) => Err(E::from(e)),
            Ok(Ran::Refused(e)) => Err(e),
            Ok(Ran::Done(value)) => self.await_batch(batch).map(|()| value).map_err(E::from),
        }
    }

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
        self.finish(state.batch, failure.clone());
        failure
    }

    /// Records that `batch` is over (with the reason if it failed) and wakes its waiters.
    fn finish(&self, batch: u64, failure: Option<String>) {
        let mut outcomes = self
            .outcomes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(reason) = failure {
            if outcomes.failed.len() >= FAILED_KEPT {
                outcomes.failed.remove(0);
            }
            outcomes.failed.push((batch, reason));
        }
        outcomes.done = batch;
        self.finished.notify_all();
    }

    /// Waits until `batch` is finished; its commit's outcome.
    fn await_batch(&self, batch: u64) -> Result<(), Error> {
        let mut outcomes = self
            .outcomes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while outcomes.done < batch {
            outcomes = self
                .finished
                .wait(outcomes)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        match outcomes.failed.iter().find(|(b, _)| *b == batch) {
            Some((_, reason)) => Err(Error::Db(format!("commit failed: {reason}"))),
            None => Ok(()),
        }
    }

    /// Abandons the open batch: the connection (and with it the open transaction, in
    /// whatever state a panic left it) is replaced, and the batch's waiters are told it
    /// failed, so no caller is ever answered for work that was not committed.
    fn abandon(&self, state: &mut State, reason: &str) {
        if state.open {
            state.open = false;
            self.finish(state.batch, Some(reason.to_owned()));
        }
        match (self.reopen)() {
            Ok(conn) => state.conn = conn,
            Err(e) => tracing::error!("cannot reopen the writing connection: {e}"),
        }
    }

    /// Takes the writer. Jobs' panics are caught in [`Shared::write`] and [`Shared::run_batch`], so a poisoned
    /// mutex can only come from a bug here; its batch is abandoned the same way.
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
