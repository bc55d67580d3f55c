//! The Webhooks page (`/admin/webhooks`): the attempts to push events to the configured
//! webhook (`event_webhook_url`), newest first; the deliveries of events to tokend's webhook
//! endpoints (`tokend webhook add`), newest first, each with its attempts (when, how
//! long, the HTTP status or the error), and a Resend button that queues one delivery
//! again — the same `webhook-id`, a new timestamp and signature. Every role may read it;
//! resending needs `webhook.resend` (officer), and is audited. Only the console's
//! institution's events are listed or resent.

use crate::web::admin::template::Template;
use rocket::form::{Form, FromForm};
use rocket::request::FlashMessage;
use rocket::response::{Flash, Redirect};
use rocket::{get, post, routes, Route, State};
use serde::Serialize;
use std::sync::Arc;

use super::roles::permit;
use super::session::Admin;
use super::{refused, Base, Refusal};
use crate::domain::Service;
use crate::types::StaffAction;
use crate::web::edge::blocking;

/// Deliveries per page.
const PAGE: i64 = 50;

/// The routes of this file.
pub fn routes() -> Vec<Route> {
    routes![deliveries, resend]
}

/// A time to the second, in the page's zone (attempts are seconds apart).
fn when(ms: i64) -> String {
    crate::domain::from_ms(ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

#[derive(Serialize)]
struct AttemptRow {
    n: i32,
    at: String,
    outcome: String,
    duration_ms: i64,
}

#[derive(Serialize)]
struct DeliveryRow {
    id: i32,
    inst_rt_id: String,
    evt_id: i32,
    alrt_pkg_id: String,
    endpoint: String,
    state: String,
    attempts: Vec<AttemptRow>,
    next: String,
}

/// One attempt to push an event to the configured webhook.
#[derive(Serialize)]
struct ConfiguredRow {
    inst_rt_id: String,
    evt_id: i32,
    alrt_pkg_id: String,
    attempt: AttemptRow,
}

#[derive(Serialize)]
struct WebhooksPage {
    page: Base,
    /// Whether `event_webhook_url` is set.
    configured: bool,
    /// Its newest attempts (a page of them: the event's own state is at /admin/events).
    configured_attempts: Vec<ConfiguredRow>,
    deliveries: Vec<DeliveryRow>,
    next_before: Option<i32>,
}

/// What an attempt came to, as one cell: the error, else the HTTP status.
fn outcome(status: Option<i32>, error: Option<String>) -> String {
    match (status, error) {
        (_, Some(e)) => e,
        (Some(s), None) => format!("HTTP {s}"),
        (None, None) => String::new(),
    }
}

/// The newest deliveries first; `before` pages to older ones.
#[get("/webhooks?<before>")]
async fn deliveries(
    admin: Admin,
    before: Option<i32>,
    flash: Option<FlashMessage<'_>>,
    service: &State<Arc<Service>>,
) -> Result<Template, Flash<Redirect>> {
    let inst = admin.0.institution.clone();
    let (configured, logged, rows) = blocking(service, move |s| {
        let logged = s.event_webhook_attempts(Some(&inst), PAGE)?;
        let rows = s.webhook_deliveries(Some(&inst), before, PAGE)?;
        Ok((s.has_event_webhook(), logged, rows))
    })
    .await
    .map_err(|e| refused("/admin/users".into(), &e))?;
    let configured_attempts = logged
        .into_iter()
        .map(|a| ConfiguredRow {
            inst_rt_id: a.inst_rt_id,
            evt_id: a.event_id,
            alrt_pkg_id: a.alrt_pkg_id,
            attempt: AttemptRow {
                n: a.attempt,
                at: when(a.at),
                outcome: outcome(a.status, a.error),
                duration_ms: a.duration_ms,
            },
        })
        .collect();
    let next_before = (rows.len() == usize::try_from(PAGE).unwrap_or(50))
        .then(|| rows.last().map(|r| r.delivery.id))
        .flatten();
    let deliveries = rows
        .into_iter()
        .map(|v| {
            let d = v.delivery;
            let pending = d.state == crate::types::DeliveryStat::Pending;
            DeliveryRow {
                id: d.id,
                inst_rt_id: v.inst_rt_id,
                evt_id: d.event_id,
                alrt_pkg_id: v.alrt_pkg_id,
                endpoint: format!("{} ({})", d.endpoint_id, v.url),
                state: d.state.to_string(),
                next: if pending {
                    when(d.next_attempt_at)
                } else {
                    String::new()
                },
                attempts: v
                    .attempts
                    .into_iter()
                    .map(|a| AttemptRow {
                        n: a.attempt,
                        at: when(a.at),
                        outcome: outcome(a.status, a.error),
                        duration_ms: a.duration_ms,
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(Template::render(
        "admin/webhooks",
        WebhooksPage {
            page: Base::new("Webhooks", &admin.0, flash),
            configured,
            configured_attempts,
            deliveries,
            next_before,
        },
    ))
}

#[derive(FromForm)]
struct ResendForm {
    #[field(default = String::new())]
    csrf: String,
    id: i32,
}

/// Queues one delivery again, at once; the sender makes the attempt.
#[post("/webhooks/resend", data = "<form>")]
async fn resend(
    admin: Admin,
    form: Form<ResendForm>,
    service: &State<Arc<Service>>,
) -> Result<Flash<Redirect>, Refusal> {
    let s = admin.0;
    s.check_csrf(&form.csrf)?;
    permit(&s, service, StaffAction::WebhookResend).await?;
    let (ctx, inst, id) = (s.context(), s.institution.clone(), form.id);
    let done = blocking(service, move |sv| {
        sv.resend_delivery(&ctx, Some(&inst), id, chrono::Utc::now())
    })
    .await;
    let back = "/admin/webhooks".to_owned();
    Ok(match done {
        Ok(()) => Flash::success(
            Redirect::to(back),
            format!("Delivery {id} queued again: it is sent in a moment."),
        ),
        Err(e) => refused(back, &e),
    })
}
