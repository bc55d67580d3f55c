//! Users and their phones (issue 17), scope `manage`:
//! `POST /api/v1/users` (create, optional phone), `GET /api/v1/users/{UsrName}` (the
//! "MFA user" view: masked phone, `PhoneChgDt`, the SIM-swap hold, every token with its
//! states), `POST /api/v1/users/{UsrName}/phone` (change or remove the phone under the
//! view's `ActIntentKey`), `POST /api/v1/users/{UsrName}/hold/lift` (lift the SIM-swap
//! hold, with a reason).

use rocket::{get, post, routes, Route, State};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::envelope::{HasHeader, Jx, JxHdr, JxRequest, MsgRqHdr};
use super::fault::ApiFault;
use super::openapi::{
    Answer, BadQuery, BodyFaults, Common, Conflict, InstRtIdQuery, NotFound, Unprocessable,
};
use super::records::{Record, Records};
use super::{operate, Caller};
use crate::domain::api_keys::Scope;
use crate::domain::phones::{PhoneChange, UserView};
use crate::domain::{Error, Fault, Service};
use crate::types::{ActIntent, MfaTokenUsrStat, UsrTokenStat};
use crate::web::edge::iso8601;
use crate::web::parse::{parse_phone, parse_usr_name};

/// The user routes.
pub fn routes() -> Vec<Route> {
    routes![create, read, phone, lift_hold]
}

/// Creates a user: `UsrName`, and optionally the phone for the SMS fallback.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UsrAddRq)]
pub struct UsrAddRq {
    #[serde(rename = "MsgRqHdr", default)]
    hdr: MsgRqHdr,
    #[serde(rename = "UsrName")]
    #[schema(
        max_length = 128,
        pattern = "^[^\\s:\\x00-\\x1f\\x7f-\\x9f]([^:\\x00-\\x1f\\x7f-\\x9f]*[^\\s:\\x00-\\x1f\\x7f-\\x9f])?$",
        example = "jdoe"
    )]
    usr_name: String,
    #[serde(rename = "PhoneNum", default)]
    #[schema(pattern = "^[0-9]{10}$", example = "4175556652")]
    phone: Option<String>,
}

impl HasHeader for UsrAddRq {
    fn msg_rq_hdr(&self) -> &MsgRqHdr {
        &self.hdr
    }
}

/// Changes (`ActIntent` Upd, the default, with `PhoneNum`) or removes (`Dlt`) the phone.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UsrPhoneModRq)]
pub struct UsrPhoneModRq {
    #[serde(rename = "MsgRqHdr", default)]
    hdr: MsgRqHdr,
    /// From `GET /users/{UsrName}`; stale after any phone change (fault 7031). Required:
    /// a missing or empty key is refused (3103) by `phone_change`, which reads the
    /// element itself (serde's `default`) so the fault is the published one.
    #[serde(rename = "ActIntentKey", default)]
    #[schema(required = true, min_length = 1)]
    intent_key: String,
    #[serde(rename = "ActIntent", default)]
    intent: Option<ActIntent>,
    #[serde(rename = "PhoneNum", default)]
    #[schema(pattern = "^[0-9]{10}$", example = "4175556652")]
    phone: Option<String>,
}

impl HasHeader for UsrPhoneModRq {
    fn msg_rq_hdr(&self) -> &MsgRqHdr {
        &self.hdr
    }
}

/// Lifts the SIM-swap hold; `Rsn` (required) is audited.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UsrHoldLiftRq)]
pub struct UsrHoldLiftRq {
    #[serde(rename = "MsgRqHdr", default)]
    hdr: MsgRqHdr,
    /// Why the hold is lifted. Required: a missing, empty or blank reason is refused
    /// (3103) by the domain, which trims it (hence a non-space character).
    #[serde(rename = "Rsn", default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 200,
        pattern = "\\S",
        example = "Customer verified in branch"
    )]
    reason: String,
}

impl HasHeader for UsrHoldLiftRq {
    fn msg_rq_hdr(&self) -> &MsgRqHdr {
        &self.hdr
    }
}

/// One of the user's tokens.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(xml(name = "MFATokenRec"))]
pub struct UsrTokenRec {
    #[serde(rename = "TokenId")]
    token_id: String,
    #[serde(rename = "TokenType")]
    #[schema(value_type = crate::types::TokenType)]
    token_type: String,
    #[serde(rename = "UsrTokenStat")]
    token_status: UsrTokenStat,
    #[serde(rename = "MFATokenUsrStat")]
    binding_status: MfaTokenUsrStat,
    #[serde(rename = "UsrTokenDesc", skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(rename = "DriftSteps")]
    drift: i32,
}

impl Record for UsrTokenRec {
    const ITEM: &'static str = "MFATokenRec";
}

/// The "MFA user" view.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = UsrInqRs)]
pub struct UsrInqRs {
    #[serde(rename = "UsrName")]
    usr_name: String,
    /// The phone on file, masked (`******1234`).
    #[serde(rename = "PhoneNum", skip_serializing_if = "Option::is_none")]
    phone_masked: Option<String>,
    /// When the phone last changed after the user was created.
    #[serde(rename = "PhoneChgDt", skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    phone_changed_at: Option<String>,
    /// While the SIM-swap guard holds the SMS fallback: when the hold ends.
    #[serde(rename = "SimSwapHoldEndDt", skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    hold_until: Option<String>,
    /// The key a phone change must carry.
    #[serde(rename = "ActIntentKey")]
    intent_key: String,
    #[serde(rename = "MFATokenArray")]
    #[schema(value_type = Vec<UsrTokenRec>)]
    tokens: Records<UsrTokenRec>,
}

fn user_rs(v: UserView) -> UsrInqRs {
    UsrInqRs {
        usr_name: v.usr_name,
        phone_masked: v.phone_masked,
        phone_changed_at: v.phone_changed_at.map(iso8601),
        hold_until: v.hold_until.map(iso8601),
        intent_key: v.intent_key,
        tokens: v
            .tokens
            .into_iter()
            .map(|t| UsrTokenRec {
                token_id: t.token_id,
                token_type: t.token_type.to_string(),
                token_status: t.token_status,
                binding_status: t.binding_status,
                description: t.description,
                drift: t.drift,
            })
            .collect(),
    }
}

/// `POST /api/v1/users` — creates a user (a phone given here starts no SIM-swap hold).
#[utoipa::path(
    operation_id = "MFAUsrAdd",
    security(("bearer" = ["manage"])),
    context_path = "/api/v1",
    tag = "users",
    request_body = UsrAddRq,
    responses(
        (status = 200, description = "The new user", body = Answer<UsrInqRs>),
        BodyFaults, Unprocessable, Conflict, Common,
    )
)]
#[post("/users", data = "<rq>")]
pub(crate) async fn create(
    caller: Result<Caller, Error>,
    rq: JxRequest<UsrAddRq>,
    service: &State<Arc<Service>>,
) -> Result<Jx<UsrInqRs>, ApiFault> {
    let input = rq.body.and_then(|b| {
        Ok((
            parse_usr_name(&b.usr_name)?,
            b.phone.as_deref().map(parse_phone).transpose()?,
        ))
    });
    operate(
        (rq.hdr, caller, Scope::Manage),
        service,
        input,
        |s, ctx, (name, phone), now| {
            s.create_user(ctx, &name, phone.as_ref(), now)?;
            s.user_view(ctx, &name, now)
        },
        user_rs,
    )
    .await
}

/// `GET /api/v1/users/{UsrName}` — the "MFA user" view.
#[utoipa::path(
    operation_id = "MFAUsrInq",
    security(("bearer" = ["manage"])),
    context_path = "/api/v1",
    tag = "users",
    params(("usr_name" = String, Path, description = "UsrName"), InstRtIdQuery),
    responses(
        (status = 200, description = "The user, the phone (masked), the hold, the tokens", body = Answer<UsrInqRs>),
        BadQuery, NotFound, Common,
    )
)]
#[get("/users/<usr_name>")]
pub(crate) async fn read(
    hdr: JxHdr,
    caller: Result<Caller, Error>,
    usr_name: &str,
    service: &State<Arc<Service>>,
) -> Result<Jx<UsrInqRs>, ApiFault> {
    operate(
        (hdr, caller, Scope::Manage),
        service,
        parse_usr_name(usr_name),
        |s, ctx, name, now| s.user_view(ctx, &name, now),
        user_rs,
    )
    .await
}

fn phone_change(usr_name: &str, b: UsrPhoneModRq) -> Result<PhoneChange, Error> {
    let usr_name = parse_usr_name(usr_name)?;
    if b.intent_key.is_empty() {
        return Err(Error::at(Fault::FieldRequired, "ActIntentKey"));
    }
    let phone = match (b.intent.unwrap_or(ActIntent::Upd), b.phone.as_deref()) {
        (ActIntent::Upd, Some(p)) => Some(parse_phone(p)?),
        (ActIntent::Upd, None) => {
            return Err(Error::at(Fault::FieldRequired, "PhoneNum")
                .with_detail("(or ActIntent Dlt to remove the phone)"))
        }
        (ActIntent::Dlt, None) => None,
        (ActIntent::Dlt, Some(_)) => {
            return Err(Error::at(Fault::InvalidValue, "PhoneNum")
                .with_detail("(ActIntent Dlt removes the phone: give no PhoneNum)"))
        }
        (ActIntent::ReadOnly, _) => {
            return Err(Error::at(Fault::EnumValue, "ActIntent")
                .with_value("ReadOnly")
                .with_detail("(Upd or Dlt)"))
        }
    };
    Ok(PhoneChange {
        usr_name,
        intent_key: b.intent_key,
        phone,
    })
}

/// `POST /api/v1/users/{UsrName}/phone` — changes or removes the phone (audited with
/// both numbers masked); starts the SIM-swap hold.
#[utoipa::path(
    operation_id = "MFAUsrPhoneMod",
    security(("bearer" = ["manage"])),
    context_path = "/api/v1",
    tag = "users",
    params(("usr_name" = String, Path, description = "UsrName")),
    request_body = UsrPhoneModRq,
    responses(
        (status = 200, description = "The user after the change", body = Answer<UsrInqRs>),
        BodyFaults, Unprocessable, NotFound, Conflict, Common,
    )
)]
#[post("/users/<usr_name>/phone", data = "<rq>")]
pub(crate) async fn phone(
    caller: Result<Caller, Error>,
    usr_name: &str,
    rq: JxRequest<UsrPhoneModRq>,
    service: &State<Arc<Service>>,
) -> Result<Jx<UsrInqRs>, ApiFault> {
    let input = rq.body.and_then(|b| phone_change(usr_name, b));
    operate(
        (rq.hdr, caller, Scope::Manage),
        service,
        input,
        |s, ctx, change, now| s.change_phone(ctx, &change, now),
        user_rs,
    )
    .await
}

/// `POST /api/v1/users/{UsrName}/hold/lift` — lifts the SIM-swap hold (audited with `Rsn`).
#[utoipa::path(
    operation_id = "MFAUsrHoldLift",
    security(("bearer" = ["manage"])),
    context_path = "/api/v1",
    tag = "users",
    params(("usr_name" = String, Path, description = "UsrName")),
    request_body = UsrHoldLiftRq,
    responses(
        (status = 200, description = "The user, no longer held", body = Answer<UsrInqRs>),
        BodyFaults, NotFound, Common,
    )
)]
#[post("/users/<usr_name>/hold/lift", data = "<rq>")]
pub(crate) async fn lift_hold(
    caller: Result<Caller, Error>,
    usr_name: &str,
    rq: JxRequest<UsrHoldLiftRq>,
    service: &State<Arc<Service>>,
) -> Result<Jx<UsrInqRs>, ApiFault> {
    let input = rq
        .body
        .and_then(|b| Ok((parse_usr_name(usr_name)?, b.reason)));
    operate(
        (rq.hdr, caller, Scope::Manage),
        service,
        input,
        |s, ctx, (name, reason), now| s.lift_hold(ctx, &name, &reason, now),
        user_rs,
    )
    .await
}
