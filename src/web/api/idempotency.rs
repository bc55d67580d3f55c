//! The `Idempotency-Key` header of the JSON API (issue 29): a consumer that retries a
//! creating or sending call after a timeout gets the first answer again instead of a
//! second token, SMS or counted failure.
//!
//! Two hooks, because a Rocket fairing cannot read a whole body nor answer a request
//! itself: the JSON data guard ([`super::envelope::JxRequest`]) calls [`admit`], which
//! claims the key in the database (so every node sees it) once the body decoded (the
//! SOAP binding calls [`claim`] with the message's WS-Addressing `MessageID`); a
//! request that must not run (a replay, another request's key, one still running) gets a
//! body fault there, so its handler stops before any work. The [`Answers`] fairing then
//! stores the answer of a claimed request, or puts the stored answer, marked with
//! `Idempotent-Replayed: true`, in place of a replay's placeholder fault. A request
//! without the header is untouched. Imports: rocket, domain.

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::{ContentType, Header, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::Response;
use std::io::Cursor;
use std::sync::{Arc, Mutex};

use super::Caller;
use crate::domain::idempotency::{fingerprint, Claim, IdemKey};
use crate::domain::{Error, Fault, Service};
use crate::web::edge::blocking;

/// The request header carrying the key.
pub const HEADER: &str = "Idempotency-Key";

/// The answer header marking a stored answer given again.
pub const REPLAYED: &str = "Idempotent-Replayed";

/// How long a key and its answer are kept (`idempotency_retention_secs`).
#[derive(Debug, Clone, Copy)]
pub struct IdemConfig {
    /// Seconds (default 86,400).
    pub retention_secs: u64,
}

impl Default for IdemConfig {
    fn default() -> IdemConfig {
        IdemConfig {
            retention_secs: 86_400,
        }
    }
}

/// What a request's key came to, for the fairing.
#[derive(Default)]
enum Held {
    /// No key, or nothing to do after the handler.
    #[default]
    Nothing,
    /// This request claimed the key: its answer is to be stored.
    Claimed(IdemKey),
    /// An earlier request answered: its answer replaces this one's.
    Replay(u16, zeroize::Zeroizing<Vec<u8>>),
}

/// The request's slot for what its key came to (in the request's local cache): filled by
/// the JSON data guard or the SOAP handler, read by the [`Answers`] fairing.
#[derive(Default)]
pub struct Slot(Mutex<Held>);

impl Slot {
    /// The slot of `req`.
    pub fn of<'r>(req: &'r Request<'_>) -> &'r Slot {
        req.local_cache(Slot::default)
    }

    fn put(&self, held: Held) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = held;
        }
    }

    fn take(&self) -> Held {
        self.0
            .lock()
            .map(|mut h| std::mem::take(&mut *h))
            .unwrap_or_default()
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for &'r Slot {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        Outcome::Success(Slot::of(req))
    }
}

/// Claims `value` (an `Idempotency-Key`, or a SOAP message's WS-Addressing `MessageID`)
/// for `api_key`'s request `print` and fills `slot`: `Err` is the fault that must stop
/// the request before any work (a replay's placeholder, which the fairing replaces by
/// the stored answer; another request's key; one still running).
pub async fn claim(
    service: &Arc<Service>,
    slot: &Slot,
    key: IdemKey,
    print: String,
    retention_secs: u64,
) -> Result<(), Error> {
    let now = chrono::Utc::now();
    let held = key.clone();
    let claimed = blocking(service, move |s| {
        s.claim_idempotency(&held, &print, retention_secs, now)
    })
    .await?;
    match claimed {
        Claim::Fresh => {
            slot.put(Held::Claimed(key));
            Ok(())
        }
        Claim::Answered { status, body } => {
            slot.put(Held::Replay(status, body));
            Err(Error::at(Fault::IdempotencyInFlight, HEADER)
                .with_detail("(replaced by the stored answer)"))
        }
    }
}

/// `idempotency_retention_secs` of the running server.
pub fn retention_of(req: &Request<'_>) -> u64 {
    req.rocket()
        .state::<IdemConfig>()
        .copied()
        .unwrap_or_default()
        .retention_secs
}

/// A key (the header `elem`, or SOAP's `MessageID`) is 1 to 255 visible ASCII characters
/// (a UUID, or a `urn:uuid:`, fits).
pub fn check_key(value: &str, elem: &str) -> Result<(), Error> {
    if (1..=255).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic()) {
        return Ok(());
    }
    Err(Error::at(Fault::InvalidValue, elem)
        .with_detail("(1 to 255 visible ASCII characters, e.g. a UUID)"))
}

/// Claims the request's `Idempotency-Key`, if it has one and its body decoded: on a
/// replay, another request's key or one still running, `body` becomes the fault that
/// stops the handler before any work (a replay's is replaced by the stored answer).
/// A request whose key does not authenticate claims nothing: its 401 is not stored.
pub async fn admit<T>(req: &Request<'_>, bytes: &[u8], body: &mut Result<T, Error>) {
    let Some(value) = req.headers().get_one(HEADER) else {
        return;
    };
    if let Err(e) = check_key(value, HEADER) {
        *body = Err(e);
        return;
    }
    let Some(service) = req.rocket().state::<Arc<Service>>() else {
        return;
    };
    if body.is_err() {
        return;
    }
    let Outcome::Success(caller) = req.guard::<Caller>().await else {
        return;
    };
    let key = IdemKey {
        api_key: caller.0.name,
        key: value.to_owned(),
    };
    let print = fingerprint(req.method().as_str(), &req.uri().to_string(), bytes);
    if let Err(e) = claim(service, Slot::of(req), key, print, retention_of(req)).await {
        *body = Err(e);
    }
}

/// Stores a claimed request's answer, or gives a replay the stored one (see the module).
pub struct Answers;

#[rocket::async_trait]
impl Fairing for Answers {
    fn info(&self) -> Info {
        Info {
            name: "Idempotency-Key answers",
            kind: Kind::Response,
        }
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, res: &mut Response<'r>) {
        match Slot::of(req).take() {
            Held::Nothing => {}
            Held::Replay(status, body) => {
                // The SOAP binding's answers are XML, the JSON API's JSON.
                let xml = req.uri().path().starts_with(crate::web::soap::BASE);
                res.set_status(Status::new(status));
                res.set_header(if xml {
                    ContentType::new("text", "xml").with_params(("charset", "utf-8"))
                } else {
                    ContentType::JSON
                });
                res.set_header(Header::new(REPLAYED, "true"));
                res.set_sized_body(body.len(), Cursor::new(body.to_vec()));
            }
            Held::Claimed(key) => {
                if let Some(service) = req.rocket().state::<Arc<Service>>() {
                    store(service, key, res).await;
                }
            }
        }
    }
}

/// Stores the answer under `key`, or frees the key when a retry should run again: a
/// 429 (a limit that will pass), a 5xx (a busy database, an internal error), an answer
/// that could not be read or stored.
async fn store(service: &Arc<Service>, key: IdemKey, res: &mut Response<'_>) {
    let status = res.status().code;
    let bytes = if status == 429 || status >= 500 {
        None
    } else {
        res.body_mut().to_bytes().await.ok()
    };
    let Some(bytes) = bytes else {
        if let Err(e) = blocking(service, move |s| s.release_idempotency(&key)).await {
            tracing::warn!("an Idempotency-Key could not be freed: {e}");
        }
        return;
    };
    res.set_sized_body(bytes.len(), Cursor::new(bytes.clone()));
    let stored = blocking(service, move |s| {
        s.record_idempotent_answer(&key, status, &bytes)
            .or_else(|e| s.release_idempotency(&key).and(Err(e)))
    })
    .await;
    if let Err(e) = stored {
        tracing::warn!("an answer could not be stored for its Idempotency-Key: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_one_to_255_visible_characters() {
        assert!(check_key("0b5f6f0e-1d1c-4c55-9d1e-3b0f4f1a2b3c", HEADER).is_ok());
        assert!(check_key(&"k".repeat(255), HEADER).is_ok());
        for bad in ["", "a b", "tab\there", "é", &"k".repeat(256)] {
            let e = check_key(bad, HEADER).unwrap_err();
            assert_eq!(e.kind(), Fault::InvalidValue, "{bad:?}");
        }
    }
}
