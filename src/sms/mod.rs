//! SMS delivery behind one trait, and the outbound HTTP used for event webhooks.
//!
//! Two providers: `outbox` (the default: the message stored in the database IS the
//! delivery; `GET /api/v1/sms/outbox` and later the admin console show it — for a
//! single-machine set-up and tests) and `http` (POSTs `{"to","body"}` JSON to a configured
//! URL). Queueing, retries and their records live in the domain and storage; a provider
//! only makes one attempt. Imports: types, an HTTP client (ureq). Never the database.

pub mod http;

use serde::Deserialize;

use crate::types::PhoneNum;

/// Which provider delivers SMS (`sms_provider`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Messages are stored in the database and shown in the outbox.
    Outbox,
    /// Messages are POSTed to `sms_http_url` by background sender threads.
    Http,
}

impl ProviderKind {
    /// The name stored with each message.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Outbox => "outbox",
            ProviderKind::Http => "http",
        }
    }
}

/// One delivery attempt to a provider that sends real SMS.
pub trait SmsProvider: Send + Sync {
    /// Delivers `body` to `to`. `Ok` carries a short note on what the provider answered,
    /// `Err` why the attempt failed (status, timeout, refused connection). Neither ever
    /// contains the body or the full number. Must return within the provider's timeout.
    fn deliver(&self, to: &PhoneNum, body: &str) -> Result<String, String>;
}
