//! Every setting's default (the `#[serde(default = …)]` of [`super::Settings`]) and the
//! names tokend and Rocket know, so an unknown key can be reported. Data only.

use std::path::PathBuf;

use super::{Durability, ProviderKind};

pub(super) fn default_true() -> bool {
    true
}
pub(super) fn default_rate_user_per_min() -> u32 {
    120
}
pub(super) fn default_rate_key_failures_per_min() -> u32 {
    600
}
pub(super) fn default_admin_idle_timeout_secs() -> i64 {
    900
}
pub(super) fn default_first_admin_otp_secs() -> u64 {
    86_400
}
pub(super) fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
pub(super) fn default_issuer() -> String {
    "tokend".into()
}
pub(super) fn default_window_steps() -> u32 {
    1
}
pub(super) fn default_lock_after_failures() -> u32 {
    5
}
pub(super) fn default_inst_rt_id() -> String {
    "tokend".into()
}
pub(super) fn default_resync_window_steps() -> u32 {
    100
}
pub(super) fn default_sim_swap_hold_secs() -> u64 {
    7 * 24 * 3600
}
pub(super) fn default_explain_retention_secs() -> u64 {
    3600
}
pub(super) fn default_db_pool_size() -> u32 {
    16
}
pub(super) fn default_durability() -> Durability {
    Durability::Full
}
pub(super) fn default_sms_provider() -> ProviderKind {
    ProviderKind::Outbox
}
pub(super) fn default_rate_limit_nodes() -> u32 {
    1
}
pub(super) fn default_sms_http_timeout_ms() -> u64 {
    5000
}
pub(super) fn default_sms_http_attempts() -> u32 {
    3
}
pub(super) fn default_sms_http_backoff_ms() -> u64 {
    500
}
pub(super) fn default_sms_answer_wait_ms() -> u64 {
    2000
}
pub(super) fn default_sms_send_cap() -> u32 {
    5
}
pub(super) fn default_sms_send_window_secs() -> u64 {
    600
}
pub(super) fn default_oob_max_resends() -> u32 {
    3
}
pub(super) fn default_oob_max_failed_sessions() -> u32 {
    3
}
pub(super) fn default_oob_sweep_interval_ms() -> u64 {
    1000
}
pub(super) fn default_oob_retention_secs() -> u64 {
    90 * 24 * 3600
}

/// The app's own keys, so unknown ones can be reported (a typo would otherwise be ignored).
pub(super) const APP_KEYS: &[&str] = &[
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
    "event_webhook_secret",
    "event_webhook_secret_previous",
    "http_client_ca_file",
    "http_client_allow_plaintext",
    "rate_key_per_sec",
    "rate_user_per_min",
    "rate_key_failures_per_min",
    "admin_idle_timeout_secs",
    "jxchange_strict_headers",
    "first_admin_otp_secs",
];

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
