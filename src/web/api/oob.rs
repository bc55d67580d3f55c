//! Out-of-band validation (jXchange OOBValidate): start, verify, resend, inquire. The SMS
//! reply webhook and outbox are in `sms`, the "90040" result events in `events`.

use rocket::{get, post, routes, Route, State};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

use super::envelope::{HasHeader, Jx, JxHdr, JxRequest, MsgRqHdr};
use super::fault::ApiFault;
use super::oob_rq::{may_send_text, oob_request, OobValidateRq};
use super::openapi::{
    Answer, BadQuery, BodyFaults, Common, Conflict, InstRtIdQuery, NotFound, TooMany, Unprocessable,
};
use super::{operate, Call, Caller, Gate};
use crate::domain::api_keys::Scope;
use crate::domain::oob::Started;
use crate::domain::{Context, Error, Fault, Service};
use crate::types::{OobModeType, OobStat, SendStat, SessionOrigin};
use crate::web::edge::{blocking, iso8601};
use crate::web::limits::Limits;

/// The OOB routes.
pub fn routes() -> Vec<Route> {
    routes![start, verify, resend, session]
}

/// An OOB session as answered by OOBValidate, a resend and the lock fallback. `OTP` only
/// where the jXchange contract returns it (OOBValidate, and the resend of its session).
/// No `Debug`: it may hold the code.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = OOBValidateRs)]
pub struct OobRs {
    #[serde(rename = "AlrtPkgId")]
    alrt_pkg_id: String,
    #[serde(rename = "OTP", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    otp: Option<zeroize::Zeroizing<String>>,
    #[serde(rename = "RsStat", skip_serializing_if = "Option::is_none")]
    rs_stat: Option<SentRsStat>,
    #[serde(rename = "OOBModeType")]
    mode: OobModeType,
    #[serde(rename = "PhoneNumMasked")]
    phone_masked: String,
    #[serde(rename = "ExpDt")]
    #[schema(format = DateTime)]
    expires_at: String,
    #[serde(rename = "SendStat")]
    send_stat: SendStat,
    #[serde(rename = "ResendRemain")]
    resends_left: u32,
    /// `false` when the code went to a number that is not the user's phone on file
    /// (`oob_explicit_phone = "allow"`); absent otherwise.
    #[serde(rename = "PhoneNumOnFile", skip_serializing_if = "Option::is_none")]
    phone_on_file: Option<bool>,
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
            phone_on_file: (started.origin == SessionOrigin::OffFile).then_some(false),
        }
    }
}

/// The seed's OOBValidate answer, exactly (what the SOAP binding answers: the seed's
/// schema has nothing more; the session's other facts are OOBStatInq's). The JSON API
/// answers the whole `OobRs`.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = OOBValidateSeedRs)]
pub struct OobSeedRs {
    #[serde(rename = "AlrtPkgId")]
    alrt_pkg_id: String,
    #[serde(rename = "OTP", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    otp: Option<zeroize::Zeroizing<String>>,
    #[serde(rename = "RsStat", skip_serializing_if = "Option::is_none")]
    rs_stat: Option<SentRsStat>,
}

/// `RsStat` of a session started (and of the seed's answer): always `Success`; its own
/// value list (`OOBSentRsStat`), so a generated client's enum holds nothing else.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[schema(as = OOBSentRsStat)]
pub enum SentRsStat {
    /// The code was sent.
    Success,
}

impl OobRs {
    /// The seed's elements of this answer.
    pub fn seed(self) -> OobSeedRs {
        OobSeedRs {
            alrt_pkg_id: self.alrt_pkg_id,
            otp: self.otp,
            rs_stat: self.rs_stat,
        }
    }
}

/// Waits (on the blocking pool, at most `answer_wait_ms`, woken by the domain's signal)
/// for the http provider's first answer about a just-recorded SMS, so the consumer learns
/// at once when the send failed.
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
    security(("bearer" = ["validate"])),
    request_body = OobValidateRq,
    responses(
        (status = 200, description = "The session, with its `OTP`", body = Answer<OobRs>),
        BodyFaults, Unprocessable, NotFound, Conflict, TooMany, Common,
    )
)]
#[post("/oob", data = "<rq>")]
pub(crate) async fn start(
    caller: Result<Caller, Error>,
    rq: JxRequest<OobValidateRq>,
    service: &State<Arc<Service>>,
    limits: &State<Arc<Limits>>,
    metrics: &State<Arc<crate::web::metrics::Metrics>>,
) -> Result<Jx<OobRs>, ApiFault> {
    let call = Call::admit(rq.hdr, caller, Gate::limited(Scope::Validate, limits))?;
    let body = call.check(rq.body)?;
    // OOBValidate carries `InstRtId` in its body too; the header's wins when both are set.
    let named = body.inst_rt_id.clone();
    let request = call.check(oob_request(body))?;
    call.check(may_send_text(call.caller(), &request))?;
    let ctx = call.context_naming(named)?;
    let mut started = call
        .run(service, &ctx, move |s, ctx, now| {
            s.start_oob(ctx, &request, now)
        })
        .await
        .inspect_err(|f| {
            if f.error.kind() == crate::domain::Fault::SimSwapHold {
                metrics.sim_swap_held("explicit");
            }
        })?;
    await_send(service, &ctx, &mut started).await;
    let mut body = OobRs::of(started, true);
    body.rs_stat = Some(SentRsStat::Success);
    Ok(call.answer(body))
}

/// Verification request: the `OTP` the recipient typed.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = OOBVerifyRq)]
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
#[schema(as = OOBVerifyRs)]
pub struct OobVerifyRs {
    #[serde(rename = "AlrtPkgId")]
    alrt_pkg_id: String,
    #[serde(rename = "RsStat")]
    rs_stat: OobStat,
    #[serde(rename = "UsrName", skip_serializing_if = "Option::is_none")]
    usr_name: Option<String>,
    /// `false` when the code went to a number that is not the user's phone on file.
    #[serde(rename = "PhoneNumOnFile", skip_serializing_if = "Option::is_none")]
    phone_on_file: Option<bool>,
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
    operation_id = "OOBVerify",
    security(("bearer" = ["validate"])),
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
pub(crate) async fn verify(
    caller: Result<Caller, Error>,
    alrt_pkg_id: &str,
    rq: JxRequest<OobVerifyRq>,
    service: &State<Arc<Service>>,
    limits: &State<Arc<Limits>>,
) -> Result<Jx<OobVerifyRs>, ApiFault> {
    let input =
        alrt_id(alrt_pkg_id).and_then(|alrt| Ok((alrt, zeroize::Zeroizing::new(rq.body?.otp))));
    operate(
        (rq.hdr, caller, Gate::limited(Scope::Validate, limits)),
        service,
        input,
        |s, ctx, (alrt, otp), now| s.verify_oob(ctx, &alrt, &otp, now),
        |v| OobVerifyRs {
            alrt_pkg_id: v.alrt_pkg_id,
            rs_stat: v.rs_stat,
            usr_name: v.usr_name,
            phone_on_file: v.off_file.then_some(false),
        },
    )
    .await
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
    operation_id = "OOBResend",
    security(("bearer" = ["validate"])),
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
pub(crate) async fn resend(
    caller: Result<Caller, Error>,
    alrt_pkg_id: &str,
    rq: JxRequest<HeaderRq>,
    service: &State<Arc<Service>>,
    limits: &State<Arc<Limits>>,
) -> Result<Jx<OobRs>, ApiFault> {
    let call = Call::admit(rq.hdr, caller, Gate::limited(Scope::Validate, limits))?;
    call.check(rq.body)?;
    let alrt = call.check(alrt_id(alrt_pkg_id))?;
    let ctx = call.context()?;
    let mut started = call
        .run(service, &ctx, move |s, ctx, now| {
            s.resend_oob(ctx, &alrt, now)
        })
        .await?;
    await_send(service, &ctx, &mut started).await;
    Ok(call.answer(OobRs::of(started, true)))
}

/// A session as an inquiry answers it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = OOBSessionRs)]
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
    #[schema(format = DateTime)]
    expires_at: String,
    #[serde(rename = "ResendRemain")]
    resends_left: u32,
    #[serde(rename = "UsrName", skip_serializing_if = "Option::is_none")]
    usr_name: Option<String>,
}

/// `GET /api/v1/oob/{AlrtPkgId}` — the state of a session and of its SMS.
#[utoipa::path(
    operation_id = "OOBStatInq",
    security(("bearer" = ["validate"])),
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
pub(crate) async fn session(
    hdr: JxHdr,
    caller: Result<Caller, Error>,
    alrt_pkg_id: &str,
    service: &State<Arc<Service>>,
) -> Result<Jx<OobSessionRs>, ApiFault> {
    operate(
        (hdr, caller, Scope::Validate),
        service,
        alrt_id(alrt_pkg_id),
        |s, ctx, alrt, _now| s.oob_session(ctx, &alrt),
        |v| OobSessionRs {
            alrt_pkg_id: v.alrt_pkg_id,
            mode: v.mode,
            state: v.state,
            send_stat: v.send_stat,
            phone_masked: v.phone_masked,
            expires_at: iso8601(v.expires_at),
            resends_left: v.resends_left,
            usr_name: v.usr_name,
        },
    )
    .await
}
