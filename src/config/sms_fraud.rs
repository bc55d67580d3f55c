//! The settings against SMS fraud (issue 26): who an explicit OOBValidate may text, the
//! hourly caps per institution and per API key, the numbers that cannot receive a code,
//! and what a consumer's `SMSText` may carry. Flattened into [`super::Settings`], so they
//! are root keys like every other (`ROCKET_SMS_MAX_PER_INSTITUTION_HOUR`). Data only.

use anyhow::bail;
use serde::Deserialize;

/// What an explicit OOBValidate that names a user does with another `PhoneNum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExplicitPhone {
    /// Fault 7035: a user's code goes to the phone on file (the default).
    Refuse,
    /// Sent, and marked as not on file in the answer, the event and the audit.
    Allow,
}

/// The SMS fraud settings.
#[derive(Debug, Clone, Deserialize)]
pub struct SmsFraud {
    /// `refuse` (default) or `allow` another number than the named user's on file.
    #[serde(default = "default_explicit_phone")]
    pub oob_explicit_phone: ExplicitPhone,
    /// SMS per institution per hour, across nodes (default 1,000; fault 7052 past it).
    #[serde(default = "default_per_institution_hour")]
    pub sms_max_per_institution_hour: u32,
    /// SMS per API key per hour, across nodes (default 200; fault 7052 past it).
    #[serde(default = "default_per_key_hour")]
    pub sms_max_per_key_hour: u32,
    /// Patterns of numbers that cannot receive a code, replacing the default list of
    /// North American numbering rules: digits, `N` (2–9) and `X` (any), from the first
    /// digit. Absent: the default list.
    #[serde(default)]
    pub sms_blocked_prefixes: Option<Vec<String>>,
    /// Let a consumer's `SMSText` carry a URL (default false: a code text needs none, and
    /// a link in it is the phishing an SMS relay is abused for).
    #[serde(default)]
    pub sms_text_allow_urls: bool,
}

/// Their names, for the unknown-key warning.
pub const KEYS: &[&str] = &[
    "oob_explicit_phone",
    "sms_max_per_institution_hour",
    "sms_max_per_key_hour",
    "sms_blocked_prefixes",
    "sms_text_allow_urls",
];

fn default_explicit_phone() -> ExplicitPhone {
    ExplicitPhone::Refuse
}
fn default_per_institution_hour() -> u32 {
    1000
}
fn default_per_key_hour() -> u32 {
    200
}

impl SmsFraud {
    /// Refuses a cap of 0 (it would stop every SMS: turn the fallback off otherwise) and a
    /// pattern that is not 1–10 of digits, `N` and `X`.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.sms_max_per_institution_hour == 0 || self.sms_max_per_key_hour == 0 {
            bail!("sms_max_per_institution_hour and sms_max_per_key_hour must be at least 1");
        }
        for p in self.sms_blocked_prefixes.iter().flatten() {
            let ok = (1..=10).contains(&p.len())
                && p.bytes()
                    .all(|b| b.is_ascii_digit() || b == b'N' || b == b'X');
            if !ok {
                bail!(
                    "sms_blocked_prefixes: {p:?} must be 1 to 10 of digits, N (2-9) and X (any digit)"
                );
            }
        }
        Ok(())
    }
}
