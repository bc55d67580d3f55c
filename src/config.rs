//! Settings, extracted once from Rocket's figment (`Rocket.toml` + `ROCKET_*` variables), so
//! `serve` and every subcommand read the same configuration the same way. App settings are
//! root keys: `ROCKET_DATA_DIR` moves the data directory, `ROCKET_LOCK_AFTER_FAILURES`
//! changes the lock threshold, and so on.
//!
//! Data only: what the settings mean to the domain, the SMS providers, storage and the web
//! edge (policies, providers, limits) is composed in `bootstrap`. Imports: rocket::figment,
//! serde; nothing from the crate.

use anyhow::{bail, Context as _};
use rocket::figment::{Figment, Provider as _};
use serde::Deserialize;
use std::path::PathBuf;

use zeroize::Zeroizing;

mod audit_retention;
mod console;
mod defaults;
mod edge;
mod key_source;
mod sms_fraud;
pub use audit_retention::AuditRetention;
pub use console::{Console, ConsoleMfa, OidcSettings};
pub use edge::Edge;
pub use key_source::{KeySource, Pkcs11Settings, Source as KeySourceKind, PIN_ENV};
pub use sms_fraud::{ExplicitPhone, SmsFraud};

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
    /// Send a OneWay SMS to the OLD number when a user's phone changes (ASVS 2.5.5).
    /// Default true: every configuration has an SMS provider (the outbox at least).
    #[serde(default = "defaults::default_true")]
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
    /// The event webhook's signing secret (`whsec_<base64>`, Standard Webhooks); unset:
    /// deliveries are not signed (redacted in Debug).
    #[serde(default)]
    pub event_webhook_secret: Option<SecretText>,
    /// The secret being rotated out: while set, both sign each delivery.
    #[serde(default)]
    pub event_webhook_secret_previous: Option<SecretText>,
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
    /// The SMS fraud settings (root keys too).
    #[serde(flatten)]
    pub sms_fraud: SmsFraud,
    /// The web edge's public address and SOAP clock skew (root keys too).
    #[serde(flatten)]
    pub edge: Edge,
    /// The console's trust: dual control, second factor, sessions, sign-on (root keys).
    #[serde(flatten)]
    pub console: Console,
    /// Where the master key comes from: file, env or an HSM (root keys).
    #[serde(flatten)]
    pub key_source: KeySource,
    /// How long audit rows stay in the database, and where the archive goes (root keys).
    #[serde(flatten)]
    pub audit_retention: AuditRetention,
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

/// Refuses an outbound URL that is not http(s), or that is `http://` to a host off the
/// loopback interface without `http_client_allow_plaintext`. Decision: plaintext to
/// 127.0.0.0/8, ::1 and `localhost` is allowed without the flag, since it never leaves
/// the machine (a local SMS gateway, tests); anything else would carry the bearer token,
/// the phone number and the code in clear.
pub fn check_outbound_url(name: &str, url: &str, allow_plaintext: bool) -> anyhow::Result<()> {
    let parsed = url::Url::parse(url).with_context(|| format!("{name} is not a URL"))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if allow_plaintext || is_loopback(&parsed) => Ok(()),
        "http" => bail!(
            "{name} is plaintext http:// to a host other than loopback: use https://, or set \
             http_client_allow_plaintext = true to accept sending tokens, phone numbers and \
             codes in clear"
        ),
        _ => bail!("{name} must be an http(s) URL"),
    }
}

/// Whether a URL's host is the loopback interface.
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

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
            let known = [
                defaults::APP_KEYS,
                defaults::ROCKET_KEYS,
                sms_fraud::KEYS,
                edge::KEYS,
                console::KEYS,
                key_source::KEYS,
                audit_retention::KEYS,
            ];
            if !known.iter().any(|keys| keys.contains(&key.as_str())) {
                tracing::warn!("unknown configuration key {key:?} is ignored");
            }
        }
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> anyhow::Result<()> {
        if !(1..=100).contains(&self.lock_after_failures) {
            bail!(
                "lock_after_failures must be 1 to 100, not {}",
                self.lock_after_failures
            );
        }
        if self.window_steps > 10 {
            bail!("window_steps must be 0 to 10, not {}", self.window_steps);
        }
        if !(2..=1000).contains(&self.resync_window_steps) {
            bail!(
                "resync_window_steps must be 2 to 1000, not {}",
                self.resync_window_steps
            );
        }
        if self.explain_retention_secs > 7 * 24 * 3600 {
            bail!("explain_retention_secs must be 0 to 604800 (7 days)");
        }
        if self.sim_swap_hold_secs > 365 * 24 * 3600 {
            bail!("sim_swap_hold_secs must be 0 to 31536000 (a year)");
        }
        if self.first_admin_otp_secs == 0 {
            bail!("first_admin_otp_secs must be at least 1");
        }
        if self.issuer.is_empty() || self.issuer.contains(':') {
            bail!("issuer must be non-empty and contain no colon");
        }
        self.check_oob()?;
        self.sms_fraud.check()?;
        self.key_source.check()?;
        self.audit_retention.check()?;
        self.edge.check()
    }

    fn check_oob(&self) -> anyhow::Result<()> {
        if self.sms_provider == ProviderKind::Http && self.sms_http_url.is_none() {
            bail!("sms_provider = \"http\" needs sms_http_url");
        }
        let issuer = self.console.oidc.as_ref().map(|o| o.issuer.clone());
        for (name, url) in [
            ("sms_http_url", &self.sms_http_url),
            ("event_webhook_url", &self.event_webhook_url),
            ("oidc.issuer", &issuer),
        ] {
            if let Some(url) = url {
                check_outbound_url(name, url, self.http_client_allow_plaintext)?;
            }
        }
        if !(100..=120_000).contains(&self.sms_http_timeout_ms) {
            bail!("sms_http_timeout_ms must be 100 to 120000");
        }
        if !(1..=10).contains(&self.sms_http_attempts) {
            bail!("sms_http_attempts must be 1 to 10");
        }
        if self.oob_max_failed_sessions == 0 {
            bail!("oob_max_failed_sessions must be at least 1");
        }
        if self.sms_send_cap == 0 || self.sms_send_window_secs == 0 {
            bail!("sms_send_cap and sms_send_window_secs must be at least 1");
        }
        if !(10..=3_600_000).contains(&self.oob_sweep_interval_ms) {
            bail!("oob_sweep_interval_ms must be 10 to 3600000");
        }
        if !(1..=1000).contains(&self.rate_limit_nodes) {
            bail!("rate_limit_nodes must be 1 to 1000");
        }
        if let Some(url) = &self.database_url {
            if !self.is_postgres() {
                bail!(
                    "database_url must be a postgres:// or postgresql:// URL (leave it unset for \
                     the embedded SQLite file in data_dir)"
                );
            }
            if url.expose().chars().any(char::is_whitespace) {
                bail!("database_url must not contain spaces");
            }
        }
        Ok(())
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
    fn the_issue_26_settings_have_their_defaults_and_are_checked() {
        let base = Figment::from(Serialized::defaults(serde_json::json!({})));
        let s = Settings::load(&base).unwrap();
        assert!(s.phone_change_notice, "the old number is told by default");
        let f = &s.sms_fraud;
        assert_eq!(f.oob_explicit_phone, ExplicitPhone::Refuse);
        assert_eq!(
            (f.sms_max_per_institution_hour, f.sms_max_per_key_hour),
            (1000, 200)
        );
        assert!(f.sms_blocked_prefixes.is_none() && !f.sms_text_allow_urls);
        assert_eq!(
            (s.edge.public_url.as_deref(), s.edge.soap_clock_skew_secs),
            (None, 300)
        );
        let allow = base.clone().merge(("oob_explicit_phone", "allow"));
        assert_eq!(
            Settings::load(&allow).unwrap().sms_fraud.oob_explicit_phone,
            ExplicitPhone::Allow
        );
        for (key, bad) in [
            ("oob_explicit_phone", serde_json::json!("sometimes")),
            ("sms_max_per_key_hour", serde_json::json!(0)),
            ("sms_blocked_prefixes", serde_json::json!(["9a"])),
            ("public_url", serde_json::json!("ftp://x.example")),
            ("public_url", serde_json::json!("https://x.example/?a=1")),
            ("soap_clock_skew_secs", serde_json::json!(3601)),
        ] {
            assert!(
                Settings::load(&base.clone().merge((key, bad.clone()))).is_err(),
                "{key} {bad}"
            );
        }
        let url = base.merge(("public_url", "https://tokend.bank.example/"));
        let edge = Settings::load(&url).unwrap().edge;
        assert_eq!(
            edge.public_base().as_deref(),
            Some("https://tokend.bank.example")
        );
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
