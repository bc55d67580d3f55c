//! Settings, extracted once from Rocket's figment (`Rocket.toml` + `ROCKET_*` variables), so
//! `serve` and every subcommand read the same configuration the same way. App settings are
//! root keys: `ROCKET_DATA_DIR` moves the data directory, `ROCKET_LOCK_AFTER_FAILURES`
//! changes the lock threshold, and so on.

use anyhow::{bail, Context as _};
use rocket::figment::{Figment, Provider as _};
use serde::Deserialize;
use std::path::PathBuf;

use crate::domain::Policy;
use crate::storage::Durability;

/// Every tokend setting, with its default.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Where the database, master key and Rocket secret key live (default `data`).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// A file holding the base64 master key; default `<data_dir>/master.key`.
    /// `TOKEND_MASTER_KEY` (base64) takes precedence over both.
    #[serde(default)]
    pub master_key_file: Option<PathBuf>,
    /// Issuer shown in authenticator apps.
    #[serde(default = "default_issuer")]
    pub issuer: String,
    /// Steps accepted either side of the expected step (0–10, default 1).
    #[serde(default = "default_window_steps")]
    pub window_steps: u32,
    /// Consecutive failures that lock a binding (1–100, default 5).
    #[serde(default = "default_lock_after_failures")]
    pub lock_after_failures: u32,
    /// Institution routing id used when a request names none.
    #[serde(default = "default_inst_rt_id")]
    pub inst_rt_id: String,
    /// Steps searched either side of now by resync; also bounds the learned drift.
    #[serde(default = "default_resync_window_steps")]
    pub resync_window_steps: u32,
    /// Seconds after which a binding locked by failures unlocks itself (0 = never).
    #[serde(default)]
    pub auto_unlock_after_secs: u64,
    /// Database connections in the pool.
    #[serde(default = "default_db_pool_size")]
    pub db_pool_size: u32,
    /// `full` (default: a commit survives power loss) or `normal` (survives a crash).
    #[serde(default = "default_durability")]
    pub sqlite_synchronous: Durability,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
fn default_issuer() -> String {
    "tokend".into()
}
fn default_window_steps() -> u32 {
    1
}
fn default_lock_after_failures() -> u32 {
    5
}
fn default_inst_rt_id() -> String {
    "tokend".into()
}
fn default_resync_window_steps() -> u32 {
    100
}
fn default_db_pool_size() -> u32 {
    16
}
fn default_durability() -> Durability {
    Durability::Full
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
    "db_pool_size",
    "sqlite_synchronous",
];

/// Rocket's own keys (Rocket 0.5 configuration guide).
const ROCKET_KEYS: &[&str] = &[
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
        if self.issuer.is_empty() || self.issuer.contains(':') {
            bail!("issuer must be non-empty and contain no colon");
        }
        Ok(())
    }

    /// The SQLite file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("tokend.sqlite")
    }

    /// The domain's slice of the settings.
    pub fn policy(&self) -> Policy {
        Policy {
            issuer: self.issuer.clone(),
            window_steps: self.window_steps,
            lock_after_failures: self.lock_after_failures,
            default_inst_rt_id: self.inst_rt_id.clone(),
            resync_window_steps: self.resync_window_steps,
            auto_unlock_after_secs: self.auto_unlock_after_secs,
        }
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
        let bad = base.merge(("lock_after_failures", 101));
        assert!(Settings::load(&bad).is_err());
    }
}
