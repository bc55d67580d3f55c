//! SMS delivery behind one trait, and the outbound HTTP used for event webhooks.
//!
//! Two providers: `outbox` (the default: the message stored in the database IS the
//! delivery; `GET /api/v1/sms/outbox` and later the admin console show it — for a
//! single-machine set-up and tests) and `http` (POSTs `{"to","body"}` JSON to a configured
//! URL). Queueing, retries and their records live in the domain and storage; a provider
//! only makes one attempt. Imports: types, an HTTP client (ureq). Never the database.

pub mod http;
pub mod signing;

use crate::types::PhoneNum;

/// Which provider delivers SMS (`sms_provider`); the vocabulary type, named here too.
pub use crate::types::ProviderKind;

/// One delivery attempt to a provider that sends real SMS.
pub trait SmsProvider: Send + Sync {
    /// Delivers `body` to `to`. `Ok` carries a short note on what the provider answered,
    /// `Err` why the attempt failed (status, timeout, refused connection). Neither ever
    /// contains the body or the full number. Must return within the provider's timeout.
    fn deliver(&self, to: &PhoneNum, body: &str) -> Result<String, String>;
}
