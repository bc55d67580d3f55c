//! `GET /api/v1/audit` — the audit trail, newest first, filtered and paged (scope
//! `manage`). Query parameters use the jXchange element names: `UsrName`, `TokenId`,
//! `Action`, `FromDt` and `ToDt` (RFC 3339), `Before` (the previous page's last
//! `AuditId`) and `Limit` (1–500, default 100).

use rocket::{get, routes, FromForm, Route, State};
use serde::Serialize;
use std::sync::Arc;

use super::envelope::{Jx, JxHdr};
use super::fault::ApiFault;
use super::openapi::{Answer, BadQuery, Common, InstRtIdQuery};
use super::{Call, Caller};
use crate::domain::api_keys::Scope;
use crate::domain::audit::{AuditEvent, AuditFilter};
use crate::domain::{from_ms, Error, Fault, Service};
use crate::web::edge::{blocking, iso8601};

/// The audit route.
pub fn routes() -> Vec<Route> {
    routes![audit]
}

/// Page length when `Limit` is absent.
const DEFAULT_PAGE: i64 = 100;

/// One audit row as the API shows it (everything but the chain link's internals).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditRow {
    #[serde(rename = "AuditId")]
    id: i32,
    #[serde(rename = "AuditDt")]
    #[schema(format = DateTime)]
    at: Option<String>,
    #[serde(rename = "Actor")]
    actor: String,
    #[serde(rename = "AuditUsrId", skip_serializing_if = "Option::is_none")]
    audit_usr_id: Option<String>,
    /// Where the consumer asserted `AuditUsrId` — never verified by tokend: `AuditUsrId`
    /// (the header), or `AuthenUsrCred` (the end user's credential, not verified).
    #[serde(rename = "AuditUsrIdSrc", skip_serializing_if = "Option::is_none")]
    audit_usr_src: Option<String>,
    #[serde(rename = "AuditWsId", skip_serializing_if = "Option::is_none")]
    audit_ws_id: Option<String>,
    #[serde(rename = "jXLogTrackingId", skip_serializing_if = "Option::is_none")]
    tracking_id: Option<String>,
    #[serde(rename = "BusCorrelId", skip_serializing_if = "Option::is_none")]
    bus_correl_id: Option<String>,
    #[serde(rename = "Action")]
    action: String,
    #[serde(rename = "TokenId", skip_serializing_if = "Option::is_none")]
    token_id: Option<String>,
    #[serde(rename = "UsrName", skip_serializing_if = "Option::is_none")]
    usr_name: Option<String>,
    #[serde(rename = "Result")]
    result: String,
    #[serde(rename = "Detail", skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    /// Whether the row is linked into the chain yet.
    #[serde(rename = "Linked")]
    linked: bool,
}

impl From<AuditEvent> for AuditRow {
    fn from(e: AuditEvent) -> AuditRow {
        AuditRow {
            id: e.id,
            at: from_ms(e.at).map(iso8601),
            actor: e.actor,
            audit_usr_id: e.audit_usr_id,
            audit_usr_src: e.audit_usr_src,
            audit_ws_id: e.audit_ws_id,
            tracking_id: e.tracking_id,
            bus_correl_id: e.bus_correl_id,
            action: e.action,
            token_id: e.token_id,
            usr_name: e.usr_name,
            result: e.result,
            detail: e.detail,
            linked: e.linked,
        }
    }
}

/// A page of the trail; `Before` for the next page when there may be more.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditRs {
    #[serde(rename = "AuditArray")]
    rows: Vec<AuditRow>,
    #[serde(rename = "NextBefore", skip_serializing_if = "Option::is_none")]
    next_before: Option<i32>,
    /// Present when the range asked reaches into the audit archive: rows up to this time
    /// may have left the database for the archive's segments (`tokend audit search
    /// --archive`), so this answer alone is not the whole trail for the range.
    #[serde(rename = "ArchivedThruDt", skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    archived_thru: Option<String>,
}

/// A bad query parameter: fault 7001 naming it.
fn invalid(elem: &str, value: &str, expected: &str) -> Error {
    Error::at(Fault::InvalidValue, elem)
        .with_value(value.chars().take(64).collect::<String>())
        .with_detail(format!("({expected})"))
}

fn time_ms(elem: &str, value: Option<&str>) -> Result<Option<i64>, Error> {
    value
        .map(|v| {
            chrono::DateTime::parse_from_rfc3339(v)
                .map(|t| t.timestamp_millis())
                .map_err(|_| invalid(elem, v, "an RFC 3339 time, e.g. 2026-11-23T10:00:00Z"))
        })
        .transpose()
}

fn number<T: std::str::FromStr + PartialOrd>(
    elem: &str,
    value: Option<&str>,
    range: std::ops::RangeInclusive<T>,
    expected: &str,
) -> Result<Option<T>, Error> {
    value
        .map(|v| {
            v.parse::<T>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| invalid(elem, v, expected))
        })
        .transpose()
}

fn text(value: Option<&str>) -> Option<String> {
    value.filter(|v| !v.is_empty()).map(str::to_owned)
}

/// The audit query: ONE struct that Rocket parses (`FromForm`) and the OpenAPI document
/// lists (`IntoParams`), so the two cannot drift. Values stay text here: their checks
/// answer the API's fault naming the element (7001), which a typed form field could not.
#[derive(Debug, Default, FromForm, utoipa::IntoParams)]
#[into_params(parameter_in = Query, rename_all = "PascalCase")]
pub struct AuditQuery {
    /// Only this user (exact)
    #[field(name = "UsrName")]
    usr_name: Option<String>,
    /// Only this token (exact)
    #[field(name = "TokenId")]
    token_id: Option<String>,
    /// Only this action (exact)
    #[field(name = "Action")]
    action: Option<String>,
    /// Not before (RFC 3339)
    #[field(name = "FromDt")]
    #[param(format = DateTime)]
    from_dt: Option<String>,
    /// Not after (RFC 3339)
    #[field(name = "ToDt")]
    #[param(format = DateTime)]
    to_dt: Option<String>,
    /// Older than this `AuditId` (the previous page's `NextBefore`)
    #[field(name = "Before")]
    #[param(value_type = Option<i32>, minimum = 1)]
    before: Option<String>,
    /// Page length (default 100)
    #[field(name = "Limit")]
    #[param(value_type = Option<i32>, minimum = 1, maximum = 500)]
    limit: Option<String>,
}

/// `GET /api/v1/audit` — the audit trail, newest first.
#[utoipa::path(
    operation_id = "AuditInq",
    security(("bearer" = ["manage"])),
    context_path = "/api/v1",
    tag = "audit",
    params(AuditQuery, InstRtIdQuery),
    responses(
        (status = 200, description = "A page of the trail, newest first", body = Answer<AuditRs>),
        BadQuery, Common,
    )
)]
#[get("/audit?<query..>")]
async fn audit(
    hdr: JxHdr,
    caller: Result<Caller, Error>,
    query: AuditQuery,
    service: &State<Arc<Service>>,
) -> Result<Jx<AuditRs>, ApiFault> {
    let call = Call::admit(hdr, caller, Scope::Manage)?;
    let filter = call.check((|| {
        Ok::<_, Error>(AuditFilter {
            inst_rt_id: call
                .caller()
                .institution(call.hdr().inst_rt_id.as_deref())?,
            usr_name: text(query.usr_name.as_deref()),
            token_id: text(query.token_id.as_deref()),
            action: text(query.action.as_deref()),
            from_ms: time_ms("FromDt", query.from_dt.as_deref())?,
            to_ms: time_ms("ToDt", query.to_dt.as_deref())?,
            before_id: number(
                "Before",
                query.before.as_deref(),
                1..=i32::MAX,
                "a positive AuditId",
            )?,
        })
    })())?;
    let limit = call
        .check(number("Limit", query.limit.as_deref(), 1..=500, "1 to 500"))?
        .unwrap_or(DEFAULT_PAGE);
    let from_ms = filter.from_ms;
    let (rows, reach) = call.check(
        blocking(service, move |s| {
            Ok((
                s.audit_log(&filter, limit)?,
                s.audit_archive_reach(from_ms)?,
            ))
        })
        .await,
    )?;
    let full = i64::try_from(rows.len()).unwrap_or(i64::MAX) == limit;
    let next_before = full.then(|| rows.last().map(|r| r.id)).flatten();
    Ok(call.answer(AuditRs {
        rows: rows.into_iter().map(AuditRow::from).collect(),
        next_before,
        archived_thru: reach.and_then(from_ms_to_text),
    }))
}

fn from_ms_to_text(ms: i64) -> Option<String> {
    from_ms(ms).map(iso8601)
}
