//! The sandbox calls (issue 29), for an integrator testing against a sandbox institution
//! (`tokend institution create --sandbox`) with its `tk_test_` key, scope `manage`:
//! its test clock (`GET`/`POST /api/v1/sandbox/clock`), which every time rule of the
//! institution reads, and the SMS it sent (`GET /api/v1/sandbox/sms`), none of which left
//! tokend. Within a production institution each answers fault 2505.

use rocket::{get, post, routes, Route, State};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::envelope::{HasHeader, Jx, JxHdr, JxRequest, MsgRqHdr};
use super::events::page;
use super::fault::ApiFault;
use super::oob_wire::{self, OutboxMessage};
use super::openapi::{Answer, BadQuery, BodyFaults, Common, InstRtIdQuery};
use super::sms::OutboxRs;
use super::{operate, Caller};
use crate::domain::api_keys::Scope;
use crate::domain::sandbox::{not_a_sandbox, InstClock, MAX_ADVANCE_SECS};
use crate::domain::{Error, Fault, Service};
use crate::types::Cursor;
use crate::web::edge::iso8601;

/// The sandbox routes.
pub fn routes() -> Vec<Route> {
    routes![clock, move_clock, sms]
}

/// A sandbox's clock.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = SandboxClockRs)]
pub struct ClockRs {
    #[serde(rename = "InstRtId")]
    inst_rt_id: String,
    /// The time every time rule of the institution reads (RFC 3339).
    #[serde(rename = "ClockDt")]
    #[schema(format = DateTime, example = "2026-01-15T09:30:00Z")]
    clock_dt: String,
}

/// A move of the clock: forwards by `AdvanceSecs`, or to `SetDt`; one of the two.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SandboxClockRq)]
pub struct ClockRq {
    #[serde(rename = "MsgRqHdr", default)]
    hdr: MsgRqHdr,
    /// Seconds forwards (1 to ten years).
    #[serde(rename = "AdvanceSecs", default)]
    #[schema(minimum = 1)]
    advance_secs: Option<i64>,
    /// The new time (RFC 3339), not before the clock.
    #[serde(rename = "SetDt", default)]
    #[schema(format = DateTime, example = "2026-01-15T09:30:00Z")]
    set_dt: Option<String>,
}

impl HasHeader for ClockRq {
    fn msg_rq_hdr(&self) -> &MsgRqHdr {
        &self.hdr
    }
}

/// Where a move goes.
enum Move {
    Advance(i64),
    To(chrono::DateTime<chrono::Utc>),
}

/// Exactly one of `AdvanceSecs` (in range) and `SetDt` (RFC 3339).
fn parse_move(rq: ClockRq) -> Result<Move, Error> {
    match (rq.advance_secs, rq.set_dt) {
        (Some(_), Some(_)) => Err(Error::at(Fault::InvalidValue, "SetDt")
            .with_detail("(send AdvanceSecs or SetDt, not both)")),
        (None, None) => {
            Err(Error::at(Fault::FieldRequired, "AdvanceSecs").with_detail("(or SetDt)"))
        }
        (Some(n), None) if (1..=MAX_ADVANCE_SECS).contains(&n) => Ok(Move::Advance(n)),
        (Some(n), None) => Err(Error::at(Fault::InvalidValue, "AdvanceSecs")
            .with_value(n.to_string())
            .with_detail("(1 to 316224000 seconds, forwards only)")),
        (None, Some(dt)) => chrono::DateTime::parse_from_rfc3339(&dt)
            .map(|t| Move::To(t.with_timezone(&chrono::Utc)))
            .map_err(|_| {
                Error::at(Fault::InvalidValue, "SetDt")
                    .with_value(dt.chars().take(40).collect::<String>())
                    .with_detail("(an RFC 3339 time)")
            }),
    }
}

/// The clock answer of the sandbox `inst`, read at `now` (its clock), or 2505.
fn clock_rs(s: &Service, inst: &str) -> Result<ClockRs, Error> {
    match s.clock_of(inst)? {
        InstClock::Sandbox(at) => Ok(ClockRs {
            inst_rt_id: inst.to_owned(),
            clock_dt: iso8601(at),
        }),
        InstClock::Real => Err(not_a_sandbox()),
    }
}

/// `GET /api/v1/sandbox/clock` — the sandbox's test clock.
#[utoipa::path(
    operation_id = "SandboxClockInq",
    security(("bearer" = ["manage"])),
    context_path = "/api/v1",
    tag = "sandbox",
    params(InstRtIdQuery),
    responses(
        (status = 200, description = "The time the institution's rules read", body = Answer<ClockRs>),
        BadQuery, Common,
    )
)]
#[get("/sandbox/clock")]
pub(crate) async fn clock(
    hdr: JxHdr,
    caller: Result<Caller, Error>,
    service: &State<Arc<Service>>,
) -> Result<Jx<ClockRs>, ApiFault> {
    operate(
        (hdr, caller, Scope::Manage),
        service,
        Ok(()),
        |s, ctx, (), _now| clock_rs(s, s.institution(ctx)),
        |rs| rs,
    )
    .await
}

/// `POST /api/v1/sandbox/clock` — moves the test clock forwards; audited.
#[utoipa::path(
    operation_id = "SandboxClockMod",
    security(("bearer" = ["manage"])),
    context_path = "/api/v1",
    tag = "sandbox",
    request_body = ClockRq,
    responses(
        (status = 200, description = "The clock after the move", body = Answer<ClockRs>),
        BodyFaults, Common,
    )
)]
#[post("/sandbox/clock", data = "<rq>")]
pub(crate) async fn move_clock(
    caller: Result<Caller, Error>,
    rq: JxRequest<ClockRq>,
    service: &State<Arc<Service>>,
) -> Result<Jx<ClockRs>, ApiFault> {
    operate(
        (rq.hdr, caller, Scope::Manage),
        service,
        rq.body.and_then(parse_move),
        |s, ctx, step, now| {
            let (to, elem) = match step {
                Move::Advance(n) => (now + chrono::Duration::seconds(n), "AdvanceSecs"),
                Move::To(t) => (t, "SetDt"),
            };
            s.move_sandbox_clock(ctx, to, elem, chrono::Utc::now())?;
            clock_rs(s, s.institution(ctx))
        },
        |rs| rs,
    )
    .await
}

/// The sandbox's outbox: every SMS its sessions sent (2505 for a production institution).
fn sandbox_outbox(
    s: &Service,
    inst: Option<&str>,
    cursor: Cursor,
    limit: i64,
) -> Result<Vec<OutboxMessage>, Error> {
    match inst {
        Some(inst) if s.is_sandbox(inst)? => oob_wire::outbox(s, Some(inst), cursor, limit),
        _ => Err(not_a_sandbox()),
    }
}

/// `GET /api/v1/sandbox/sms?after=N` — the SMS the sandbox sent, oldest first; none left
/// tokend. The same page as `GET /sms/outbox`.
#[utoipa::path(
    operation_id = "SandboxSMSInq",
    security(("bearer" = ["manage"])),
    context_path = "/api/v1",
    tag = "sandbox",
    params(
        ("after" = Option<i64>, Query, minimum = 0, description = "Only messages with a larger `MsgId`"),
        InstRtIdQuery,
    ),
    responses(
        (status = 200, description = "At most 100 messages, oldest first", body = Answer<OutboxRs>),
        BadQuery, Common,
    )
)]
#[get("/sandbox/sms?<after>")]
pub(crate) async fn sms(
    hdr: JxHdr,
    caller: Result<Caller, Error>,
    after: Option<&str>,
    service: &State<Arc<Service>>,
) -> Result<Jx<OutboxRs>, ApiFault> {
    page(
        (hdr, caller, Scope::Manage),
        after,
        service,
        sandbox_outbox,
        OutboxRs::of,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rq(advance: Option<i64>, set: Option<&str>) -> ClockRq {
        ClockRq {
            hdr: MsgRqHdr::default(),
            advance_secs: advance,
            set_dt: set.map(str::to_owned),
        }
    }

    #[test]
    fn a_move_is_one_forward_step_or_one_time() {
        assert!(matches!(
            parse_move(rq(Some(60), None)),
            Ok(Move::Advance(60))
        ));
        assert!(matches!(
            parse_move(rq(None, Some("2030-01-01T00:00:00Z"))),
            Ok(Move::To(_))
        ));
        let kind = |r: ClockRq| parse_move(r).err().map(|e| e.kind());
        assert_eq!(kind(rq(None, None)), Some(Fault::FieldRequired));
        assert_eq!(kind(rq(Some(1), Some("x"))), Some(Fault::InvalidValue));
        assert_eq!(kind(rq(Some(0), None)), Some(Fault::InvalidValue));
        assert_eq!(kind(rq(Some(-5), None)), Some(Fault::InvalidValue));
        assert_eq!(kind(rq(None, Some("tomorrow"))), Some(Fault::InvalidValue));
    }
}
