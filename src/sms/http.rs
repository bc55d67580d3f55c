//! The `http` SMS provider and the event webhook: a JSON POST with an optional bearer
//! token and a hard timeout (a provider that hangs costs one attempt, never a thread).
//!
//! HTTPS through rustls (ring), never OpenSSL. The server's certificate is always
//! verified, against the public web PKI roots (webpki-roots, compiled in, so the host's
//! CA store does not matter) plus the CA bundle of `http_client_ca_file` (a private CA);
//! there is no switch to turn verification off.

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::CertificateDer;
use serde::Serialize;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

use super::SmsProvider;
use crate::types::PhoneNum;

/// Where and how to POST. The token is redacted in `Debug`.
#[derive(Clone)]
pub struct HttpTarget {
    url: String,
    token: Option<Zeroizing<String>>,
    agent: ureq::Agent,
    signing: Option<super::signing::Signing>,
}

impl fmt::Debug for HttpTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "HttpTarget({}, token: {})",
            self.url,
            if self.token.is_some() { "set" } else { "none" }
        )
    }
}

impl HttpTarget {
    /// A target with a bearer token (optional) and a timeout for the whole exchange,
    /// trusting the public web PKI roots only.
    pub fn new(url: &str, token: Option<&str>, timeout: Duration) -> HttpTarget {
        HttpTarget::with_tls(url, token, timeout, tls_with_roots(public_roots()))
    }

    /// A target whose HTTPS connections verify the server against `tls`'s roots (see
    /// [`client_tls`]).
    pub fn with_tls(
        url: &str,
        token: Option<&str>,
        timeout: Duration,
        tls: Arc<rustls::ClientConfig>,
    ) -> HttpTarget {
        HttpTarget {
            url: url.to_owned(),
            token: token.map(|t| Zeroizing::new(t.to_owned())),
            agent: ureq::AgentBuilder::new()
                .timeout(timeout)
                .redirects(0)
                .tls_config(tls)
                .build(),
            signing: None,
        }
    }

    /// The same target, signing what it sends (Standard Webhooks, see `signing`).
    pub fn signed(mut self, signing: super::signing::Signing) -> HttpTarget {
        self.signing = Some(signing);
        self
    }

    /// POSTs `body` as JSON as message `id`: signed when the target signs (the headers
    /// of `signing`), else as [`HttpTarget::post_json`].
    pub fn post_message<T: Serialize>(&self, id: &str, body: &T) -> Result<String, PostFailure> {
        let Some(signing) = &self.signing else {
            return self.post_json(body);
        };
        let bytes = serde_json::to_vec(body).map_err(|e| PostFailure::Encode(e.to_string()))?;
        let mut rq = self
            .agent
            .post(&self.url)
            .set("Content-Type", "application/json");
        if let Some(token) = &self.token {
            rq = rq.set("Authorization", &format!("Bearer {}", token.as_str()));
        }
        for (name, value) in signing.headers(id, chrono::Utc::now().timestamp(), &bytes) {
            rq = rq.set(name, &value);
        }
        match rq.send_bytes(&bytes) {
            Ok(rs) => Ok(format!("HTTP {}", rs.status())),
            Err(ureq::Error::Status(code, _)) => Err(PostFailure::Status(code)),
            Err(ureq::Error::Transport(t)) => Err(PostFailure::Transport(transport_why(&t))),
        }
    }

    /// POSTs `body` as JSON; a 2xx answer is success, anything else a failure saying why
    /// (never echoing the body or the token).
    pub fn post_json<T: Serialize>(&self, body: &T) -> Result<String, PostFailure> {
        let mut rq = self.agent.post(&self.url);
        if let Some(token) = &self.token {
            rq = rq.set("Authorization", &format!("Bearer {}", token.as_str()));
        }
        let json = serde_json::to_value(body).map_err(|e| PostFailure::Encode(e.to_string()))?;
        match rq.send_json(json) {
            Ok(rs) => Ok(format!("HTTP {}", rs.status())),
            Err(ureq::Error::Status(code, _)) => Err(PostFailure::Status(code)),
            Err(ureq::Error::Transport(t)) => Err(PostFailure::Transport(transport_why(&t))),
        }
    }
}

/// Makes the targets of tokend's webhook endpoints (`tokend webhook add`): each with the
/// outbound TLS settings and the timeout every http attempt has, and no bearer token (a
/// signed delivery proves itself).
#[derive(Clone)]
pub struct TargetMaker {
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
}

impl TargetMaker {
    /// Targets verifying HTTPS against `tls`, each attempt bounded by `timeout`.
    pub fn new(tls: Arc<rustls::ClientConfig>, timeout: Duration) -> TargetMaker {
        TargetMaker { tls, timeout }
    }

    /// The target at `url`.
    pub fn target(&self, url: &str) -> HttpTarget {
        HttpTarget::with_tls(url, None, self.timeout, Arc::clone(&self.tls))
    }
}

/// Why a connection failed, without the URL (it may carry a provider's credentials): the
/// kind, and the underlying cause (refused connection, certificate not trusted, …).
fn transport_why(t: &ureq::Transport) -> String {
    match std::error::Error::source(t) {
        Some(cause) => format!("{}: {cause}", t.kind()),
        None => t.kind().to_string(),
    }
}

/// The TLS settings of outbound POSTs: the public web PKI roots plus `extra` (the
/// certificates of `http_client_ca_file`).
pub fn client_tls(extra: &[CertificateDer<'static>]) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = public_roots();
    for cert in extra {
        roots
            .add(cert.clone())
            .map_err(|e| format!("a CA certificate is refused: {e}"))?;
    }
    Ok(tls_with_roots(roots))
}

/// The public web PKI roots (Mozilla's, compiled in).
fn public_roots() -> rustls::RootCertStore {
    rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// A verifying client configuration over `roots`: rustls's safe defaults (TLS 1.2 and
/// 1.3) with its process-default provider, ring, the only one compiled in.
fn tls_with_roots(roots: rustls::RootCertStore) -> Arc<rustls::ClientConfig> {
    Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// The certificates of a PEM bundle (at least one).
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

/// Why a POST failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostFailure {
    /// The receiver answered this status (not 2xx).
    Status(u16),
    /// No answer: connection refused, TLS, timeout.
    Transport(String),
    /// The body could not be encoded.
    Encode(String),
}

impl PostFailure {
    /// Whether the receiver refused this very message, so sending it again cannot help:
    /// a 4xx other than 408 (timeout), 425 (too early) and 429 (too many requests).
    pub fn is_refusal(&self) -> bool {
        matches!(self, PostFailure::Status(code)
            if (400..500).contains(code) && !matches!(code, 408 | 425 | 429))
    }
}

impl fmt::Display for PostFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PostFailure::Status(code) => write!(f, "HTTP {code}"),
            PostFailure::Transport(kind) => write!(f, "transport: {kind}"),
            PostFailure::Encode(why) => write!(f, "cannot encode: {why}"),
        }
    }
}

#[derive(Serialize)]
struct SmsBody<'a> {
    to: &'a str,
    body: &'a str,
}

/// The `http` provider: `{"to": "4175556652", "body": "..."}` to `sms_http_url`.
#[derive(Debug, Clone)]
pub struct HttpSms {
    target: HttpTarget,
}

impl HttpSms {
    /// The provider posting to `target`.
    pub fn new(target: HttpTarget) -> HttpSms {
        HttpSms { target }
    }
}

impl SmsProvider for HttpSms {
    fn deliver(&self, to: &PhoneNum, body: &str) -> Result<String, String> {
        self.target
            .post_json(&SmsBody {
                to: to.as_str(),
                body,
            })
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::PostFailure;

    #[test]
    fn only_a_4xx_that_retrying_cannot_change_is_a_refusal() {
        for code in [400, 401, 403, 404, 410, 422] {
            assert!(PostFailure::Status(code).is_refusal(), "{code}");
        }
        for code in [408, 425, 429, 500, 502, 503, 301] {
            assert!(!PostFailure::Status(code).is_refusal(), "{code}");
        }
        assert!(!PostFailure::Transport("timed out".into()).is_refusal());
        assert_eq!(PostFailure::Status(422).to_string(), "HTTP 422");
    }
}
