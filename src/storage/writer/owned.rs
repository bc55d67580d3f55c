//! Owned jobs: the writer thread and its inbox (see the module above for why).

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, MutexGuard};

use super::{Conn, Error, Ran, Shared, State, Writer, MAX_BATCH};

/// An owned job: runs in the open batch and returns its answer, to be handed over once
/// the batch's commit is known.
pub(super) type Job = Box<dyn FnOnce(&mut State) -> Box<dyn Answer> + Send>;

/// A job's answer, waiting for its batch's commit.
pub(super) trait Answer: Send {
    /// Hands the answer to its caller: the job's own outcome if the batch committed
    /// (`failure` is `None`) or the job was refused; the commit's failure otherwise.
    fn deliver(self: Box<Self>, failure: Option<&str>);
}

/// Owned jobs waiting for the writer thread.
#[derive(Default)]
pub(super) struct Inbox {
    jobs: VecDeque<Job>,
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
        let job: Job = Box::new(move |state: &mut State| -> Box<dyn Answer> {
            Box::new(Reply {
                ran: Shared::run(state, f),
                tx,
            })
        });
        self.shared.enqueue(job)?;
        rx.recv()
            .unwrap_or_else(|_| Err(E::from(Error::Db("the write panicked".into()))))
    }
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
    tx: mpsc::SyncSender<Result<T, E>>,
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
        // The caller is gone only if its thread died; nothing to answer then.
        let _ = self.tx.send(answer);
    }
}

impl Shared {
    fn inbox(&self) -> MutexGuard<'_, Inbox> {
        self.inbox
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues an owned job, waking the thread if it sleeps.
    fn enqueue(&self, job: Job) -> Result<(), Error> {
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
    /// commits it, then answers every job.
    fn run_batch(&self, mut jobs: Vec<Job>) {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let mut state = self.lock();
        self.queued.fetch_sub(1, Ordering::SeqCst);
        let mut answers: Vec<Box<dyn Answer>> = Vec::with_capacity(jobs.len());
        let mut panicked = false;
        while !jobs.is_empty() {
            for job in jobs.drain(..) {
                match panic::catch_unwind(AssertUnwindSafe(|| job(&mut state))) {
                    Ok(answer) => answers.push(answer),
                    Err(_) => {
                        panicked = true;
                        break;
                    }
                }
            }
            if panicked {
                break;
            }
            let room = MAX_BATCH.saturating_sub(answers.len());
            let mut inbox = self.inbox();
            let n = inbox.jobs.len().min(room);
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
