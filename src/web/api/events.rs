//! The feed of "90040" OOB results (`GET /api/v1/events`, scope `validate`), and the
//! cursor paging it shares with the SMS outbox (`after=N`, oldest first).

use rocket::{get, routes, Route, State};
use serde::Serialize;
use std::sync::Arc;

use super::envelope::{Jx, JxHdr};
use super::fault::ApiFault;
use super::oob_wire::{self, FeedbackEvent};
use super::openapi::{Answer, BadQuery, Common, InstRtIdQuery};
use super::{operate, Caller};
use crate::domain::api_keys::Scope;
use crate::domain::{Error, Fault, Service};
use crate::types::Cursor;

/// Most items one page of the outbox or the event log answers.
const PAGE: i64 = 100;

/// The events route.
pub fn routes() -> Vec<Route> {
    routes![events]
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

/// A listing read by cursor: (institution or every one, after, limit) → items.
type Listing<T> = fn(&Service, Option<&str>, Cursor, i64) -> Result<Vec<T>, Error>;

/// One page of a listing read with `after=N`: scope check, cursor, blocking read. An
/// institution-bound key reads its institution's items; a cross-institution key the
/// `InstRtId` it names, else every institution's.
pub(super) async fn page<T: Send + 'static, R>(
    request: (JxHdr, Result<Caller, Error>, Scope),
    after: Option<&str>,
    service: &State<Arc<Service>>,
    read: Listing<T>,
    answer: impl FnOnce(Vec<T>) -> R,
) -> Result<Jx<R>, ApiFault> {
    operate(
        request,
        service,
        after_of(after),
        move |s, ctx, after, _now| read(s, ctx.inst_rt_id.as_deref(), Cursor::After(after), PAGE),
        answer,
    )
    .await
}

/// The event log page.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventsRs {
    #[serde(rename = "Events")]
    events: Vec<FeedbackEvent>,
}

/// `GET /api/v1/events?after=N` — "90040" OOB results, oldest first (scope `validate`).
#[utoipa::path(
    operation_id = "OOBEventInq",
    security(("bearer" = ["validate"])),
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
    page(
        (hdr, caller, Scope::Validate),
        after,
        service,
        oob_wire::events,
        |events| EventsRs { events },
    )
    .await
}
