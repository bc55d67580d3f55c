//! The checks a configuration passes before anything starts: ranges, combinations, and
//! outbound URLs (plaintext off loopback is refused). A bad value stops start-up with
//! its name.

use anyhow::{bail, Context as _};

use super::{ProviderKind, Settings};

/// Rocket's own keys (Rocket 0.5 configuration guide).
pub(super) const ROCKET_KEYS: &[&str] = &[
    "address",
    "port",
    "workers",
    "max_blocking",
    "ident",
    "ip_header",
    "proxy_proto_header",
    "keep_alive",
    "log_level",
    "cli_colors",
    "secret_key",
    "tls",
    "limits",
    "shutdown",
    "temp_dir",
    "profile",
    "mtls",
    "template_dir",
    "config",
];

/// Refuses an outbound URL that is not http(s), or that is `http://` to a host off the
/// loopback interface without `http_client_allow_plaintext`. Decision: plaintext to
/// 127.0.0.0/8, ::1 and `localhost` is allowed without the flag, since it never leaves
/// the machine (a local SMS gateway, tests); anything else would carry the bearer token,
/// the phone number and the code in clear.
fn check_outbound_url(name: &str, url: &str, allow_plaintext: bool) -> anyhow::Result<()> {
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
    pub(super) fn check(&self) -> anyhow::Result<()> {
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
        self.check_oob()
    }

    fn check_oob(&self) -> anyhow::Result<()> {
        if self.sms_provider == ProviderKind::Http && self.sms_http_url.is_none() {
            bail!("sms_provider = \"http\" needs sms_http_url");
        }
        let issuer = self.oidc.as_ref().map(|o| o.issuer.clone());
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
}
