//! The other side of validation: wrong codes counted and locks set, failure locks that
//! expire (auto-unlock), and the answer to a request none of whose bindings may validate.
//! Every outcome here is decided inside a write transaction against the committed state.

use chrono::{DateTime, Utc};

use super::{answer, entry_for, ValidateRequest, Validation};
use crate::domain::audit;
use crate::domain::phones::kept_codes::KeptCode;
use crate::domain::{to_ms, Context, Error, Service};
use crate::storage::bindings::{self, BoundToken};
use crate::storage::{tokens, Conn};
use crate::types::{AuditAction, AuditResult};
use crate::types::{Code, MfaTokenUsrStat, RsStat, RsStatRsn, UsrTokenStat};

/// The end of the lock reason of a binding locked by wrong codes (auto-unlock applies only
/// to those, never to a lock an admin set).
pub const FAILURE_LOCK: &str = "consecutive failed codes";

fn is_failure_lock(b: &BoundToken) -> bool {
    b.binding.status == MfaTokenUsrStat::Lock
        && b.binding
            .lock_reason
            .as_deref()
            .is_some_and(|r| r.ends_with(FAILURE_LOCK))
}

fn is_locked(b: &BoundToken) -> bool {
    b.token.status == UsrTokenStat::Lock || b.binding.status == MfaTokenUsrStat::Lock
}

impl Service {
    /// Whether [`Service::auto_unlock`] may write for these bindings (one holds a failure
    /// lock, and such locks expire).
    pub(super) fn may_auto_unlock(&self, bound: &[BoundToken]) -> bool {
        self.policy.auto_unlock_after_secs != 0 && bound.iter().any(is_failure_lock)
    }

    /// Unlocks the bindings whose failure lock has outlived `auto_unlock_after_secs`,
    /// audited like any change, and answers the bindings as they now are.
    pub(super) fn auto_unlock(
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
                        entry_for(
                            b,
                            AuditAction::AutoUnlock,
                            AuditResult::Success,
                            Some(&detail),
                        ),
                    )?;
                }
                Ok::<_, Error>(done)
            })?;
            if unlocked {
                b.binding.status = MfaTokenUsrStat::Act;
                b.binding.failure_count = 0;
                b.binding.locked_at = None;
                b.binding.lock_reason = None;
            }
        }
        Ok(bound)
    }

    /// Counts a wrong code on every binding it was tried against, locking those that reach
    /// the threshold. A binding no longer Act when the count commits (locked by a
    /// concurrent request) counts nothing and answers Locked. With `kept`, the keyed hash
    /// of the wrong code is kept for "explain" (`phones::explain`).
    pub(in crate::domain) fn count_failure(
        &self,
        ctx: &Context,
        tried: &[&BoundToken],
        now: DateTime<Utc>,
        action: AuditAction,
        kept: Option<&Code>,
    ) -> Result<FailureOutcome, Error> {
        let job = self.failure_count(ctx, tried, now, action, kept);
        let key = job.key.clone();
        self.storage.write_owned(&key, move |c| job.run(c))
    }

    /// The write of [`Service::count_failure`], owned (it runs on the writer thread): the
    /// rows to count on, and the wrong code's keyed hash already computed.
    pub(super) fn failure_count(
        &self,
        ctx: &Context,
        tried: &[&BoundToken],
        now: DateTime<Utc>,
        action: AuditAction,
        kept: Option<&Code>,
    ) -> FailureCount {
        let limit = i32::try_from(self.policy.lock_after_failures).unwrap_or(i32::MAX);
        FailureCount {
            key: tried
                .first()
                .map(|b| super::user_key(b))
                .unwrap_or_default(),
            tried: tried
                .iter()
                .map(|b| Tried {
                    binding_pk: b.binding.id,
                    token_pk: b.token.id,
                    token_id: b.token.token_id.clone(),
                    usr_name: b.usr_name.clone(),
                    kept: kept.and_then(|code| self.failed_code_to_keep(b, code, now)),
                })
                .collect(),
            reason: format!("{limit} {FAILURE_LOCK}"),
            limit,
            ctx: ctx.clone(),
            now,
            action,
        }
    }

    /// Answers a request none of whose bindings may validate: Locked if one is locked,
    /// else Failed with the reason; audited.
    pub(super) fn refuse(
        &self,
        ctx: &Context,
        rq: &ValidateRequest,
        bound: &[BoundToken],
        now: DateTime<Utc>,
    ) -> Result<Validation, Error> {
        let decider = decider_of(bound);
        let first = decider.unwrap_or(&bound[0]);
        let (rs_stat, reason) = if is_locked(first) {
            (RsStat::Locked, RsStatRsn::Locked)
        } else if first.token.status != UsrTokenStat::Act {
            (RsStat::Failed, RsStatRsn::TokenNotActive)
        } else {
            (RsStat::Failed, RsStatRsn::BindingNotActive)
        };
        let detail = format!(
            "token {}, binding {}",
            first.token.status, first.binding.status
        );
        self.record_validation(ctx, now, first, rs_stat.into(), detail)?;
        Ok(answer(rq, decider, rs_stat, reason))
    }
}

/// A binding a wrong code was tried against, as the counting job needs it.
struct Tried {
    binding_pk: i32,
    token_pk: i32,
    token_id: String,
    usr_name: String,
    /// The wrong code's hash, to keep for "explain".
    kept: Option<KeptCode>,
}

/// Counting a wrong code on the bindings it was tried against, as one owned write job.
pub(super) struct FailureCount {
    /// The user's key (see `user_key`).
    pub key: String,
    tried: Vec<Tried>,
    limit: i32,
    reason: String,
    ctx: Context,
    now: DateTime<Utc>,
    action: AuditAction,
}

impl FailureCount {
    /// Counts, locks at the threshold and audits each binding, in the caller's transaction.
    pub fn run(&self, c: &mut Conn) -> Result<FailureOutcome, Error> {
        let (limit, now) = (self.limit, self.now);
        let mut counted = FailureOutcome {
            all_locked: true,
            first_locked: None,
        };
        for (i, b) in self.tried.iter().enumerate() {
            let done =
                bindings::update_binding_failure(c, b.binding_pk, limit, &self.reason, to_ms(now))?;
            tokens::update_token_version(c, b.token_pk, to_ms(now))?;
            let (result, detail) = match done {
                Some(f) if f.locked => (
                    AuditResult::Locked,
                    format!("wrong code; locked after {limit}"),
                ),
                Some(f) => {
                    counted.all_locked = false;
                    let detail = format!("wrong code, {} of {limit}", f.failure_count);
                    (AuditResult::Failed, detail)
                }
                None => (
                    AuditResult::Locked,
                    "binding not Act when the code was decided".into(),
                ),
            };
            if result == AuditResult::Locked && counted.first_locked.is_none() {
                counted.first_locked = Some(i);
            }
            let entry = audit::Entry {
                action: self.action,
                token_id: Some(&b.token_id),
                usr_name: Some(&b.usr_name),
                result,
                detail: Some(&detail),
            };
            audit::record(c, &self.ctx, now, entry)?;
            // In the same transaction as its audit row: explain pairs them by order.
            if let Some(kept) = &b.kept {
                kept.store(c)?;
            }
        }
        Ok(counted)
    }
}

/// What counting a wrong code came to.
pub(in crate::domain) struct FailureOutcome {
    /// None of the bindings tried is still usable.
    pub all_locked: bool,
    /// The first binding (index into the tried ones) that is locked now.
    pub first_locked: Option<usize>,
}

impl FailureOutcome {
    /// Locked when no binding tried is usable any more, else Failed.
    pub fn rs_stat(&self) -> RsStat {
        if self.all_locked {
            RsStat::Locked
        } else {
            RsStat::Failed
        }
    }

    /// The reason matching [`FailureOutcome::rs_stat`].
    pub fn reason(&self) -> RsStatRsn {
        if self.all_locked {
            RsStatRsn::Locked
        } else {
            RsStatRsn::WrongCode
        }
    }
}

/// The binding that decides a refusal: a locked one, else the only candidate, else the
/// only one whose token is Act; `None` when several fail alike.
fn decider_of(bound: &[BoundToken]) -> Option<&BoundToken> {
    if let Some(locked) = bound.iter().find(|b| is_locked(b)) {
        return Some(locked);
    }
    if let [only] = bound {
        return Some(only);
    }
    let mut act = bound.iter().filter(|b| b.token.status == UsrTokenStat::Act);
    match (act.next(), act.next()) {
        (Some(one), None) => Some(one),
        _ => None,
    }
}
