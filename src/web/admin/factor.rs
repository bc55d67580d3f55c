//! The console's second factor and its sessions.
//!
//! After the password, a session opens no page (412 → here) until it passes the staff
//! member's second factor: tokend's own TOTP (`domain::staff::factor`). With none
//! enrolled, this page enrolls one — QR code and secret shown once, confirmed by a first
//! code — and from then on asks for a code at each sign-in. The sessions page lists the
//! staff member's live sessions with a sign-out for each.

use crate::web::admin::template::Template;
use base64::Engine as _;
use rocket::form::{Form, FromForm};
use rocket::request::FlashMessage;
use rocket::response::{Flash, Redirect};
use rocket::{get, post, routes, Route, State};
use serde::Serialize;
use std::sync::Arc;

use super::session::{Admin, AdminConfig, AdminSession};
use super::{refused, Base, PageResult, Refusal};
use crate::domain::qr;
use crate::domain::staff::factor::{FactorCheck, FactorState};
use crate::domain::{Error, Service};
use crate::web::admin::words::when;
use crate::web::edge::blocking;

/// The routes of this file.
pub fn routes() -> Vec<Route> {
    routes![factor_page, factor, sessions_page, end_session]
}

#[derive(Serialize, Default)]
struct FactorPage {
    page: Base,
    /// Enrolling: the QR code (data URI) and the secret, shown this once.
    qr_data_uri: Option<String>,
    secret: Option<String>,
    /// A code for an enrolled factor is asked.
    pending: bool,
    /// The staff member has passkeys: offer them.
    passkeys: bool,
}

async fn enroll(s: &AdminSession, service: &Arc<Service>) -> PageResult {
    let (ctx, name) = (s.context(), s.admin.username.clone());
    let shown = blocking(service, move |sv| {
        let enrolled = sv.enroll_staff_factor(&ctx, &name, chrono::Utc::now())?;
        let p = enrolled
            .provisioning
            .ok_or_else(|| Error::Internal("software enrollment without a secret".into()))?;
        let png = qr::png(&p.otpauth_uri)?;
        Ok((p.secret, png))
    })
    .await
    .map_err(|e| refused("/admin/login".into(), &e))?;
    Ok(Template::render(
        "admin/factor",
        FactorPage {
            page: Base::new("Enroll your second factor", s, None),
            secret: Some(shown.0.as_str().to_owned()),
            qr_data_uri: Some(format!(
                "data:image/png;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(shown.1)
            )),
            pending: false,
            passkeys: false,
        },
    ))
}

/// The second step of a sign-in: a code, or the enrollment of a first authenticator
/// (`?new=1`: start an unconfirmed enrollment over).
#[get("/factor?<new>")]
async fn factor_page(
    s: AdminSession,
    new: Option<u8>,
    flash: Option<FlashMessage<'_>>,
    service: &State<Arc<Service>>,
    config: &State<AdminConfig>,
) -> Result<PageResult, Redirect> {
    if !s.owes_factor(config) {
        return Err(Redirect::to("/admin/users"));
    }
    let (name, id) = (s.admin.username.clone(), s.admin.admin_id);
    let state = blocking(service, move |sv| {
        Ok((sv.staff_factor(&name)?, !sv.passkeys_of(id)?.is_empty()))
    })
    .await;
    Ok(match state {
        Ok((FactorState::None, false)) => enroll(&s, service).await,
        Ok((FactorState::Pending(_), _)) if new == Some(1) => enroll(&s, service).await,
        Ok((state, passkeys)) => Ok(Template::render(
            "admin/factor",
            FactorPage {
                page: Base::new("Second factor", &s, flash),
                pending: matches!(state, FactorState::Pending(_)),
                passkeys,
                ..FactorPage::default()
            },
        )),
        Err(e) => Err(refused("/admin/login".into(), &e)),
    })
}

#[derive(FromForm)]
struct CodeForm {
    #[field(default = String::new())]
    csrf: String,
    #[field(default = String::new())]
    code: String,
}

/// Checks the code: passed, the session opens the console.
#[post("/factor", data = "<form>")]
async fn factor(
    s: AdminSession,
    form: Form<CodeForm>,
    service: &State<Arc<Service>>,
) -> Result<Flash<Redirect>, Refusal> {
    s.check_csrf(&form.csrf)?;
    let (ctx, name, code) = (s.context(), s.admin.username.clone(), form.code.clone());
    let checked = blocking(service, move |sv| {
        sv.check_staff_factor(&ctx, &name, &code, chrono::Utc::now())
    })
    .await;
    let again = |m: &str| Flash::error(Redirect::to("/admin/factor"), m.to_owned());
    Ok(match checked {
        Ok(FactorCheck::Passed) => match s.pass_factor(service).await {
            Ok(()) => Flash::success(Redirect::to("/admin/users"), "Signed in."),
            Err(e) => refused("/admin/factor".into(), &e),
        },
        Ok(FactorCheck::Refused(_)) => {
            again("That code is wrong or was used already: wait for the next one and try again.")
        }
        Ok(FactorCheck::Locked) => again(
            "Your second factor is locked after too many wrong codes. Ask an admin to reset it.",
        ),
        Err(e) => refused("/admin/factor".into(), &e),
    })
}

#[derive(Serialize)]
struct SessionRow {
    handle: String,
    issued: String,
    last_seen: String,
    via: String,
    factor: bool,
    this: bool,
}

#[derive(Serialize)]
struct SessionsPage {
    page: Base,
    sessions: Vec<SessionRow>,
}

/// The staff member's live sessions.
#[get("/sessions")]
async fn sessions_page(
    admin: Admin,
    flash: Option<FlashMessage<'_>>,
    service: &State<Arc<Service>>,
) -> PageResult {
    let s = admin.0;
    let id = s.admin.admin_id;
    let rows = blocking(service, move |sv| sv.sessions_of(id))
        .await
        .map_err(|e| refused("/admin/users".into(), &e))?;
    Ok(Template::render(
        "admin/sessions",
        SessionsPage {
            page: Base::new("Your sessions", &s, flash),
            sessions: rows
                .into_iter()
                .map(|r| SessionRow {
                    this: r.handle == s.handle,
                    handle: r.handle,
                    issued: r.issued_at.map(when).unwrap_or_default(),
                    last_seen: r.last_seen_at.map(when).unwrap_or_default(),
                    via: r.via,
                    factor: r.factor_passed,
                })
                .collect(),
        },
    ))
}

#[derive(FromForm)]
struct EndForm {
    #[field(default = String::new())]
    csrf: String,
    handle: String,
}

/// Signs one of the staff member's sessions out (on every node at once).
#[post("/sessions/end", data = "<form>")]
async fn end_session(
    admin: Admin,
    form: Form<EndForm>,
    service: &State<Arc<Service>>,
) -> Result<Flash<Redirect>, Refusal> {
    let s = admin.0;
    s.check_csrf(&form.csrf)?;
    let (ctx, id, handle) = (s.context(), s.admin.admin_id, form.handle.clone());
    let done = blocking(service, move |sv| {
        sv.end_own_session(&ctx, id, &handle, chrono::Utc::now())
    })
    .await;
    Ok(match done {
        Ok(()) => Flash::success(
            Redirect::to("/admin/sessions"),
            "That session is signed out.",
        ),
        Err(e) => refused("/admin/sessions".into(), &e),
    })
}
