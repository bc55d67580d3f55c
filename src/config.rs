//! Settings, extracted once from Rocket's figment (`Rocket.toml` + `ROCKET_*` variables), so
//! `serve` and every subcommand read the same configuration the same way. App settings are
//! root keys: `ROCKET_DATA_DIR` moves the data directory, `ROCKET_LOCK_AFTER_FAILURES`
//! changes the lock threshold, and so on.
//!
//! Data only: what the settings mean to the domain, the SMS providers, storage and the web
//! edge (policies, providers, limits) is composed in `bootstrap`. Imports: rocket::figment,
//! serde; nothing from the crate.

use anyhow::Context as _;
use rocket::figment::{Figment, Provider as _};
use serde::Deserialize;
use std::path::PathBuf;

use zeroize::Zeroizing;

mod check;
mod defaults;

use check::ROCKET_KEYS;

/// Every tokend setting, with its default.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Where the database, master key and Rocket secret key live (default `data`).
    #[serde(default = "defaults::default_data_dir")]
    pub data_dir: PathBuf,
    /// A file holding the base64 master key; default `<data_dir>/master.key`.
    /// `TOKEND_MASTER_KEY` (base64) takes precedence over both.
    #[serde(default)]
    pub master_key_file: Option<PathBuf>,
    /// Issuer shown in authenticator apps.
    #[serde(default = "defaults::default_issuer")]
    pub issuer: String,
    /// Steps accepted either side of the expected step (0–10, default 1).
    #[serde(default = "defaults::default_window_steps")]
    pub window_steps: u32,
    /// Consecutive failures that lock a binding (1–100, default 5).
    #[serde(default = "defaults::default_lock_after_failures")]
    pub lock_after_failures: u32,
    /// Institution routing id used when a request names none.
    #[serde(default = "defaults::default_inst_rt_id")]
    pub inst_rt_id: String,
    /// Steps searched either side of now by resync; also bounds the learned drift.
    #[serde(default = "defaults::default_resync_window_steps")]
    pub resync_window_steps: u32,
    /// Seconds after which a binding locked by failures unlocks itself (0 = never).
    #[serde(default)]
    pub auto_unlock_after_secs: u64,
    /// Seconds the SMS fallback is held after a phone change (SIM-swap guard; 0 = off;
    /// default 7 days).
    #[serde(default = "defaults::default_sim_swap_hold_secs")]
    pub sim_swap_hold_secs: u64,
    /// Send a OneWay SMS to the OLD number when a user's phone changes (default false).
    #[serde(default)]
    pub phone_change_notice: bool,
    /// Seconds the keyed hash of a failed code is kept for "explain" (0 = none; default
    /// 1 hour; at most 7 days).
    #[serde(default = "defaults::default_explain_retention_secs")]
    pub explain_retention_secs: u64,
    /// The database: absent (the default) → the embedded SQLite file `<data_dir>/tokend.sqlite`;
    /// `postgres://user:password@host:port/db` → PostgreSQL, which several nodes may share.
    /// Redacted in Debug (it may hold a password).
    #[serde(default)]
    pub database_url: Option<SecretText>,
    /// Database connections in the pool (per node on PostgreSQL).
    #[serde(default = "defaults::default_db_pool_size")]
    pub db_pool_size: u32,
    /// Nodes sharing the request-rate limits (default 1). Each node holds its limits in
    /// memory and enforces `limit / rate_limit_nodes` (rounded up) on what it receives, so
    /// N nodes behind an even load balancer hold about the configured limit together.
    #[serde(default = "defaults::default_rate_limit_nodes")]
    pub rate_limit_nodes: u32,
    /// `full` (default: a commit survives power loss) or `normal` (survives a crash).
    #[serde(default = "defaults::default_durability")]
    pub sqlite_synchronous: Durability,
    /// Who delivers OOB SMS: `outbox` (default, stored in the database) or `http`.
    #[serde(default = "defaults::default_sms_provider")]
    pub sms_provider: ProviderKind,
    /// Where the http provider POSTs `{"to","body"}`.
    #[serde(default)]
    pub sms_http_url: Option<String>,
    /// Bearer token of the http provider (redacted in Debug).
    #[serde(default)]
    pub sms_http_token: Option<SecretText>,
    /// Timeout of one http attempt (SMS or event webhook), ms.
    #[serde(default = "defaults::default_sms_http_timeout_ms")]
    pub sms_http_timeout_ms: u64,
    /// Attempts per SMS with the http provider (1–10).
    #[serde(default = "defaults::default_sms_http_attempts")]
    pub sms_http_attempts: u32,
    /// First retry pause of the http provider, doubled on each retry, ms.
    #[serde(default = "defaults::default_sms_http_backoff_ms")]
    pub sms_http_backoff_ms: u64,
    /// How long an OOB request waits for the http provider's first answer before
    /// answering `SendStat: Pending`, ms.
    #[serde(default = "defaults::default_sms_answer_wait_ms")]
    pub sms_answer_wait_ms: u64,
    /// SMS allowed per user and per phone in `sms_send_window_secs`.
    #[serde(default = "defaults::default_sms_send_cap")]
    pub sms_send_cap: u32,
    /// The window of the send cap, seconds.
    #[serde(default = "defaults::default_sms_send_window_secs")]
    pub sms_send_window_secs: u64,
    /// Resends allowed per OOB session.
    #[serde(default = "defaults::default_oob_max_resends")]
    pub oob_max_resends: u32,
    /// Lock-fallback OOB sessions of a user that may fail or expire in a row before the
    /// SMS fallback stops for that user (until a success or an admin's unlock).
    #[serde(default = "defaults::default_oob_max_failed_sessions")]
    pub oob_max_failed_sessions: u32,
    /// How often expired OOB sessions are swept (and their Expired events emitted), ms.
    #[serde(default = "defaults::default_oob_sweep_interval_ms")]
    pub oob_sweep_interval_ms: u64,
    /// How long OOB sessions, their SMS and events are kept after they expire, seconds
    /// (default 90 days; 0 keeps them forever).
    #[serde(default = "defaults::default_oob_retention_secs")]
    pub oob_retention_secs: u64,
    /// Where "90040" OOB result events are POSTed (none by default).
    #[serde(default)]
    pub event_webhook_url: Option<String>,
    /// Bearer token for the event webhook (redacted in Debug).
    #[serde(default)]
    pub event_webhook_token: Option<SecretText>,
    /// A PEM bundle of CA certificates trusted for HTTPS to the SMS provider and the event
    /// webhook, in addition to the public web PKI roots (for a private CA).
    #[serde(default)]
    pub http_client_ca_file: Option<PathBuf>,
    /// Allow `http://` (unencrypted) SMS provider and webhook URLs to hosts other than the
    /// loopback interface (default false: start-up refuses them).
    #[serde(default)]
    pub http_client_allow_plaintext: bool,
    /// Validate and OOB requests per second per API key (0: no limit, the default).
    #[serde(default)]
    pub rate_key_per_sec: u32,
    /// Validations per minute per user (0: no limit).
    #[serde(default = "defaults::default_rate_user_per_min")]
    pub rate_user_per_min: u32,
    /// Failed validations per minute per API key, across users (0: no limit).
    #[serde(default = "defaults::default_rate_key_failures_per_min")]
    pub rate_key_failures_per_min: u32,
    /// Seconds of inactivity after which an admin console session ends (default 900;
    /// values below 1 count as 1).
    #[serde(default = "defaults::default_admin_idle_timeout_secs")]
    pub admin_idle_timeout_secs: i64,
    /// Enforce the published jXchange header rules on the JSON API too (default false:
    /// JSON stays lenient; the SOAP binding `/jxchange` always enforces them).
    #[serde(default)]
    pub jxchange_strict_headers: bool,
    /// Console actions that a second staff member must approve (`[]`: none). Names as in
    /// docs/console.md; checked at start-up.
    #[serde(default = "defaults::default_dual_control")]
    pub dual_control: Vec<String>,
    /// `required` (default): every console account signs in with a second factor;
    /// `off`: the password alone (a development install only: a WARN at every start).
    #[serde(default = "defaults::default_console_mfa")]
    pub console_mfa: ConsoleMfa,
    /// Seconds of inactivity after which a console session ends (default: 900, or
    /// `admin_idle_timeout_secs` where an older install set that).
    #[serde(default)]
    pub console_idle_secs: Option<i64>,
    /// Seconds after sign-in at which a console session ends, however active (default
    /// 28,800: eight hours).
    #[serde(default = "defaults::default_console_session_secs")]
    pub console_session_secs: i64,
    /// Console single sign-on through the bank's OpenID provider (`[default.oidc]`).
    #[serde(default)]
    pub oidc: Option<OidcSettings>,
    /// Authentication methods the provider's sign-in must report in the ID token's `amr`
    /// (e.g. `["mfa"]`; empty: not checked).
    #[serde(default)]
    pub oidc_required_amr: Vec<String>,
    /// The console's origin as staff browse to it (`https://tokend.bank.example`), the
    /// relying party of staff passkeys; unset: each request's own origin (development).
    #[serde(default)]
    pub webauthn_origin: Option<String>,
    /// Local passwords sign staff in (default true; false: the OpenID provider only).
    #[serde(default = "defaults::default_true")]
    pub console_local_sign_in: bool,
    /// Seconds a dual-control request waits for a decision (default 86,400).
    #[serde(default = "defaults::default_dual_control_expiry_secs")]
    pub dual_control_expiry_secs: i64,
    /// Seconds the first admin's one-time password (printed once at the first start, so
    /// it sits in the journal) stays usable if nobody replaces it (default 86,400).
    #[serde(default = "defaults::default_first_admin_otp_secs")]
    pub first_admin_otp_secs: u64,
}

/// How hard SQLite pushes each commit to disk (`sqlite_synchronous`); storage's
/// `Durability` under the configuration's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Every commit is fsynced before it is acknowledged (`full`, the default).
    Full,
    /// A commit survives a process crash, not a power cut (`normal`).
    Normal,
}

/// The OpenID provider of console sign-on (`[default.oidc]`); see docs/console.md.
#[derive(Debug, Clone, Deserialize)]
pub struct OidcSettings {
    /// Issuer URL (https, or http to loopback).
    pub issuer: String,
    /// tokend's client id at the provider.
    pub client_id: String,
    /// Its secret; else `TOKEND_OIDC_CLIENT_SECRET` (redacted in Debug).
    #[serde(default)]
    pub client_secret: Option<SecretText>,
    /// Scopes beside `openid` (default `["profile"]`).
    #[serde(default = "defaults::default_oidc_scopes")]
    pub scopes: Vec<String>,
    /// The claim naming the staff member (default `preferred_username`).
    #[serde(default = "defaults::default_username_claim")]
    pub username_claim: String,
    /// The claim whose values map to roles (default `roles`).
    #[serde(default = "defaults::default_role_claim")]
    pub role_claim: String,
    /// Claim value → role (`auditor`, `helpdesk`, `officer`, `admin`).
    #[serde(default)]
    pub role_map: std::collections::BTreeMap<String, String>,
    /// The claim holding the staff member's `InstRtId` (or `*`: every institution);
    /// absent: everyone signs in to the configured `inst_rt_id`.
    #[serde(default)]
    pub institution_claim: Option<String>,
    /// The sign-in button's words.
    #[serde(default = "defaults::default_button_label")]
    pub button_label: String,
}

/// Whether console accounts need a second factor (`console_mfa`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsoleMfa {
    /// Every sign-in asks for a second factor (the default).
    Required,
    /// The password alone: for a development install only.
    Off,
}

/// Which provider delivers SMS (`sms_provider`): `outbox` or `http`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Messages are stored in the database and shown in the outbox.
    Outbox,
    /// Messages are POSTed to `sms_http_url`.
    Http,
}

/// A configured secret (a provider token): never printed, not even by `Debug`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    /// The secret; never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The app's own keys, so unknown ones can be reported (a typo would otherwise be ignored).
const APP_KEYS: &[&str] = &[
    "data_dir",
    "master_key_file",
    "issuer",
    "window_steps",
    "lock_after_failures",
    "inst_rt_id",
    "resync_window_steps",
    "auto_unlock_after_secs",
    "database_url",
    "sim_swap_hold_secs",
    "phone_change_notice",
    "explain_retention_secs",
    "db_pool_size",
    "rate_limit_nodes",
    "sqlite_synchronous",
    "sms_provider",
    "sms_http_url",
    "sms_http_token",
    "sms_http_timeout_ms",
    "sms_http_attempts",
    "sms_http_backoff_ms",
    "sms_answer_wait_ms",
    "sms_send_cap",
    "sms_send_window_secs",
    "oob_max_resends",
    "oob_max_failed_sessions",
    "oob_sweep_interval_ms",
    "oob_retention_secs",
    "event_webhook_url",
    "event_webhook_token",
    "http_client_ca_file",
    "http_client_allow_plaintext",
    "rate_key_per_sec",
    "rate_user_per_min",
    "rate_key_failures_per_min",
    "admin_idle_timeout_secs",
    "jxchange_strict_headers",
    "dual_control",
    "dual_control_expiry_secs",
    "first_admin_otp_secs",
    "console_mfa",
    "console_idle_secs",
    "console_session_secs",
    "oidc",
    "oidc_required_amr",
    "console_local_sign_in",
    "webauthn_origin",
];

impl Settings {
    /// The figment every command starts from.
    pub fn figment() -> Figment {
        rocket::Config::figment()
    }

    /// Extracts and checks the settings; a bad value stops start-up with its name.
    pub fn load(figment: &Figment) -> anyhow::Result<Settings> {
        let settings: Settings = figment
            .extract()
            .context("invalid configuration (Rocket.toml or ROCKET_* variables)")?;
        let data = figment.data().unwrap_or_default();
        for key in data.into_values().flat_map(|dict| dict.into_keys()) {
            if !APP_KEYS.contains(&key.as_str()) && !ROCKET_KEYS.contains(&key.as_str()) {
                tracing::warn!("unknown configuration key {key:?} is ignored");
            }
        }
        settings.check()?;
        Ok(settings)
    }

    /// The SQLite file (used when `database_url` is not set).
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("tokend.sqlite")
    }

    /// What `Storage::connect` opens: `database_url`, else the SQLite file's path.
    pub fn database_url(&self) -> Zeroizing<String> {
        match &self.database_url {
            Some(url) => Zeroizing::new(url.expose().to_owned()),
            None => Zeroizing::new(self.database_path().to_string_lossy().into_owned()),
        }
    }

    /// Whether the database is PostgreSQL (several nodes may share it).
    pub fn is_postgres(&self) -> bool {
        self.database_url.as_ref().is_some_and(|u| {
            u.expose().starts_with("postgres://") || u.expose().starts_with("postgresql://")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocket::figment::providers::Serialized;

    #[test]
    fn defaults_apply_and_bad_values_are_refused() {
        let base = Figment::from(Serialized::defaults(serde_json::json!({})));
        let s = Settings::load(&base).unwrap();
        assert_eq!((s.window_steps, s.lock_after_failures), (1, 5));
        assert_eq!(s.data_dir, PathBuf::from("data"));
        let bad = base.clone().merge(("lock_after_failures", 101));
        assert!(Settings::load(&bad).is_err());
        assert_eq!(s.sms_provider, ProviderKind::Outbox);
        assert_eq!((s.sms_send_cap, s.sms_send_window_secs), (5, 600));
        let no_url = base.clone().merge(("sms_provider", "http"));
        assert!(Settings::load(&no_url).is_err());
        let http = no_url
            .merge(("sms_http_url", "http://127.0.0.1:9/sms"))
            .merge(("sms_http_token", "s3cret"));
        let s = Settings::load(&http).unwrap();
        assert!(!format!("{s:?}").contains("s3cret"), "tokens are redacted");
    }

    #[test]
    fn plaintext_urls_are_refused_off_loopback_unless_allowed() {
        let base = Figment::from(Serialized::defaults(serde_json::json!({})))
            .merge(("sms_provider", "http"));
        let with = |url: &str| base.clone().merge(("sms_http_url", url));
        for ok in [
            "https://sms.example.com/send",
            "http://127.0.0.1:9/sms",
            "http://[::1]:9/sms",
            "http://localhost/sms",
        ] {
            assert!(Settings::load(&with(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "http://sms.example.com/send",
            "http://10.0.0.1/",
            "ftp://x/",
            "nope",
        ] {
            assert!(Settings::load(&with(bad)).is_err(), "{bad}");
        }
        let hook = Figment::from(Serialized::defaults(serde_json::json!({})))
            .merge(("event_webhook_url", "http://consumer.example.com/events"));
        assert!(Settings::load(&hook).is_err());
        let allowed = hook.merge(("http_client_allow_plaintext", true));
        assert!(Settings::load(&allowed).is_ok());
    }
}
