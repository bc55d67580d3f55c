//! Admin passwords: argon2id (RFC 9106) with the `argon2` crate's defaults (19 MiB, 2
//! passes, 1 lane: the OWASP recommendation), a random 128-bit salt from the system
//! generator, stored as a PHC string. Verification is constant-time inside `argon2`.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::Argon2;

use super::{digest, Error};

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub fn hash_password(password: &str) -> Result<String, Error> {
    let salt = SaltString::encode_b64(&digest::random_bytes(16)?)
        .map_err(|_| Error::BadKey("salt encoding"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| Error::BadKey("argon2 parameters"))
}

/// Whether `password` matches the PHC string. A malformed stored hash never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of nothing in particular: verified against when the username is unknown, so an
/// unknown name costs the same time as a wrong password.
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3Hn6m1w8SL3K8oDvvq7aJ/r4Jb7f1nnw5V9z0mJ1zLw";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterx", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(!verify_password("x", DUMMY_HASH));
        assert_ne!(h, hash_password("correct horse battery").unwrap());
    }
}
