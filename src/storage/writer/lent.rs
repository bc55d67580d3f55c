//! Lent jobs: a write whose closure borrows from its caller ([`Writer::write`], most of
//! the domain's writes) joins the batch through the inbox like an owned job, and when its
//! turn comes the writer thread lends the caller the connection: it releases the
//! connection's mutex and signals the caller, which runs its closure in its savepoint on
//! its own thread, releases the mutex and says how it went; the writer thread takes the
//! connection back and goes on with the batch. A job that succeeded waits for the
//! batch's commit like an owned one; a refusal is answered at once (it rolled back its
//! own work, and answers from what it read inside its job); a panic loses the batch.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{mpsc, MutexGuard};

use super::{Answer, Conn, Error, Job, Ran, Shared, State, Turn, Writer};

/// A lent job in the inbox: the channels between its caller and the writer thread.
pub(super) struct Lend {
    /// Writer → caller: the connection is yours.
    turn: mpsc::SyncSender<()>,
    /// Caller → writer: the connection is back, and how the job went.
    back: mpsc::Receiver<Returned>,
    /// Writer → caller: the batch's commit (`None`) or why it failed.
    commit: mpsc::SyncSender<Option<String>>,
}

/// How a lent job went, as its caller reports it with the connection.
enum Returned {
    /// Its work is in the batch: it waits for the commit.
    Waits,
    /// It was refused (rolled back alone) and its caller is answered.
    Answered,
    /// It panicked: the batch cannot be trusted.
    Panicked,
}

/// A lent job's caller, waiting for the commit.
struct CommitWaiter(mpsc::SyncSender<Option<String>>);

impl Answer for CommitWaiter {
    fn deliver(self: Box<Self>, failure: Option<&str>) {
        // The caller is gone only if its thread died; nothing to answer then.
        let _ = self.0.send(failure.map(str::to_owned));
    }
}

impl Writer {
    /// Runs `f` in the current batch and returns once the batch is durable. `f` may
    /// borrow from the caller: it runs on the caller's thread, on the connection the
    /// writer thread lends it in its turn. An `Err` from `f` rolls back `f`'s work only,
    /// and is returned at once — before the batch that holds earlier jobs is committed.
    /// So a refusal must answer from what it read inside its own job (a reading
    /// connection may not see that batch yet): validation's `StatusChanged` carries the
    /// binding as the job saw it for that reason.
    pub(in crate::storage) fn write<T, E: From<Error>>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, E>,
    ) -> Result<T, E> {
        let (turn, my_turn) = mpsc::sync_channel(1);
        let (give_back, back) = mpsc::sync_channel(1);
        let (commit, committed) = mpsc::sync_channel(1);
        let shared = &self.shared;
        shared.enqueue(Job::Lent(Lend { turn, back, commit }))?;
        if my_turn.recv().is_err() {
            // The batch was abandoned before this job's turn, or the writer ended.
            return Err(E::from(Error::Db("the write's batch was abandoned".into())));
        }
        let mut state = shared.lock();
        let ran = panic::catch_unwind(AssertUnwindSafe(|| Shared::run(&mut state, f)));
        drop(state);
        let (returned, answer) = match ran {
            Err(payload) => {
                let _ = give_back.send(Returned::Panicked);
                panic::resume_unwind(payload)
            }
            Ok(Ok(Ran::Done(value))) => (Returned::Waits, Ok(value)),
            Ok(Ok(Ran::Refused(e))) => (Returned::Answered, Err(e)),
            Ok(Err(e)) => (Returned::Answered, Err(E::from(e))),
        };
        let waits = matches!(returned, Returned::Waits);
        let _ = give_back.send(returned);
        if !waits {
            return answer;
        }
        match committed.recv() {
            Ok(None) => answer,
            Ok(Some(reason)) => Err(E::from(Error::Db(format!("commit failed: {reason}")))),
            Err(_) => Err(E::from(Error::Db("the writer ended".into()))),
        }
    }
}

impl Shared {
    /// The writer thread's side of a lent job's turn: hands the connection over, waits
    /// for it to come back, and takes it again.
    pub(super) fn lend<'a>(
        &'a self,
        state: MutexGuard<'a, State>,
        lend: Lend,
    ) -> (MutexGuard<'a, State>, Turn) {
        drop(state);
        let turn = if lend.turn.send(()).is_err() {
            Turn::Answered // the caller is gone: nothing ran
        } else {
            match lend.back.recv() {
                Ok(Returned::Waits) => Turn::Waits(Box::new(CommitWaiter(lend.commit))),
                Ok(Returned::Answered) => Turn::Answered,
                // A caller that vanished mid-turn is treated as one that panicked.
                Ok(Returned::Panicked) | Err(_) => Turn::Panicked,
            }
        };
        (self.lock(), turn)
    }
}
