//! The console's side of issue 17: on the user page, the phone panel (change or remove
//! the phone through a confirmation page, lift the SIM-swap hold with a reason) and the
//! "explain this failure" panel; and the drifting-tokens page (sorted by |drift|, with a
//! resync action).

use crate::web::admin::template::Template;
use rocket::form::{Form, FromForm};
use rocket::request::FlashMessage;
use rocket::response::{Flash, Redirect};
use rocket::{get, post, routes, Route, State};
use serde::Serialize;
use std::sync::Arc;

use super::roles::{answered, permit, submit};
use super::session::Admin;
use super::users::detail_uri;
use super::{refused, Base, Refusal};
use crate::domain::phones::explain::{ExplainRequest, DEFAULT_ATTEMPTS};
use crate::domain::phones::PhoneChange;
use crate::domain::staff::requests::StaffRequest;
use crate::domain::{Context, Error, Fault, Service};
use crate::types::{PhoneNum, StaffAction, UsrName};
use crate::web::admin::words::when;
use crate::web::edge::blocking;

/// The routes of this file.
pub fn routes() -> Vec<Route> {
    routes![phone_page, phone_change, hold_lift, drift_page]
}

/// One explained attempt as the user page shows it.
#[derive(Debug, Serialize)]
pub struct AttemptRow {
    at: String,
    action: String,
    token_id: String,
    result: String,
    reason: String,
    advice: String,
}

/// The phone and explain panels of the user page.
#[derive(Debug, Serialize, Default)]
pub struct PhonePanel {
    phone_changed: String,
    hold_until: String,
    key: String,
    attempts: Vec<AttemptRow>,
}

/// The panels of a user (for the user page), read on the blocking pool.
pub async fn panel(service: &Arc<Service>, ctx: Context, usr_name: UsrName) -> PhonePanel {
    let read = blocking(service, move |sv| {
        let now = chrono::Utc::now();
        let view = sv.user_view(&ctx, &usr_name, now)?;
        let rq = ExplainRequest {
            usr_name: Some(usr_name),
            token_id: None,
            count: DEFAULT_ATTEMPTS,
        };
        Ok((view, sv.explain(&ctx, &rq, now)?))
    })
    .await;
    let Ok((view, explained)) = read else {
        return PhonePanel::default();
    };
    PhonePanel {
        phone_changed: view.phone_changed_at.map(when).unwrap_or_default(),
        hold_until: view.hold_until.map(when).unwrap_or_default(),
        key: view.intent_key,
        attempts: explained
            .attempts
            .into_iter()
            .map(|a| AttemptRow {
                at: a.at.map(when).unwrap_or_default(),
                action: a.action,
                token_id: a.token_id.unwrap_or_default(),
                result: a.result,
                reason: a.reason,
                advice: a.code.map(|c| c.advice()).unwrap_or_default(),
            })
            .collect(),
    }
}

#[derive(Serialize)]
struct PhonePage {
    page: Base,
    usr_name: String,
    key: String,
    remove: bool,
}

/// The confirmation page of a phone change (`action=remove` to remove it).
#[get("/users/phone?<name>&<key>&<action>")]
async fn phone_page(
    admin: Admin,
    name: &str,
    key: &str,
    action: Option<&str>,
    flash: Option<FlashMessage<'_>>,
    service: &State<Arc<Service>>,
) -> Result<Template, Refusal> {
    permit(&admin.0, service, StaffAction::PhoneChange).await?;
    let remove = action == Some("remove");
    Ok(Template::render(
        "admin/users/phone",
        PhonePage {
            page: Base::new(
                if remove {
                    "Remove the phone"
                } else {
                    "Change the phone"
                },
                &admin.0,
                flash,
            ),
            usr_name: name.to_owned(),
            key: key.to_owned(),
            remove,
        },
    ))
}

#[derive(FromForm)]
struct PhoneForm {
    #[field(default = String::new())]
    csrf: String,
    usr_name: String,
    key: String,
    #[field(default = String::new())]
    phone: String,
    #[field(default = false)]
    remove: bool,
    #[field(default = false)]
    confirmed: bool,
    /// Why, for the approver (under dual control).
    #[field(default = String::new())]
    reason: String,
}

fn parse_phone_form(form: &PhoneForm) -> Result<PhoneChange, Error> {
    let usr_name =
        UsrName::parse(&form.usr_name).ok_or_else(|| Error::at(Fault::InvalidValue, "UsrName"))?;
    if !form.confirmed {
        return Err(Error::at(Fault::FieldRequired, "confirmed")
            .with_detail("(tick the box: the customer's identity was verified)"));
    }
    let phone = if form.remove {
        None
    } else {
        Some(
            PhoneNum::parse(form.phone.trim())
                .ok_or_else(|| Error::at(Fault::PhoneDigits, "PhoneNum"))?,
        )
    };
    Ok(PhoneChange {
        usr_name,
        intent_key: form.key.clone(),
        phone,
    })
}

/// Changes or removes the phone (after the confirmation page).
#[post("/users/phone", data = "<form>")]
async fn phone_change(
    admin: Admin,
    form: Form<PhoneForm>,
    service: &State<Arc<Service>>,
) -> Result<Flash<Redirect>, Refusal> {
    let s = admin.0;
    s.check_csrf(&form.csrf)?;
    let back = detail_uri(&form.usr_name);
    let change = match parse_phone_form(&form) {
        Ok(c) => c,
        Err(e) => return Ok(refused(back, &e)),
    };
    let rq = StaffRequest::PhoneChange {
        usr_name: change.usr_name.as_str().to_owned(),
        phone: change.phone.map(|p| p.as_str().to_owned()),
        intent_key: change.intent_key,
    };
    let result = submit(&s, service, rq, form.reason.clone()).await?;
    Ok(answered(back, result))
}

#[derive(FromForm)]
struct LiftForm {
    #[field(default = String::new())]
    csrf: String,
    usr_name: String,
    #[field(default = String::new())]
    reason: String,
}

/// Lifts the SIM-swap hold with a reason (audited).
#[post("/users/hold/lift", data = "<form>")]
async fn hold_lift(
    admin: Admin,
    form: Form<LiftForm>,
    service: &State<Arc<Service>>,
) -> Result<Flash<Redirect>, Refusal> {
    let s = admin.0;
    s.check_csrf(&form.csrf)?;
    let back = detail_uri(&form.usr_name);
    let Some(name) = UsrName::parse(&form.usr_name) else {
        return Ok(Flash::error(
            Redirect::to(back),
            "That is not a valid UsrName.",
        ));
    };
    let rq = StaffRequest::HoldLift {
        usr_name: name.as_str().to_owned(),
        reason: form.reason.clone(),
    };
    let result = submit(&s, service, rq, form.reason.clone()).await?;
    Ok(answered(back, result))
}

#[derive(Serialize)]
struct DriftRow {
    token_id: String,
    token_type: String,
    status: String,
    drift: i32,
    minutes: String,
    users: Vec<String>,
    near_edge: bool,
}

#[derive(Serialize)]
struct DriftPage {
    page: Base,
    tokens: Vec<DriftRow>,
}

/// The drifting tokens, largest |drift| first.
#[get("/drift")]
async fn drift_page(
    admin: Admin,
    flash: Option<FlashMessage<'_>>,
    service: &State<Arc<Service>>,
) -> Result<Template, Flash<Redirect>> {
    let s = admin.0;
    let ctx = s.context();
    let found = blocking(service, move |sv| sv.drifting_tokens(&ctx))
        .await
        .map_err(|e| refused("/admin/users".into(), &e))?;
    Ok(Template::render(
        "admin/drift",
        DriftPage {
            page: Base::new("Drifting tokens", &s, flash),
            tokens: found
                .into_iter()
                .map(|t| DriftRow {
                    minutes: format!(
                        "{:.1} min {}",
                        f64::from(t.drift.abs() * t.period) / 60.0,
                        if t.drift > 0 { "fast" } else { "slow" }
                    ),
                    token_id: t.token_id,
                    token_type: t.token_type.to_string(),
                    status: t.status.to_string(),
                    drift: t.drift,
                    users: t.users,
                    near_edge: t.near_edge,
                })
                .collect(),
        },
    ))
}
