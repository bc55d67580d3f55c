//! The admin console (`/admin`): server-rendered pages from `templates/` that work
//! without JavaScript. Every form carries the session's CSRF token and follows
//! Post/Redirect/Get with a flash message; every page is `no-store` and under a strict
//! Content-Security-Policy (see [`security_headers`]). Imports: rocket, serde, domain.

pub mod alerts;
pub mod api_keys;
pub mod approvals;
pub mod audit_view;
pub mod auth;
pub mod enroll;
pub mod factor;
pub mod fallback;
pub mod hardware;
pub mod hash_gate;
pub mod oidc;
pub mod overview;
pub mod passkeys;
pub mod phones;
pub mod roles;
pub mod session;
pub mod staff;
pub mod template;
pub mod tokens;
pub mod users;
pub mod views;
pub mod webhooks;
mod words;

use crate::web::admin::template::Template;
use rocket::fairing::AdHoc;
use rocket::http::{ContentType, Header, Status};
use rocket::request::FlashMessage;
use rocket::response::{Flash, Redirect, Responder};
use rocket::{catch, catchers, get, routes, Catcher, Request, Route};
use serde::Serialize;

use crate::domain::api_keys::KeyReach;
use crate::domain::staff::role_may;
use crate::domain::{Error, Fault};
use crate::types::{StaffAction, TokenId, UsrName};

/// The console's routes, mounted at `/admin`.
pub fn routes() -> Vec<Route> {
    let mut r = routes![home, stylesheet];
    r.extend(auth::routes());
    r.extend(users::routes());
    r.extend(enroll::routes());
    r.extend(tokens::routes());
    r.extend(fallback::routes());
    r.extend(hardware::routes());
    r.extend(views::routes());
    r.extend(audit_view::routes());
    r.extend(phones::routes());
    r.extend(api_keys::routes());
    r.extend(approvals::routes());
    r.extend(staff::routes());
    r.extend(factor::routes());
    r.extend(oidc::routes());
    r.extend(passkeys::routes());
    r.extend(overview::routes());
    r.extend(webhooks::routes());
    r.extend(alerts::routes());
    r
}

/// HTML catchers for `/admin`: signed out → the sign-in page; a pending password change
/// → the password page; anything else → a plain error page (never Rocket's default).
pub fn catchers() -> Vec<Catcher> {
    catchers![signed_out, owes_factor, must_change, any_error]
}

/// What every page's layout needs.
#[derive(Debug, Serialize, Default)]
pub struct Base {
    /// Page title.
    pub title: String,
    /// The signed-in admin, if any (shows the navigation).
    pub admin: Option<String>,
    /// The CSRF token of this session for the page's forms.
    pub csrf: String,
    /// A flash message from the previous POST: (kind, text).
    pub flash: Option<(String, String)>,
    /// The institution the console acts within.
    pub institution: Option<String>,
    /// The staff member's role.
    pub role: String,
    /// Whether they may switch institution (staff of every institution).
    pub switch: bool,
    /// The actions their role allows (the page shows only those).
    pub can: Vec<&'static str>,
    /// The actions under dual control (their forms ask for a reason).
    pub dual: Vec<&'static str>,
    /// The time zone the page's times are in (`UTC-06:00`).
    pub zone: String,
}

impl Base {
    /// The layout of a signed-in page.
    pub fn new(title: &str, s: &session::AdminSession, flash: Option<FlashMessage<'_>>) -> Base {
        Base {
            title: title.to_owned(),
            admin: Some(s.admin.username.clone()),
            csrf: s.csrf.clone(),
            flash: flash.map(|f| (f.kind().to_owned(), f.message().to_owned())),
            institution: Some(s.institution.clone()),
            role: s.admin.role.to_string(),
            switch: s.admin.reach == KeyReach::All,
            can: StaffAction::ALL
                .iter()
                .filter(|a| role_may(s.admin.role, **a))
                .map(|a| a.as_str())
                .collect(),
            dual: s.dual.iter().map(|a| a.as_str()).collect(),
            zone: words::zone(),
        }
    }
}

/// A page or a redirect with a message.
pub type PageResult = Result<Template, Flash<Redirect>>;

/// A redirect to `to` with an error message from a domain error (never a 500 page for a
/// refused input).
pub fn refused(to: String, e: &Error) -> Flash<Redirect> {
    Flash::error(Redirect::to(to), describe(e))
}

/// A domain error in words an admin can act on (`words`: no fault codes).
pub fn describe(e: &Error) -> String {
    if let Error::Internal(_) = e {
        tracing::error!("admin console: {e}");
    }
    words::plain(e)
}

/// An HTML error page with its status (boxed: a template is large).
pub struct Refusal(Box<(Status, Template)>);

impl<'r> Responder<'r, 'static> for Refusal {
    fn respond_to(self, req: &'r Request<'_>) -> rocket::response::Result<'static> {
        (*self.0).respond_to(req)
    }
}

/// Refusal of a form without this session's CSRF token.
pub fn csrf_refused() -> Refusal {
    error_page(
        Status::Forbidden,
        "This form has expired or did not come from this console. Go back, reload and try again.",
    )
}

/// A plain error page.
pub fn error_page(status: Status, message: &str) -> Refusal {
    #[derive(Serialize)]
    struct ErrorPage {
        page: Base,
        status: u16,
        message: String,
    }
    Refusal(Box::new((
        status,
        Template::render(
            "error",
            ErrorPage {
                page: Base {
                    title: format!("{} {}", status.code, status.reason_lossy()),
                    ..Base::default()
                },
                status: status.code,
                message: message.to_owned(),
            },
        ),
    )))
}

/// The console's home is the overview (issue 27).
#[get("/")]
fn home(_admin: session::Admin) -> Redirect {
    Redirect::to("/admin/overview")
}

/// The console's one stylesheet.
#[get("/admin.css")]
fn stylesheet() -> (ContentType, &'static str) {
    (
        ContentType::CSS,
        include_str!("../../../templates/admin.css"),
    )
}

#[catch(401)]
fn signed_out() -> Redirect {
    Redirect::to("/admin/login")
}

#[catch(412)]
fn owes_factor() -> Redirect {
    Redirect::to("/admin/factor")
}

#[catch(428)]
fn must_change() -> Redirect {
    Redirect::to("/admin/password")
}

#[catch(default)]
fn any_error(status: Status, _req: &Request<'_>) -> Refusal {
    let message = match status.code {
        404 => "There is no such page.",
        400 | 422 => "The form was not filled in as expected.",
        413 => "The upload is too large.",
        _ => "Something went wrong inside tokend; the log has the details.",
    };
    error_page(status, message)
}

/// The Content-Security-Policy of every answer: nothing but our own stylesheet, images
/// from `data:` (the enrollment QR code), forms posting to ourselves, no framing.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                       script-src 'self'; connect-src 'self'; \
                       form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Security headers on every answer; `no-store` on every console page (they show
/// personal data, secrets and QR codes: none of it belongs in a cache).
pub fn security_headers() -> AdHoc {
    AdHoc::on_response("security headers", |req, res| {
        Box::pin(async move {
            res.set_header(Header::new("Content-Security-Policy", CSP));
            res.set_header(Header::new("X-Frame-Options", "DENY"));
            res.set_header(Header::new("X-Content-Type-Options", "nosniff"));
            res.set_header(Header::new("Referrer-Policy", "no-referrer"));
            let path = req.uri().path();
            if path.starts_with("/admin")
                && path != "/admin/admin.css"
                && path != "/admin/webauthn.js"
            {
                res.set_header(Header::new("Cache-Control", "no-store"));
            }
        })
    })
}

/// A user name field of a console form (7001 when malformed).
pub(crate) fn usr_name(s: &str) -> Result<UsrName, Error> {
    UsrName::parse(s).ok_or_else(|| Error::at(Fault::InvalidValue, "UsrName"))
}

/// A token id field of a console form (7001 when malformed, echoing the value).
pub(crate) fn token_id(s: &str) -> Result<TokenId, Error> {
    TokenId::parse(s).ok_or_else(|| Error::at(Fault::InvalidValue, "TokenId").with_value(s))
}
