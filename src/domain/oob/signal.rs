//! The signal between the OOB requests and the background threads (SMS sender, event
//! webhook): a counter of work announced, and a stop flag, behind one condvar.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

/// Wakes the background threads when there is work, and tells them to stop.
#[derive(Debug, Default)]
pub struct Signal {
    state: Mutex<(u64, bool)>,
    cv: Condvar,
}

impl Signal {
    /// There is new work.
    pub fn notify(&self) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.0 = s.0.wrapping_add(1);
        self.cv.notify_all();
    }

    /// Every thread should stop.
    pub fn stop(&self) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.1 = true;
        self.cv.notify_all();
    }

    /// Whether `stop` was called.
    pub fn is_stopped(&self) -> bool {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).1
    }

    /// The count of notifications so far: read it before looking for work, then `wait`
    /// from it, and a notification in between is not missed.
    pub fn seen(&self) -> u64 {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).0
    }

    /// Waits until new work (since `seen`), a stop, or `timeout`; answers false on stop.
    pub fn wait(&self, seen: &mut u64, timeout: Duration) -> bool {
        let guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = self
            .cv
            .wait_timeout_while(guard, timeout, |s| s.0 == *seen && !s.1)
            .unwrap_or_else(PoisonError::into_inner);
        *seen = guard.0;
        !guard.1
    }
}
