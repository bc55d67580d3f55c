//! `POST /api/v1/inquiry` — jXchange MFATokenInq.

use rocket::{post, routes, Route, State};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::envelope::{HasHeader, Jx, JxRequest, MsgRqHdr};
use super::fault::ApiFault;
use super::openapi::{Answer, BodyFaults, Common, NotFound};
use super::records::{Record, Records};
use super::{operate_on, Caller, Runs};
use crate::domain::api_keys::Scope;
use crate::domain::inquiry::{BindingRecord, Inquiry, InquiryRequest};
use crate::domain::{Error, Service};
use crate::types::{ActIntent, MfaTokenUsrStat, UsrTokenStat};
use crate::web::edge::iso8601;
use crate::web::parse::{parse_token_id, parse_usr_name};

/// The inquiry route.
pub fn routes() -> Vec<Route> {
    routes![inquire]
}

/// jXchange MFATokenInqRq.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MFATokenInqRq)]
pub struct MfaTokenInqRq {
    #[serde(rename = "MsgRqHdr", default)]
    hdr: MsgRqHdr,
    #[serde(rename = "TokenId")]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$", example = "TK-000123")]
    token_id: String,
    #[serde(rename = "UsrName", default)]
    #[schema(
        pattern = "^[^\\s:\\x00-\\x1f\\x7f-\\x9f]([^:\\x00-\\x1f\\x7f-\\x9f]*[^\\s:\\x00-\\x1f\\x7f-\\x9f])?$",
        max_length = 128,
        example = "jdoe"
    )]
    usr_name: Option<String>,
    #[serde(rename = "ActIntent", default)]
    intent: Option<ActIntent>,
    #[serde(rename = "Custom", default)]
    #[schema(value_type = Option<Object>)]
    _custom: Option<serde_json::Value>,
}

impl HasHeader for MfaTokenInqRq {
    const USR_CHOICE: bool = true;

    fn msg_rq_hdr(&self) -> &MsgRqHdr {
        &self.hdr
    }
}

/// jXchange MFATokenInqInfoRec.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = MFATokenInqRec, xml(name = "MFATokenInqInfoRec"))]
pub struct MfaTokenInqInfoRec {
    #[serde(rename = "UsrName")]
    #[schema(
        pattern = "^[^\\s:\\x00-\\x1f\\x7f-\\x9f]([^:\\x00-\\x1f\\x7f-\\x9f]*[^\\s:\\x00-\\x1f\\x7f-\\x9f])?$",
        max_length = 128,
        example = "jdoe"
    )]
    usr_name: String,
    #[serde(rename = "MFATokenUsrStat")]
    status: MfaTokenUsrStat,
    #[serde(rename = "UsrTokenDesc", skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(rename = "LastAuthenTimeDt", skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    last_authen_at: Option<String>,
    #[serde(rename = "LastTrnRcptId", skip_serializing_if = "Option::is_none")]
    last_receipt_id: Option<String>,
    /// Always on the JSON API; on SOAP lifted into the answer's `Custom/BindingArray`
    /// (`MfaTokenInqRs::lift_binding_extras`).
    #[serde(rename = "Custom", skip_serializing_if = "Option::is_none")]
    #[schema(required = true)]
    custom: Option<BindingCustom>,
}

impl Record for MfaTokenInqInfoRec {
    const ITEM: &'static str = "MFATokenInqInfoRec";
}

/// tokend's help-desk facts about a binding (jXchange `Custom_CType`).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(xml(name = "BindingRec"))]
pub struct BindingCustom {
    /// The binding's user: only where the facts are lifted out of its record (SOAP).
    #[serde(rename = "UsrName", skip_serializing_if = "Option::is_none")]
    usr_name: Option<String>,
    #[serde(rename = "FailureCount")]
    failure_count: i32,
    #[serde(rename = "LockedDt", skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    locked_at: Option<String>,
    #[serde(rename = "LockReason", skip_serializing_if = "Option::is_none")]
    lock_reason: Option<String>,
    #[serde(rename = "AutoUnlockDt", skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    unlocks_at: Option<String>,
}

/// tokend's facts about the token (jXchange `Custom_CType`).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = TokenCustom)]
pub struct TokenCustom {
    #[serde(rename = "TokenType")]
    #[schema(value_type = crate::types::TokenType)]
    token_type: String,
    #[serde(rename = "Algorithm")]
    #[schema(value_type = crate::types::Algorithm)]
    algorithm: String,
    #[serde(rename = "Digits")]
    #[schema(value_type = crate::types::Digits)]
    digits: i32,
    #[serde(rename = "Period")]
    #[schema(value_type = crate::types::Period)]
    period: i32,
    #[serde(rename = "DriftSteps")]
    drift: i32,
    /// SOAP only: each binding's facts, with its `UsrName` (the seed's record type has
    /// no extension point, the message's `Custom` is one).
    #[serde(rename = "BindingArray", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<BindingCustom>>)]
    bindings: Option<Records<BindingCustom>>,
}

impl Record for BindingCustom {
    const ITEM: &'static str = "BindingRec";
}

/// jXchange MFATokenInqInfo.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = MFATokenInqInfo)]
pub struct MfaTokenInqInfo {
    #[serde(rename = "UsrTokenStat")]
    status: UsrTokenStat,
    #[serde(rename = "MFATokenInqArray")]
    #[schema(value_type = Vec<MfaTokenInqInfoRec>)]
    records: Records<MfaTokenInqInfoRec>,
}

/// jXchange MFATokenInqRs.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = MFATokenInqRs)]
pub struct MfaTokenInqRs {
    #[serde(rename = "UsrName", skip_serializing_if = "Option::is_none")]
    usr_name: Option<String>,
    #[serde(rename = "TokenId")]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$", example = "TK-000123")]
    token_id: String,
    #[serde(rename = "ActIntent")]
    intent: ActIntent,
    #[serde(rename = "ActIntentKey", skip_serializing_if = "Option::is_none")]
    intent_key: Option<String>,
    #[serde(rename = "MFATokenInqInfo")]
    info: MfaTokenInqInfo,
    #[serde(rename = "Custom")]
    custom: TokenCustom,
}

impl MfaTokenInqRs {
    /// The SOAP placement of the per-binding facts: out of each `MFATokenInqInfoRec`
    /// (exactly the seed's record, which has no extension point) into the message's
    /// `Custom/BindingArray/BindingRec` (`Custom_CType`, jXchange's extension point), by
    /// `UsrName`. The JSON API keeps them in each record's `Custom`.
    pub fn lift_binding_extras(&mut self) {
        let lifted: Records<BindingCustom> = (self.info.records.0.iter_mut())
            .filter_map(|rec| {
                let mut facts = rec.custom.take()?;
                facts.usr_name = Some(rec.usr_name.clone());
                Some(facts)
            })
            .collect();
        if !lifted.0.is_empty() {
            self.custom.bindings = Some(lifted);
        }
    }
}

fn record(r: BindingRecord) -> MfaTokenInqInfoRec {
    MfaTokenInqInfoRec {
        usr_name: r.usr_name,
        status: r.status,
        description: r.description,
        last_authen_at: r.last_authen_at.map(iso8601),
        last_receipt_id: r.last_receipt_id,
        custom: Some(BindingCustom {
            usr_name: None,
            failure_count: r.failure_count,
            locked_at: r.locked_at.map(iso8601),
            lock_reason: r.lock_reason,
            unlocks_at: r.unlocks_at.map(iso8601),
        }),
    }
}

/// The inquiry answer of a domain inquiry (also what modify answers).
pub fn inquiry_rs(inq: Inquiry) -> MfaTokenInqRs {
    MfaTokenInqRs {
        usr_name: inq.usr_name.map(|u| u.to_string()),
        token_id: inq.token_id.to_string(),
        intent: inq.intent,
        intent_key: inq.intent_key,
        info: MfaTokenInqInfo {
            status: inq.token_status,
            records: inq.records.into_iter().map(record).collect(),
        },
        custom: TokenCustom {
            token_type: inq.facts.token_type.to_string(),
            algorithm: inq.facts.algorithm.to_string(),
            digits: inq.facts.digits,
            period: inq.facts.period,
            drift: inq.facts.drift,
            bindings: None,
        },
    }
}

fn inquiry_request(rq: MfaTokenInqRq) -> Result<InquiryRequest, Error> {
    Ok(InquiryRequest {
        token_id: parse_token_id("TokenId", &rq.token_id)?,
        // The seed: "Consumers not enrolled in JHA IMS should submit the hardware or
        // software security token identifier as the User Name": a UsrName equal to the
        // TokenId names the token, not a user, so it filters nothing.
        usr_name: rq
            .usr_name
            .as_deref()
            .filter(|u| *u != rq.token_id)
            .map(parse_usr_name)
            .transpose()?,
        intent: rq.intent.unwrap_or(ActIntent::ReadOnly),
    })
}

/// `POST /api/v1/inquiry` — jXchange MFATokenInq; `ActIntentKey` for Upd and Dlt.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "inquiry",
    operation_id = "MFATokenInq",
    security(("bearer" = ["manage"])),
    request_body = MfaTokenInqRq,
    responses(
        (status = 200, description = "The token and its bindings", body = Answer<MfaTokenInqRs>),
        BodyFaults, NotFound, Common,
    )
)]
#[post("/inquiry", data = "<rq>")]
pub(crate) async fn inquire(
    caller: Result<Caller, Error>,
    rq: JxRequest<MfaTokenInqRq>,
    service: &State<Arc<Service>>,
) -> Result<Jx<MfaTokenInqRs>, ApiFault> {
    // Read-only whatever the intent (an intent's key is an HMAC of what was read).
    operate_on(
        Runs::Reading,
        (rq.hdr, caller, Scope::Manage),
        service,
        rq.body.and_then(inquiry_request),
        |s, ctx, request, _now| s.inquire(ctx, request),
        inquiry_rs,
    )
    .await
}
