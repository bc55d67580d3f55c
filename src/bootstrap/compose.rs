//! Composition: what the settings (plain data, `config`) mean to each layer, built once at
//! start-up. The domain's policy, the OOB runtime with its SMS provider and event webhook,
//! the TLS client they share, storage's durability and the web edge's limits are made here,
//! so `config` names nothing from the crate and no layer reads another's settings.
//! Imports: config, domain, sms, storage, web.

use anyhow::Context as _;
use rocket::figment::Figment;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{self, ConsoleMfa, SecretText, Settings};
use crate::domain::admin_sessions::SessionLimits;
use crate::domain::oob::guard::{ExplicitPhone, SmsGuard};
use crate::domain::oob::{OobPolicy, OobRuntime};
use crate::domain::staff::{is_dual_controllable, StaffPolicy};
use crate::domain::Policy;
use crate::oidc::{Oidc, OidcConfig};
use crate::sms::http::{client_tls as tls_with, read_ca_file, HttpSms, HttpTarget};
use crate::sms::{ProviderKind, SmsProvider};
use crate::storage::Durability;
use crate::types::{Role, StaffAction};
use crate::web::admin::oidc::SignOn;
use crate::web::{limits::LimitConfig, WebConfig};

/// The settings of every command: [`Settings::load`], then what only composition can
/// check (the `http_client_ca_file` must hold certificates). A bad value stops start-up
/// with its name.
pub fn settings(figment: &Figment) -> anyhow::Result<Settings> {
    let settings = Settings::load(figment)?;
    client_tls(&settings)?;
    Ok(settings)
}

/// The TLS client settings of outbound POSTs: public roots plus `http_client_ca_file`.
pub fn client_tls(settings: &Settings) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let extra = match &settings.http_client_ca_file {
        Some(path) => {
            read_ca_file(path).map_err(|e| anyhow::anyhow!("http_client_ca_file: {e}"))?
        }
        None => Vec::new(),
    };
    tls_with(&extra).map_err(|e| anyhow::anyhow!("http_client_ca_file: {e}"))
}

/// The SMS provider kind of the configuration, in the SMS layer's type.
pub fn provider_kind(kind: config::ProviderKind) -> ProviderKind {
    match kind {
        config::ProviderKind::Outbox => ProviderKind::Outbox,
        config::ProviderKind::Http => ProviderKind::Http,
    }
}

/// Storage's durability for `sqlite_synchronous`.
pub fn durability(settings: &Settings) -> Durability {
    match settings.sqlite_synchronous {
        config::Durability::Full => Durability::Full,
        config::Durability::Normal => Durability::Normal,
    }
}

/// The OOB policy and providers; fails when `http_client_ca_file` cannot be read.
pub fn oob_runtime(settings: &Settings) -> anyhow::Result<OobRuntime> {
    let timeout = Duration::from_millis(settings.sms_http_timeout_ms);
    let tls = client_tls(settings).context("the OOB providers' TLS client")?;
    let provider = provider_kind(settings.sms_provider);
    let http: Option<Arc<dyn SmsProvider>> = match (provider, &settings.sms_http_url) {
        (ProviderKind::Http, Some(url)) => Some(Arc::new(HttpSms::new(HttpTarget::with_tls(
            url,
            settings.sms_http_token.as_ref().map(SecretText::expose),
            timeout,
            Arc::clone(&tls),
        )))),
        _ => None,
    };
    let signing = webhook_signing(settings)?;
    let webhook = settings.event_webhook_url.as_deref().map(|url| {
        let target = HttpTarget::with_tls(
            url,
            settings
                .event_webhook_token
                .as_ref()
                .map(SecretText::expose),
            timeout,
            Arc::clone(&tls),
        );
        match &signing {
            Some(s) => target.signed(s.clone()),
            None => target,
        }
    });
    Ok(OobRuntime {
        policy: OobPolicy {
            provider,
            send_cap: settings.sms_send_cap,
            send_window_secs: settings.sms_send_window_secs,
            max_resends: settings.oob_max_resends,
            max_failed_sessions: settings.oob_max_failed_sessions,
            http_attempts: settings.sms_http_attempts,
            http_backoff_ms: settings.sms_http_backoff_ms,
            http_timeout_ms: settings.sms_http_timeout_ms,
            answer_wait_ms: settings.sms_answer_wait_ms,
            retention_secs: settings.oob_retention_secs,
            guard: sms_guard(&settings.sms_fraud),
        },
        http,
        webhook,
        endpoints: Some(crate::sms::http::TargetMaker::new(
            Arc::clone(&tls),
            timeout,
        )),
        signal: Arc::default(),
        refused: Arc::default(),
    })
}

/// The SMS fraud guard's slice (absent patterns: the default North American list).
fn sms_guard(s: &crate::config::SmsFraud) -> SmsGuard {
    let mut guard = SmsGuard {
        explicit_phone: match s.oob_explicit_phone {
            crate::config::ExplicitPhone::Refuse => ExplicitPhone::Refuse,
            crate::config::ExplicitPhone::Allow => ExplicitPhone::Allow,
        },
        max_per_institution_hour: s.sms_max_per_institution_hour,
        max_per_key_hour: s.sms_max_per_key_hour,
        allow_urls: s.sms_text_allow_urls,
        ..SmsGuard::default()
    };
    if let Some(patterns) = &s.sms_blocked_prefixes {
        guard.blocked_prefixes.clone_from(patterns);
    }
    guard
}

/// The domain's slice of the settings.
pub fn policy(settings: &Settings) -> Policy {
    Policy {
        issuer: settings.issuer.clone(),
        window_steps: settings.window_steps,
        lock_after_failures: settings.lock_after_failures,
        default_inst_rt_id: settings.inst_rt_id.clone(),
        resync_window_steps: settings.resync_window_steps,
        auto_unlock_after_secs: settings.auto_unlock_after_secs,
    }
}

/// This node's share of a cluster-wide rate limit (see `rate_limit_nodes`): rounded up,
/// so a limit never becomes 0. Rates live in each node's memory: keeping them in the
/// database would put a write on every request's path for a guard whose exact bound the
/// lock-out (counted in the database, exact across nodes) already gives.
fn per_node(limit: u32, settings: &Settings) -> u32 {
    limit.div_ceil(settings.rate_limit_nodes.max(1))
}

/// The phone lifecycle's slice: SIM-swap hold, change notice, explain retention.
pub fn phone_policy(settings: &Settings) -> crate::domain::phones::PhonePolicy {
    crate::domain::phones::PhonePolicy {
        sim_swap_hold_secs: settings.sim_swap_hold_secs,
        phone_change_notice: settings.phone_change_notice,
        explain_retention_secs: settings.explain_retention_secs,
    }
}

/// The event webhook's signing secrets (the current one first, then the one being
/// rotated out), if a secret is set; a malformed one stops the start, naming it.
fn webhook_signing(settings: &Settings) -> anyhow::Result<Option<crate::sms::signing::Signing>> {
    let mut secrets = Vec::new();
    for (name, value) in [
        ("event_webhook_secret", &settings.event_webhook_secret),
        (
            "event_webhook_secret_previous",
            &settings.event_webhook_secret_previous,
        ),
    ] {
        if let Some(v) = value {
            let key = crate::sms::signing::parse_secret(v.expose()).ok_or_else(|| {
                anyhow::anyhow!("{name} must be whsec_ followed by base64 of at least 16 bytes")
            })?;
            secrets.push(key);
        }
    }
    if settings.event_webhook_secret.is_none() && !secrets.is_empty() {
        anyhow::bail!("event_webhook_secret_previous needs event_webhook_secret (the new secret)");
    }
    Ok((!secrets.is_empty()).then(|| crate::sms::signing::Signing::new(secrets)))
}

/// The dual-control slice: each `dual_control` name must be an action dual control can
/// hold (a typo would otherwise leave an action unguarded).
pub fn staff_policy(settings: &Settings) -> anyhow::Result<StaffPolicy> {
    let mut dual_control = Vec::new();
    for name in &settings.console.dual_control {
        match name.parse::<StaffAction>() {
            Ok(action) if is_dual_controllable(action) => dual_control.push(action),
            _ => anyhow::bail!(
                "dual_control: {name:?} is not an action dual control can hold; use any of {}",
                StaffAction::ALL
                    .iter()
                    .filter(|a| is_dual_controllable(**a))
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    if !(1..=30 * 86_400).contains(&settings.console.dual_control_expiry_secs) {
        anyhow::bail!("dual_control_expiry_secs must be 1 to 2592000 (30 days)");
    }
    Ok(StaffPolicy {
        dual_control,
        expiry_secs: settings.console.dual_control_expiry_secs,
    })
}

/// The console's OpenID provider, if configured: its secret from the settings or
/// `TOKEND_OIDC_CLIENT_SECRET`, its role map checked, and an HTTP client that trusts the
/// deployment's roots and follows no redirect.
pub fn oidc(settings: &Settings) -> anyhow::Result<Option<Oidc>> {
    let Some(o) = &settings.console.oidc else {
        if !settings.console.console_local_sign_in {
            anyhow::bail!(
                "console_local_sign_in = false needs [default.oidc]: nobody could sign in"
            );
        }
        return Ok(None);
    };
    let secret = match (&o.client_secret, std::env::var("TOKEND_OIDC_CLIENT_SECRET")) {
        (Some(s), _) => s.expose().to_owned(),
        (None, Ok(s)) if !s.is_empty() => s,
        _ => anyhow::bail!("oidc.client_secret (or TOKEND_OIDC_CLIENT_SECRET) is not set"),
    };
    let mut role_map = std::collections::BTreeMap::new();
    for (claim, role) in &o.role_map {
        let role: Role = role
            .parse()
            .map_err(|_| anyhow::anyhow!("oidc.role_map.{claim}: {role:?} is not a role"))?;
        role_map.insert(claim.clone(), role);
    }
    if role_map.is_empty() {
        anyhow::bail!("oidc.role_map is empty: nobody from the provider could sign in");
    }
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .redirects(0)
        .tls_config(client_tls(settings).context("the OpenID provider's TLS client")?)
        .build();
    let config = OidcConfig {
        issuer: o.issuer.clone(),
        client_id: o.client_id.clone(),
        client_secret: zeroize::Zeroizing::new(secret),
        scopes: o.scopes.clone(),
        username_claim: o.username_claim.clone(),
        role_claim: o.role_claim.clone(),
        role_map,
        institution_claim: o.institution_claim.clone(),
        required_amr: settings.console.oidc_required_amr.clone(),
        button_label: o.button_label.clone(),
    };
    Ok(Some(Oidc::new(config, agent)))
}

/// The web edge's slice: rate limits and the console's idle timeout.
pub fn web_config(settings: &Settings) -> anyhow::Result<WebConfig> {
    Ok(WebConfig {
        limits: LimitConfig {
            key_per_sec: per_node(settings.rate_key_per_sec, settings),
            user_per_min: per_node(settings.rate_user_per_min, settings),
            key_failures_per_min: per_node(settings.rate_key_failures_per_min, settings),
        },
        console_limits: SessionLimits {
            idle_secs: settings
                .console
                .console_idle_secs
                .unwrap_or(settings.admin_idle_timeout_secs)
                .max(1),
            absolute_secs: settings.console.console_session_secs.max(1),
        },
        console_mfa_required: settings.console.console_mfa == ConsoleMfa::Required,
        sign_on: SignOn {
            oidc: oidc(settings)?.map(Arc::new),
            local: settings.console.console_local_sign_in,
            webauthn_origin: match &settings.console.webauthn_origin {
                Some(o) => Some(
                    webauthn_rs::prelude::Url::parse(o)
                        .map_err(|e| anyhow::anyhow!("webauthn_origin {o:?} is not a URL: {e}"))?,
                ),
                None => None,
            },
        },
        strict_headers: settings.jxchange_strict_headers,
        soap: crate::web::soap::SoapConfig {
            public_url: settings.edge.public_base(),
            clock_skew_secs: settings.edge.soap_clock_skew_secs,
            idempotency_retention_secs: settings.edge.idempotency_retention_secs,
        },
        idempotency: crate::web::api::idempotency::IdemConfig {
            retention_secs: settings.edge.idempotency_retention_secs,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocket::figment::providers::Serialized;

    #[test]
    fn the_http_provider_is_built_from_its_settings() {
        let http = Figment::from(Serialized::defaults(serde_json::json!({})))
            .merge(("sms_provider", "http"))
            .merge(("sms_http_url", "http://127.0.0.1:9/sms"))
            .merge(("sms_http_token", "s3cret"));
        let s = settings(&http).unwrap();
        assert!(oob_runtime(&s).unwrap().http.is_some());
        assert_eq!(oob_runtime(&s).unwrap().policy.provider, ProviderKind::Http);
        assert_eq!(durability(&s), Durability::Full);
        assert_eq!(
            web_config(&s).unwrap().console_limits,
            SessionLimits::default()
        );
        assert!(web_config(&s).unwrap().console_mfa_required);
    }

    #[test]
    fn dual_control_names_are_checked_and_the_default_holds_seven_actions() {
        let base = Figment::from(Serialized::defaults(serde_json::json!({})));
        let s = settings(&base).unwrap();
        assert_eq!(staff_policy(&s).unwrap(), StaffPolicy::default());
        let off = settings(&base.clone().merge(("dual_control", Vec::<String>::new()))).unwrap();
        assert!(staff_policy(&off).unwrap().dual_control.is_empty());
        let typo = settings(&base.merge(("dual_control", vec!["token.delte"]))).unwrap();
        let e = staff_policy(&typo).unwrap_err().to_string();
        assert!(e.contains("token.delte"), "{e}");
    }

    #[test]
    fn an_unreadable_or_empty_ca_file_stops_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        for path in [dir.path().join("missing.pem"), empty] {
            let figment = Figment::from(Serialized::defaults(serde_json::json!({})))
                .merge(("http_client_ca_file", path.clone()));
            let err = settings(&figment).unwrap_err().to_string();
            assert!(err.contains("http_client_ca_file"), "{path:?}: {err}");
        }
    }

    #[test]
    fn each_node_enforces_its_share_of_the_rate_limits_and_postgres_is_checked() {
        let three = Figment::from(Serialized::defaults(serde_json::json!({})))
            .merge(("rate_limit_nodes", 3))
            .merge(("rate_user_per_min", 120))
            .merge(("rate_key_failures_per_min", 601))
            .merge(("rate_key_per_sec", 0));
        let limits = web_config(&settings(&three).unwrap()).unwrap().limits;
        assert_eq!(
            (
                limits.user_per_min,
                limits.key_failures_per_min,
                limits.key_per_sec
            ),
            (40, 201, 0),
            "rounded up, and off stays off"
        );
        let sqlite_url = Figment::from(Serialized::defaults(serde_json::json!({})))
            .merge(("database_url", "data/other.sqlite"));
        let err = settings(&sqlite_url).unwrap_err().to_string();
        assert!(err.contains("postgres://"), "{err}");
        let pg = Figment::from(Serialized::defaults(serde_json::json!({})))
            .merge(("database_url", "postgres://app:pw@db/tokend"));
        let s = settings(&pg).unwrap();
        assert!(s.is_postgres());
        assert!(
            !format!("{s:?}").contains("pw@"),
            "the URL is redacted in Debug"
        );
    }
}
