//! Out-of-band validation (jXchange OOBValidate): start, verify, resend, inquire; the SMS
//! reply webhook; the SMS outbox; the "90040" result events.

use rocket::{get, post, routes, Route, State};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

use super::envelope::{HasHeader, Jx, JxHdr, JxRequest, MsgRqHdr};
use super::fault::ApiFault;
use super::oob_wire::{self, FeedbackEvent, OutboxMessage};
use super::openapi::{
    Answer, BadQuery, BodyFaults, Common, Conflict, InstRtIdQuery, NotFound, TooMany, Unprocessable,
};
use super::{
    authorize, authorize_limited, blocking, context, iso8601, parse_phone, parse_usr_name, Caller,
};
use crate::domain::api_keys::Scope;
use crate::domain::oob::delivery::Cursor;
use crate::domain::oob::{OobRequest, Started, DEFAULT_EXP_SECS};
use crate::domain::sms_text::parse_template;
use crate::domain::{Context, Error, Fault, Service};
use crate::types::{OobModeType, OobStat, PhoneNum, SendStat};
use crate::web::limits::Limits;

/// Most items one page of the outbox or the event log answers.
const PAGE: i64 = 100;

/// The OOB routes.
pub fn routes() -> Vec<Route> {
    routes![start, verify, resend, session, inbound, outbox, events]
}

/// jXchange OOBValidate request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OobValidateRq {
    #[serde(rename = "MsgRqHdr", default)]
    hdr: MsgRqHdr,
    #[serde(rename = "PhoneNum", default)]
    #[schema(pattern = "^[0-9]{10}$")]
    phone: Option<String>,
    #[serde(rename = "UsrName", default)]
    #[schema(
        pattern = "^[^\\s:\\x00-\\x1f\\x7f-\\x9f]([^:\\x00-\\x1f\\x7f-\\x9f]*[^\\s:\\x00-\\x1f\\x7f-\\x9f])?$",
        max_length = 128
    )]
    usr_name: Option<String>,
    #[serde(rename = "OOBModeType", default)]
    mode: Option<OobModeType>,
    #[serde(rename = "SMSText", default)]
    sms_text: Option<String>,
    #[serde(rename = "ExpSec", default)]
    #[schema(minimum = 15, maximum = 1800)]
    exp_secs: Option<i64>,
    #[serde(rename = "InstRtId", default)]
    inst_rt_id: Option<String>,
    #[serde(rename = "ConsumerProd", default)]
    _consumer_prod: Option<String>,
    #[serde(rename = "Custom", default)]
    #[schema(value_type = Option<Object>)]
    _custom: Option<serde_json::Value>,
}

impl HasHeader for OobValidateRq {
    fn msg_rq_hdr(&self) -> &MsgRqHdr {
        &self.hdr
    }
}

/// An OOB session as answered by OOBValidate, a resend and the lock fallback. `OTP` only
/// where the jXchange contract returns it (OOBValidate, and the resend of its session).
/// No `Debug`: it may hold the code.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OobRs {
    #[serde(rename = "AlrtPkgId")]
    alrt_pkg_id: String,
    #[serde(rename = "OTP", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    otp: Option<zeroize::Zeroizing<String>>,
    #[serde(rename = "RsStat", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^Success$")]
    rs_stat: Option<&'static str>,
    #[serde(rename = "OOBModeType")]
    mode: OobModeType,
    #[serde(rename = "PhoneNumMasked")]
    phone_masked: String,
    #[serde(rename = "ExpDt")]
    expires_at: String,
    #[serde(rename = "SendStat")]
    send_stat: SendStat,
    #[serde(rename = "ResendRemain")]
    resends_left: u32,
}

impl OobRs {
    /// The answer about `started`; the OTP only when `show_otp` and there is one.
    pub fn of(started: Started, show_otp: bool) -> OobRs {
        let otp = (show_otp && !started.otp.0.is_empty()).then_some(started.otp.0);
        let started = started.session;
        OobRs {
            alrt_pkg_id: started.alrt_pkg_id,
            otp,
            rs_stat: None,
            mode: started.mode,
            phone_masked: started.phone_masked,
            expires_at: iso8601(started.expires_at),
            send_stat: started.send_stat,
            resends_left: started.resends_left,
        }
    }
}

fn oob_request(rq: OobValidateRq) -> Result<OobRequest, Error> {
    let exp_secs = match rq.exp_secs {
        None => DEFAULT_EXP_SECS,
        // Negative: out of range like any other value (3160), not a type error.
        Some(n) => u64::try_from(n).unwrap_or(0),
    };
    Ok(OobRequest {
        phone: rq.phone.as_deref().map(parse_phone).transpose()?,
        usr_name: rq.usr_name.as_deref().map(parse_usr_name).transpose()?,
        mode: rq.mode.unwrap_or(OobModeType::TwoWay),
        template: rq.sms_text.as_deref().map(parse_template).transpose()?,
        exp_secs,
    })
}

/// Waits (on the blocking pool, at most `answer_wait_ms`) for the http provider's first
/// answer about a just-recorded SMS, so the consumer learns at once when the send failed.
pub async fn await_send(service: &Arc<Service>, ctx: &Context, started: &mut Started) {
    if started.session.send_stat != SendStat::Pending {
        return;
    }
    let wait = Duration::from_millis(service.oob().policy.answer_wait_ms);
    let (alrt, ctx) = (started.session.alrt_pkg_id.clone(), ctx.clone());
    if let Ok(stat) = blocking(service, move |s| s.await_send_stat(&ctx, &alrt, wait)).await {
        started.session.send_stat = stat;
    }
}

/// `POST /api/v1/oob` — jXchange OOBValidate: send a code by SMS.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "oob",
    operation_id = "OOBValidate",
    request_body = OobValidateRq,
    responses(
        (status = 200, description = "The session, with its `OTP`", body = Answer<OobRs>),
        BodyFaults, Unprocessable, NotFound, TooMany, Common,
    )
)]
#[post("/oob", data = "<rq>")]
async fn start(
    caller: Result<Caller, Error>,
    rq: JxRequest<OobValidateRq>,
    service: &State<Arc<Service>>,
    limits: &State<Arc<Limits>>,
) -> Result<Jx<OobRs>, ApiFault> {
    let hdr = rq.hdr;
    let caller = authorize_limited(caller, Scope::Validate, &hdr, limits)?;
    let fault = |e| ApiFault::new(&hdr, e);
    let body = rq.body.map_err(fault)?;
    // OOBValidate carries `InstRtId` in its body too; the header's wins when both are set.
    let mut named = hdr.clone();
    named.inst_rt_id = hdr.inst_rt_id.clone().or_else(|| body.inst_rt_id.clone());
    let request = oob_request(body).map_err(fault)?;
    let ctx = context(&caller, &named).map_err(fault)?;
    let run = ctx.clone();
    let mut started = blocking(service, move |s| {
        s.start_oob(&run, &request, chrono::Utc::now())
    })
    .await
    .map_err(fault)?;
    await_send(service, &ctx, &mut started).await;
    let mut body = OobRs::of(started, true);
    body.rs_stat = Some("Success");
    Ok(Jx { hdr, body })
}

/// Verification request: the `OTP` the recipient typed.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OobVerifyRq {
    #[serde(rename = "MsgRqHdr", default)]
    hdr: MsgRqHdr,
    #[serde(rename = "OTP")]
    #[schema(pattern = "^[A-Za-z0-9]{6}$")]
    otp: String,
}

impl HasHeader for OobVerifyRq {
    fn msg_rq_hdr(&self) -> &MsgRqHdr {
        &self.hdr
    }
}

/// Verification answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OobVerifyRs {
    #[serde(rename = "AlrtPkgId")]
    alrt_pkg_id: String,
    #[serde(rename = "RsStat")]
    rs_stat: OobStat,
    #[serde(rename = "UsrName", skip_serializing_if = "Option::is_none")]
    usr_name: Option<String>,
}

/// An `AlrtPkgId` path element: unknown ids and malformed ones alike are 7050.
fn alrt_id(s: &str) -> Result<String, Error> {
    if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        let shown: String = s.chars().take(64).collect();
        return Err(Error::at(Fault::OobNotFound, "AlrtPkgId").with_value(shown));
    }
    Ok(s.to_ascii_lowercase())
}

/// `POST /api/v1/oob/{AlrtPkgId}/verify` — check the code of a TwoWay session (one try).
#[utoipa::path(
    context_path = "/api/v1",
    tag = "oob",
    params(("alrt_pkg_id" = String, Path, description = "AlrtPkgId (UUID)")),
    request_body = OobVerifyRq,
    responses(
        (status = 200, description = "`RsStat` Success, Failed or Expired", body = Answer<OobVerifyRs>),
        BodyFaults, Unprocessable, NotFound, Conflict, TooMany, Common,
    )
)]
#[post("/oob/<alrt_pkg_id>/verify", data = "<rq>")]
async fn verify(
    caller: Result<Caller, Error>,
    alrt_pkg_id: &str,
    rq: JxRequest<OobVerifyRq>,
    service: &State<Arc<Service>>,
    limits: &State<Arc<Limits>>,
) -> Result<Jx<OobVerifyRs>, ApiFault> {
    let hdr = rq.hdr;
    let caller = authorize_limited(caller, Scope::Validate, &hdr, limits)?;
    let fault = |e| ApiFault::new(&hdr, e);
    let alrt = alrt_id(alrt_pkg_id).map_err(fault)?;
    let otp = zeroize::Zeroizing::new(rq.body.map_err(fault)?.otp);
    let ctx = context(&caller, &hdr).map_err(fault)?;
    let v = blocking(service, move |s| {
        s.verify_oob(&ctx, &alrt, &otp, chrono::Utc::now())
    })
    .await
    .map_err(fault)?;
    let body = OobVerifyRs {
        alrt_pkg_id: v.alrt_pkg_id,
        rs_stat: v.rs_stat,
        usr_name: v.usr_name,
    };
    Ok(Jx { hdr, body })
}

/// A request with only the header (resend).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderRq {
    #[serde(rename = "MsgRqHdr", default)]
    hdr: MsgRqHdr,
}

impl HasHeader for HeaderRq {
    fn msg_rq_hdr(&self) -> &MsgRqHdr {
        &self.hdr
    }
}

/// `POST /api/v1/oob/{AlrtPkgId}/resend` — a fresh code to the same phone, within limits.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "oob",
    params(("alrt_pkg_id" = String, Path, description = "AlrtPkgId (UUID)")),
    request_body = HeaderRq,
    responses(
        (status = 200, description = "The session with a fresh code", body = Answer<OobRs>),
        BodyFaults, NotFound, Conflict, TooMany, Common,
    )
)]
#[post("/oob/<alrt_pkg_id>/resend", data = "<rq>")]
async fn resend(
    caller: Result<Caller, Error>,
    alrt_pkg_id: &str,
    rq: JxRequest<HeaderRq>,
    service: &State<Arc<Service>>,
    limits: &State<Arc<Limits>>,
) -> Result<Jx<OobRs>, ApiFault> {
    let hdr = rq.hdr;
    let caller = authorize_limited(caller, Scope::Validate, &hdr, limits)?;
    let fault = |e| ApiFault::new(&hdr, e);
    rq.body.map_err(fault)?;
    let alrt = alrt_id(alrt_pkg_id).map_err(fault)?;
    let ctx = context(&caller, &hdr).map_err(fault)?;
    let run = ctx.clone();
    let mut started = blocking(service, move |s| {
        s.resend_oob(&run, &alrt, chrono::Utc::now())
    })
    .await
    .map_err(fault)?;
    await_send(service, &ctx, &mut started).await;
    Ok(Jx {
        hdr,
        body: OobRs::of(started, true),
    })
}

/// A session as an inquiry answers it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OobSessionRs {
    #[serde(rename = "AlrtPkgId")]
    alrt_pkg_id: String,
    #[serde(rename = "OOBModeType")]
    mode: OobModeType,
    #[serde(rename = "OOBStat")]
    state: OobStat,
    #[serde(rename = "SendStat")]
    send_stat: SendStat,
    #[serde(rename = "PhoneNumMasked")]
    phone_masked: String,
    #[serde(rename = "ExpDt")]
    expires_at: String,
    #[serde(rename = "ResendRemain")]
    resends_left: u32,
    #[serde(rename = "UsrName", skip_serializing_if = "Option::is_none")]
    usr_name: Option<String>,
}

/// `GET /api/v1/oob/{AlrtPkgId}` — the state of a session and of its SMS.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "oob",
    params(
        ("alrt_pkg_id" = String, Path, description = "AlrtPkgId (UUID)"),
        InstRtIdQuery,
    ),
    responses(
        (status = 200, description = "The state of the session and of its SMS", body = Answer<OobSessionRs>),
        BadQuery, NotFound, Common,
    )
)]
#[get("/oob/<alrt_pkg_id>")]
async fn session(
    hdr: JxHdr,
    caller: Result<Caller, Error>,
    alrt_pkg_id: &str,
    service: &State<Arc<Service>>,
) -> Result<Jx<OobSessionRs>, ApiFault> {
    let caller = authorize(caller, Scope::Validate, &hdr)?;
    let fault = |e| ApiFault::new(&hdr, e);
    let alrt = alrt_id(alrt_pkg_id).map_err(fault)?;
    let ctx = context(&caller, &hdr).map_err(fault)?;
    let v = blocking(service, move |s| s.oob_session(&ctx, &alrt))
        .await
        .map_err(fault)?;
    let body = OobSessionRs {
        alrt_pkg_id: v.alrt_pkg_id,
        mode: v.mode,
        state: v.state,
        send_stat: v.send_stat,
        phone_masked: v.phone_masked,
        expires_at: iso8601(v.expires_at),
        resends_left: v.resends_left,
        usr_name: v.usr_name,
    };
    Ok(Jx { hdr, body })
}

/// An SMS reply, as the provider's webhook delivers it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundRq {
    #[serde(rename = "MsgRqHdr", default)]
    hdr: MsgRqHdr,
    #[serde(rename = "From")]
    #[schema(pattern = "^(\\+1|1)?[0-9]{10}$")]
    from: String,
    #[serde(rename = "Body")]
    body: String,
}

impl HasHeader for InboundRq {
    fn msg_rq_hdr(&self) -> &MsgRqHdr {
        &self.hdr
    }
}

/// What a reply did: nothing (no pending session, no code in it), or a verification.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InboundRs {
    #[serde(rename = "AlrtPkgId", skip_serializing_if = "Option::is_none")]
    alrt_pkg_id: Option<String>,
    #[serde(rename = "RsStat", skip_serializing_if = "Option::is_none")]
    rs_stat: Option<OobStat>,
}

/// The sender of a reply: 10 digits, or the North American E.164 forms `+1` / `1` and
/// 10 digits that providers send.
fn inbound_phone(from: &str) -> Result<PhoneNum, Error> {
    let national = from
        .strip_prefix("+1")
        .or_else(|| (from.len() == 11).then(|| from.strip_prefix('1')).flatten())
        .unwrap_or(from);
    parse_phone(national).map_err(|_| Error::at(Fault::PhoneDigits, "From"))
}

/// `POST /api/v1/sms/inbound` — the provider's webhook for two-way replies (scope `sms`).
#[utoipa::path(
    context_path = "/api/v1",
    tag = "oob",
    request_body = InboundRq,
    responses(
        (status = 200, description = "`AlrtPkgId` and `RsStat` when the reply answered a pending session; nothing else otherwise", body = Answer<InboundRs>),
        BodyFaults, Unprocessable, TooMany, Common,
    )
)]
#[post("/sms/inbound", data = "<rq>")]
async fn inbound(
    caller: Result<Caller, Error>,
    rq: JxRequest<InboundRq>,
    service: &State<Arc<Service>>,
    limits: &State<Arc<Limits>>,
) -> Result<Jx<InboundRs>, ApiFault> {
    let hdr = rq.hdr;
    let caller = authorize_limited(caller, Scope::Sms, &hdr, limits)?;
    let fault = |e| ApiFault::new(&hdr, e);
    let rq = rq.body.map_err(fault)?;
    let from = inbound_phone(&rq.from).map_err(fault)?;
    let text = zeroize::Zeroizing::new(rq.body);
    let ctx = context(&caller, &hdr).map_err(fault)?;
    let v = blocking(service, move |s| {
        s.inbound_sms(&ctx, &from, &text, chrono::Utc::now())
    })
    .await
    .map_err(fault)?;
    let body = InboundRs {
        alrt_pkg_id: v.as_ref().map(|v| v.alrt_pkg_id.clone()),
        rs_stat: v.map(|v| v.rs_stat),
    };
    Ok(Jx { hdr, body })
}

/// `after=N`: a non-negative integer (7001 otherwise), 0 when absent.
fn after_of(after: Option<&str>) -> Result<i64, Error> {
    match after {
        None => Ok(0),
        Some(s) => s.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            Error::at(Fault::InvalidValue, "after")
                .with_value(s.chars().take(20).collect::<String>())
                .with_detail("(a non-negative integer)")
        }),
    }
}

/// The SMS outbox page.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OutboxRs {
    #[serde(rename = "Messages")]
    messages: Vec<OutboxMessage>,
}

/// `GET /api/v1/sms/outbox?after=N` — stored SMS, oldest first (scope `manage`).
#[utoipa::path(
    context_path = "/api/v1",
    tag = "oob",
    params(
        ("after" = Option<i64>, Query, minimum = 0, description = "Only messages with a larger `MsgId`"),
        InstRtIdQuery,
    ),
    responses(
        (status = 200, description = "At most 100 messages, oldest first", body = Answer<OutboxRs>),
        BadQuery, Common,
    )
)]
#[get("/sms/outbox?<after>")]
async fn outbox(
    hdr: JxHdr,
    caller: Result<Caller, Error>,
    after: Option<&str>,
    service: &State<Arc<Service>>,
) -> Result<Jx<OutboxRs>, ApiFault> {
    let messages = page(
        &hdr,
        caller,
        Scope::Manage,
        after,
        service,
        oob_wire::outbox,
    )
    .await?;
    Ok(Jx {
        hdr,
        body: OutboxRs { messages },
    })
}

/// A listing read by cursor: (institution or every one, after, limit) → items.
type Listing<T> = fn(&Service, Option<&str>, Cursor, i64) -> Result<Vec<T>, Error>;

/// One page of a listing read with `after=N`: scope check, cursor, blocking read. An
/// institution-bound key reads its institution's items; a cross-institution key the
/// `InstRtId` it names, else every institution's.
async fn page<T: Send + 'static>(
    hdr: &JxHdr,
    caller: Result<Caller, Error>,
    scope: Scope,
    after: Option<&str>,
    service: &State<Arc<Service>>,
    read: Listing<T>,
) -> Result<Vec<T>, ApiFault> {
    let caller = authorize(caller, scope, hdr)?;
    let fault = |e| ApiFault::new(hdr, e);
    let after = after_of(after).map_err(fault)?;
    let inst = caller
        .institution(hdr.inst_rt_id.as_deref())
        .map_err(fault)?;
    blocking(service, move |s| {
        read(s, inst.as_deref(), Cursor::After(after), PAGE)
    })
    .await
    .map_err(fault)
}

/// The event log page.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventsRs {
    #[serde(rename = "Events")]
    events: Vec<FeedbackEvent>,
}

/// `GET /api/v1/events?after=N` — "90040" OOB results, oldest first (scope `validate`).
#[utoipa::path(
    context_path = "/api/v1",
    tag = "oob",
    params(
        ("after" = Option<i64>, Query, minimum = 0, description = "Only events with a larger `EvtId`"),
        InstRtIdQuery,
    ),
    responses(
        (status = 200, description = "At most 100 events, oldest first", body = Answer<EventsRs>),
        BadQuery, Common,
    )
)]
#[get("/events?<after>")]
async fn events(
    hdr: JxHdr,
    caller: Result<Caller, Error>,
    after: Option<&str>,
    service: &State<Arc<Service>>,
) -> Result<Jx<EventsRs>, ApiFault> {
    let events = page(
        &hdr,
        caller,
        Scope::Validate,
        after,
        service,
        oob_wire::events,
    )
    .await?;
    Ok(Jx {
        hdr,
        body: EventsRs { events },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_senders_accept_the_usual_forms() {
        assert!(inbound_phone("4175556652").is_ok());
        assert!(inbound_phone("+14175556652").is_ok());
        assert!(inbound_phone("14175556652").is_ok());
        assert!(inbound_phone("+44175556652").is_err());
        assert!(inbound_phone("417555665").is_err());
    }
}
