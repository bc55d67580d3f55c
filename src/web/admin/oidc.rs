//! Console sign-in through the bank's OpenID provider (`crate::oidc` speaks to it).
//!
//! `GET /admin/oidc/login` starts the authorization code flow: `state`, `nonce` and the
//! PKCE verifier go into a private (encrypted) cookie scoped to `/admin/oidc`, SameSite
//! Lax so that the provider's redirect back carries it, and the browser is sent to the
//! provider. `GET /admin/oidc/callback` takes that cookie out first (so a replayed
//! callback finds none), compares `state` in constant time, and has the code exchanged
//! and the ID token verified; the staff member then signs in with the role and
//! institution of their claims, the provider's sign-in standing for the second factor.
//! Every refusal is a plain page and an audit row; a provider down affects nothing else.

use rocket::http::{Cookie, CookieJar, SameSite, Status};
use rocket::response::{Flash, Redirect};
use rocket::{get, routes, Request, Route, State};
use std::sync::Arc;

use super::session::{self, AdminConfig};
use super::{error_page, Refusal};
use crate::domain::api_keys::KeyReach;
use crate::domain::{Context, Service};
use crate::oidc::{Identity, Oidc, OidcError, Pending};
use crate::web::edge::blocking;

/// The cookie holding a sign-in's `state`, `nonce` and PKCE verifier until its callback.
pub const OIDC_COOKIE: &str = "tokend_oidc";
const CALLBACK: &str = "/admin/oidc/callback";

/// How staff sign in (managed by Rocket).
#[derive(Debug, Clone, Default)]
pub struct SignOn {
    /// The OpenID provider, if configured.
    pub oidc: Option<Arc<Oidc>>,
    /// Local passwords are accepted (`console_local_sign_in`).
    pub local: bool,
    /// The console's origin for passkeys (`webauthn_origin`; none: each request's).
    pub webauthn_origin: Option<webauthn_rs::prelude::Url>,
}

/// The routes of this file.
pub fn routes() -> Vec<Route> {
    routes![login, callback]
}

/// The callback URL the provider sends the browser back to (this request's origin).
fn redirect_url(req: &Request<'_>) -> String {
    let scheme = if session::is_tls(req) {
        "https"
    } else {
        "http"
    };
    let host = req
        .host()
        .map_or_else(|| "127.0.0.1".to_owned(), |h| h.to_string());
    format!("{scheme}://{host}{CALLBACK}")
}

/// The URL guard: this request's callback URL.
pub struct Callback(String);

#[rocket::async_trait]
impl<'r> rocket::request::FromRequest<'r> for Callback {
    type Error = ();
    async fn from_request(req: &'r Request<'_>) -> rocket::request::Outcome<Self, ()> {
        rocket::request::Outcome::Success(Callback(redirect_url(req)))
    }
}

fn provider(sign_on: &SignOn) -> Result<Arc<Oidc>, Refusal> {
    sign_on
        .oidc
        .clone()
        .ok_or_else(|| error_page(Status::NotFound, "There is no such page."))
}

fn unavailable() -> Refusal {
    error_page(
        Status::BadGateway,
        "The identity provider did not answer, so nobody can sign in through it right now. \
         Try again in a moment; tokend itself is running.",
    )
}

/// Sends the browser to the provider (`login_hint` passed on, to prefill its form).
#[get("/oidc/login?<login_hint>")]
async fn login(
    login_hint: Option<String>,
    sign_on: &State<SignOn>,
    here: Callback,
    jar: &CookieJar<'_>,
    tls: session::Tls,
) -> Result<Redirect, Refusal> {
    let oidc = provider(sign_on)?;
    let started =
        rocket::tokio::task::spawn_blocking(move || oidc.start(&here.0, login_hint.as_deref()))
            .await
            .map_err(|_| unavailable())?;
    let (url, pending) = match started {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!("console sign-on: {e}");
            return Err(unavailable());
        }
    };
    let value = serde_json::to_string(&pending).map_err(|_| unavailable())?;
    jar.add_private(
        Cookie::build((OIDC_COOKIE, value))
            .path("/admin/oidc")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(tls.0)
            .max_age(rocket::time::Duration::minutes(10))
            .build(),
    );
    Ok(Redirect::to(url))
}

/// The provider's answer: the code (or its error) and the state.
#[get("/oidc/callback?<code>&<state>&<error>")]
#[expect(
    clippy::too_many_arguments,
    reason = "Rocket's guards are the arguments"
)]
async fn callback(
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    sign_on: &State<SignOn>,
    here: Callback,
    jar: &CookieJar<'_>,
    tls: session::Tls,
    service: &State<Arc<Service>>,
    config: &State<AdminConfig>,
) -> Result<Flash<Redirect>, Refusal> {
    let oidc = provider(sign_on)?;
    // Taken out before anything else: a callback is good once.
    let pending = jar
        .get_private(OIDC_COOKIE)
        .and_then(|c| serde_json::from_str::<Pending>(c.value()).ok());
    jar.remove_private(Cookie::build(OIDC_COOKIE).path("/admin/oidc"));
    let refuse = |why: String| refusal(service, why);
    let Some(pending) = pending else {
        return Err(refuse(
            "no sign-in in progress in this browser (expired, replayed or not started here)".into(),
        )
        .await);
    };
    if !session::same_token(state.as_deref().unwrap_or_default(), &pending.state) {
        return Err(refuse("the state does not match the sign-in started here".into()).await);
    }
    if let Some(e) = error {
        return Err(refuse(format!("the provider answered {e}")).await);
    }
    let Some(code) = code else {
        return Err(refuse("no code in the answer".into()).await);
    };
    let finished =
        rocket::tokio::task::spawn_blocking(move || oidc.finish(&here.0, pending, &code))
            .await
            .map_err(|_| unavailable())?;
    let identity = match finished {
        Ok(id) => id,
        Err(OidcError::Unavailable(e)) => {
            tracing::warn!("console sign-on: {e}");
            return Err(unavailable());
        }
        Err(OidcError::Refused(why)) => return Err(refuse(why).await),
    };
    let signed = sign_in(service, &identity).await?;
    let how = (config.limits, "oidc", true);
    session::start(jar, tls.0, service, how, signed)
        .await
        .ok_or_else(|| error_page(Status::InternalServerError, "no session"))?;
    Ok(Flash::success(Redirect::to("/admin/users"), "Signed in."))
}

/// Signs the identity in (its account made or updated); the account id.
async fn sign_in(service: &Arc<Service>, id: &Identity) -> Result<i32, Refusal> {
    let reach = match &id.institution {
        Some(None) => KeyReach::All,
        Some(Some(inst)) => KeyReach::Institution(inst.clone()),
        None => KeyReach::Institution(service.policy().default_inst_rt_id.clone()),
    };
    if let KeyReach::Institution(inst) = &reach {
        if !crate::domain::api_keys::is_inst_rt_id(inst) {
            return Err(refusal(
                service,
                format!("the institution claim {inst:?} is not an InstRtId"),
            )
            .await);
        }
    }
    let (name, role) = (id.username.clone(), id.role);
    let done = blocking(service, move |s| {
        s.sign_in_external(
            &Context::default(),
            (&name, role, &reach),
            chrono::Utc::now(),
        )
    })
    .await;
    match done {
        Ok(admin) => Ok(admin.admin_id),
        Err(e) => Err(refusal(service, e.to_string()).await),
    }
}

/// A refused sign-in: audited, and a page that says so (never which check failed, beyond
/// what helps the staff member).
async fn refusal(service: &Arc<Service>, why: String) -> Refusal {
    tracing::warn!("console sign-on refused: {why}");
    let detail = format!("via the OpenID provider refused: {why}");
    if let Err(e) = blocking(service, move |s| {
        s.record_external_refusal(&Context::default(), &detail, chrono::Utc::now())
    })
    .await
    {
        tracing::warn!(error = %e, "a refused sign-on could not be audited");
    }
    error_page(
        Status::Forbidden,
        "This sign-in through your organisation's identity provider was refused (it may have \
         expired or been used already, or your account has no role in tokend). Start again \
         from the sign-in page; if it keeps failing, ask a tokend admin.",
    )
}

/// The provider's button on the sign-in page, if one is configured.
pub fn button(sign_on: &SignOn) -> Option<String> {
    sign_on
        .oidc
        .as_ref()
        .map(|o| o.config().button_label.clone())
}
