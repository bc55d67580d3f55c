//! Hashing, random values and encodings used for API keys, receipts and OOB codes.
//!
//! Imports: ring only.

use base64::Engine as _;
use ring::digest::{digest, SHA256};
use ring::rand::{SecureRandom, SystemRandom};

use super::Error;

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Base64url without padding.
pub fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Standard base64 with padding (the form Rocket's `secret_key` expects).
pub fn b64_standard(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Hex SHA-256 of a secret. Used for API keys: they are 256-bit random values, so a fast
/// hash is enough (a slow KDF is for low-entropy passwords) and keeps the auth check cheap.
pub fn sha256_hex(secret: &[u8]) -> String {
    hex(digest(&SHA256, secret).as_ref())
}

/// The OASIS UsernameToken Profile 1.0 `PasswordDigest`:
/// SHA-1(nonce bytes ‖ `Created` as sent ‖ password). SHA-1 because the profile says so
/// (Java stacks such as CXF/WSS4J send it by default); what protects the key is that it
/// is never sent, and what protects against replay is the nonce and `Created` check.
pub fn wss_password_digest(nonce: &[u8], created: &str, password: &[u8]) -> Vec<u8> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(nonce);
    ctx.update(created.as_bytes());
    ctx.update(password);
    ctx.finish().as_ref().to_vec()
}

/// Whether two byte strings are equal, in time independent of where they differ.
pub fn equal_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// `len` bytes from the system random generator.
pub fn random_bytes(len: usize) -> Result<Vec<u8>, Error> {
    let mut out = vec![0u8; len];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| Error::Random)?;
    Ok(out)
}

/// A random, URL-safe token of `bytes` bytes of entropy.
pub fn random_token(bytes: usize) -> Result<String, Error> {
    Ok(b64url(&random_bytes(bytes)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_known_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_password_digest_is_the_profiles_sha1_of_nonce_created_and_password() {
        // Computed independently: python3 -c "import hashlib,base64;
        // print(base64.b64encode(hashlib.sha1(b'\x01\x02' + b'2026-12-05T12:00:00Z'
        // + b'secret').digest()))"
        let d = wss_password_digest(&[1, 2], "2026-12-05T12:00:00Z", b"secret");
        assert_eq!(b64_standard(&d), "cB9BenkzjohUAAovs9s9t+t0D0o=");
        assert!(equal_in_constant_time(&d, &d.clone()));
        assert!(!equal_in_constant_time(&d, &d[1..]));
    }

    #[test]
    fn random_tokens_differ_and_are_url_safe() {
        let a = random_token(32).unwrap();
        assert_ne!(a, random_token(32).unwrap());
        assert_eq!(a.len(), 43);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
}
