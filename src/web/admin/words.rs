//! The console's words for domain faults. The API answers jXchange fault records ("7021
//! No such user is bound to a token."), which a consumer system parses; a help desk
//! reads the console, so its messages carry no fault code and say what happened in
//! plain words, in terms of what the admin typed or clicked.

use crate::domain::{Error, Fault};

/// A fault in words an admin can act on (no fault code, no jXchange element names).
pub fn plain(e: &Error) -> String {
    if let Error::Unavailable(_) = e {
        return "The database is busy or unreachable: try again in a moment.".to_owned();
    }
    let Error::Fault { fault, detail, .. } = e else {
        return "Something went wrong inside tokend; the log has the details.".to_owned();
    };
    let words = match fault {
        Fault::UserNotFound => "There is no user by that name here (or the user has no token).",
        Fault::TokenNotFound => "There is no token with that serial here.",
        Fault::DuplicateTokenId => "A token with that serial exists already.",
        Fault::DuplicateUsrName => {
            "A user with that name exists already (names compare ignoring case)."
        }
        Fault::StaleIntentKey => {
            "Someone changed this record meanwhile: reload the page and try again."
        }
        Fault::WrongTokenState => "The token's status does not allow that.",
        Fault::AlreadyBound => "That token is bound already (to this user or another).",
        Fault::AmbiguousBinding => "The token belongs to several users: pick one.",
        Fault::PhoneDigits => "A phone number has 10 digits.",
        Fault::PhoneRequired => "The user has no phone on file.",
        Fault::FieldRequired => "A required field is empty.",
        Fault::EnumValue => "That value is not one of the choices.",
        Fault::SendCapReached => "Too many text messages went to this user or phone; try later.",
        Fault::Busy => "tokend is busy: try again in a moment.",
        other => other.desc(),
    };
    match detail {
        Some(d) if !d.is_empty() => format!("{words} ({d})"),
        _ => words.to_owned(),
    }
}

/// A moment as the console shows it: `2026-12-05 10:42`, in the service's local time
/// zone (the `TZ` of its environment: a bank sets its own, e.g. `TZ=America/Chicago` in
/// the unit; unset, UTC). Every page says which zone (see [`zone`]); the API keeps ISO
/// 8601 with its offset.
pub fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// The zone [`when`] shows times in, for the page: `UTC-06:00`.
pub fn zone() -> String {
    chrono::Local::now().format("UTC%:z").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_messages_carry_no_fault_code() {
        let said = plain(&Error::fault(Fault::UserNotFound));
        assert_eq!(
            said,
            "There is no user by that name here (or the user has no token)."
        );
        assert!(!plain(&Error::fault(Fault::TokenNotFound)).contains("70"));
        assert!(plain(&Error::Internal("x".into())).contains("the log"));
    }
}
