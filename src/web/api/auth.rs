//! The Bearer API-key guard. Scope checks happen in each handler (`caller.require(…)`), so
//! the handler decides which fault wins when several apply.

use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use std::sync::Arc;

use crate::domain::api_keys::ApiCaller;
use crate::domain::{Error, Fault, Service};
use crate::web::edge::blocking;

/// An authenticated API caller.
pub struct Caller(pub ApiCaller);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Caller {
    type Error = Error;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Error> {
        let unauthorized = |e| Outcome::Error((Status::Unauthorized, e));
        let Some(header) = req.headers().get_one("Authorization") else {
            return unauthorized(Error::fault(Fault::Unauthenticated));
        };
        let Some(key) = header.strip_prefix("Bearer ").map(str::trim) else {
            return unauthorized(Error::fault(Fault::Unauthenticated));
        };
        let Some(service) = req.rocket().state::<Arc<Service>>() else {
            return unauthorized(Error::Internal("service not managed".into()));
        };
        match caller_of(service, key).await {
            Ok(caller) => Outcome::Success(caller),
            Err(e) => unauthorized(e),
        }
    }
}

/// The caller a presented API key authenticates (the key cache first); shared with the
/// SOAP binding, whose key may come in a WS-Security `UsernameToken` instead.
pub async fn caller_of(service: &Arc<Service>, key: &str) -> Result<Caller, Error> {
    let now = chrono::Utc::now();
    if let Some(caller) = service.cached_caller(key, now) {
        return Ok(Caller(caller));
    }
    let key = key.to_owned();
    blocking(service, move |s| s.authenticate(&key, now))
        .await
        .map(Caller)
}
