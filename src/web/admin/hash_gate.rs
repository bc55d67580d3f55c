//! Bounds the password hashing in flight. Each argon2id hash takes 19 MiB and tens of
//! milliseconds of one core: a burst of 500 sign-ins must not take 10 GiB or 500
//! blocking threads. At most one hash per core runs; a few more attempts wait (as
//! futures, holding no thread) for a short while; the rest are refused at once with a
//! 429 page.

use rocket::tokio::sync::{Semaphore, SemaphorePermit};
use rocket::tokio::time::timeout;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Attempts that may wait for a permit; past this, refused at once.
const MAX_WAITING: usize = 64;
/// How long an attempt waits for a permit before it is refused.
const MAX_WAIT: Duration = Duration::from_secs(3);

/// The console's password-hashing gate, managed by Rocket.
pub struct HashGate {
    permits: Semaphore,
    waiting: AtomicUsize,
}

impl Default for HashGate {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        HashGate::new(cores.max(2))
    }
}

impl HashGate {
    /// A gate letting `in_flight` hashes run at once.
    pub fn new(in_flight: usize) -> HashGate {
        HashGate {
            permits: Semaphore::new(in_flight),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Waits for the right to hash; `None` when too many attempts are already waiting or
    /// the wait ran out (the caller answers 429).
    pub async fn enter(&self) -> Option<SemaphorePermit<'_>> {
        if let Ok(permit) = self.permits.try_acquire() {
            return Some(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let permit = timeout(MAX_WAIT, self.permits.acquire()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        permit.ok()?.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rocket::async_test]
    async fn permits_are_bounded_and_waiters_beyond_the_queue_are_refused() {
        let gate = HashGate::new(1);
        let held = gate.enter().await.expect("first permit");
        // The queue is full: a late attempt is refused at once, not queued.
        gate.waiting.store(MAX_WAITING, Ordering::Release);
        assert!(gate.enter().await.is_none());
        gate.waiting.store(0, Ordering::Release);
        drop(held);
        assert!(gate.enter().await.is_some());
    }
}
