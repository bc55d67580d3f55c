//! The writer thread, its inbox and owned jobs (see the module above for why); lent jobs
//! are `lent`'s.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{mpsc, MutexGuard};
use tokio::sync::oneshot;

use super::{Answer, Conn, Error, Job, Ran, Shared, State, Turn, Writer, MAX_BATCH};

/// Jobs waiting for the writer thread.
#[derive(Default)]
pub(super) struct Inbox {
    pub(super) jobs: VecDeque<Job>,
    /// The thread is asleep on `Shared::arrived` (so a new job must wake it).
    idle: bool,
    /// The `Writer` was dropped: the thread ends once the inbox is empty.
    closing: bool,
}

impl Writer {
    /// Runs `f` on the writer thread in the current batch and returns once the batch is
    /// durable, like [`Shared::write`] (same savepoint, same refusal rule), for jobs that
    /// own what they use. A job that panics loses its batch (every caller of it is told)
    /// and answers an error; the writer goes on with a new connection.
    pub(in crate::storage) fn submit<T, E>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        self.shared.enqueue(job(f, Tx::Wait(tx)))?;
        rx.recv().unwrap_or_else(|_| Err(lost()))
    }

    /// [`Writer::submit`] for an async caller: the job is queued now (so dropping the
    /// future does not undo it, as a blocking caller's write is not undone when its
    /// client goes), and the future resolves with the same answer at the same moment,
    /// without a thread blocked on it: the caller's task sleeps until the writer thread
    /// has committed the batch.
    pub(in crate::storage) fn submit_async<T, E>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, E> + Send + 'static,
    ) -> impl Future<Output = Result<T, E>> + Send + 'static
    where
        T: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let queued = self.shared.enqueue(job(f, Tx::Await(tx)));
        async move {
            queued?;
            rx.await.unwrap_or_else(|_| Err(lost()))
        }
    }
}

/// The job that runs `f` in the open batch and keeps its outcome for `tx`.
fn job<T, E>(f: impl FnOnce(&mut Conn) -> Result<T, E> + Send + 'static, tx: Tx<T, E>) -> Job
where
    T: Send + 'static,
    E: From<Error> + Send + 'static,
{
    Job::Owned(Box::new(move |state: &mut State| -> Box<dyn Answer> {
        Box::new(Reply {
            ran: Shared::run(state, f),
            tx,
        })
    }))
}

/// The answer of a job whose reply was dropped unsent: the job panicked (its batch was
/// abandoned) or the writer ended before running it.
fn lost<E: From<Error>>() -> E {
    E::from(Error::Db("the write panicked".into()))
}

/// Where a job's answer goes: a thread waiting on it, or a task awaiting it.
enum Tx<T, E> {
    Wait(mpsc::SyncSender<Result<T, E>>),
    Await(oneshot::Sender<Result<T, E>>),
}

impl Drop for Writer {
    /// Lets the thread finish the jobs queued and end.
    fn drop(&mut self) {
        self.shared.inbox().closing = true;
        self.shared.arrived.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// An owned job's outcome and the channel its caller waits on.
struct Reply<T, E> {
    ran: Result<Ran<T, E>, Error>,
    tx: Tx<T, E>,
}

impl<T: Send, E: From<Error> + Send> Answer for Reply<T, E> {
    fn deliver(self: Box<Self>, failure: Option<&str>) {
        let answer = match (self.ran, failure) {
            (Err(e), _) => Err(E::from(e)),
            (Ok(Ran::Refused(e)), _) => Err(e),
            (Ok(Ran::Done(value)), None) => Ok(value),
            (Ok(Ran::Done(_)), Some(reason)) => {
                Err(E::from(Error::Db(format!("commit failed: {reason}"))))
            }
        };
        // The caller is gone only if its thread died or its task was dropped; nothing to
        // answer then (the work itself stands, as committed).
        match self.tx {
            Tx::Wait(tx) => drop(tx.send(answer)),
            Tx::Await(tx) => drop(tx.send(answer)),
        }
    }
}

impl Shared {
    pub(super) fn inbox(&self) -> MutexGuard<'_, Inbox> {
        self.inbox
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues a job, waking the thread if it sleeps.
    pub(super) fn enqueue(&self, job: Job) -> Result<(), Error> {
        let mut inbox = self.inbox();
        if inbox.closing {
            return Err(Error::Db("the database is closing".into()));
        }
        inbox.jobs.push_back(job);
        if inbox.idle {
            inbox.idle = false;
            self.arrived.notify_one();
        }
        Ok(())
    }

    /// The writer thread: sleeps until jobs arrive, then runs batches until none wait.
    pub(super) fn serve(&self) {
        loop {
            let jobs = {
                let mut inbox = self.inbox();
                while inbox.jobs.is_empty() && !inbox.closing {
                    inbox.idle = true;
                    inbox = self
                        .arrived
                        .wait(inbox)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                if inbox.jobs.is_empty() {
                    return;
                }
                let n = inbox.jobs.len().min(MAX_BATCH);
                inbox.jobs.drain(..n).collect::<Vec<_>>()
            };
            self.run_batch(jobs);
        }
    }

    /// Runs `jobs` (and those that arrive meanwhile, up to the bound) in the open batch,
    /// commits it, then answers every job that waits for the commit.
    fn run_batch(&self, mut jobs: Vec<Job>) {
        let mut state = self.lock();
        let mut answers: Vec<Box<dyn Answer>> = Vec::with_capacity(jobs.len());
        let (mut panicked, mut ran) = (false, 0);
        while !jobs.is_empty() && !panicked {
            for job in jobs.drain(..) {
                ran += 1;
                let turn = match job {
                    Job::Owned(run) => panic::catch_unwind(AssertUnwindSafe(|| run(&mut state)))
                        .map_or(Turn::Panicked, Turn::Waits),
                    Job::Lent(lend) => {
                        let (back, turn) = self.lend(state, lend);
                        state = back;
                        turn
                    }
                };
                match turn {
                    Turn::Waits(answer) => answers.push(answer),
                    Turn::Answered => {}
                    Turn::Panicked => {
                        panicked = true;
                        break;
                    }
                }
            }
            let room = MAX_BATCH.saturating_sub(ran);
            let mut inbox = self.inbox();
            let n = if panicked {
                0
            } else {
                inbox.jobs.len().min(room)
            };
            jobs.extend(inbox.jobs.drain(..n));
        }
        let failure = if panicked {
            self.abandon(&mut state, "a write panicked");
            Some("a write panicked".to_owned())
        } else if state.open {
            self.commit(&mut state)
        } else {
            None
        };
        drop(state);
        for answer in answers {
            answer.deliver(failure.as_deref());
        }
    }
}
