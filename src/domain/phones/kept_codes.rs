//! The keyed hashes of wrong codes that "explain" reads (see `explain` for what is kept
//! and why it is safe): made before the failure's write job, stored in its transaction,
//! and purged once past `explain_retention_secs` — by the next wrong code and by the
//! sweeper, so a quiet token's hashes do not outlive their retention (issue 26).

use chrono::{DateTime, Utc};

use super::super::{to_ms, Error, Service};
use crate::storage::bindings::BoundToken;
use crate::storage::failed_codes;
use crate::storage::{self, Conn};
use crate::types::Code;

/// The message whose HMAC is kept for a wrong code (4 lines: no other keyed message of
/// tokend has this shape or prefix).
pub(super) fn failed_code_message(token_id: &str, at_ms: i64, code: &str) -> Vec<u8> {
    format!("failed-code\n{token_id}\n{at_ms}\n{code}").into_bytes()
}

/// A wrong code's keyed hash, ready to be kept for "explain" inside the transaction that
/// counts it (computed before, so the write job owns it and does no HMAC work).
pub(in crate::domain) struct KeptCode {
    token_pk: i32,
    at: i64,
    hash: String,
    expires: i64,
}

impl KeptCode {
    /// Keeps it (after its audit row, in the same transaction) and sweeps the expired ones.
    pub(in crate::domain) fn store(&self, c: &mut Conn) -> Result<(), storage::Error> {
        failed_codes::delete_expired_failed_codes(c, self.at)?;
        failed_codes::insert_failed_code(c, self.token_pk, self.at, &self.hash, self.expires)
    }
}

impl Service {
    /// The keyed hash of a wrong code tried against `b`, to keep; `None` when
    /// `explain_retention_secs` is 0.
    pub(in crate::domain) fn failed_code_to_keep(
        &self,
        b: &BoundToken,
        code: &Code,
        now: DateTime<Utc>,
    ) -> Option<KeptCode> {
        let secs = self.phones.explain_retention_secs;
        if secs == 0 {
            return None;
        }
        let at = to_ms(now);
        let expires =
            at.saturating_add(i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX));
        let hash =
            self.keyring
                .code_hash(&failed_code_message(&b.token.token_id, at, code.as_str()));
        Some(KeptCode {
            token_pk: b.token.id,
            at,
            hash,
            expires,
        })
    }

    /// Deletes the kept hashes past their retention (the sweeper); answers how many.
    /// Looked for on a reading connection first, so an idle sweep writes nothing.
    pub fn purge_failed_codes(&self, now: DateTime<Utc>) -> Result<usize, Error> {
        let now = to_ms(now);
        if !self
            .storage
            .read(|c| failed_codes::has_expired_failed_codes(c, now))?
        {
            return Ok(0);
        }
        Ok(self
            .storage
            .write(|c| failed_codes::delete_expired_failed_codes(c, now))?)
    }
}
