//! The overview page, the console's home (`/admin/` leads here): tokens by status, locked
//! now, SMS codes sent today, failed validations in the last hour, each a link to where
//! a help desk acts on it. Statuses are named in plain words beside the jXchange names.

use rocket::request::FlashMessage;
use rocket::response::{Flash, Redirect};
use rocket::{get, routes, Route, State};
use serde::Serialize;
use std::sync::Arc;

use super::session::Admin;
use super::template::Template;
use super::{refused, Base};
use crate::domain::Service;
use crate::types::UsrTokenStat;
use crate::web::edge::blocking;

/// The routes of this file.
pub fn routes() -> Vec<Route> {
    routes![overview]
}

/// A token status in a help desk's words, with the jXchange name beside it.
fn status_words(s: UsrTokenStat) -> &'static str {
    match s {
        UsrTokenStat::Init => "Enrolled, not activated yet",
        UsrTokenStat::Act => "Active",
        UsrTokenStat::Lock => "Locked",
        UsrTokenStat::Disable => "Disabled",
        UsrTokenStat::InAct => "Inactive",
        UsrTokenStat::Del => "Deleted",
    }
}

#[derive(Serialize)]
struct StatusRow {
    words: &'static str,
    code: &'static str,
    count: i64,
}

#[derive(Serialize)]
struct OverviewPage {
    page: Base,
    tokens: Vec<StatusRow>,
    locked: i64,
    sms_today: i64,
    failures_last_hour: i64,
}

#[get("/overview")]
async fn overview(
    admin: Admin,
    flash: Option<FlashMessage<'_>>,
    service: &State<Arc<Service>>,
) -> Result<Template, Flash<Redirect>> {
    let s = admin.0;
    let ctx = s.context();
    let o = blocking(service, move |sv| sv.overview(&ctx, chrono::Utc::now()))
        .await
        .map_err(|e| refused("/admin/users".into(), &e))?;
    Ok(Template::render(
        "admin/overview",
        OverviewPage {
            page: Base::new("Overview", &s, flash),
            tokens: o
                .tokens
                .into_iter()
                .map(|(status, count)| StatusRow {
                    words: status_words(status),
                    code: status.as_str(),
                    count,
                })
                .collect(),
            locked: o.locked,
            sms_today: o.sms_today,
            failures_last_hour: o.failures_last_hour,
        },
    ))
}
