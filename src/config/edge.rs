//! Settings of the web edge that a reverse proxy or a gateway in front of tokend depends
//! on (issue 26): the public address clients reach, and the clock skew a SOAP message's
//! WS-Security timestamp may show. Flattened into [`super::Settings`] (root keys). Data only.

use anyhow::{bail, Context as _};
use serde::Deserialize;

/// The edge settings.
#[derive(Debug, Clone, Deserialize)]
pub struct Edge {
    /// The address clients reach tokend at (`https://tokend.bank.example`), written into
    /// the WSDL's `soap:address`. Unset: taken from the request, which lets any `Host`
    /// header move where a client generated from the WSDL sends its credentials.
    #[serde(default)]
    pub public_url: Option<String>,
    /// How far a SOAP message's WS-Security `Timestamp` may be off, seconds (default 300;
    /// at most an hour): `Created` no later than now plus this, `Expires` no earlier than
    /// now minus this. Nonces are remembered that long too.
    #[serde(default = "default_soap_clock_skew_secs")]
    pub soap_clock_skew_secs: u64,
    /// How long an `Idempotency-Key` and its stored answer are kept, seconds (default
    /// 86,400; 60 to 30 days): a retry within it gets the first answer again.
    #[serde(default = "default_idempotency_retention_secs")]
    pub idempotency_retention_secs: u64,
}

/// Their names, for the unknown-key warning.
pub const KEYS: &[&str] = &[
    "public_url",
    "soap_clock_skew_secs",
    "idempotency_retention_secs",
];

fn default_soap_clock_skew_secs() -> u64 {
    300
}

fn default_idempotency_retention_secs() -> u64 {
    86_400
}

impl Edge {
    /// Refuses a `public_url` that is not an http(s) URL without query or fragment, and a
    /// skew over an hour.
    pub fn check(&self) -> anyhow::Result<()> {
        if let Some(url) = &self.public_url {
            let parsed = url::Url::parse(url).context("public_url is not a URL")?;
            if !matches!(parsed.scheme(), "http" | "https")
                || parsed.query().is_some()
                || parsed.fragment().is_some()
            {
                bail!("public_url must be an http(s) URL without query or fragment");
            }
        }
        if self.soap_clock_skew_secs > 3600 {
            bail!("soap_clock_skew_secs must be 0 to 3600");
        }
        if !(60..=30 * 86_400).contains(&self.idempotency_retention_secs) {
            bail!("idempotency_retention_secs must be 60 to 2592000 (30 days)");
        }
        Ok(())
    }

    /// `public_url` without a trailing slash, if set.
    pub fn public_base(&self) -> Option<String> {
        self.public_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_owned())
    }
}
