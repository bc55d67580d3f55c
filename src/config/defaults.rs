//! The default of every setting that has one (named by `#[serde(default = …)]` in
//! `Settings`), kept apart so the settings read as a list.

use std::path::PathBuf;

use super::{ConsoleMfa, Durability, ProviderKind};

pub(super) fn default_rate_user_per_min() -> u32 {
    120
}

pub(super) fn default_rate_key_failures_per_min() -> u32 {
    600
}

pub(super) fn default_admin_idle_timeout_secs() -> i64 {
    900
}

pub(super) fn default_true() -> bool {
    true
}

pub(super) fn default_oidc_scopes() -> Vec<String> {
    vec!["profile".to_owned()]
}

pub(super) fn default_username_claim() -> String {
    "preferred_username".into()
}

pub(super) fn default_role_claim() -> String {
    "roles".into()
}

pub(super) fn default_button_label() -> String {
    "Sign in with your organisation".into()
}

pub(super) fn default_console_mfa() -> ConsoleMfa {
    ConsoleMfa::Required
}

pub(super) fn default_console_session_secs() -> i64 {
    28_800
}

pub(super) fn default_dual_control() -> Vec<String> {
    [
        "phone.change",
        "hold.lift",
        "token.delete",
        "token.bind",
        "apikey.create",
        "staff.create",
        "staff.role",
    ]
    .map(str::to_owned)
    .to_vec()
}

pub(super) fn default_dual_control_expiry_secs() -> i64 {
    86_400
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
