//! The storage error: what went wrong in the database, reduced to what callers act on
//! (a conflict, a busy or unreachable database, an unstorable value), from Diesel's.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::engine;

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
    /// Anything else (I/O, corruption, a bug in a query).
    #[error("database error: {0}")]
    Db(String),
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
            DieselError::DatabaseError(kind, info)
                if engine::retry::is_retryable(&kind, &*info) =>
            {
                // Marks the job for a retry (see `engine::retry`), whatever error type the
                // job wraps this one in on its way out.
                engine::retry::mark();
                Error::Busy
            }
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => {
                // Lets a read run again on a live connection (`Storage::read`).
                engine::closed::mark();
                Error::Busy
            }
            other => Error::Db(other.to_string()),
        }
    }
}

fn is_busy(message: &str) -> bool {
    message.contains("database is locked") || message.contains("database is busy")
}
