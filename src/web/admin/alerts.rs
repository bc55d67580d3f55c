//! The SMS alert texts page (`/admin/alerts`): the console's institution's library of
//! named texts for OOBValidate's recipient mode (jXchange's ENS publisher library), each
//! version (`PubVer`) with its subscribers, whether the library is open to OOB, and —
//! for `alert.edit` (admin) — adding a text's next version and opening or closing the
//! library. The same domain calls as `tokend alert`; every change is audited there.
//! A text reaches customers' phones, so editing it is an admin's action, which a bank
//! may also put under dual control (`dual_control = ["alert.edit"]`).

use crate::web::admin::template::Template;
use rocket::form::{Form, FromForm};
use rocket::request::FlashMessage;
use rocket::response::{Flash, Redirect};
use rocket::{get, post, routes, Route, State};
use serde::Serialize;
use std::sync::Arc;

use super::roles::{answered, submit};
use super::session::Admin;
use super::{refused, Base, Refusal};
use crate::domain::staff::requests::StaffRequest;
use crate::domain::Service;
use crate::web::admin::words::when;
use crate::web::edge::blocking;

/// Where the page is.
const PAGE: &str = "/admin/alerts";

/// The routes of this file.
pub fn routes() -> Vec<Route> {
    routes![library, add, set_oob]
}

/// One version of one alert.
#[derive(Serialize)]
struct AlertRow {
    name: String,
    pub_ver: i32,
    text: String,
    added: String,
    /// The name's subscribers, on its newest version's row only (a user is subscribed
    /// to a name, every version).
    subscribers: Option<Vec<String>>,
}

#[derive(Serialize)]
struct AlertsPage {
    page: Base,
    /// `none` (no library deployed yet), `open` or `closed` (to OOB validation).
    library: &'static str,
    alerts: Vec<AlertRow>,
}

#[get("/alerts")]
async fn library(
    admin: Admin,
    flash: Option<FlashMessage<'_>>,
    service: &State<Arc<Service>>,
) -> Result<Template, Flash<Redirect>> {
    let inst = admin.0.institution.clone();
    let (oob, texts, subscribers) = blocking(service, move |s| {
        let (oob, texts) = s.alert_library(&inst)?;
        Ok((oob, texts, s.alert_subscriptions(&inst)?))
    })
    .await
    .map_err(|e| refused("/admin/users".into(), &e))?;
    let alerts = texts
        .iter()
        .map(|t| AlertRow {
            name: t.alrt_name.clone(),
            pub_ver: t.pub_ver,
            text: t.text.clone(),
            added: crate::domain::from_ms(t.created_at)
                .map(when)
                .unwrap_or_default(),
            subscribers: newest(&texts, t).then(|| {
                subscribers
                    .iter()
                    .filter(|(name, _)| *name == t.alrt_name)
                    .map(|(_, usr)| usr.clone())
                    .collect()
            }),
        })
        .collect();
    Ok(Template::render(
        "admin/alerts",
        AlertsPage {
            page: Base::new("SMS alert texts", &admin.0, flash),
            library: match oob {
                None => "none",
                Some(true) => "open",
                Some(false) => "closed",
            },
            alerts,
        },
    ))
}

/// Whether `t` is its name's newest version.
fn newest(all: &[crate::domain::alerts::AlertText], t: &crate::domain::alerts::AlertText) -> bool {
    !all.iter()
        .any(|o| o.alrt_name == t.alrt_name && o.pub_ver > t.pub_ver)
}

#[derive(FromForm)]
struct AddForm {
    #[field(default = String::new())]
    csrf: String,
    name: String,
    text: String,
    /// Why, for the approver (under dual control).
    #[field(default = String::new())]
    reason: String,
}

/// Adds the name's next version (the first deploys the library, open to OOB) — or files
/// the request under dual control.
#[post("/alerts", data = "<form>")]
async fn add(
    admin: Admin,
    form: Form<AddForm>,
    service: &State<Arc<Service>>,
) -> Result<Flash<Redirect>, Refusal> {
    let s = admin.0;
    s.check_csrf(&form.csrf)?;
    let rq = StaffRequest::AlertAdd {
        name: form.name.trim().to_owned(),
        text: form.text.clone(),
    };
    let done = submit(&s, service, rq, form.reason.clone()).await?;
    Ok(answered(PAGE.into(), done))
}

#[derive(FromForm)]
struct OobForm {
    #[field(default = String::new())]
    csrf: String,
    enabled: bool,
    /// Why, for the approver (under dual control).
    #[field(default = String::new())]
    reason: String,
}

/// Opens or closes the library to OOB validation (closed: fault 3155), texts kept — or
/// files the request under dual control.
#[post("/alerts/oob", data = "<form>")]
async fn set_oob(
    admin: Admin,
    form: Form<OobForm>,
    service: &State<Arc<Service>>,
) -> Result<Flash<Redirect>, Refusal> {
    let s = admin.0;
    s.check_csrf(&form.csrf)?;
    let rq = StaffRequest::AlertLibrary {
        enabled: form.enabled,
    };
    let done = submit(&s, service, rq, form.reason.clone()).await?;
    Ok(answered(PAGE.into(), done))
}
