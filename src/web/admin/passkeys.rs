//! Staff passkeys in the console: the staff member's page (`/admin/passkeys`: list,
//! register, remove) and the passkey sign-in of the factor page. The ceremonies' two
//! steps are JSON calls made by `/admin/webauthn.js` (the console's one script), each
//! carrying the session's CSRF token; the rules are `domain::staff::passkeys`.

use crate::web::admin::template::Template;
use rocket::form::{Form, FromForm};
use rocket::http::{ContentType, Status};
use rocket::request::FlashMessage;
use rocket::response::{Flash, Redirect};
use rocket::serde::json::Json;
use rocket::{get, post, routes, Request, Route, State};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use webauthn_rs::prelude::Url;

use super::oidc::SignOn;
use super::session::{self, Admin, AdminSession};
use super::{refused, Base, PageResult, Refusal};
use crate::domain::{Error, Service};
use crate::web::admin::words::when;
use crate::web::edge::blocking;

/// The routes of this file.
pub fn routes() -> Vec<Route> {
    routes![
        script,
        passkeys_page,
        register_start,
        register_finish,
        remove,
        sign_in_start,
        sign_in_finish
    ]
}

/// The console's origin for WebAuthn: `webauthn_origin`, else this request's.
pub struct Origin(Option<Url>);

#[rocket::async_trait]
impl<'r> rocket::request::FromRequest<'r> for Origin {
    type Error = ();
    async fn from_request(req: &'r Request<'_>) -> rocket::request::Outcome<Self, ()> {
        let configured = req
            .rocket()
            .state::<SignOn>()
            .and_then(|s| s.webauthn_origin.clone());
        let origin = configured.or_else(|| {
            let scheme = if session::is_tls(req) {
                "https"
            } else {
                "http"
            };
            req.host()
                .and_then(|h| Url::parse(&format!("{scheme}://{h}")).ok())
        });
        rocket::request::Outcome::Success(Origin(origin))
    }
}

impl Origin {
    fn get(&self) -> Result<Url, Error> {
        self.0
            .clone()
            .ok_or_else(|| Error::Internal("no origin for WebAuthn".into()))
    }
}

/// The console's one script (WebAuthn needs the browser's JavaScript API).
#[get("/webauthn.js")]
fn script() -> (ContentType, &'static str) {
    (
        ContentType::JavaScript,
        include_str!("../../../templates/webauthn.js"),
    )
}

#[derive(Serialize)]
struct Row {
    id: i32,
    name: String,
    created: String,
    last_used: String,
}

#[derive(Serialize)]
struct PasskeysPage {
    page: Base,
    keys: Vec<Row>,
}

#[get("/passkeys")]
async fn passkeys_page(
    admin: Admin,
    flash: Option<FlashMessage<'_>>,
    service: &State<Arc<Service>>,
) -> PageResult {
    let s = admin.0;
    let id = s.admin.admin_id;
    let keys = blocking(service, move |sv| sv.passkeys_of(id))
        .await
        .map_err(|e| refused("/admin/users".into(), &e))?;
    Ok(Template::render(
        "admin/passkeys",
        PasskeysPage {
            page: Base::new("Your passkeys", &s, flash),
            keys: keys
                .into_iter()
                .map(|k| Row {
                    id: k.id,
                    name: k.name,
                    created: k.created_at.map(when).unwrap_or_default(),
                    last_used: k.last_used_at.map(when).unwrap_or_default(),
                })
                .collect(),
        },
    ))
}

/// A ceremony step's request: the session's CSRF token, and the browser's answer.
#[derive(Deserialize)]
struct Step {
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    credential: serde_json::Value,
}

/// A ceremony step's answer for the script.
#[derive(Serialize)]
struct Said {
    ok: bool,
    message: String,
    to: String,
}

fn said(ok: bool, message: impl Into<String>, to: &str) -> (Status, Json<Said>) {
    let status = if ok {
        Status::Ok
    } else {
        Status::UnprocessableEntity
    };
    (
        status,
        Json(Said {
            ok,
            message: message.into(),
            to: to.to_owned(),
        }),
    )
}

/// The options of a ceremony as raw JSON, or a refusal the script shows.
type Options = Result<(ContentType, String), (Status, Json<Said>)>;

fn options(result: Result<String, Error>) -> Options {
    result
        .map(|o| (ContentType::JSON, o))
        .map_err(|e| said(false, super::describe(&e), ""))
}

fn checked(s: &AdminSession, step: &Step) -> Result<(), (Status, Json<Said>)> {
    if s.is_csrf(&step.csrf) {
        Ok(())
    } else {
        Err(said(
            false,
            "This page has expired: reload it and try again.",
            "",
        ))
    }
}

#[post("/passkeys/register/start", data = "<step>")]
async fn register_start(
    admin: Admin,
    step: Json<Step>,
    origin: Origin,
    service: &State<Arc<Service>>,
) -> Options {
    let s = admin.0;
    checked(&s, &step)?;
    let (sid, staff, origin) = (s.session_id(), s.staff(), origin.get());
    options(
        blocking(service, move |sv| {
            sv.start_passkey_registration(&sid, &staff, &origin?)
        })
        .await,
    )
}

#[post("/passkeys/register/finish", data = "<step>")]
async fn register_finish(
    admin: Admin,
    step: Json<Step>,
    origin: Origin,
    service: &State<Arc<Service>>,
) -> (Status, Json<Said>) {
    let s = admin.0;
    if let Err(refusal) = checked(&s, &step) {
        return refusal;
    }
    let (ctx, sid, staff, origin) = (s.context(), s.session_id(), s.staff(), origin.get());
    let (name, answer) = (step.name.clone(), step.credential.to_string());
    let done = blocking(service, move |sv| {
        sv.finish_passkey_registration(
            &ctx,
            (&sid, &staff, &origin?),
            &name,
            &answer,
            chrono::Utc::now(),
        )
    })
    .await;
    match done {
        Ok(()) => said(true, "The passkey is registered.", "/admin/passkeys"),
        Err(e) => said(false, super::describe(&e), ""),
    }
}

#[derive(FromForm)]
struct RemoveForm {
    #[field(default = String::new())]
    csrf: String,
    id: i32,
}

#[post("/passkeys/remove", data = "<form>")]
async fn remove(
    admin: Admin,
    form: Form<RemoveForm>,
    service: &State<Arc<Service>>,
) -> Result<Flash<Redirect>, Refusal> {
    let s = admin.0;
    s.check_csrf(&form.csrf)?;
    let (ctx, owner, id) = (s.context(), s.admin.admin_id, form.id);
    let done = blocking(service, move |sv| {
        sv.remove_passkey(&ctx, owner, id, chrono::Utc::now())
    })
    .await;
    Ok(match done {
        Ok(()) => Flash::success(Redirect::to("/admin/passkeys"), "The passkey is removed."),
        Err(e) => refused("/admin/passkeys".into(), &e),
    })
}

#[post("/factor/passkey/start", data = "<step>")]
async fn sign_in_start(
    s: AdminSession,
    step: Json<Step>,
    origin: Origin,
    service: &State<Arc<Service>>,
) -> Options {
    checked(&s, &step)?;
    let (sid, id, origin) = (s.session_id(), s.admin.admin_id, origin.get());
    options(
        blocking(service, move |sv| {
            sv.start_passkey_sign_in(&sid, id, &origin?)
        })
        .await,
    )
}

#[post("/factor/passkey/finish", data = "<step>")]
async fn sign_in_finish(
    s: AdminSession,
    step: Json<Step>,
    origin: Origin,
    service: &State<Arc<Service>>,
) -> (Status, Json<Said>) {
    if let Err(refusal) = checked(&s, &step) {
        return refusal;
    }
    let (ctx, sid, id, origin) = (s.context(), s.session_id(), s.admin.admin_id, origin.get());
    let answer = step.credential.to_string();
    let done = blocking(service, move |sv| {
        sv.finish_passkey_sign_in(&ctx, (&sid, id, &origin?), &answer, chrono::Utc::now())
    })
    .await;
    match done {
        Ok(true) => match s.pass_factor(service).await {
            Ok(()) => said(true, "Signed in.", "/admin/users"),
            Err(e) => said(false, super::describe(&e), ""),
        },
        Ok(false) => said(false, "That passkey was refused.", ""),
        Err(e) => said(false, super::describe(&e), ""),
    }
}
