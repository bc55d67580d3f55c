//! Signed webhooks, to the Standard Webhooks specification: each event POST carries
//! `webhook-id` (the event's id, the same on every retry), `webhook-timestamp` (Unix
//! seconds) and `webhook-signature`, a space-separated list of `v1,<base64 HMAC-SHA256>`
//! over `id.timestamp.body`, one per secret — during a rotation the old and the new
//! secret both sign, so a receiver holding either verifies. Secrets are written
//! `whsec_<base64>` (`event_webhook_secret`, and `event_webhook_secret_previous` while
//! rotating); any Standard Webhooks library verifies them.

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use zeroize::Zeroizing;

/// The secrets a webhook signs with (the newest first). Redacted in `Debug`.
#[derive(Clone)]
pub struct Signing {
    secrets: Vec<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for Signing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signing({} secret(s))", self.secrets.len())
    }
}

/// Decodes a `whsec_…` secret; `None` when it is not one.
pub fn parse_secret(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let b64 = text.trim().strip_prefix("whsec_")?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    (bytes.len() >= 16).then(|| Zeroizing::new(bytes))
}

impl Signing {
    /// Signs with these secrets (at least one).
    pub fn new(secrets: Vec<Zeroizing<Vec<u8>>>) -> Signing {
        Signing { secrets }
    }

    /// The three headers of one delivery of `body` as message `id` at `timestamp`.
    pub fn headers(&self, id: &str, timestamp: i64, body: &[u8]) -> [(&'static str, String); 3] {
        let mut signed = format!("{id}.{timestamp}.").into_bytes();
        signed.extend_from_slice(body);
        let signatures: Vec<String> = self
            .secrets
            .iter()
            .filter_map(|key| {
                let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
                mac.update(&signed);
                let tag = mac.finalize().into_bytes();
                Some(format!(
                    "v1,{}",
                    base64::engine::general_purpose::STANDARD.encode(tag)
                ))
            })
            .collect();
        [
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signatures.join(" ")),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specifications_example_signs_as_published() {
        // Standard Webhooks' published example: secret, id, timestamp, body, signature.
        let key = parse_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let h = Signing::new(vec![key]).headers(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(h[2].1, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(parse_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_none());
    }
}
