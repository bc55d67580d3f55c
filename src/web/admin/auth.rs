//! Sign-in, sign-out and the password change (forced after a one-time password).
//!
//! The sign-in form has its own CSRF token in a short private cookie (there is no session
//! yet); a wrong username and a wrong password get the same answer; the back-off of
//! `domain::admins` answers "try again after …".

use crate::web::admin::template::Template;
use rocket::form::{Form, FromForm};
use rocket::http::{CookieJar, Status};
use rocket::request::FlashMessage;
use rocket::response::{Flash, Redirect};
use rocket::{get, post, routes, Either, Route, State};
use serde::Serialize;
use std::sync::Arc;
use zeroize::Zeroizing;

use super::hash_gate::HashGate;
use super::oidc::{self, SignOn};
use super::session::{self, Admin, AdminConfig, AdminSession, Tls, LOGIN_COOKIE};
use super::{csrf_refused, describe, error_page, Base, Refusal};
use crate::domain::admins::SignIn;
use crate::domain::api_keys::{is_inst_rt_id, KeyReach};
use crate::domain::{Context, Service};
use crate::web::edge::blocking;

/// The routes of this file.
pub fn routes() -> Vec<Route> {
    routes![
        login_page,
        login,
        logout,
        password_page,
        password,
        switch_institution
    ]
}

#[derive(Serialize)]
struct LoginPage {
    page: Base,
    /// The OpenID provider's button, if one is configured.
    oidc_label: Option<String>,
    /// Local passwords are accepted.
    local: bool,
}

#[get("/login")]
fn login_page(
    jar: &CookieJar<'_>,
    req_tls: session::Tls,
    flash: Option<FlashMessage<'_>>,
    sign_on: &State<SignOn>,
) -> Result<Template, Refusal> {
    let csrf = match jar.get_private(LOGIN_COOKIE) {
        Some(c) => c.value().to_owned(),
        None => {
            let token = session::random_token()
                .ok_or_else(|| error_page(Status::InternalServerError, "no randomness"))?;
            jar.add_private(session::cookie(req_tls.0, LOGIN_COOKIE, token.clone()));
            token
        }
    };
    Ok(Template::render(
        "admin/login",
        LoginPage {
            page: Base {
                title: "Sign in".into(),
                admin: None,
                csrf,
                flash: flash.map(|f| (f.kind().to_owned(), f.message().to_owned())),
                ..Base::default()
            },
            oidc_label: oidc::button(sign_on),
            local: sign_on.local,
        },
    ))
}

/// The sign-in form. Passwords are zeroized when the form is dropped.
#[derive(FromForm, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
struct LoginForm {
    #[field(default = String::new())]
    csrf: String,
    username: String,
    password: String,
}

/// The refusal of an attempt the hashing gate could not take in.
fn too_many_attempts() -> Refusal {
    error_page(
        Status::TooManyRequests,
        "Too many sign-in attempts are being checked at once. Wait a moment and try again.",
    )
}

#[post("/login", data = "<form>")]
async fn login(
    form: Form<LoginForm>,
    jar: &CookieJar<'_>,
    req_tls: session::Tls,
    service: &State<Arc<Service>>,
    gate: &State<HashGate>,
    config: &State<AdminConfig>,
    sign_on: &State<SignOn>,
) -> Result<Flash<Redirect>, Refusal> {
    if !sign_on.local {
        return Err(error_page(
            Status::Forbidden,
            "Local passwords are turned off here: sign in through your organisation's identity provider.",
        ));
    }
    let expected = jar
        .get_private(LOGIN_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    if !session::same_token(&form.csrf, &expected) {
        return Err(csrf_refused());
    }
    let now = chrono::Utc::now();
    let username = form.username.clone();
    let password = Zeroizing::new(form.password.clone());
    drop(form);
    let permit = gate.enter().await.ok_or_else(too_many_attempts)?;
    let outcome = blocking(service, move |s| {
        s.sign_in(&Context::default(), &username, &password, now)
    })
    .await;
    drop(permit);
    let back = |msg: String| Ok(Flash::error(Redirect::to("/admin/login"), msg));
    match outcome {
        Ok(SignIn::Success(admin)) => {
            let how = (config.limits, "password", false);
            session::start(jar, req_tls.0, service, how, admin.admin_id)
                .await
                .ok_or_else(|| error_page(Status::InternalServerError, "no session"))?;
            Ok(if config.mfa_required {
                Flash::success(Redirect::to("/admin/factor"), "Now your second factor.")
            } else if admin.must_change {
                Flash::error(
                    Redirect::to("/admin/password"),
                    "Choose your own password before going on.",
                )
            } else {
                Flash::success(Redirect::to("/admin/users"), "Signed in.")
            })
        }
        // One answer for a wrong password, an unknown or disabled name and a throttled
        // account (as long as each, the domain hashes in every case): the page never
        // tells which names exist. The back-off's end is in the audit, for the admins.
        Ok(SignIn::Refused | SignIn::Throttled(_)) => back(REFUSED.into()),
        Err(e) => back(describe(&e)),
    }
}

/// The answer to every refused sign-in.
pub const REFUSED: &str = "Wrong username or password, or too many failed sign-ins: \
                           wait a few minutes and try again.";

#[derive(FromForm)]
struct CsrfForm {
    #[field(default = String::new())]
    csrf: String,
}

#[post("/logout", data = "<form>")]
async fn logout(
    s: AdminSession,
    form: Form<CsrfForm>,
    jar: &CookieJar<'_>,
    service: &State<Arc<Service>>,
) -> Result<Flash<Redirect>, Refusal> {
    s.check_csrf(&form.csrf)?;
    session::end(jar, service).await;
    Ok(Flash::success(
        Redirect::to("/admin/login"),
        "You are signed out.",
    ))
}

#[derive(FromForm)]
struct InstitutionForm {
    #[field(default = String::new())]
    csrf: String,
    #[field(default = String::new())]
    inst_rt_id: String,
}

/// Makes the console act within another institution (blank: the default one). Users,
/// enrollment, tokens and the hardware inventory then show and change that institution's.
#[post("/institution", data = "<form>")]
fn switch_institution(
    admin: Admin,
    form: Form<InstitutionForm>,
    jar: &CookieJar<'_>,
    tls: Tls,
) -> Result<Flash<Redirect>, Refusal> {
    admin.0.check_csrf(&form.csrf)?;
    if admin.0.admin.reach != KeyReach::All {
        // Staff of one institution act within it alone: there is nothing to switch to.
        return Err(super::error_page(
            rocket::http::Status::Forbidden,
            "Your account acts within one institution only. Nothing was changed.",
        ));
    }
    let inst = form.inst_rt_id.trim();
    if !inst.is_empty() && !is_inst_rt_id(inst) {
        return Ok(Flash::error(
            Redirect::to("/admin/users"),
            "InstRtId: 1-64 characters of A-Z a-z 0-9 . _ - expected.",
        ));
    }
    let chosen = (!inst.is_empty()).then(|| inst.to_owned());
    session::switch_institution(jar, tls.0, chosen);
    let shown = if inst.is_empty() {
        "the default institution"
    } else {
        inst
    };
    Ok(Flash::success(
        Redirect::to("/admin/users"),
        format!("The console now acts within {shown}."),
    ))
}

#[derive(Serialize)]
struct PasswordPage {
    page: Base,
    forced: bool,
    min_chars: usize,
}

/// The password page (forced after a one-time password). It takes any signed-in
/// session but one that owes its second factor: the factor comes first, so a stolen
/// password alone cannot even change the password.
#[get("/password")]
fn password_page(
    s: AdminSession,
    flash: Option<FlashMessage<'_>>,
    config: &State<AdminConfig>,
) -> Either<Template, Redirect> {
    if s.owes_factor(config) {
        return Either::Right(Redirect::to("/admin/factor"));
    }
    Either::Left(Template::render(
        "admin/password",
        PasswordPage {
            forced: s.admin.must_change,
            page: Base::new("Change password", &s, flash),
            min_chars: crate::domain::admins::MIN_PASSWORD_CHARS,
        },
    ))
}

#[derive(FromForm, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
struct PasswordForm {
    #[field(default = String::new())]
    csrf: String,
    current_password: String,
    new_password: String,
    repeat_password: String,
}

#[post("/password", data = "<form>")]
async fn password(
    s: AdminSession,
    form: Form<PasswordForm>,
    jar: &CookieJar<'_>,
    tls: Tls,
    service: &State<Arc<Service>>,
    gate: &State<HashGate>,
    config: &State<AdminConfig>,
) -> Result<Flash<Redirect>, Refusal> {
    s.check_csrf(&form.csrf)?;
    if s.owes_factor(config) {
        return Ok(Flash::error(
            Redirect::to("/admin/factor"),
            "Your second factor first.",
        ));
    }
    let again = |msg: String| Ok(Flash::error(Redirect::to("/admin/password"), msg));
    if form.new_password.as_str() != form.repeat_password.as_str() {
        return again("The two new passwords differ.".into());
    }
    let current = Zeroizing::new(form.current_password.clone());
    let new = Zeroizing::new(form.new_password.clone());
    drop(form);
    let ctx = s.context();
    let (id, factor_passed) = (s.admin.admin_id, s.factor_passed);
    let now = chrono::Utc::now();
    let permit = gate.enter().await.ok_or_else(too_many_attempts)?;
    let changed = blocking(service, move |sv| {
        sv.change_admin_password(&ctx, id, &current, &new, now)
    })
    .await;
    drop(permit);
    match changed {
        Ok(()) => {
            // Every session of the account ended with the old password; this one goes
            // on, issued anew.
            let how = (config.limits, "password", factor_passed);
            session::start(jar, tls.0, service, how, id)
                .await
                .ok_or_else(|| error_page(Status::InternalServerError, "no session"))?;
            Ok(Flash::success(
                Redirect::to("/admin/users"),
                "Your password is changed.",
            ))
        }
        Err(e) => again(describe(&e)),
    }
}
