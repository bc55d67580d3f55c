//! Independent HOTP/TOTP (RFC 4226 dynamic truncation over ring's HMAC), to compute the
//! codes an authenticator app would show without the server's code.

use ring::hmac;

/// A token's HMAC key, to compute many codes of one seed.
pub struct Hotp {
    key: hmac::Key,
}

impl Hotp {
    /// `algorithm` is `SHA1`, `SHA256` or `SHA512`; `None` for any other.
    pub fn new(algorithm: &str, seed: &[u8]) -> Option<Hotp> {
        let alg = match algorithm {
            "SHA1" => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            "SHA256" => hmac::HMAC_SHA256,
            "SHA512" => hmac::HMAC_SHA512,
            _ => return None,
        };
        Some(Hotp {
            key: hmac::Key::new(alg, seed),
        })
    }

    /// A SHA1 token (the usual kind).
    pub fn sha1(seed: &[u8]) -> Hotp {
        Hotp {
            key: hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, seed),
        }
    }

    /// The code of counter (TOTP: step) `counter` with `digits` digits, as a number.
    /// Steps before the epoch count as 0.
    pub fn value(&self, counter: i64, digits: u32) -> u32 {
        let counter = u64::try_from(counter).unwrap_or(0);
        let tag = hmac::sign(&self.key, &counter.to_be_bytes());
        let h = tag.as_ref();
        let o = usize::from(h[h.len() - 1] & 0x0f);
        let v = u32::from_be_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]) & 0x7fff_ffff;
        v % 10u32.pow(digits)
    }

    /// The same as text, zero-padded to `digits`.
    pub fn code(&self, counter: i64, digits: u32) -> String {
        text(self.value(counter, digits), digits)
    }
}

/// A code as the text a user types: zero-padded to `digits`.
pub fn text(value: u32, digits: u32) -> String {
    format!("{value:0width$}", width = digits as usize)
}

/// The TOTP code of `seed` at `step`. Panics on an unknown algorithm (a test's mistake).
pub fn totp(seed: &[u8], algorithm: &str, digits: u32, step: i64) -> String {
    match Hotp::new(algorithm, seed) {
        Some(hotp) => hotp.code(step, digits),
        None => panic!("algorithm {algorithm}"),
    }
}

#[cfg(test)]
mod tests {
    use super::totp;

    #[test]
    fn matches_the_rfc6238_vectors() {
        assert_eq!(
            totp(b"12345678901234567890", "SHA1", 8, 59 / 30),
            "94287082"
        );
        assert_eq!(
            totp(
                b"12345678901234567890123456789012",
                "SHA256",
                8,
                1111111109 / 30
            ),
            "68084774"
        );
        assert_eq!(
            totp(
                b"1234567890123456789012345678901234567890123456789012345678901234",
                "SHA512",
                8,
                20000000000 / 30
            ),
            "47863826"
        );
        assert_eq!(
            totp(b"12345678901234567890", "SHA1", 6, 1234567890 / 30),
            "005924"
        );
    }
}
