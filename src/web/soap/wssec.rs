//! The WS-Security header of a request (OASIS WSS 1.1, UsernameToken profile): the
//! `UsernameToken`'s `PasswordText` (the API key) or `PasswordDigest`, its `Nonce` and
//! `Created`, and the message's `Timestamp` (`Created`, `Expires`).
//!
//! Replay (issue 26): when a `Timestamp` (or the token's `Created`) is present it is
//! enforced with `soap_clock_skew_secs` of tolerance — `Created` no later than now plus
//! the skew; `Expires` no earlier than now minus the skew; without `Expires`, `Created`
//! no earlier than now minus the skew — and a `Nonce` is refused when the same key used
//! it within that window on any node (the domain keeps it in the database). A message
//! with neither is not replay-protected: a consumer that wants the protection sends them.
//!
//! `PasswordDigest` (issue 28, the default of CXF/WSS4J): the token's `Username` names the
//! key (made with `apikey create --soap-digest`), and its `Nonce` and `Created` are
//! REQUIRED, since without them a digest is as replayable as the password; `Created`
//! must be within the skew either way (a stale or future one is fault 7012) and the
//! nonce is used once (the same store as above). The digest itself is the domain's to
//! check (`api_key_digest`): the edge only decodes it.
//! Imports: the envelope's node tree, domain errors.

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};

use super::xml::{Node, WSSE_NS, WSU_NS};
use crate::domain::api_key_digest::DigestProof;
use crate::domain::{Error, Fault};

/// `PasswordText`: the API key itself.
const PASSWORD_TEXT: &str = "#PasswordText";

/// `PasswordDigest`: Base64(SHA-1(nonce ‖ Created ‖ key)), the key never sent.
const PASSWORD_DIGEST: &str = "#PasswordDigest";

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
    /// A `PasswordDigest` token, with its `Created` (checked within the skew either way).
    pub digest: Option<(DigestProof, DateTime<Utc>)>,
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
    let kind = password.and_then(|p| p.attr("Type"));
    if kind.is_some_and(|t| !t.ends_with(PASSWORD_TEXT) && !t.ends_with(PASSWORD_DIGEST)) {
        return Err(Error::fault(Fault::Unauthenticated).with_detail(
            "(UsernameToken: a PasswordText password, the API key, or a PasswordDigest)",
        ));
    }
    let digest = match (token, password) {
        (Some(t), Some(p)) if kind.is_some_and(|k| k.ends_with(PASSWORD_DIGEST)) => {
            Some(digest_of(t, p)?)
        }
        _ => None,
    };
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
        password: password
            .filter(|_| digest.is_none())
            .map(|p| p.text.trim().to_owned()),
        digest,
        nonce,
        created,
        expires: time_of(stamp.and_then(|s| s.child("Expires")), "Timestamp/Expires")?,
    })
}

/// Standard base64 (what `Nonce` and a digest are), or `None`.
fn base64_of(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
}

/// The parts of a `PasswordDigest` token: `Nonce` (base64, its `EncodingType`
/// `Base64Binary` when named) and `Created` are required (fault 7012 without them); an
/// undecodable digest is fault 7010.
fn digest_of(token: &Node, password: &Node) -> Result<(DigestProof, DateTime<Utc>), Error> {
    let nonce = token.child("Nonce");
    if nonce
        .and_then(|n| n.attr("EncodingType"))
        .is_some_and(|e| !e.ends_with("#Base64Binary"))
    {
        return Err(stale("(a PasswordDigest's Nonce is Base64Binary)"));
    }
    let nonce = nonce
        .and_then(|n| base64_of(&n.text))
        .filter(|n| !n.is_empty())
        .ok_or_else(|| stale("(a PasswordDigest needs a base64 Nonce and a Created)"))?;
    let created_node = token
        .child("Created")
        .ok_or_else(|| stale("(a PasswordDigest needs a base64 Nonce and a Created)"))?;
    let created = time_of(Some(created_node), "UsernameToken/Created")?
        .ok_or_else(|| stale("(UsernameToken/Created)"))?;
    let digest = base64_of(&password.text).ok_or_else(|| {
        Error::at(Fault::Unauthenticated, "Security.UsernameToken.Password")
            .with_detail("(a PasswordDigest is base64)")
    })?;
    let username = token
        .child("Username")
        .map(|u| u.text.trim().to_owned())
        .unwrap_or_default();
    let proof = DigestProof {
        username,
        nonce,
        created: created_node.text.trim().to_owned(),
        digest,
    };
    Ok((proof, created))
}

impl WsSecurity {
    /// Refuses a message outside its time window (fault 7012), `skew` either way.
    pub fn check_fresh(&self, now: DateTime<Utc>, skew_secs: u64) -> Result<(), Error> {
        let skew = Duration::seconds(i64::try_from(skew_secs).unwrap_or(3600));
        if let Some((_, created)) = &self.digest {
            if *created > now + skew {
                return Err(stale("(UsernameToken/Created is in the future)"));
            }
            if *created < now - skew {
                return Err(stale(
                    "(UsernameToken/Created is older than soap_clock_skew_secs)",
                ));
            }
        }
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
        let by_token = self.digest.as_ref().map(|(_, t)| *t + skew);
        [by_message, by_token]
            .into_iter()
            .flatten()
            .fold(now + skew, DateTime::max)
    }
}
