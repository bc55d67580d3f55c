//! The wire forms of the OOB listings (`GET /events`, `GET /sms/outbox`), with their
//! OpenAPI schemas: built here from the domain's plain structs, so the domain knows
//! nothing of `utoipa`. The component names (`FeedbackEvent`, `OutboxMessage`) and fields
//! are the published contract.

use serde::Serialize;

use crate::domain::oob::delivery;
use crate::domain::{Error, Service};
use crate::types::Cursor;
use crate::types::{OobStat, ProviderKind, SendStat};

/// A "90040" event as listed and pushed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeedbackEvent {
    /// Position in the event log (`GET /events?after=EvtId`).
    #[serde(rename = "EvtId")]
    evt_id: i64,
    /// Always "90040".
    #[serde(rename = "EvtType")]
    #[schema(schema_with = super::openapi::evt_type)]
    evt_type: &'static str,
    /// The session.
    #[serde(rename = "AlrtPkgId")]
    alrt_pkg_id: String,
    /// Success, Failed or Expired.
    #[serde(rename = "RsStat")]
    #[schema(schema_with = super::openapi::oob_outcome)]
    rs_stat: OobStat,
    /// When the session ended (ISO 8601).
    #[serde(rename = "EvtDt")]
    #[schema(format = DateTime)]
    at: String,
    /// The user, when known.
    #[serde(rename = "UsrName", skip_serializing_if = "Option::is_none")]
    usr_name: Option<String>,
    /// Whether the webhook accepted it (absent without a webhook).
    #[serde(rename = "Delivered", skip_serializing_if = "Option::is_none")]
    delivered: Option<bool>,
    /// Present (true) when the webhook refused it for good (a 4xx): it was set aside and
    /// is not pushed again; read it here.
    #[serde(rename = "Refused", skip_serializing_if = "Option::is_none")]
    refused: Option<bool>,
    /// Why the session ended when its code did not decide it (a phone change ended it),
    /// or what to know of it (sent to a number that is not the user's phone on file).
    #[serde(rename = "EvtRsn", skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// An SMS as the outbox lists it. The phone is masked; the body is the message the
/// recipient gets (held only by outbox messages and http messages not yet delivered).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OutboxMessage {
    /// Row id (`GET /sms/outbox?after=MsgId`).
    #[serde(rename = "MsgId")]
    msg_id: i64,
    /// The session it belongs to.
    #[serde(rename = "AlrtPkgId", skip_serializing_if = "Option::is_none")]
    alrt_pkg_id: Option<String>,
    /// Last four digits.
    #[serde(rename = "PhoneNumMasked")]
    phone_masked: String,
    /// The text.
    #[serde(rename = "Body", skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    /// `outbox` or `http`.
    #[serde(rename = "Provider")]
    provider: ProviderKind,
    /// Pending, Sent, Failed.
    #[serde(rename = "SendStat")]
    send_stat: SendStat,
    /// Attempts made.
    #[serde(rename = "Attempts")]
    attempts: i32,
    /// The last failure.
    #[serde(rename = "LastErr", skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    /// When it was recorded.
    #[serde(rename = "CreatedDt")]
    #[schema(format = DateTime)]
    created_at: String,
}

impl From<delivery::FeedbackEvent> for FeedbackEvent {
    fn from(e: delivery::FeedbackEvent) -> Self {
        FeedbackEvent {
            evt_id: e.evt_id,
            evt_type: e.evt_type,
            alrt_pkg_id: e.alrt_pkg_id,
            rs_stat: e.rs_stat,
            at: e.at,
            usr_name: e.usr_name,
            delivered: e.delivered,
            refused: e.refused,
            reason: e.reason,
        }
    }
}

impl From<delivery::OutboxMessage> for OutboxMessage {
    fn from(m: delivery::OutboxMessage) -> Self {
        OutboxMessage {
            msg_id: m.msg_id,
            alrt_pkg_id: m.alrt_pkg_id,
            phone_masked: m.phone_masked,
            body: m.body,
            provider: m.provider,
            send_stat: m.send_stat,
            attempts: m.attempts,
            last_error: m.last_error,
            created_at: m.created_at,
        }
    }
}

/// `Service::oob_events` in wire form (a listing for `oob::page`).
pub fn events(
    s: &Service,
    inst_rt_id: Option<&str>,
    cursor: Cursor,
    limit: i64,
) -> Result<Vec<FeedbackEvent>, Error> {
    let events = s.oob_events(inst_rt_id, cursor, limit)?;
    Ok(events.into_iter().map(FeedbackEvent::from).collect())
}

/// `Service::sms_outbox` in wire form (a listing for `oob::page`).
pub fn outbox(
    s: &Service,
    inst_rt_id: Option<&str>,
    cursor: Cursor,
    limit: i64,
) -> Result<Vec<OutboxMessage>, Error> {
    let messages = s.sms_outbox(inst_rt_id, cursor, limit)?;
    Ok(messages.into_iter().map(OutboxMessage::from).collect())
}
