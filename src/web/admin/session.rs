//! Admin sessions: the private session cookie, its idle timeout, the CSRF token it
//! carries, and the guards every console page uses.
//!
//! The cookie is Rocket's private cookie (AES-256-GCM under the `secret_key`), so its
//! contents can be neither read nor forged by the browser: `sid:csrf`, then `:InstRtId`
//! once the admin switched institution (the console acts within one institution at a
//! time: the configured default until switched). The session itself lives in the
//! database (`domain::admin_sessions`): sign-out deletes it, and past
//! `admin_idle_timeout_secs` of inactivity (or 12 hours after sign-in) it is over, for
//! every process on the database, whatever the browser still holds. HttpOnly,
//! SameSite=Strict, Secure when the request came over HTTPS (Rocket's TLS, or the TLS
//! proxy's `proxy_proto_header`: see `web::secure`), and no Expires (gone with the browser).

use rocket::http::{Cookie, CookieJar, SameSite, Status};
use rocket::request::{FromRequest, Outcome, Request};
use std::sync::Arc;
use subtle::ConstantTimeEq as _;

use crate::domain::admin_sessions::SessionLimits;
use crate::domain::admins::SignedIn;
use crate::domain::api_keys::{is_inst_rt_id, KeyReach};
use crate::domain::staff::Staff;
use crate::domain::{Context, Service};
use crate::types::StaffAction;
use crate::web::edge::blocking;

/// The session cookie.
pub const SESSION_COOKIE: &str = "tokend_admin";
/// The pre-sign-in cookie holding the sign-in form's CSRF token.
pub const LOGIN_COOKIE: &str = "tokend_login";
/// Console settings, managed by Rocket.
#[derive(Debug, Clone, Copy)]
pub struct AdminConfig {
    /// Idle and absolute session lifetimes.
    pub limits: SessionLimits,
    /// `console_mfa = "required"`: no page opens before the second factor.
    pub mfa_required: bool,
}

/// Builds a cookie with the console's attributes.
pub fn cookie(req_tls: bool, name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/admin")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(req_tls)
        .expires(rocket::http::private::cookie::Expiration::Session)
        .build()
}

/// Whether the request came over HTTPS (Secure cookies then).
pub fn is_tls(req: &Request<'_>) -> bool {
    crate::web::secure::is_secure(req)
}

/// Whether the connection is TLS, as a request guard.
pub struct Tls(pub bool);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Tls {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        Outcome::Success(Tls(is_tls(req)))
    }
}

/// A fresh random token (CSRF, …).
pub fn random_token() -> Option<String> {
    crate::domain::random_token().ok()
}

/// Constant-time comparison of a presented and an expected token.
pub fn same_token(presented: &str, expected: &str) -> bool {
    !expected.is_empty() && bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
}

struct CookieValue {
    /// The session's id: the database holds its hash, and the session lives while that
    /// row does (sign-out and expiry end it for every process).
    sid: String,
    csrf: String,
    /// The institution switched to, if any (its characters exclude `:`).
    inst_rt_id: Option<String>,
}

impl CookieValue {
    fn parse(s: &str) -> Option<CookieValue> {
        let mut parts = s.split(':');
        let v = CookieValue {
            sid: parts.next().filter(|p| !p.is_empty())?.to_owned(),
            csrf: parts.next()?.to_owned(),
            inst_rt_id: parts.next().filter(|i| is_inst_rt_id(i)).map(str::to_owned),
        };
        parts.next().is_none().then_some(v)
    }

    fn render(&self) -> String {
        match &self.inst_rt_id {
            Some(inst) => format!("{}:{}:{inst}", self.sid, self.csrf),
            None => format!("{}:{}", self.sid, self.csrf),
        }
    }
}

/// Starts a session in the database for a signed-in admin and hands its cookie to the
/// browser; `None` when no session could be made.
pub async fn start(
    jar: &CookieJar<'_>,
    tls: bool,
    service: &Arc<Service>,
    (limits, via, factor_passed): (SessionLimits, &'static str, bool),
    admin_id: i32,
) -> Option<()> {
    let now = chrono::Utc::now();
    let sid = blocking(service, move |s| {
        s.start_admin_session(admin_id, limits, (via, factor_passed), now)
    })
    .await
    .ok()?;
    let value = CookieValue {
        sid: sid.0,
        csrf: random_token()?,
        inst_rt_id: None,
    };
    jar.remove_private(Cookie::build(LOGIN_COOKIE).path("/admin"));
    jar.add_private(cookie(tls, SESSION_COOKIE, value.render()));
    Some(())
}

/// Makes the session act within `inst_rt_id` (`None`: the default institution).
pub fn switch_institution(jar: &CookieJar<'_>, tls: bool, inst_rt_id: Option<String>) {
    if let Some(mut value) = jar
        .get_private(SESSION_COOKIE)
        .and_then(|c| CookieValue::parse(c.value()))
    {
        value.inst_rt_id = inst_rt_id;
        jar.add_private(cookie(tls, SESSION_COOKIE, value.render()));
    }
}

/// Ends the session: its row (so the cookie is worthless everywhere) and the cookie.
pub async fn end(jar: &CookieJar<'_>, service: &Arc<Service>) {
    if let Some(value) = jar
        .get_private(SESSION_COOKIE)
        .and_then(|c| CookieValue::parse(c.value()))
    {
        let sid = value.sid;
        if let Err(e) = blocking(service, move |s| s.end_admin_session(&sid)).await {
            tracing::warn!(error = %e, "a console session could not be ended in the database");
        }
    }
    forget(jar);
}

/// Removes the session cookie from the browser.
fn forget(jar: &CookieJar<'_>) {
    jar.remove_private(Cookie::build(SESSION_COOKIE).path("/admin"));
}

/// A signed-in admin, whether or not a password change is pending. Only the password
/// page takes this one; every other page takes [`Admin`].
pub struct AdminSession {
    /// Who.
    pub admin: SignedIn,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    /// The institution the console acts within (switched to, else the default).
    pub institution: String,
    /// The actions under dual control (the pages ask for a reason on those forms).
    pub dual: Vec<StaffAction>,
    /// This session passed its second factor.
    pub factor_passed: bool,
    /// This session's handle on the sessions page.
    pub handle: String,
    /// The session's id (the cookie's secret part), to record its second factor.
    sid: String,
}

impl AdminSession {
    /// Whether a form's CSRF token is this session's.
    pub fn is_csrf(&self, presented: &str) -> bool {
        same_token(presented, &self.csrf)
    }

    /// Refuses (403 page) a form that does not carry this session's CSRF token.
    pub fn check_csrf(&self, presented: &str) -> Result<(), super::Refusal> {
        if self.is_csrf(presented) {
            Ok(())
        } else {
            Err(super::csrf_refused())
        }
    }

    /// The session's id (the cookie's secret part), for the domain's per-session state.
    pub fn session_id(&self) -> String {
        self.sid.clone()
    }

    /// Records that this session passed its second factor.
    pub async fn pass_factor(&self, service: &Arc<Service>) -> Result<(), crate::domain::Error> {
        let sid = self.sid.clone();
        blocking(service, move |s| {
            s.pass_session_factor(&sid, chrono::Utc::now())
        })
        .await
    }

    /// The staff member, for the role and institution rules.
    pub fn staff(&self) -> Staff {
        self.admin.staff()
    }

    /// The audit context: `admin:USERNAME`, acting within the session's institution.
    pub fn context(&self) -> Context {
        Context {
            actor: format!("admin:{}", self.admin.username),
            inst_rt_id: Some(self.institution.clone()),
            ..Context::default()
        }
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for AdminSession {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        let signed_out = Outcome::Error((Status::Unauthorized, ()));
        let jar = req.cookies();
        let Some(value) = jar
            .get_private(SESSION_COOKIE)
            .and_then(|c| CookieValue::parse(c.value()))
        else {
            return signed_out;
        };
        let Some(service) = req.rocket().state::<Arc<Service>>() else {
            return Outcome::Error((Status::InternalServerError, ()));
        };
        let limits = config(req).limits;
        let sid = value.sid.clone();
        let now = chrono::Utc::now();
        let live = match blocking(service, move |s| s.admin_session(&sid, limits, now)).await {
            Ok(Some(live)) => live,
            Ok(None) => {
                forget(jar);
                return signed_out;
            }
            Err(_) => return Outcome::Error((Status::InternalServerError, ())),
        };
        // Staff of one institution act within it, whatever the cookie says; staff of
        // every institution within the one switched to, else the default.
        let admin = live.admin;
        let institution = match &admin.reach {
            KeyReach::Institution(own) => own.clone(),
            KeyReach::All => value
                .inst_rt_id
                .unwrap_or_else(|| service.policy().default_inst_rt_id.clone()),
        };
        Outcome::Success(AdminSession {
            admin,
            csrf: value.csrf,
            institution,
            dual: service.staff_policy().dual_control.clone(),
            factor_passed: live.factor_passed,
            handle: live.handle,
            sid: value.sid,
        })
    }
}

/// The console's settings (the defaults where none is managed).
pub fn config(req: &Request<'_>) -> AdminConfig {
    req.rocket()
        .state::<AdminConfig>()
        .copied()
        .unwrap_or(AdminConfig {
            limits: SessionLimits::default(),
            mfa_required: true,
        })
}

impl AdminSession {
    /// Whether this session still owes its second factor.
    pub fn owes_factor(&self, config: &AdminConfig) -> bool {
        config.mfa_required && !self.factor_passed
    }
}

/// A fully signed-in staff member: second factor passed (while the console requires one)
/// and no password change pending — the guard of every console page but the sign-in
/// steps. A missing factor answers 412 and a pending change 428, which the catchers turn
/// into redirects to the factor and password pages.
pub struct Admin(pub AdminSession);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Admin {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        match AdminSession::from_request(req).await {
            Outcome::Success(s) if s.owes_factor(&config(req)) => {
                Outcome::Error((Status::PreconditionFailed, ()))
            }
            Outcome::Success(s) if s.admin.must_change => {
                Outcome::Error((Status::PreconditionRequired, ()))
            }
            Outcome::Success(s) => Outcome::Success(Admin(s)),
            Outcome::Error(e) => Outcome::Error(e),
            Outcome::Forward(f) => Outcome::Forward(f),
        }
    }
}
