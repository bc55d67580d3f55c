//! Settings of the staff console's trust (issues 24 and 25): dual control, the second
//! factor, sessions, single sign-on through the bank's OpenID provider, and passkeys.
//! Flattened into [`super::Settings`] (root keys; `[default.oidc]` a table). Data only:
//! what the names mean is composed in `bootstrap`.

use serde::Deserialize;

use super::SecretText;

/// The console settings.
#[derive(Debug, Clone, Deserialize)]
pub struct Console {
    /// Console actions that a second staff member must approve (`[]`: none). Names as in
    /// docs/console.md; checked at start-up.
    #[serde(default = "default_dual_control")]
    pub dual_control: Vec<String>,
    /// Seconds a dual-control request waits for a decision (default 86,400).
    #[serde(default = "default_dual_control_expiry_secs")]
    pub dual_control_expiry_secs: i64,
    /// `required` (default): every console account signs in with a second factor;
    /// `off`: the password alone (a development install only: a WARN at every start).
    #[serde(default = "default_console_mfa")]
    pub console_mfa: ConsoleMfa,
    /// Seconds of inactivity after which a console session ends (default: 900, or
    /// `admin_idle_timeout_secs` where an older install set that).
    #[serde(default)]
    pub console_idle_secs: Option<i64>,
    /// Seconds after sign-in at which a console session ends, however active (default
    /// 28,800: eight hours).
    #[serde(default = "default_console_session_secs")]
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
    #[serde(default = "super::defaults::default_true")]
    pub console_local_sign_in: bool,
}

/// Their names, for the unknown-key warning.
pub const KEYS: &[&str] = &[
    "dual_control",
    "dual_control_expiry_secs",
    "console_mfa",
    "console_idle_secs",
    "console_session_secs",
    "oidc",
    "oidc_required_amr",
    "webauthn_origin",
    "console_local_sign_in",
];

/// Whether console accounts need a second factor (`console_mfa`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsoleMfa {
    /// Every sign-in asks for a second factor (the default).
    Required,
    /// The password alone: for a development install only.
    Off,
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
    #[serde(default = "default_oidc_scopes")]
    pub scopes: Vec<String>,
    /// The claim naming the staff member (default `preferred_username`).
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// The claim whose values map to roles (default `roles`).
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    /// Claim value → role (`auditor`, `helpdesk`, `officer`, `admin`).
    #[serde(default)]
    pub role_map: std::collections::BTreeMap<String, String>,
    /// The claim holding the staff member's `InstRtId` (or `*`: every institution);
    /// absent: everyone signs in to the configured `inst_rt_id`.
    #[serde(default)]
    pub institution_claim: Option<String>,
    /// The sign-in button's words.
    #[serde(default = "default_button_label")]
    pub button_label: String,
}

fn default_oidc_scopes() -> Vec<String> {
    vec!["profile".to_owned()]
}
fn default_username_claim() -> String {
    "preferred_username".into()
}
fn default_role_claim() -> String {
    "roles".into()
}
fn default_button_label() -> String {
    "Sign in with your organisation".into()
}
fn default_console_mfa() -> ConsoleMfa {
    ConsoleMfa::Required
}
fn default_console_session_secs() -> i64 {
    28_800
}
fn default_dual_control() -> Vec<String> {
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
fn default_dual_control_expiry_secs() -> i64 {
    86_400
}
