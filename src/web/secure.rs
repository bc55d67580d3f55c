//! Whether a request reached tokend over HTTPS, which decides the `Secure` attribute of
//! the console's cookies.
//!
//! Two ways: Rocket serves TLS itself (`tls.certs` and `tls.key`), or a TLS-terminating
//! proxy in front says so in the header named by `proxy_proto_header` (e.g.
//! `X-Forwarded-Proto: https`). Rocket 0.5 does not know `proxy_proto_header` (it is Rocket
//! 0.6's key), so tokend reads it itself, under the same name. Only the value `https`
//! (any case) counts. A client that forges the header when there is no proxy gains
//! nothing: it only makes its own cookies `Secure`.

use rocket::figment::Figment;

/// Sent on every answer to a request that came over HTTPS: browsers then refuse plain
/// HTTP to this host for a year, so a console cookie never travels in clear after the
/// first visit. No `includeSubDomains`: tokend does not know the other hosts of the
/// domain. (Browsers ignore the header over plain HTTP, so a forged proxy header cannot
/// pin a plain-HTTP deployment.)
pub const HSTS: (&str, &str) = ("Strict-Transport-Security", "max-age=31536000");
use rocket::Request;

/// The configured `proxy_proto_header`, managed by Rocket.
#[derive(Debug, Clone, Default)]
pub struct ProxyProto(Option<String>);

impl ProxyProto {
    /// Reads `proxy_proto_header` (absent or empty: no proxy is trusted to say it).
    pub fn from_figment(figment: &Figment) -> ProxyProto {
        ProxyProto(
            figment
                .extract_inner::<String>("proxy_proto_header")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty()),
        )
    }
}

/// Whether `req` came over HTTPS: Rocket's TLS, or the proxy's header saying `https`.
pub fn is_secure(req: &Request<'_>) -> bool {
    if req.rocket().config().tls_enabled() {
        return true;
    }
    let Some(ProxyProto(Some(header))) = req.rocket().state::<ProxyProto>() else {
        return false;
    };
    req.headers()
        .get_one(header)
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}
