//! The storage error: what went wrong in the database, reduced to what callers act on
//! (a conflict, a busy or unreachable database, an unstorable value), from Diesel's.
//!
//! Whether a failed job may simply run again is said by the error value itself
//! ([`Error::Serialization`], [`Error::Closed`]), and a job's own error type tells it
//! through [`JobError`]: no flag beside the error.

use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error as DieselError};

/// What went wrong in the database, reduced to what callers act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No row matched.
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database stayed locked past the busy timeout, cannot be reached, or kept
    /// refusing a write as conflicting with concurrent ones: answered 503 (fault 7090).
    #[error("database busy")]
    Busy,
    /// A value the database cannot hold (text with a NUL character, which PostgreSQL
    /// refuses): bad input, answered as such.
    #[error("unstorable value: {0}")]
    Unstorable(String),
    /// PostgreSQL refused the transaction to keep the schedule serial (SQLSTATE 40001)
    /// or to break a deadlock (40P01): the job can run again from the start, and
    /// `engine::retry` does. Answered like [`Error::Busy`] once the retries run out.
    #[error("database busy (serialization failure)")]
    Serialization,
    /// The connection turned out closed (the server restarted, a failover, a cut
    /// network): a read can run again on a live connection; a write cannot tell whether
    /// its commit happened, so it is answered like [`Error::Busy`], never run again.
    #[error("database busy (connection closed)")]
    Closed,
    /// Anything else (I/O, corruption, a bug in a query).
    #[error("database error: {0}")]
    Db(String),
}

impl Error {
    /// Whether the database is only unavailable for now (answered 503, fault 7090).
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Busy | Error::Serialization | Error::Closed)
    }
}

/// A write job's own error type, which may wrap a storage error on its way out (a
/// domain error, a refusal): it must still show the storage error it carries, so the
/// write path can tell a failure a retry fixes from one it does not.
pub trait JobError: From<Error> {
    /// The storage error this error carries, if it is one.
    fn storage_error(&self) -> Option<&Error>;
}

impl JobError for Error {
    fn storage_error(&self) -> Option<&Error> {
        Some(self)
    }
}

impl From<DieselError> for Error {
    fn from(e: DieselError) -> Error {
        match e {
            DieselError::NotFound => Error::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                Error::Conflict(info.message().to_owned())
            }
            DieselError::DatabaseError(_, info) if is_busy(info.message()) => Error::Busy,
            DieselError::DatabaseError(_, info)
                if info.message().contains("invalid byte sequence") =>
            {
                Error::Unstorable(info.message().to_owned())
            }
            DieselError::DatabaseError(kind, info) if is_serialization(&kind, &*info) => {
                Error::Serialization
            }
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => Error::Closed,
            other => Error::Db(other.to_string()),
        }
    }
}

/// Whether PostgreSQL refused a transaction to keep the schedule serial (SQLSTATE 40001)
/// or to break a deadlock (40P01).
fn is_serialization(kind: &DatabaseErrorKind, info: &dyn DatabaseErrorInformation) -> bool {
    matches!(kind, DatabaseErrorKind::SerializationFailure)
        || info.message().contains("deadlock detected")
}

fn is_busy(message: &str) -> bool {
    message.contains("database is locked") || message.contains("database is busy")
}
