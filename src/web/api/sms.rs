//! The SMS provider's side of OOB: the reply webhook (`POST /api/v1/sms/inbound`, scope
//! `sms`) and the outbox of stored messages (`GET /api/v1/sms/outbox`, scope `manage`).

use rocket::{get, post, routes, Route, State};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::envelope::{HasHeader, Jx, JxHdr, JxRequest, MsgRqHdr};
use super::events::page;
use super::fault::ApiFault;
use super::oob_wire::{self, OutboxMessage};
use super::openapi::{Answer, BadQuery, BodyFaults, Common, InstRtIdQuery, TooMany, Unprocessable};
use super::{operate, Caller, Gate};
use crate::domain::api_keys::Scope;
use crate::domain::{Error, Fault, Service};
use crate::types::{OobStat, PhoneNum};
use crate::web::limits::Limits;
use crate::web::parse::parse_phone;

/// The SMS routes.
pub fn routes() -> Vec<Route> {
    routes![inbound, outbox]
}

/// An SMS reply, as the provider's webhook delivers it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SMSInboundRq)]
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
    const JXCHANGE: bool = false;

    fn msg_rq_hdr(&self) -> &MsgRqHdr {
        &self.hdr
    }
}

/// What a reply did: nothing (no pending session, no code in it), or a verification.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = SMSInboundRs)]
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
    operation_id = "SMSInbound",
    security(("bearer" = ["sms"])),
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
    let input = rq.body.and_then(|rq| {
        let from = inbound_phone(&rq.from)?;
        Ok((from, zeroize::Zeroizing::new(rq.body)))
    });
    operate(
        (rq.hdr, caller, Gate::limited(Scope::Sms, limits)),
        service,
        input,
        |s, ctx, (from, text), now| s.inbound_sms(ctx, &from, &text, now),
        |v| InboundRs {
            alrt_pkg_id: v.as_ref().map(|v| v.alrt_pkg_id.clone()),
            rs_stat: v.map(|v| v.rs_stat),
        },
    )
    .await
}

/// The SMS outbox page.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = SMSOutboxRs)]
pub struct OutboxRs {
    #[serde(rename = "Messages")]
    messages: Vec<OutboxMessage>,
}

impl OutboxRs {
    /// The page of `messages`.
    pub fn of(messages: Vec<OutboxMessage>) -> OutboxRs {
        OutboxRs { messages }
    }
}

/// `GET /api/v1/sms/outbox?after=N` — stored SMS, oldest first (scope `manage`).
#[utoipa::path(
    operation_id = "SMSOutboxInq",
    security(("bearer" = ["manage"])),
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
    page(
        (hdr, caller, Scope::Manage),
        after,
        service,
        oob_wire::outbox,
        |messages| OutboxRs { messages },
    )
    .await
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
