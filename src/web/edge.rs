//! What every handler of the web edge (JSON API and admin console) shares that is not
//! parsing: the bridge to the blocking pool and the time format answers use.
//! Imports: rocket, chrono, domain.

use std::sync::Arc;

use crate::domain::sandbox::InstClock;
use crate::domain::{Error, Service};

/// Runs a domain operation on the blocking pool: database and HMAC work do not occupy the
/// async executor's threads. The exceptions are the hot path's, on SQLite only, where a
/// read is microseconds in process and the write is awaited from the writer thread: a
/// validation's first half and a read-only operation (`api::Call::run_reading`, the
/// validation handler), which would otherwise pay two thread hand-offs for microseconds
/// of work.
pub async fn blocking<T, F>(service: &Arc<Service>, f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce(&Service) -> Result<T, Error> + Send + 'static,
{
    let service = Arc::clone(service);
    rocket::tokio::task::spawn_blocking(move || f(&service))
        .await
        .map_err(|e| Error::Internal(format!("blocking task failed: {e}")))?
}

/// Formats a time as jXchange `LastAuthenTimeDt`: ISO 8601 with milliseconds and offset.
pub fn iso8601(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

/// The time an institution's clock reads: the real clock, read here at the edge, or a
/// sandbox's test clock (DESIGN: only the edges read the clock, one per institution).
pub fn time_of(clock: InstClock) -> chrono::DateTime<chrono::Utc> {
    match clock {
        InstClock::Real => chrono::Utc::now(),
        InstClock::Sandbox(at) => at,
    }
}
