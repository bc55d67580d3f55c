//! Idempotent retries (issue 29; DESIGN: "A retried request with the same
//! `Idempotency-Key` does its work once, on any node"). The web edge claims a key before
//! the operation runs and stores the answer after; a retry with the key gets that answer
//! back. The answer is kept sealed under the master key, since an enrollment's holds the
//! seed's base32 text and an OOBValidate's its code. Imports: storage, crypto.

use chrono::{DateTime, Utc};
use zeroize::Zeroizing;

use super::{to_ms, Error, Fault, Service};
use crate::crypto::{digest, SealedSeed};
use crate::storage::{self, idempotency_keys as ik};

/// A claim still running after this long is taken over by the next retry: its node died
/// (or lost its database) mid-request. Longer than any request is allowed to run.
pub const LEASE_SECS: i64 = 60;

/// What the edge does with a request carrying an `Idempotency-Key`.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// The key is this request's: run it, then record its answer.
    Fresh,
    /// An earlier request with the key answered: answer this again.
    Answered {
        /// Its HTTP status.
        status: u16,
        /// Its body.
        body: Zeroizing<Vec<u8>>,
    },
}

/// Who holds a key: an API key's name and the value of its `Idempotency-Key` header.
#[derive(Debug, Clone)]
pub struct IdemKey {
    /// The API key's name (keys are per API key: two consumers never share one).
    pub api_key: String,
    /// The header's value.
    pub key: String,
}

impl IdemKey {
    fn of(&self) -> ik::KeyOf<'_> {
        ik::KeyOf {
            api_key: &self.api_key,
            idem_key: &self.key,
        }
    }

    /// What a sealed answer is bound to, so it opens for no other key.
    fn aad(&self) -> Vec<u8> {
        format!("idempotency\n{}\n{}", self.api_key, self.key).into_bytes()
    }
}

/// What tells a retry from another request reusing a key: SHA-256 over the method, the
/// path with its query, and the body's bytes.
pub fn fingerprint(method: &str, uri: &str, body: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(method.len() + uri.len() + body.len() + 2);
    bytes.extend_from_slice(method.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(uri.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(body);
    digest::sha256_hex(&bytes)
}

impl Service {
    /// Claims `key` for the request `fingerprint` until `now + retention_secs`: fault 7013
    /// when another request holds it, 7014 while its request still runs (on any node).
    pub fn claim_idempotency(
        &self,
        key: &IdemKey,
        fingerprint: &str,
        retention_secs: u64,
        now: DateTime<Utc>,
    ) -> Result<Claim, Error> {
        let retention = i64::try_from(retention_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let at = ik::ClaimTimes {
            now: to_ms(now),
            expires_at: to_ms(now).saturating_add(retention),
            lease_before: to_ms(now) - LEASE_SECS * 1000,
        };
        let claimed = self
            .storage
            .write(|c| ik::claim_key(c, key.of(), fingerprint, at));
        match claimed {
            Ok(ik::Claimed::Fresh) => Ok(Claim::Fresh),
            Ok(ik::Claimed::Mismatch) => {
                Err(Error::at(Fault::IdempotencyMismatch, "Idempotency-Key"))
            }
            Ok(ik::Claimed::Running) | Err(storage::Error::Conflict(_)) => {
                Err(Error::at(Fault::IdempotencyInFlight, "Idempotency-Key"))
            }
            Ok(ik::Claimed::Answered(status, sealed)) => {
                let sealed = SealedSeed::from_bytes(&sealed)
                    .ok_or_else(|| Error::Internal("a stored answer is malformed".into()))?;
                let body = self.keyring.open_bound(&key.aad(), &sealed)?;
                Ok(Claim::Answered {
                    status: u16::try_from(status).unwrap_or(500),
                    body,
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Stores the answer of the request that claimed `key`, sealed.
    pub fn record_idempotent_answer(
        &self,
        key: &IdemKey,
        status: u16,
        body: &[u8],
    ) -> Result<(), Error> {
        let sealed = self.keyring.seal_bound(&key.aad(), body)?.to_bytes();
        self.storage
            .write(|c| ik::update_answer(c, key.of(), i32::from(status), &sealed))
            .map_err(Error::from)
    }

    /// Frees `key` when its request answered something a retry should not get again (a
    /// busy database, a rate limit, an internal error): the retry runs.
    pub fn release_idempotency(&self, key: &IdemKey) -> Result<(), Error> {
        self.storage
            .write(|c| ik::delete_claim(c, key.of()))
            .map_err(Error::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::service;

    fn key(api_key: &str) -> IdemKey {
        IdemKey {
            api_key: api_key.into(),
            key: "retry-1".into(),
        }
    }

    #[test]
    fn the_fingerprint_covers_method_path_and_body() {
        let f = fingerprint("POST", "/api/v1/tokens", b"{}");
        assert_eq!(f, fingerprint("POST", "/api/v1/tokens", b"{}"));
        assert_ne!(f, fingerprint("POST", "/api/v1/users", b"{}"));
        assert_ne!(f, fingerprint("POST", "/api/v1/tokens", b"{ }"));
    }

    #[test]
    fn an_answer_is_replayed_sealed_and_a_different_request_is_refused() {
        let (_dir, s) = service();
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let k = key("bank");
        assert_eq!(s.claim_idempotency(&k, "f", 60, now).unwrap(), Claim::Fresh);
        let running = s.claim_idempotency(&k, "f", 60, now).unwrap_err();
        assert_eq!(running.kind(), Fault::IdempotencyInFlight);
        s.record_idempotent_answer(&k, 200, b"{\"Secret\":\"JBSW\"}")
            .unwrap();
        match s.claim_idempotency(&k, "f", 60, now).unwrap() {
            Claim::Answered { status, body } => {
                assert_eq!(
                    (status, body.as_slice()),
                    (200, &b"{\"Secret\":\"JBSW\"}"[..])
                );
            }
            other => panic!("expected the stored answer, got {other:?}"),
        }
        let other = s.claim_idempotency(&k, "g", 60, now).unwrap_err();
        assert_eq!(other.kind(), Fault::IdempotencyMismatch);
        let later = now + chrono::Duration::seconds(61);
        assert_eq!(
            s.claim_idempotency(&k, "g", 60, later).unwrap(),
            Claim::Fresh
        );
    }

    #[test]
    fn a_released_claim_runs_again() {
        let (_dir, s) = service();
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let k = key("bank");
        assert_eq!(s.claim_idempotency(&k, "f", 60, now).unwrap(), Claim::Fresh);
        s.release_idempotency(&k).unwrap();
        assert_eq!(s.claim_idempotency(&k, "f", 60, now).unwrap(), Claim::Fresh);
    }
}
