//! The jXchange-style JSON API under `/api/v1`.
//!
//! Each handler: authenticate → check scope → take the decoded body → parse elements into
//! domain types → run the domain operation on a blocking thread → answer with the echoed
//! header. Faults at any step answer through `fault::ApiFault`.

pub mod audit;
pub mod auth;
pub mod envelope;
pub mod fault;
pub mod inquiry;
pub mod lifecycle;
pub mod oob;
pub mod oob_wire;
pub mod openapi;
pub mod tokens;
pub mod validate;

use rocket::Route;
use std::sync::Arc;

use crate::domain::api_keys::{ApiCaller, Scope};
use crate::domain::{Context, Error, Fault, Service};
use crate::types::{Code, PhoneNum, TokenId, UsrName};
pub use auth::Caller;
use envelope::JxHdr;
use fault::ApiFault;

/// Every API route.
pub fn routes() -> Vec<Route> {
    [
        tokens::routes(),
        audit::routes(),
        validate::routes(),
        inquiry::routes(),
        lifecycle::routes(),
        oob::routes(),
        openapi::routes(),
    ]
    .concat()
}

/// Runs a domain operation on the blocking pool: database and HMAC work never occupy the
/// async executor's threads.
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

/// One JSON operation as (nearly) every handler runs it: the key and its scope are
/// checked first; then the input the handler parsed from the path and body (a fault if
/// it did not parse), the request's context (its institution: fault 2505 if the key may
/// not act there), the domain operation on the blocking pool, and the answer built from
/// its result under the echoed header. Every fault echoes the header too.
pub async fn operate<I, T, R>(
    request: (JxHdr, Result<Caller, Error>, Scope),
    service: &Arc<Service>,
    input: Result<I, Error>,
    op: impl FnOnce(&Service, &Context, I) -> Result<T, Error> + Send + 'static,
    answer: impl FnOnce(T) -> R,
) -> Result<envelope::Jx<R>, ApiFault>
where
    I: Send + 'static,
    T: Send + 'static,
{
    let (hdr, caller, scope) = request;
    let caller = authorize(caller, scope, &hdr)?;
    let fault = |e| ApiFault::new(&hdr, e);
    let input = input.map_err(fault)?;
    let ctx = context(&caller, &hdr).map_err(fault)?;
    let out = blocking(service, move |s| op(s, &ctx, input))
        .await
        .map_err(fault)?;
    Ok(envelope::Jx {
        body: answer(out),
        hdr,
    })
}

/// Checks the caller and scope, in that order, echoing `hdr` in the fault.
pub fn authorize(
    caller: Result<Caller, Error>,
    scope: Scope,
    hdr: &JxHdr,
) -> Result<ApiCaller, ApiFault> {
    let caller = caller.map_err(|e| ApiFault::new(hdr, e))?.0;
    caller.require(scope).map_err(|e| ApiFault::new(hdr, e))?;
    Ok(caller)
}

/// [`authorize`], then the API key's request rate limit (validate and OOB calls).
pub fn authorize_limited(
    caller: Result<Caller, Error>,
    scope: Scope,
    hdr: &JxHdr,
    limits: &crate::web::limits::Limits,
) -> Result<ApiCaller, ApiFault> {
    let caller = authorize(caller, scope, hdr)?;
    limits
        .request(&caller.name)
        .map_err(|l| ApiFault::limited(hdr, l))?;
    Ok(caller)
}

/// The context of a request: who acts, within which institution (the header's
/// `InstRtId` checked against the key: fault 2505 when the key may not act there), and
/// the correlation ids the audit records.
pub fn context(caller: &ApiCaller, hdr: &JxHdr) -> Result<Context, Error> {
    Ok(Context {
        actor: caller.actor(),
        audit_usr_id: hdr.audit_usr_id.clone(),
        audit_ws_id: hdr.audit_ws_id.clone(),
        tracking_id: hdr.tracking_id.clone(),
        bus_correl_id: hdr.bus_correl_id.clone(),
        inst_rt_id: caller.institution(hdr.inst_rt_id.as_deref())?,
    })
}

/// A `TokenId` element: empty is 2205, a bad form is 7001.
pub fn parse_token_id(elem: &str, s: &str) -> Result<TokenId, Error> {
    if s.is_empty() {
        return Err(Error::at(Fault::IdRequired, elem));
    }
    TokenId::parse(s).ok_or_else(|| {
        Error::at(Fault::InvalidValue, elem)
            .with_value(s.chars().take(64).collect::<String>())
            .with_detail("(1-64 characters of A-Z a-z 0-9 . _ -)")
    })
}

/// A `UsrName` element: empty is 3103, a bad form is 7001.
pub fn parse_usr_name(s: &str) -> Result<UsrName, Error> {
    if s.is_empty() {
        return Err(Error::at(Fault::FieldRequired, "UsrName"));
    }
    UsrName::parse(s).ok_or_else(|| {
        Error::at(Fault::InvalidValue, "UsrName").with_detail(
            "(1-128 characters, no control characters, no colon, no surrounding spaces)",
        )
    })
}

/// A code element: 6 or 8 ASCII digits (7041); never echoed.
pub fn parse_code(elem: &str, s: &str) -> Result<Code, Error> {
    Code::parse(s).ok_or_else(|| Error::at(Fault::CodeFormat, elem))
}

/// A `PhoneNum` element: exactly 10 digits (jXchange 3147); never echoed in full.
pub fn parse_phone(s: &str) -> Result<PhoneNum, Error> {
    PhoneNum::parse(s).ok_or_else(|| Error::at(Fault::PhoneDigits, "PhoneNum"))
}

/// Formats a time as jXchange `LastAuthenTimeDt`: ISO 8601 with milliseconds and offset.
pub fn iso8601(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}
