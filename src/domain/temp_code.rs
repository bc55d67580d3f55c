//! Temporary codes for a user whose token is lost (jXchange MFATokenTempPswdInq).
//!
//! An admin or consumer issues an 8-digit code for a user, one-time or reusable until an
//! expiry of at most 7 days. It is usable in `validate` like a token code, stored only as
//! a keyed hash, ended by `lock_after_failures` wrong codes, and ended as soon as the
//! user's real token validates again.

use chrono::{DateTime, Duration, Utc};
use zeroize::Zeroizing;

use super::audit::{self, Entry};
use super::validate::Validation;
use super::{to_ms, Context, Error, Fault, Service};
use crate::crypto::digest;
use crate::storage::bindings::BoundToken;
use crate::storage::{temp_codes, users};
use crate::types::{AuditAction, AuditResult};
use crate::types::{Code, UsrName};

/// Longest life of a temporary code: 7 days.
pub const MAX_TEMP_CODE_SECS: u64 = 7 * 24 * 3600;
/// Default life: 1 day.
pub const DEFAULT_TEMP_CODE_SECS: u64 = 24 * 3600;

/// A request for a temporary code.
#[derive(Debug, Clone)]
pub struct TempCodeRequest {
    /// The user (must exist).
    pub usr_name: UsrName,
    /// Life in seconds (1 s to 7 days).
    pub exp_secs: u64,
    /// Ends at its first use.
    pub one_time: bool,
}

/// An issued temporary code. `code` is shown once: never log it.
#[derive(Debug)]
pub struct IssuedTempCode {
    /// The user.
    pub usr_name: UsrName,
    /// Eight digits.
    pub code: Zeroizing<String>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// One-time or reusable.
    pub one_time: bool,
}

fn message(user_pk: i32, code: &str) -> Vec<u8> {
    format!("temp\n{user_pk}\n{code}").into_bytes()
}

fn random_eight_digits() -> Result<Zeroizing<String>, Error> {
    let raw = digest::random_bytes(8)?;
    let n = u64::from_be_bytes(
        raw.try_into()
            .map_err(|_| Error::Internal("random length".into()))?,
    );
    Ok(Zeroizing::new(format!("{:08}", n % 100_000_000)))
}

impl Service {
    /// Issues a temporary code for a user.
    pub fn issue_temp_code(
        &self,
        ctx: &Context,
        rq: &TempCodeRequest,
        now: DateTime<Utc>,
    ) -> Result<IssuedTempCode, Error> {
        if !(1..=MAX_TEMP_CODE_SECS).contains(&rq.exp_secs) {
            return Err(Error::at(Fault::InvalidValue, "ExpSec")
                .with_value(rq.exp_secs.to_string())
                .with_detail(format!("(1 to {MAX_TEMP_CODE_SECS} seconds)")));
        }
        let inst = self.institution(ctx).to_owned();
        let user = self
            .storage
            .read(|c| users::find_user(c, &inst, rq.usr_name.as_str()))?
            .ok_or_else(|| {
                Error::at(Fault::UserNotFound, "UsrName").with_value(rq.usr_name.as_str())
            })?;
        let code = random_eight_digits()?;
        let hash = self.keyring.code_hash(&message(user.id, &code));
        let secs = i64::try_from(rq.exp_secs).map_err(|_| Error::Internal("expiry".into()))?;
        let expires_at = now + Duration::seconds(secs);
        self.storage.write(|c| {
            temp_codes::insert_temp_code(
                c,
                user.id,
                &hash,
                rq.one_time,
                to_ms(expires_at),
                to_ms(now),
            )?;
            let detail = format!(
                "{} s, {}",
                rq.exp_secs,
                if rq.one_time { "one-time" } else { "reusable" }
            );
            let entry = Entry {
                action: AuditAction::TempcodeIssue,
                token_id: None,
                usr_name: Some(rq.usr_name.as_str()),
                result: AuditResult::Success,
                detail: Some(&detail),
            };
            Ok::<_, Error>(audit::record(c, ctx, now, entry)?)
        })?;
        Ok(IssuedTempCode {
            usr_name: rq.usr_name.clone(),
            code,
            expires_at,
            one_time: rq.one_time,
        })
    }

    /// Whether [`Service::try_temp_code`] would try a temporary code for these candidates
    /// (`tried` and `others` together): they are one user's, who has an active one.
    pub(super) fn has_temp_codes(
        &self,
        tried: &[BoundToken],
        others: &[BoundToken],
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let mut all = tried.iter().chain(others);
        let Some(user_pk) = all.next().map(|b| b.binding.user_pk) else {
            return Ok(false);
        };
        if all.any(|b| b.binding.user_pk != user_pk) {
            return Ok(false);
        }
        let active = self
            .storage
            .read(|c| temp_codes::find_active_temp_codes(c, user_pk, to_ms(now)))?;
        Ok(!active.is_empty())
    }

    /// Tries `code` as a temporary code of the candidates' user. `None` when the user has
    /// no active temporary code or the code is not one (then the failure is counted).
    pub(super) fn try_temp_code(
        &self,
        ctx: &Context,
        bound: &[BoundToken],
        code: &Code,
        now: DateTime<Utc>,
    ) -> Result<Option<Validation>, Error> {
        let Some(first) = bound.first() else {
            return Ok(None);
        };
        if bound
            .iter()
            .any(|b| b.binding.user_pk != first.binding.user_pk)
        {
            return Ok(None);
        }
        let user_pk = first.binding.user_pk;
        let active = self
            .storage
            .read(|c| temp_codes::find_active_temp_codes(c, user_pk, to_ms(now)))?;
        if active.is_empty() {
            return Ok(None);
        }
        let msg = message(user_pk, code.as_str());
        let matched = active
            .iter()
            .find(|t| self.keyring.is_code_hash(&msg, &t.code_hash));
        let limit = i32::try_from(self.policy.lock_after_failures).unwrap_or(i32::MAX);
        let receipt = uuid::Uuid::new_v4().to_string();
        let used = self.storage.write(|c| {
            let used = match matched {
                Some(t) => temp_codes::update_temp_code_used(c, t.id, to_ms(now))?,
                None => {
                    temp_codes::update_temp_codes_failure(c, user_pk, limit, to_ms(now))?;
                    false
                }
            };
            let (result, detail) = if used {
                (AuditResult::Success, receipt.as_str())
            } else {
                (AuditResult::Failed, "wrong temporary code")
            };
            let entry = Entry {
                action: AuditAction::ValidateTempcode,
                token_id: None,
                usr_name: Some(&first.usr_name),
                result,
                detail: Some(detail),
            };
            audit::record(c, ctx, now, entry)?;
            Ok::<_, Error>(used)
        })?;
        Ok(used.then(|| Validation::success(None, first.usr_name.clone(), receipt, now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_codes_are_eight_digits() {
        let code = random_eight_digits().unwrap();
        assert_eq!(code.len(), 8);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
    }
}
