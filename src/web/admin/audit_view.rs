//! The audit log page: filter by user, token, action and date (UTC days), newest first,
//! 100 rows a page.

use crate::web::admin::template::Template;
use rocket::request::FlashMessage;
use rocket::response::{Flash, Redirect};
use rocket::{get, routes, FromForm, Route, State};
use serde::Serialize;
use std::sync::Arc;

use super::session::Admin;
use super::{refused, Base};
use crate::domain::audit::AuditFilter;
use crate::domain::{from_ms, Service};
use crate::web::admin::words::when;
use crate::web::edge::blocking;

/// Rows per page.
pub const PAGE: i64 = 100;

/// The routes of this file.
pub fn routes() -> Vec<Route> {
    routes![audit]
}

/// The filter as the form sends it (every field optional; empty means "any").
#[derive(Debug, Default, FromForm, Serialize)]
struct Query {
    #[field(default = String::new())]
    user: String,
    #[field(default = String::new())]
    token: String,
    #[field(default = String::new())]
    action: String,
    /// `YYYY-MM-DD`, UTC, inclusive.
    #[field(default = String::new())]
    from: String,
    /// `YYYY-MM-DD`, UTC, inclusive.
    #[field(default = String::new())]
    to: String,
    before: Option<i32>,
}

fn day_ms(s: &str, plus_days: i64) -> Option<i64> {
    let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
    let t = d.and_hms_opt(0, 0, 0)?.and_utc() + chrono::Duration::days(plus_days);
    Some(t.timestamp_millis())
}

/// A filter field's value; none for an empty one, and none for one with control
/// characters, which no stored name, token or action holds (junk is ignored).
fn some(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty() && !s.chars().any(char::is_control))
}

#[derive(Serialize)]
struct Row {
    at: String,
    actor: String,
    action: String,
    token_id: String,
    usr_name: String,
    result: String,
    detail: String,
    tracking_id: String,
    inst_rt_id: String,
}

#[derive(Serialize)]
struct AuditPage {
    page: Base,
    q: Query,
    rows: Vec<Row>,
    next_before: Option<i32>,
    next_query: String,
    /// The newest archived record's time, when the range asked reaches into the archive.
    archived_thru: Option<String>,
}

fn enc(s: &str) -> String {
    super::users::enc(s)
}

#[get("/audit?<q..>")]
async fn audit(
    admin: Admin,
    q: Query,
    flash: Option<FlashMessage<'_>>,
    service: &State<Arc<Service>>,
) -> Result<Template, Flash<Redirect>> {
    let filter = AuditFilter {
        usr_name: some(&q.user),
        token_id: some(&q.token),
        action: some(&q.action),
        from_ms: day_ms(&q.from, 0),
        to_ms: day_ms(&q.to, 1),
        before_id: q.before,
        // The console's institution only (staff of every institution switch to another).
        inst_rt_id: Some(admin.0.institution.clone()),
    };
    let from = filter.from_ms;
    let (lines, reach) = blocking(service, move |s| {
        Ok((s.audit_log(&filter, PAGE)?, s.audit_archive_reach(from)?))
    })
    .await
    .map_err(|e| refused("/admin/users".into(), &e))?;
    let next_before = (lines.len() == usize::try_from(PAGE).unwrap_or(100))
        .then(|| lines.last().map(|l| l.id))
        .flatten();
    let next_query = format!(
        "user={}&token={}&action={}&from={}&to={}",
        enc(&q.user),
        enc(&q.token),
        enc(&q.action),
        enc(&q.from),
        enc(&q.to)
    );
    Ok(Template::render(
        "admin/audit",
        AuditPage {
            page: Base::new("Audit log", &admin.0, flash),
            rows: lines
                .into_iter()
                .map(|l| Row {
                    at: from_ms(l.at).map(when).unwrap_or_default(),
                    actor: l.actor,
                    action: l.action,
                    token_id: l.token_id.unwrap_or_default(),
                    usr_name: l.usr_name.unwrap_or_default(),
                    result: l.result,
                    detail: l.detail.unwrap_or_default(),
                    tracking_id: l.tracking_id.unwrap_or_default(),
                    inst_rt_id: l.inst_rt_id.unwrap_or_default(),
                })
                .collect(),
            q,
            next_before,
            next_query,
            archived_thru: reach.and_then(from_ms).map(when),
        },
    ))
}
