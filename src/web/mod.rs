//! The HTTP edge: mounts the JSON API, registers the JSON catchers, and adds the fairings
//! (no-store on API answers, HSTS on HTTPS answers, the liftoff line tests and operators
//! read for the bound port).
//! Imports: rocket, serde, domain, types. Never diesel, never ring.

pub mod admin;
pub mod api;
pub mod edge;
pub mod limits;
pub mod metrics;
pub mod metrics_audit;
pub mod metrics_phones;
pub mod parse;
pub mod secure;
pub mod soap;
pub mod status;

use crate::domain::admin_sessions::SessionLimits;
use rocket::fairing::AdHoc;
use rocket::figment::Figment;
use rocket::http::Header;
use rocket::{Build, Rocket};
use std::io::Write as _;
use std::sync::Arc;

use crate::domain::Service;

/// Where the JSON API is mounted (the OpenAPI document's paths start with it).
pub const API_BASE: &str = "/api/v1";

/// The printed line that announces the bound address; tests parse it (ROCKET_PORT=0).
pub const LISTENING: &str = "tokend listening on http://";
/// The same line when Rocket serves TLS (`tls.certs`, `tls.key`).
pub const LISTENING_TLS: &str = "tokend listening on https://";

/// The web edge's settings (composed from the configuration by `bootstrap`).
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Request rate limits of the JSON API.
    pub limits: limits::LimitConfig,
    /// Console session lifetimes (idle, absolute).
    pub console_limits: SessionLimits,
    /// `console_mfa = "required"`: no console page before the second factor.
    pub console_mfa_required: bool,
    /// How staff sign in: local passwords, the OpenID provider, or both.
    pub sign_on: admin::oidc::SignOn,
    /// `jxchange_strict_headers`: the header rules on the JSON API too.
    pub strict_headers: bool,
    /// The SOAP binding's public address and clock skew.
    pub soap: soap::SoapConfig,
    /// How long `Idempotency-Key` answers are kept.
    pub idempotency: api::idempotency::IdemConfig,
}

/// Loads the console's templates at ignition (embedded, or `template_dir`'s).
fn console_templates() -> AdHoc {
    AdHoc::try_on_ignite("console templates", |rocket| {
        Box::pin(async move {
            let dir = rocket
                .figment()
                .extract_inner::<rocket::figment::value::magic::RelativePathBuf>("template_dir")
                .ok()
                .map(|p| p.relative());
            match admin::template::Templates::load(dir.as_deref()) {
                Ok(templates) => Ok(rocket.manage(templates)),
                Err(e) => {
                    tracing::error!("the console's templates cannot be loaded: {e}");
                    Err(rocket)
                }
            }
        })
    })
}

/// Says, at every start, that the console takes a password alone (`console_mfa = "off"`).
fn warn_when_mfa_off(config: &WebConfig) {
    if !config.console_mfa_required {
        tracing::warn!(
            "console_mfa = \"off\": console accounts sign in with a password alone; \
             for a development install only"
        );
    }
}

/// Builds the Rocket instance from its configuration and the service.
pub fn build(figment: Figment, service: Arc<Service>, config: WebConfig) -> Rocket<Build> {
    warn_when_mfa_off(&config);
    let metrics = Arc::new(metrics::Metrics::new());
    let proxy_proto = secure::ProxyProto::from_figment(&figment);
    rocket::custom(figment)
        .manage(proxy_proto)
        .manage(api::hdr_rules::HeaderRules {
            json_strict: config.strict_headers,
        })
        .manage(service)
        .manage(Arc::new(limits::Limits::new(config.limits)))
        .manage(Arc::clone(&metrics))
        .attach(metrics::Timing(metrics))
        .manage(config.sign_on.clone())
        .manage(admin::session::AdminConfig {
            limits: config.console_limits,
            mfa_required: config.console_mfa_required,
        })
        .manage(config.soap)
        .manage(config.idempotency)
        .attach(api::idempotency::Answers)
        .manage(admin::hash_gate::HashGate::default())
        .attach(console_templates())
        .attach(admin::security_headers())
        .mount("/admin", admin::routes())
        .register("/admin", admin::catchers())
        .mount("/", status::routes())
        .mount("/", metrics::routes())
        .mount(API_BASE, api::routes())
        .register("/", api::fault::catchers())
        .mount("/", soap::routes())
        .register(soap::BASE, soap::catchers())
        .attach(AdHoc::on_response("no-store on API answers", |req, res| {
            Box::pin(async move {
                let path = req.uri().path();
                if path.starts_with("/api/") || path.starts_with(soap::BASE) {
                    res.set_header(Header::new("Cache-Control", "no-store"));
                }
            })
        }))
        .attach(AdHoc::on_response("HSTS over HTTPS", |req, res| {
            Box::pin(async move {
                if secure::is_secure(req) {
                    res.set_header(Header::new(secure::HSTS.0, secure::HSTS.1));
                }
            })
        }))
        .attach(AdHoc::on_liftoff("listening line", |rocket| {
            Box::pin(async move {
                let config = rocket.config();
                let line = if config.tls_enabled() {
                    LISTENING_TLS
                } else {
                    LISTENING
                };
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}{}:{}", config.address, config.port);
                let scheme = if config.tls_enabled() {
                    "https"
                } else {
                    "http"
                };
                let _ = writeln!(
                    out,
                    "tokend console: {scheme}://{}:{}/admin/",
                    config.address, config.port
                );
                let _ = out.flush();
            })
        }))
}
