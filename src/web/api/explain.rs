//! `POST /api/v1/explain` — "explain this failure" for the help desk (scope `manage`):
//! the last attempts of a user or a token with their answers and reasons, and for a wrong
//! code whether it belongs to a clock running fast or slow. Read-only: nothing is
//! accepted, no failure counted.

use rocket::{post, routes, Route, State};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::envelope::{HasHeader, Jx, JxRequest, MsgRqHdr};
use super::fault::ApiFault;
use super::openapi::{Answer, BodyFaults, Common, NotFound};
use super::records::{Record, Records};
use super::{operate, Caller};
use crate::domain::api_keys::Scope;
use crate::domain::inquiry::BindingRecord;
use crate::domain::phones::explain::{
    Attempt, CodeFinding, ExplainRequest, Explanation, DEFAULT_ATTEMPTS, MAX_ATTEMPTS,
};
use crate::domain::{Error, Fault, Service};
use crate::types::{MfaTokenUsrStat, UsrTokenStat};
use crate::web::edge::iso8601;
use crate::web::parse::{parse_token_id, parse_usr_name};

/// The explain route.
pub fn routes() -> Vec<Route> {
    routes![explain]
}

/// Whom to explain: `UsrName` or `TokenId`, and how many attempts (`Cnt`, 1–50, default 10).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainRq {
    #[serde(rename = "MsgRqHdr", default)]
    hdr: MsgRqHdr,
    #[serde(rename = "UsrName", default)]
    usr_name: Option<String>,
    #[serde(rename = "TokenId", default)]
    token_id: Option<String>,
    #[serde(rename = "Cnt", default)]
    #[schema(minimum = 1, maximum = 50)]
    count: Option<i64>,
}

impl HasHeader for ExplainRq {
    fn msg_rq_hdr(&self) -> &MsgRqHdr {
        &self.hdr
    }
}

/// The `Finding` values `code_rec` writes, as an enumeration for generated clients.
fn finding_values() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["Offset", "NoMatch", "NotKept", "NotYetValid"]))
        .build()
}

/// What the kept hash of a wrong code says.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CodeRec {
    /// `Offset`, `NoMatch`, `NotKept` or `NotYetValid` (a step not reached yet: no offset).
    #[serde(rename = "Finding")]
    #[schema(schema_with = finding_values)]
    finding: &'static str,
    /// For `Offset`: the steps from the attempt's time (positive: the token runs fast).
    #[serde(rename = "OffsetSteps", skip_serializing_if = "Option::is_none")]
    offset_steps: Option<i64>,
    /// For `Offset`: the same in seconds.
    #[serde(rename = "OffsetSecs", skip_serializing_if = "Option::is_none")]
    offset_secs: Option<i64>,
    /// The help desk's words.
    #[serde(rename = "Advice")]
    advice: String,
}

/// One attempt.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(xml(name = "AttemptRec"))]
pub struct AttemptRec {
    #[serde(rename = "AttemptDt", skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    at: Option<String>,
    #[serde(rename = "Action")]
    action: String,
    #[serde(rename = "TokenId", skip_serializing_if = "Option::is_none")]
    token_id: Option<String>,
    #[serde(rename = "UsrName", skip_serializing_if = "Option::is_none")]
    usr_name: Option<String>,
    #[serde(rename = "Result")]
    result: String,
    #[serde(rename = "Reason")]
    reason: String,
    #[serde(rename = "Code", skip_serializing_if = "Option::is_none")]
    code: Option<CodeRec>,
}

/// A binding's state now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(xml(name = "BindingRec"))]
pub struct ExplainBindingRec {
    #[serde(rename = "UsrName")]
    usr_name: String,
    #[serde(rename = "MFATokenUsrStat")]
    status: MfaTokenUsrStat,
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

/// A token's state now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(xml(name = "TokenRec"))]
pub struct ExplainTokenRec {
    #[serde(rename = "TokenId")]
    token_id: String,
    #[serde(rename = "UsrTokenStat")]
    status: UsrTokenStat,
    #[serde(rename = "DriftSteps")]
    drift: i32,
    #[serde(rename = "Bindings")]
    #[schema(value_type = Vec<ExplainBindingRec>)]
    bindings: Records<ExplainBindingRec>,
}

/// The explanation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExplainRs {
    #[serde(rename = "AttemptArray")]
    #[schema(value_type = Vec<AttemptRec>)]
    attempts: Records<AttemptRec>,
    #[serde(rename = "TokenArray")]
    #[schema(value_type = Vec<ExplainTokenRec>)]
    tokens: Records<ExplainTokenRec>,
}

impl Record for AttemptRec {
    const ITEM: &'static str = "AttemptRec";
}

impl Record for ExplainTokenRec {
    const ITEM: &'static str = "TokenRec";
}

impl Record for ExplainBindingRec {
    const ITEM: &'static str = "BindingRec";
}

fn code_rec(f: CodeFinding) -> CodeRec {
    let advice = f.advice();
    let (finding, offset_steps, offset_secs) = match f {
        CodeFinding::Offset { steps, period } => ("Offset", Some(steps), Some(steps * period)),
        CodeFinding::NoMatch => ("NoMatch", None, None),
        CodeFinding::NotKept => ("NotKept", None, None),
        CodeFinding::NotYetValid => ("NotYetValid", None, None),
    };
    CodeRec {
        finding,
        offset_steps,
        offset_secs,
        advice,
    }
}

fn attempt_rec(a: Attempt) -> AttemptRec {
    AttemptRec {
        at: a.at.map(iso8601),
        action: a.action,
        token_id: a.token_id,
        usr_name: a.usr_name,
        result: a.result,
        reason: a.reason,
        code: a.code.map(code_rec),
    }
}

fn binding_rec(r: BindingRecord) -> ExplainBindingRec {
    ExplainBindingRec {
        usr_name: r.usr_name,
        status: r.status,
        failure_count: r.failure_count,
        locked_at: r.locked_at.map(iso8601),
        lock_reason: r.lock_reason,
        unlocks_at: r.unlocks_at.map(iso8601),
    }
}

fn explain_rs(e: Explanation) -> ExplainRs {
    ExplainRs {
        attempts: e.attempts.into_iter().map(attempt_rec).collect(),
        tokens: e
            .tokens
            .into_iter()
            .map(|t| ExplainTokenRec {
                token_id: t.token_id,
                status: t.status,
                drift: t.drift,
                bindings: t.records.into_iter().map(binding_rec).collect(),
            })
            .collect(),
    }
}

fn explain_request(rq: ExplainRq) -> Result<ExplainRequest, Error> {
    let count = match rq.count {
        None => DEFAULT_ATTEMPTS,
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_ATTEMPTS).contains(n))
            .ok_or_else(|| {
                Error::at(Fault::InvalidValue, "Cnt")
                    .with_value(n.to_string())
                    .with_detail("(1 to 50)")
            })?,
    };
    Ok(ExplainRequest {
        usr_name: rq.usr_name.as_deref().map(parse_usr_name).transpose()?,
        token_id: rq
            .token_id
            .as_deref()
            .map(|t| parse_token_id("TokenId", t))
            .transpose()?,
        count,
    })
}

/// `POST /api/v1/explain` — explains the last attempts of a user or token.
#[utoipa::path(
    operation_id = "MFAExplainInq",
    security(("bearer" = ["manage"])),
    context_path = "/api/v1",
    tag = "users",
    request_body = ExplainRq,
    responses(
        (status = 200, description = "The last attempts, newest first, with reasons; the tokens' state now", body = Answer<ExplainRs>),
        BodyFaults, NotFound, Common,
    )
)]
#[post("/explain", data = "<rq>")]
pub(crate) async fn explain(
    caller: Result<Caller, Error>,
    rq: JxRequest<ExplainRq>,
    service: &State<Arc<Service>>,
) -> Result<Jx<ExplainRs>, ApiFault> {
    operate(
        (rq.hdr, caller, Scope::Manage),
        service,
        rq.body.and_then(explain_request),
        |s, ctx, request, now| s.explain(ctx, &request, now),
        explain_rs,
    )
    .await
}
