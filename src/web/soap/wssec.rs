//! The WS-Security header of a request (OASIS WSS 1.1, UsernameToken profile): the
//! `UsernameToken`'s `PasswordText` (the API key), its `Nonce` and `Created`, and the
//! message's `Timestamp` (`Created`, `Expires`).
//!
//! Replay (issue 26): when a `Timestamp` (or the token's `Created`) is present it is
//! enforced with `soap_clock_skew_secs` of tolerance — `Created` no later than now plus
//! the skew; `Expires` no earlier than now minus the skew; without `Expires`, `Created`
//! no earlier than now minus the skew — and a `Nonce` is refused when the same key used
//! it within that window on any node (the domain keeps it in the database). A message
//! with neither is not replay-protected: a consumer that wants the protection sends them.
//! Imports: the envelope's node tree, domain errors.

use chrono::{DateTime, Duration, Utc};

use super::envelope::{Node, WSSE_NS, WSU_NS};
use crate::domain::{Error, Fault};

/// `PasswordText`, the only `UsernameToken` password type accepted (the API key itself).
const PASSWORD_TEXT: &str = "#PasswordText";

/// Longest `Nonce` kept (base64 of up to 96 bytes).
const MAX_NONCE: usize = 128;

/// What the `wsse:Security` header holds.
#[derive(Debug, Default)]
pub struct WsSecurity {
    /// The `UsernameToken`'s `PasswordText` (the API key).
    pub password: Option<String>,
    /// The `UsernameToken`'s `Nonce` (as sent).
    pub nonce: Option<String>,
    /// The `Timestamp`'s `Created`, else the `UsernameToken`'s.
    pub created: Option<DateTime<Utc>>,
    /// The `Timestamp`'s `Expires`.
    pub expires: Option<DateTime<Utc>>,
}

fn stale(detail: impl Into<String>) -> Error {
    Error::at(Fault::StaleMessage, "Security").with_detail(detail.into())
}

/// An `xsd:dateTime` of the header, or fault 7012 naming it.
fn time_of(node: Option<&Node>, what: &str) -> Result<Option<DateTime<Utc>>, Error> {
    node.map(|n| {
        DateTime::parse_from_rfc3339(n.text.trim())
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| stale(format!("({what} must be an xsd:dateTime with a time zone)")))
    })
    .transpose()
}

/// Reads the `wsse:Security` of a `soapenv:Header` (none: everything absent).
pub fn read(header: &Node) -> Result<WsSecurity, Error> {
    let Some(security) = header
        .children
        .iter()
        .find(|c| c.name == "Security" && c.ns == WSSE_NS)
    else {
        return Ok(WsSecurity::default());
    };
    let token = security.child("UsernameToken");
    let password = token.and_then(|t| t.child("Password"));
    if password
        .and_then(|p| p.attr("Type"))
        .is_some_and(|t| !t.ends_with(PASSWORD_TEXT))
    {
        return Err(Error::fault(Fault::Unauthenticated).with_detail(
            "(UsernameToken: only a PasswordText password, the API key, is accepted)",
        ));
    }
    let nonce = token
        .and_then(|t| t.child("Nonce"))
        .map(|n| n.text.trim().to_owned());
    if nonce
        .as_deref()
        .is_some_and(|n| n.is_empty() || n.len() > MAX_NONCE || n.chars().any(char::is_control))
    {
        return Err(stale(format!("(a Nonce is 1-{MAX_NONCE} characters)")));
    }
    let stamp = security
        .children
        .iter()
        .find(|c| c.name == "Timestamp" && c.ns == WSU_NS);
    let created = match time_of(stamp.and_then(|s| s.child("Created")), "Timestamp/Created")? {
        Some(t) => Some(t),
        None => time_of(
            token.and_then(|t| t.child("Created")),
            "UsernameToken/Created",
        )?,
    };
    Ok(WsSecurity {
        password: password.map(|p| p.text.trim().to_owned()),
        nonce,
        created,
        expires: time_of(stamp.and_then(|s| s.child("Expires")), "Timestamp/Expires")?,
    })
}

impl WsSecurity {
    /// Refuses a message outside its time window (fault 7012), `skew` either way.
    pub fn check_fresh(&self, now: DateTime<Utc>, skew_secs: u64) -> Result<(), Error> {
        let skew = Duration::seconds(i64::try_from(skew_secs).unwrap_or(3600));
        if let Some(created) = self.created {
            if created > now + skew {
                return Err(stale("(Created is in the future)"));
            }
            if self.expires.is_none() && created < now - skew {
                return Err(stale("(Created is older than soap_clock_skew_secs)"));
            }
        }
        if let Some(expires) = self.expires {
            // Its nonce is remembered until it expires: not for longer than an hour.
            if expires > now + skew + Duration::hours(1) {
                return Err(stale("(Expires is more than an hour ahead)"));
            }
            if expires < now - skew {
                return Err(stale("(the message has expired)"));
            }
            if self.created.is_some_and(|c| expires < c) {
                return Err(stale("(Expires is before Created)"));
            }
        }
        Ok(())
    }

    /// Until when a nonce of this message must be remembered: as long as the message
    /// could still pass [`WsSecurity::check_fresh`], and at least the skew from now.
    pub fn nonce_until(&self, now: DateTime<Utc>, skew_secs: u64) -> DateTime<Utc> {
        let skew = Duration::seconds(i64::try_from(skew_secs).unwrap_or(3600));
        let by_message = self.expires.or(self.created).map(|t| t + skew);
        by_message.map_or(now + skew, |t| t.max(now + skew))
    }
}
