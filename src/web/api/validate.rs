//! `POST /api/v1/validate` — check a security code for a user or a token; a Locked answer
//! starts the SMS fallback (`OOB`) when the user has a phone.

use rocket::{post, routes, Route, State};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::envelope::{HasHeader, Jx, JxRequest, MsgRqHdr};
use super::fault::ApiFault;
use super::oob::{await_send, OobRs};
use super::openapi::{Answer, BodyFaults, Common, NotFound, TooMany, Unprocessable};
use super::{Call, Caller, Gate};
use crate::domain::api_keys::Scope;
use crate::domain::oob::Fallback;
use crate::domain::validate::{Decided, ValidateRequest, Validation};
use crate::domain::{Context, Error, Service};
use crate::types::{RsStat, RsStatRsn};
use crate::web::edge::iso8601;
use crate::web::limits::Limits;
use crate::web::metrics::Metrics;
use crate::web::parse::{parse_code, parse_token_id, parse_usr_name};

/// The validation route.
pub fn routes() -> Vec<Route> {
    routes![validate]
}

/// Validation request: `UsrName` or `TokenId` (or both) and the `Code`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MFATokenValidateRq)]
pub struct ValidateRq {
    #[serde(rename = "MsgRqHdr", default)]
    hdr: MsgRqHdr,
    #[serde(rename = "UsrName", default)]
    #[schema(
        pattern = "^[^\\s:\\x00-\\x1f\\x7f-\\x9f]([^:\\x00-\\x1f\\x7f-\\x9f]*[^\\s:\\x00-\\x1f\\x7f-\\x9f])?$",
        max_length = 128,
        example = "jdoe"
    )]
    usr_name: Option<String>,
    #[serde(rename = "TokenId", default)]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$", example = "TK-000123")]
    token_id: Option<String>,
    #[serde(rename = "Code")]
    #[schema(pattern = "^([0-9]{6}|[0-9]{8})$", example = "123456")]
    code: String,
}

impl HasHeader for ValidateRq {
    fn msg_rq_hdr(&self) -> &MsgRqHdr {
        &self.hdr
    }
}

/// Validation answer.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = MFATokenValidateRs)]
pub struct ValidateRs {
    #[serde(rename = "RsStat")]
    rs_stat: RsStat,
    #[serde(rename = "TokenId", skip_serializing_if = "Option::is_none")]
    token_id: Option<String>,
    #[serde(rename = "UsrName", skip_serializing_if = "Option::is_none")]
    usr_name: Option<String>,
    #[serde(rename = "LastTrnRcptId", skip_serializing_if = "Option::is_none")]
    receipt_id: Option<String>,
    #[serde(rename = "LastAuthenTimeDt", skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    last_authen_at: Option<String>,
    /// The SMS fallback started for a Locked answer (never with the OTP).
    #[serde(rename = "OOB", skip_serializing_if = "Option::is_none")]
    oob: Option<OobRs>,
    /// Why a Locked answer has no SMS fallback.
    #[serde(rename = "OOBRsn", skip_serializing_if = "Option::is_none")]
    oob_reason: Option<String>,
    /// tokend's reason for a Failed or Locked answer.
    #[serde(rename = "Custom", skip_serializing_if = "Option::is_none")]
    custom: Option<RsCustom>,
}

/// tokend's `Custom` element of a validation or activation answer: why it did not
/// succeed, so the consumer can tell "wait for the next code" (`Replayed`) from "wrong
/// code" (`WrongCode`). What the end user is shown stays the consumer's choice.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RsCustom {
    #[serde(rename = "RsStatRsn")]
    reason: RsStatRsn,
}

impl RsCustom {
    /// The element for a reason, absent on success.
    pub fn of(reason: Option<RsStatRsn>) -> Option<RsCustom> {
        reason.map(|reason| RsCustom { reason })
    }
}

fn validate_request(rq: ValidateRq) -> Result<ValidateRequest, Error> {
    Ok(ValidateRequest {
        usr_name: rq.usr_name.as_deref().map(parse_usr_name).transpose()?,
        token_id: rq
            .token_id
            .as_deref()
            .map(|t| parse_token_id("TokenId", t))
            .transpose()?,
        code: parse_code("Code", &rq.code)?,
    })
}

/// `POST /api/v1/validate` — check a code; 200 whatever the outcome (`RsStat`).
#[utoipa::path(
    operation_id = "MFATokenValidate",
    security(("bearer" = ["validate"])),
    context_path = "/api/v1",
    tag = "validate",
    request_body = ValidateRq,
    responses(
        (status = 200, description = "`RsStat` Success (with a new `LastTrnRcptId`), Failed, or Locked (with the SMS fallback `OOB`, or `OOBRsn`)", body = Answer<ValidateRs>),
        BodyFaults, Unprocessable, NotFound, TooMany, Common,
    )
)]
#[post("/validate", data = "<rq>")]
pub(crate) async fn validate(
    caller: Result<Caller, Error>,
    rq: JxRequest<ValidateRq>,
    service: &State<Arc<Service>>,
    metrics: &State<Arc<Metrics>>,
    limits: &State<Arc<Limits>>,
) -> Result<Jx<ValidateRs>, ApiFault> {
    let call = Call::admit(rq.hdr, caller, Gate::limited(Scope::Validate, limits))?;
    let request = call.check(rq.body.and_then(validate_request))?;
    let ctx = call.context()?;
    // Per user of one institution: the same UsrName in another is another user.
    let inst = service.institution(&ctx);
    let who = match (&request.usr_name, &request.token_id) {
        (Some(usr), _) => format!("u:{inst}:{}", usr.as_str()),
        (None, Some(token)) => format!("t:{}", token.as_str()),
        (None, None) => String::new(),
    };
    limits
        .validation(&call.caller().name, &who)
        .map_err(|l| ApiFault::limited(call.hdr(), l))?;
    let key_name = call.caller().name.clone();
    let (v, fallback) = validate_on(&call, service, &ctx, request).await?;
    metrics.validation(v.rs_stat);
    if let Some(steps) = v.drift_steps {
        metrics.drift(steps);
    }
    if v.rs_stat != RsStat::Success {
        limits.failed(&key_name);
    }
    let (oob, oob_reason) = match fallback {
        Fallback::NotNeeded => (None, None),
        Fallback::Unavailable(why) => (None, Some(why.to_owned())),
        Fallback::Held(until) => {
            metrics.sim_swap_held("lock");
            (None, Some(held_reason(until)))
        }
        Fallback::Started(mut started) => {
            await_send(service, &ctx, &mut started).await;
            (Some(OobRs::of(started, false)), None)
        }
    };
    let body = ValidateRs {
        rs_stat: v.rs_stat,
        token_id: v.token_id,
        usr_name: v.usr_name,
        receipt_id: v.receipt_id,
        last_authen_at: v.last_authen_at.map(iso8601),
        oob,
        oob_reason,
        custom: RsCustom::of(v.reason),
    };
    Ok(call.answer(body))
}

/// Runs a validation. Where reads are in process (SQLite), its reads and HMACs run on this
/// async thread and its one write is awaited from the writer thread, so a success or a
/// wrong code costs one hand-off (to the writer and back) and never occupies a blocking
/// thread (issue 30 item 4). On the blocking pool, as one call: the outcomes the domain
/// does not split (`Decided::Elsewhere`, a success that lost a race), the SMS fallback of
/// a Locked answer, and everything on PostgreSQL, whose reads are network round trips on
/// a blocking driver.
async fn validate_on(
    call: &Call,
    service: &Arc<Service>,
    ctx: &Context,
    request: ValidateRequest,
) -> Result<(Validation, Fallback), ApiFault> {
    if service.reads_in_process() {
        let now = call.now(service, ctx)?;
        if let Decided::Write(pending) =
            call.check(service.decide_validation(ctx, &request, now))?
        {
            if let Some(v) = call.check(service.write_decided(pending).await)? {
                if v.rs_stat != RsStat::Locked {
                    return Ok((v, Fallback::NotNeeded));
                }
                return call
                    .run(service, ctx, move |s, ctx, _| {
                        s.with_fallback(ctx, &request, v, now)
                    })
                    .await;
            }
        }
    }
    call.run(service, ctx, move |s, ctx, now| {
        s.validate_with_fallback(ctx, &request, now)
    })
    .await
}

/// `OOBRsn` when the SIM-swap guard holds the fallback: the number changed recently, and
/// when the hold ends.
pub fn held_reason(until: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "SMS fallback held: the phone number on file changed recently (SIM-swap guard); the hold ends at {}",
        iso8601(until)
    )
}
