//! Token lifecycle calls: modify (jXchange MFATokenMod), delete, resync. Each needs the
//! ActIntentKey of a fresh inquiry (Upd for modify, Dlt for delete), except resync, which
//! proves possession with two consecutive codes.

use rocket::{post, routes, Route, State};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::envelope::{HasHeader, Jx, JxRequest, MsgRqHdr};
use super::fault::ApiFault;
use super::inquiry::{inquiry_rs, MfaTokenInqRs};
use super::openapi::{Answer, BodyFaults, Common, Conflict, NotFound, Unprocessable};
use super::{operate, Caller};
use crate::domain::api_keys::Scope;
use crate::domain::lifecycle::ModifyRequest;
use crate::domain::temp_code::{TempCodeRequest, DEFAULT_TEMP_CODE_SECS};
use crate::domain::{Error, Fault, Service};
use crate::types::{MfaTokenUsrStat, RsStat, UsrTokenStat};
use crate::web::edge::iso8601;
use crate::web::parse::{parse_code, parse_token_id, parse_usr_name};

/// The lifecycle routes.
pub fn routes() -> Vec<Route> {
    routes![modify, delete, resync, temp_code]
}

/// jXchange MFATokenModRq.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MFATokenModRq)]
pub struct MfaTokenModRq {
    #[serde(rename = "MsgRqHdr", default)]
    hdr: MsgRqHdr,
    #[serde(rename = "ActIntentKey", default)]
    #[schema(value_type = String, required = true, min_length = 1)]
    intent_key: Option<String>,
    #[serde(rename = "UsrTokenStat", default)]
    token_status: Option<UsrTokenStat>,
    #[serde(rename = "UsrName", default)]
    #[schema(
        pattern = "^[^\\s:\\x00-\\x1f\\x7f-\\x9f]([^:\\x00-\\x1f\\x7f-\\x9f]*[^\\s:\\x00-\\x1f\\x7f-\\x9f])?$",
        max_length = 128,
        example = "jdoe"
    )]
    usr_name: Option<String>,
    #[serde(rename = "MFATokenUsrStat", default)]
    binding_status: Option<MfaTokenUsrStat>,
    #[serde(rename = "UsrTokenDesc", default)]
    #[schema(max_length = 256)]
    description: Option<String>,
    #[serde(rename = "Unbind", default)]
    unbind: bool,
    #[serde(rename = "AddUsrName", default)]
    #[schema(
        pattern = "^[^\\s:\\x00-\\x1f\\x7f-\\x9f]([^:\\x00-\\x1f\\x7f-\\x9f]*[^\\s:\\x00-\\x1f\\x7f-\\x9f])?$",
        max_length = 128,
        example = "jdoe"
    )]
    add_usr_name: Option<String>,
    #[serde(rename = "Custom", default)]
    #[schema(value_type = Option<Object>)]
    _custom: Option<serde_json::Value>,
}

impl HasHeader for MfaTokenModRq {
    fn msg_rq_hdr(&self) -> &MsgRqHdr {
        &self.hdr
    }
}

fn required_key(key: Option<String>) -> Result<String, Error> {
    key.filter(|k| !k.is_empty())
        .ok_or_else(|| Error::at(Fault::FieldRequired, "ActIntentKey"))
}

fn modify_request(rq: MfaTokenModRq) -> Result<ModifyRequest, Error> {
    if rq
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 256)
    {
        return Err(
            Error::at(Fault::InvalidValue, "UsrTokenDesc").with_detail("(at most 256 characters)")
        );
    }
    Ok(ModifyRequest {
        intent_key: required_key(rq.intent_key)?,
        token_status: rq.token_status,
        usr_name: rq.usr_name.as_deref().map(parse_usr_name).transpose()?,
        binding_status: rq.binding_status,
        description: rq.description,
        unbind: rq.unbind,
        add_usr_name: rq.add_usr_name.as_deref().map(parse_usr_name).transpose()?,
    })
}

/// `POST /api/v1/tokens/{TokenId}/modify` — answers the new state, as an inquiry does.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "tokens",
    params(("token_id" = String, Path, description = "TokenId")),
    operation_id = "MFATokenMod",
    security(("bearer" = ["manage"])),
    request_body = MfaTokenModRq,
    responses(
        (status = 200, description = "The new state, as an inquiry answers it", body = Answer<MfaTokenInqRs>),
        BodyFaults, NotFound, Conflict, Common,
    )
)]
#[post("/tokens/<token_id>/modify", data = "<rq>")]
pub(crate) async fn modify(
    caller: Result<Caller, Error>,
    token_id: &str,
    rq: JxRequest<MfaTokenModRq>,
    service: &State<Arc<Service>>,
) -> Result<Jx<MfaTokenInqRs>, ApiFault> {
    let input = parse_token_id("TokenId", token_id)
        .and_then(|token| Ok((token, rq.body.and_then(modify_request)?)));
    operate(
        (rq.hdr, caller, Scope::Manage),
        service,
        input,
        |s, ctx, (token, request), now| s.modify(ctx, &token, &request, now),
        inquiry_rs,
    )
    .await
}

/// Delete request: the key of an inquiry with ActIntent Dlt.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MFATokenDelRq)]
pub struct DeleteRq {
    #[serde(rename = "MsgRqHdr", default)]
    hdr: MsgRqHdr,
    #[serde(rename = "ActIntentKey", default)]
    #[schema(value_type = String, required = true, min_length = 1)]
    intent_key: Option<String>,
}

impl HasHeader for DeleteRq {
    fn msg_rq_hdr(&self) -> &MsgRqHdr {
        &self.hdr
    }
}

/// Delete and resync answers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StatusRs {
    #[serde(rename = "TokenId")]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$", example = "TK-000123")]
    token_id: String,
    #[serde(rename = "UsrTokenStat", skip_serializing_if = "Option::is_none")]
    status: Option<UsrTokenStat>,
    #[serde(rename = "RsStat", skip_serializing_if = "Option::is_none")]
    rs_stat: Option<RsStat>,
    #[serde(rename = "DriftSteps", skip_serializing_if = "Option::is_none")]
    drift: Option<i32>,
}

/// `POST /api/v1/tokens/{TokenId}/delete` — status Del, seed destroyed, history kept.
#[utoipa::path(
    operation_id = "MFATokenDel",
    security(("bearer" = ["manage"])),
    context_path = "/api/v1",
    tag = "tokens",
    params(("token_id" = String, Path, description = "TokenId")),
    request_body = DeleteRq,
    responses(
        (status = 200, description = "`UsrTokenStat` Del", body = Answer<StatusRs>),
        BodyFaults, NotFound, Conflict, Common,
    )
)]
#[post("/tokens/<token_id>/delete", data = "<rq>")]
pub(crate) async fn delete(
    caller: Result<Caller, Error>,
    token_id: &str,
    rq: JxRequest<DeleteRq>,
    service: &State<Arc<Service>>,
) -> Result<Jx<StatusRs>, ApiFault> {
    let input = parse_token_id("TokenId", token_id)
        .and_then(|token| Ok((token, required_key(rq.body?.intent_key)?)));
    operate(
        (rq.hdr, caller, Scope::Manage),
        service,
        input,
        |s, ctx, (token, key), now| Ok((s.delete(ctx, &token, &key, now)?, token)),
        |(status, token)| StatusRs {
            token_id: token.to_string(),
            status: Some(status),
            rs_stat: None,
            drift: None,
        },
    )
    .await
}

/// Resync request: two consecutive codes.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MFATokenResyncRq)]
pub struct ResyncRq {
    #[serde(rename = "MsgRqHdr", default)]
    hdr: MsgRqHdr,
    #[serde(rename = "Code1")]
    #[schema(pattern = "^([0-9]{6}|[0-9]{8})$", example = "123456")]
    code1: String,
    #[serde(rename = "Code2")]
    #[schema(pattern = "^([0-9]{6}|[0-9]{8})$", example = "123456")]
    code2: String,
}

impl HasHeader for ResyncRq {
    fn msg_rq_hdr(&self) -> &MsgRqHdr {
        &self.hdr
    }
}

/// `POST /api/v1/tokens/{TokenId}/resync` — store the drift of a token's clock.
#[utoipa::path(
    operation_id = "MFATokenResync",
    security(("bearer" = ["manage"])),
    context_path = "/api/v1",
    tag = "tokens",
    params(("token_id" = String, Path, description = "TokenId")),
    request_body = ResyncRq,
    responses(
        (status = 200, description = "`RsStat` and the stored `DriftSteps`", body = Answer<StatusRs>),
        BodyFaults, Unprocessable, NotFound, Conflict, Common,
    )
)]
#[post("/tokens/<token_id>/resync", data = "<rq>")]
pub(crate) async fn resync(
    caller: Result<Caller, Error>,
    token_id: &str,
    rq: JxRequest<ResyncRq>,
    service: &State<Arc<Service>>,
) -> Result<Jx<StatusRs>, ApiFault> {
    let input = parse_token_id("TokenId", token_id).and_then(|token| {
        let b = rq.body?;
        Ok((
            token,
            parse_code("Code1", &b.code1)?,
            parse_code("Code2", &b.code2)?,
        ))
    });
    operate(
        (rq.hdr, caller, Scope::Manage),
        service,
        input,
        |s, ctx, (token, c1, c2), now| Ok((s.resync(ctx, &token, &c1, &c2, now)?, token)),
        |(done, token)| StatusRs {
            token_id: token.to_string(),
            status: None,
            rs_stat: Some(done.rs_stat),
            drift: Some(done.drift),
        },
    )
    .await
}

/// jXchange MFATokenTempPswdInq request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MFATokenTempPswdInqRq)]
pub struct TempPswdRq {
    #[serde(rename = "MsgRqHdr", default)]
    hdr: MsgRqHdr,
    #[serde(rename = "UsrName")]
    #[schema(
        pattern = "^[^\\s:\\x00-\\x1f\\x7f-\\x9f]([^:\\x00-\\x1f\\x7f-\\x9f]*[^\\s:\\x00-\\x1f\\x7f-\\x9f])?$",
        max_length = 128,
        example = "jdoe"
    )]
    usr_name: String,
    #[serde(rename = "ExpSec", default)]
    #[schema(minimum = 1, maximum = 604800)]
    exp_secs: Option<u64>,
    #[serde(rename = "OneTime", default)]
    one_time: Option<bool>,
}

impl HasHeader for TempPswdRq {
    fn msg_rq_hdr(&self) -> &MsgRqHdr {
        &self.hdr
    }
}

/// jXchange MFATokenTempPswdInq answer. `TempPswd` is shown this once.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = MFATokenTempPswdInqRs)]
pub struct TempPswdRs {
    #[serde(rename = "UsrName")]
    #[schema(
        pattern = "^[^\\s:\\x00-\\x1f\\x7f-\\x9f]([^:\\x00-\\x1f\\x7f-\\x9f]*[^\\s:\\x00-\\x1f\\x7f-\\x9f])?$",
        max_length = 128,
        example = "jdoe"
    )]
    usr_name: String,
    #[serde(rename = "TempPswd")]
    #[schema(value_type = String)]
    code: zeroize::Zeroizing<String>,
    #[serde(rename = "ExpDt")]
    #[schema(format = DateTime)]
    expires_at: String,
    #[serde(rename = "OneTime")]
    one_time: bool,
}

/// `POST /api/v1/tempcode` — a temporary code for a user whose token is lost.
#[utoipa::path(
    context_path = "/api/v1",
    tag = "tokens",
    operation_id = "MFATokenTempPswdInq",
    security(("bearer" = ["manage"])),
    request_body = TempPswdRq,
    responses(
        (status = 200, description = "The temporary code, shown this once", body = Answer<TempPswdRs>),
        BodyFaults, NotFound, Common,
    )
)]
#[post("/tempcode", data = "<rq>")]
pub(crate) async fn temp_code(
    caller: Result<Caller, Error>,
    rq: JxRequest<TempPswdRq>,
    service: &State<Arc<Service>>,
) -> Result<Jx<TempPswdRs>, ApiFault> {
    let input = rq.body.and_then(|b| {
        Ok(TempCodeRequest {
            usr_name: parse_usr_name(&b.usr_name)?,
            exp_secs: b.exp_secs.unwrap_or(DEFAULT_TEMP_CODE_SECS),
            one_time: b.one_time.unwrap_or(true),
        })
    });
    operate(
        (rq.hdr, caller, Scope::Manage),
        service,
        input,
        |s, ctx, request, now| s.issue_temp_code(ctx, &request, now),
        |issued| TempPswdRs {
            usr_name: issued.usr_name.to_string(),
            code: issued.code,
            expires_at: iso8601(issued.expires_at),
            one_time: issued.one_time,
        },
    )
    .await
}
