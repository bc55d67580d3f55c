//! Code validation: find the user's usable tokens → match the code in the window →
//! atomic replay guard → receipt, or count the failure and lock at the threshold.
//!
//! Rules (DESIGN, Decisions):
//! - only Act tokens on Act bindings validate; a code is accepted at most once: its step
//!   must be newer than the token's last accepted step, checked by one conditional UPDATE;
//! - a replayed code and a wrong code both answer `Failed`; the audit says which. A replay
//!   does not count towards the lock: it proves the token is in the caller's hands, and
//!   the lock exists to stop guessing;
//! - consecutive wrong codes are counted per binding; the one that reaches
//!   `lock_after_failures` locks the binding and already answers `Locked`;
//! - while locked, a right and a wrong code get the same `Locked` answer.

use chrono::{DateTime, Utc};

use super::audit::{self, Entry};
use super::{params_of, to_ms, Context, Error, Fault, Service};
use crate::storage::bindings::{self, BoundToken};
use crate::storage::{self, temp_codes, tokens};
use crate::types::{Code, MfaTokenUsrStat, RsStat, TokenId, UsrName, UsrTokenStat};

/// A validation request: the user, the token, or both, and the code typed.
#[derive(Debug, Clone)]
pub struct ValidateRequest {
    /// jXchange `UsrName`: any of the user's tokens may produce the code.
    pub usr_name: Option<UsrName>,
    /// jXchange `TokenId`: only this token.
    pub token_id: Option<TokenId>,
    /// The code.
    pub code: Code,
}

/// The answer to a validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    /// Success, Failed or Locked.
    pub rs_stat: RsStat,
    /// The token that matched (or the only candidate).
    pub token_id: Option<String>,
    /// The user that authenticated (or the only candidate).
    pub usr_name: Option<String>,
    /// jXchange `LastTrnRcptId`, new for every success.
    pub receipt_id: Option<String>,
    /// jXchange `LastAuthenTimeDt` of this success.
    pub last_authen_at: Option<DateTime<Utc>>,
}

/// Why an acceptance did not commit.
enum AcceptError {
    /// Another request accepted this step (or a newer one) first, or the binding or token
    /// changed status since it was read.
    Lost,
    Domain(Error),
}

impl From<storage::Error> for AcceptError {
    fn from(e: storage::Error) -> Self {
        AcceptError::Domain(e.into())
    }
}

fn is_usable(b: &BoundToken) -> bool {
    b.token.status == UsrTokenStat::Act.as_str()
        && b.binding.status == MfaTokenUsrStat::Act.as_str()
}

/// The end of the lock reason of a binding locked by wrong codes (auto-unlock applies only
/// to those, never to a lock an admin set).
pub const FAILURE_LOCK: &str = "consecutive failed codes";

fn is_failure_lock(b: &BoundToken) -> bool {
    b.binding.status == MfaTokenUsrStat::Lock.as_str()
        && b.binding
            .lock_reason
            .as_deref()
            .is_some_and(|r| r.ends_with(FAILURE_LOCK))
}

fn is_locked(b: &BoundToken) -> bool {
    b.token.status == UsrTokenStat::Lock.as_str()
        || b.binding.status == MfaTokenUsrStat::Lock.as_str()
}

impl Service {
    /// Checks a code for a user or token (jXchange-style `RsStat` answer).
    pub fn validate(
        &self,
        ctx: &Context,
        rq: &ValidateRequest,
        now: DateTime<Utc>,
    ) -> Result<Validation, Error> {
        let bound = self.auto_unlock(ctx, self.candidates(ctx, rq)?, now)?;
        let usable: Vec<&BoundToken> = bound.iter().filter(|b| is_usable(b)).collect();
        if usable.is_empty() {
            if let Some(done) = self.try_temp_code(ctx, &bound, &rq.code, now)? {
                return Ok(done);
            }
            return self.refuse(ctx, &bound, now);
        }
        let mut replayed: Option<&BoundToken> = None;
        for b in &usable {
            let Some(step) = self.match_step(b, &rq.code, now)? else {
                continue;
            };
            if step > b.token.last_step {
                if let Some(done) = self.accept(ctx, b, step, now)? {
                    return Ok(done);
                }
            }
            replayed = Some(b);
        }
        if let Some(b) = replayed {
            let entry = entry_for(b, "validate", "Failed", Some("replayed code"));
            self.storage
                .write(|c| Ok::<_, Error>(audit::record(c, ctx, now, entry)?))?;
            return Ok(answer(&bound, RsStat::Failed));
        }
        if let Some(done) = self.try_temp_code(ctx, &bound, &rq.code, now)? {
            return Ok(done);
        }
        let all_locked = self.count_failure(ctx, &usable, now, "validate")?;
        let rs_stat = if all_locked {
            RsStat::Locked
        } else {
            RsStat::Failed
        };
        Ok(answer(&bound, rs_stat))
    }

    /// The bindings a request may validate against; unknown users or tokens are faults.
    fn candidates(&self, ctx: &Context, rq: &ValidateRequest) -> Result<Vec<BoundToken>, Error> {
        let inst = self.institution(ctx).to_owned();
        let bound = match (&rq.token_id, &rq.usr_name) {
            (Some(token_id), usr_name) => {
                let mut bound = self.bound_to_token(ctx, token_id)?;
                if let Some(name) = usr_name {
                    bound.retain(|b| b.usr_name == name.as_str());
                    if bound.is_empty() {
                        return Err(
                            Error::at(Fault::UserNotFound, "UsrName").with_value(name.as_str())
                        );
                    }
                } else if bound.len() > 1 {
                    return Err(Error::at(Fault::AmbiguousBinding, "UsrName"));
                }
                bound
            }
            (None, Some(name)) => {
                let bound = self
                    .storage
                    .read(|c| bindings::find_bound_by_user(c, &inst, name.as_str()))?;
                if bound.is_empty() {
                    return Err(Error::at(Fault::UserNotFound, "UsrName").with_value(name.as_str()));
                }
                bound
            }
            (None, None) => return Err(Error::at(Fault::FieldRequired, "UsrName")),
        };
        Ok(bound)
    }

    /// The step whose code equals `code`, searched around the token's expected step.
    pub(super) fn match_step(
        &self,
        b: &BoundToken,
        code: &Code,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, Error> {
        let params = params_of(&b.token)?;
        let seed = self.open_seed(&b.token)?;
        let center = params.step_at(now.timestamp()) + i64::from(b.token.drift);
        Ok(params.find_step(seed.expose(), code, center, self.policy.window_steps))
    }

    /// Commits a success: replay guard, receipt, audit — all or nothing. `None` when the
    /// guard refused (the step was taken first, or the status changed meanwhile).
    fn accept(
        &self,
        ctx: &Context,
        b: &BoundToken,
        step: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<Validation>, Error> {
        let receipt = uuid::Uuid::new_v4().to_string();
        let act = UsrTokenStat::Act.as_str();
        let drift = self.learned_drift(b, step, now)?;
        let result = self.storage.write(|c| {
            let now_ms = to_ms(now);
            if !tokens::update_token_accept_step(c, b.token.id, act, act, step, drift, now_ms)? {
                return Err(AcceptError::Lost);
            }
            if !bindings::update_binding_success(c, b.binding.id, &receipt, now_ms)? {
                return Err(AcceptError::Lost);
            }
            // The real token is in use again: any temporary code of the user ends.
            temp_codes::update_temp_codes_end(c, b.binding.user_pk, now_ms)?;
            let entry = entry_for(b, "validate", "Success", Some(&receipt));
            audit::record(c, ctx, now, entry)?;
            Ok(())
        });
        match result {
            Ok(()) => Ok(Some(Validation {
                rs_stat: RsStat::Success,
                token_id: Some(b.token.token_id.clone()),
                usr_name: Some(b.usr_name.clone()),
                receipt_id: Some(receipt),
                last_authen_at: Some(now),
            })),
            Err(AcceptError::Lost) => Ok(None),
            Err(AcceptError::Domain(e)) => Err(e),
        }
    }

    /// The drift to store after a success at `step`: where the token's clock really is.
    /// A token whose clock runs away is followed one step at a time, so it keeps working
    /// without a resync; the drift never exceeds the resync search range.
    fn learned_drift(&self, b: &BoundToken, step: i64, now: DateTime<Utc>) -> Result<i32, Error> {
        let now_step = params_of(&b.token)?.step_at(now.timestamp());
        let bound = i64::from(self.policy.resync_window_steps);
        Ok(i32::try_from((step - now_step).clamp(-bound, bound)).unwrap_or(0))
    }

    /// Unlocks the bindings whose failure lock has outlived `auto_unlock_after_secs`,
    /// audited like any change, and answers the bindings as they now are.
    fn auto_unlock(
        &self,
        ctx: &Context,
        mut bound: Vec<BoundToken>,
        now: DateTime<Utc>,
    ) -> Result<Vec<BoundToken>, Error> {
        let secs = self.policy.auto_unlock_after_secs;
        if secs == 0 {
            return Ok(bound);
        }
        let cutoff =
            to_ms(now).saturating_sub(i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX));
        for b in bound.iter_mut().filter(|b| is_failure_lock(b)) {
            let unlocked = self.storage.write(|c| {
                let done = bindings::update_binding_auto_unlock(c, b.binding.id, cutoff)?;
                if done {
                    tokens::update_token_version(c, b.token.id, to_ms(now))?;
                    let detail = format!("locked for {secs} s or more");
                    audit::record(
                        c,
                        ctx,
                        now,
                        entry_for(b, "auto-unlock", "Success", Some(&detail)),
                    )?;
                }
                Ok::<_, Error>(done)
            })?;
            if unlocked {
                b.binding.status = MfaTokenUsrStat::Act.as_str().to_owned();
                b.binding.failure_count = 0;
                b.binding.locked_at = None;
                b.binding.lock_reason = None;
            }
        }
        Ok(bound)
    }

    /// Counts a wrong code on every binding it was tried against, locking those that reach
    /// the threshold; answers whether none of them is still usable.
    pub(super) fn count_failure(
        &self,
        ctx: &Context,
        tried: &[&BoundToken],
        now: DateTime<Utc>,
        action: &str,
    ) -> Result<bool, Error> {
        let limit = i32::try_from(self.policy.lock_after_failures).unwrap_or(i32::MAX);
        let reason = format!("{limit} {FAILURE_LOCK}");
        self.storage.write(|c| {
            let mut all_locked = true;
            for b in tried {
                let counted =
                    bindings::update_binding_failure(c, b.binding.id, limit, &reason, to_ms(now))?;
                tokens::update_token_version(c, b.token.id, to_ms(now))?;
                let (result, detail) = match counted {
                    Some(f) if f.locked => ("Locked", format!("wrong code; locked after {limit}")),
                    Some(f) => {
                        all_locked = false;
                        (
                            "Failed",
                            format!("wrong code, {} of {limit}", f.failure_count),
                        )
                    }
                    None => ("Locked", "binding no longer active".to_owned()),
                };
                audit::record(c, ctx, now, entry_for(b, action, result, Some(&detail)))?;
            }
            Ok::<_, Error>(all_locked)
        })
    }

    /// Answers a request none of whose bindings may validate: Locked if one is locked,
    /// else Failed; audited with the reason.
    fn refuse(
        &self,
        ctx: &Context,
        bound: &[BoundToken],
        now: DateTime<Utc>,
    ) -> Result<Validation, Error> {
        let locked = bound.iter().find(|b| is_locked(b));
        let (rs_stat, first) = match locked {
            Some(b) => (RsStat::Locked, b),
            None => (RsStat::Failed, &bound[0]),
        };
        let detail = format!(
            "token {}, binding {}",
            first.token.status, first.binding.status
        );
        let entry = entry_for(first, "validate", rs_stat.as_str(), Some(&detail));
        self.storage
            .write(|c| Ok::<_, Error>(audit::record(c, ctx, now, entry)?))?;
        Ok(answer(bound, rs_stat))
    }
}

/// The audit entry about one binding.
pub(super) fn entry_for<'a>(
    b: &'a BoundToken,
    action: &'a str,
    result: &'a str,
    detail: Option<&'a str>,
) -> Entry<'a> {
    Entry {
        action,
        token_id: Some(&b.token.token_id),
        usr_name: Some(&b.usr_name),
        result,
        detail,
    }
}

/// A non-success answer: names the token and user when there was only one candidate.
fn answer(bound: &[BoundToken], rs_stat: RsStat) -> Validation {
    let only = (bound.len() == 1).then(|| &bound[0]);
    Validation {
        rs_stat,
        token_id: only.map(|b| b.token.token_id.clone()),
        usr_name: only.map(|b| b.usr_name.clone()),
        receipt_id: None,
        last_authen_at: None,
    }
}
