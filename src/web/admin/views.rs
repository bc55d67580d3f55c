//! Views: the SMS outbox with codes masked, the OOB sessions and the OOB result events,
//! each of the console's institution only, each row with its `InstRtId`.

use crate::web::admin::template::Template;
use rocket::response::{Flash, Redirect};
use rocket::{get, routes, Route, State};
use serde::Serialize;
use std::sync::Arc;

use super::session::Admin;
use super::{refused, Base};
use crate::domain::Service;
use crate::types::Cursor;
use crate::web::admin::words::when;
use crate::web::edge::blocking;

/// Rows per page of the outbox and events.
pub const PAGE: i64 = 100;

/// The routes of this file.
pub fn routes() -> Vec<Route> {
    routes![outbox, events, sessions]
}

/// Hides one-time codes in an SMS text: every word of 6 or 8 letters and digits that
/// holds a digit or is all capitals (the OTP and OTPA forms) becomes asterisks.
pub fn mask_codes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let n = word.chars().count();
        let code_like = matches!(n, 6 | 8)
            && (word.chars().any(|c| c.is_ascii_digit())
                || word
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
        if code_like {
            out.extend(std::iter::repeat_n('*', n));
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[derive(Serialize)]
struct OutboxRow {
    inst_rt_id: String,
    id: i64,
    alrt_pkg_id: String,
    phone: String,
    body: String,
    provider: String,
    send_stat: String,
    attempts: i32,
    last_error: String,
    created: String,
}

#[derive(Serialize)]
struct OutboxPage {
    page: Base,
    messages: Vec<OutboxRow>,
    next_before: Option<i64>,
}

/// The newest messages first; `before` pages to older ones.
#[get("/outbox?<before>")]
async fn outbox(
    admin: Admin,
    before: Option<i64>,
    service: &State<Arc<Service>>,
) -> Result<Template, Flash<Redirect>> {
    let from = Cursor::Before(before.unwrap_or(i64::MAX));
    let inst = admin.0.institution.clone();
    let messages = blocking(service, move |s| s.sms_outbox(Some(&inst), from, PAGE))
        .await
        .map_err(|e| refused("/admin/users".into(), &e))?;
    let next_before = (messages.len() == usize::try_from(PAGE).unwrap_or(100))
        .then(|| messages.last().map(|m| m.msg_id))
        .flatten();
    Ok(Template::render(
        "admin/outbox",
        OutboxPage {
            page: Base::new("SMS outbox", &admin.0, None),
            next_before,
            messages: messages
                .into_iter()
                .map(|m| OutboxRow {
                    inst_rt_id: admin.0.institution.clone(),
                    id: m.msg_id,
                    alrt_pkg_id: m.alrt_pkg_id.unwrap_or_default(),
                    phone: m.phone_masked,
                    body: m.body.as_deref().map(mask_codes).unwrap_or_default(),
                    provider: m.provider.to_string(),
                    send_stat: m.send_stat.to_string(),
                    attempts: m.attempts,
                    last_error: m.last_error.unwrap_or_default(),
                    created: m.created_at,
                })
                .collect(),
        },
    ))
}

#[derive(Serialize)]
struct EventRow {
    inst_rt_id: String,
    id: i64,
    alrt_pkg_id: String,
    rs_stat: String,
    at: String,
    usr_name: String,
    delivered: String,
}

#[derive(Serialize)]
struct EventsPage {
    page: Base,
    events: Vec<EventRow>,
    next_before: Option<i64>,
}

/// The newest events first; `before` pages to older ones.
#[get("/events?<before>")]
async fn events(
    admin: Admin,
    before: Option<i64>,
    service: &State<Arc<Service>>,
) -> Result<Template, Flash<Redirect>> {
    let from = Cursor::Before(before.unwrap_or(i64::MAX));
    let inst = admin.0.institution.clone();
    let events = blocking(service, move |s| s.oob_events(Some(&inst), from, PAGE))
        .await
        .map_err(|e| refused("/admin/users".into(), &e))?;
    let next_before = (events.len() == usize::try_from(PAGE).unwrap_or(100))
        .then(|| events.last().map(|e| e.evt_id))
        .flatten();
    Ok(Template::render(
        "admin/events",
        EventsPage {
            page: Base::new("OOB events", &admin.0, None),
            next_before,
            events: events
                .into_iter()
                .map(|e| EventRow {
                    inst_rt_id: admin.0.institution.clone(),
                    id: e.evt_id,
                    alrt_pkg_id: e.alrt_pkg_id,
                    rs_stat: e.rs_stat.to_string(),
                    at: e.at,
                    usr_name: e.usr_name.unwrap_or_default(),
                    delivered: match (e.delivered, e.refused) {
                        (_, Some(true)) => "refused (set aside)".into(),
                        (Some(true), _) => "yes".into(),
                        (Some(false), _) => "not yet".into(),
                        (None, _) => String::new(),
                    },
                })
                .collect(),
        },
    ))
}

#[derive(Serialize)]
struct SessionRow {
    inst_rt_id: String,
    alrt_pkg_id: String,
    usr_name: String,
    phone: String,
    mode: String,
    origin: String,
    state: String,
    send_stat: String,
    resends: u32,
    created: String,
    expires: String,
}

#[derive(Serialize)]
struct SessionsPage {
    page: Base,
    sessions: Vec<SessionRow>,
    next_before: Option<i32>,
}

/// OOB sessions, newest first.
#[get("/oob?<before>")]
async fn sessions(
    admin: Admin,
    before: Option<i32>,
    service: &State<Arc<Service>>,
) -> Result<Template, Flash<Redirect>> {
    let inst = admin.0.institution.clone();
    let rows = blocking(service, move |s| s.oob_sessions(&inst, before, PAGE))
        .await
        .map_err(|e| refused("/admin/users".into(), &e))?;
    let next_before = (rows.len() == usize::try_from(PAGE).unwrap_or(100))
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok(Template::render(
        "admin/oob",
        SessionsPage {
            page: Base::new("OOB sessions", &admin.0, None),
            next_before,
            sessions: rows
                .into_iter()
                .map(|r| SessionRow {
                    inst_rt_id: admin.0.institution.clone(),
                    alrt_pkg_id: r.alrt_pkg_id,
                    usr_name: r.usr_name.unwrap_or_default(),
                    phone: r.phone_masked,
                    mode: r.mode.to_string(),
                    origin: r.origin.to_string(),
                    state: r.state.to_string(),
                    send_stat: r.send_stat.to_string(),
                    resends: r.resends,
                    created: when(r.created_at),
                    expires: when(r.expires_at),
                })
                .collect(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::mask_codes;

    #[test]
    fn codes_are_masked_and_the_rest_kept() {
        assert_eq!(
            mask_codes("tokend: your security code is 300419. Reply within 5 minute(s)."),
            "tokend: your security code is ******. Reply within 5 minute(s)."
        );
        assert_eq!(mask_codes("Respond K7PQRS now"), "Respond ****** now");
        assert_eq!(mask_codes("Ovation: transfer"), "Ovation: transfer");
    }
}
