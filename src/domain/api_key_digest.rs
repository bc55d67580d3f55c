//! WS-Security `PasswordDigest` keys (issue 28): the default of Java SOAP stacks
//! (CXF/WSS4J) sends Base64(SHA-1(nonce ‖ Created ‖ password)) instead of the password.
//!
//! To check such a digest the server needs the key itself, not its hash, so a key made
//! with `tokend apikey create --soap-digest` is ALSO kept sealed under the master key
//! (AES-256-GCM, bound to the key's name, as seeds are bound to their TokenId); every
//! other key stays stored only as its SHA-256 and can only be presented in clear
//! (`PasswordText` or `Bearer`), which a digest key can be too. `rekey` reseals these
//! keys with the seeds. Freshness (`Created` within `soap_clock_skew_secs`) is the edge's
//! to check, the nonce's single use the database's (`nonces`).
//! Imports: crypto (sealing, the digest), storage.

use chrono::{DateTime, Utc};
use zeroize::Zeroizing;

use super::api_keys::{caller_of_row, note_used, ApiCaller, KeyConsumer, KeyReach, Scope};
use super::{Context, Error, Fault, Service};
use crate::crypto::{digest, SealedSeed};
use crate::storage::{self, api_keys, Conn};

/// A `UsernameToken` with a `PasswordDigest`, as received.
pub struct DigestProof {
    /// `Username`: the API key's name (`apikey create --name`).
    pub username: String,
    /// `Nonce`, decoded from base64.
    pub nonce: Vec<u8>,
    /// `Created`, the text exactly as sent (the digest covers the text).
    pub created: String,
    /// `Password`, decoded from base64.
    pub digest: Vec<u8>,
}

impl std::fmt::Debug for DigestProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DigestProof({})", self.username)
    }
}

/// The AAD of a sealed key: its name, under a label no seed's TokenId can take.
fn aad(name: &str) -> Vec<u8> {
    format!("tokend api key for PasswordDigest\n{name}").into_bytes()
}

/// One 7010 for every way a digest fails, so a caller learns nothing about which keys
/// exist; the detail says what a plain key needs.
fn refused() -> Error {
    Error::at(Fault::Unauthenticated, "Security.UsernameToken.Password").with_detail(
        "(PasswordDigest: no key of this Username that was created with `tokend apikey \
         create --soap-digest` matches; a key created without --soap-digest is stored \
         hashed and is sent as PasswordText or Authorization: Bearer)",
    )
}

impl Service {
    /// Creates a key that also authenticates a `PasswordDigest` (printed once, like any).
    pub fn create_soap_digest_key(
        &self,
        ctx: &Context,
        key: (&str, &KeyConsumer),
        scopes: &[Scope],
        reach: &KeyReach,
        now: DateTime<Utc>,
    ) -> Result<Zeroizing<String>, Error> {
        self.insert_key(ctx, key, scopes, reach, true, now)
    }

    /// The key sealed for its row (`SealedSeed` bytes).
    pub(super) fn seal_digest_secret(&self, name: &str, key: &str) -> Result<Vec<u8>, Error> {
        Ok(self
            .keyring
            .seal_bound(&aad(name), key.as_bytes())?
            .to_bytes())
    }

    /// The caller whose key produced `proof`'s digest; fault 7010 otherwise (unknown or
    /// revoked name, a key without `--soap-digest`, a wrong digest, all alike).
    pub fn authenticate_digest(
        &self,
        proof: &DigestProof,
        now: DateTime<Utc>,
    ) -> Result<ApiCaller, Error> {
        if proof.username.is_empty() || proof.username.len() > 64 {
            return Err(refused());
        }
        let found = self
            .storage
            .read(|c| api_keys::find_active_api_key_by_name(c, &proof.username))?;
        let Some((row, Some(sealed))) = found else {
            return Err(refused());
        };
        let sealed = SealedSeed::from_bytes(&sealed)
            .ok_or_else(|| Error::Internal("a sealed API key is malformed".into()))?;
        let key = self.keyring.open_bound(&aad(&row.name), &sealed)?;
        let expected = digest::wss_password_digest(&proof.nonce, &proof.created, &key);
        if !digest::equal_in_constant_time(&expected, &proof.digest) {
            return Err(refused());
        }
        note_used(self, &row, now);
        caller_of_row(row)
    }

    /// Reseals every `--soap-digest` key not under the active master key (`rekey`, which
    /// reseals the seeds alike); answers how many were resealed. Each is rewritten only if
    /// unchanged since it was read.
    pub fn reseal_digest_keys(&self) -> Result<u64, Error> {
        let active = self.keyring.active_key_id();
        let rows = self.storage.read(api_keys::find_digest_secrets)?;
        let mut done = 0;
        for (id, name, bytes) in rows {
            let Some(sealed) = SealedSeed::from_bytes(&bytes) else {
                continue;
            };
            if sealed.key_id == active {
                continue;
            }
            let key = self.keyring.open_bound(&aad(&name), &sealed)?;
            let new = self.keyring.seal_bound(&aad(&name), &key)?.to_bytes();
            if self
                .storage
                .write(|c| api_keys::update_api_key_reseal(c, id, &bytes, &new))?
            {
                done += 1;
            }
        }
        Ok(done)
    }

    /// How many `--soap-digest` keys are sealed under another key than the active one.
    pub fn digest_keys_left(&self) -> Result<i64, Error> {
        let active = self.keyring.active_key_id();
        Ok(self.storage.read(|c| count_not_under(c, &active))?)
    }
}

/// How many `--soap-digest` keys are sealed under another key than `active` (`rekey`
/// retires the old key only at zero, in its transaction).
pub(super) fn count_not_under(c: &mut Conn, active: &str) -> Result<i64, storage::Error> {
    let rows = api_keys::find_digest_secrets(c)?;
    let left = rows
        .iter()
        .filter(|(_, _, b)| SealedSeed::from_bytes(b).is_none_or(|s| s.key_id != active))
        .count();
    Ok(i64::try_from(left).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::service;

    #[test]
    fn a_digest_key_authenticates_its_digest_and_a_plain_key_never_does() {
        let (_dir, s) = service();
        let now = Utc::now();
        let ctx = Context::default();
        let reach = KeyReach::All;
        let none = KeyConsumer::default();
        let key = s
            .create_soap_digest_key(&ctx, ("cxf", &none), &[Scope::Validate], &reach, now)
            .unwrap();
        s.create_api_key(&ctx, "plain", &[Scope::Validate], &reach, now)
            .unwrap();
        let proof = |name: &str, password: &[u8]| DigestProof {
            username: name.into(),
            nonce: vec![7; 16],
            created: "2026-12-05T12:00:00Z".into(),
            digest: digest::wss_password_digest(&[7; 16], "2026-12-05T12:00:00Z", password),
        };
        let caller = s.authenticate_digest(&proof("cxf", key.as_bytes()), now);
        assert_eq!(caller.unwrap().name, "cxf");
        // The same key still works in clear.
        assert_eq!(s.authenticate(&key, now).unwrap().name, "cxf");
        for (name, pw) in [
            ("cxf", &b"wrong"[..]),
            ("plain", key.as_bytes()),
            ("nobody", b"x"),
        ] {
            let e = s.authenticate_digest(&proof(name, pw), now).unwrap_err();
            assert_eq!(e.kind(), Fault::Unauthenticated);
        }
        assert_eq!(s.digest_keys_left().unwrap(), 0);
        assert_eq!(s.reseal_digest_keys().unwrap(), 0);
    }
}
