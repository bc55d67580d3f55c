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

mod awaited;
mod refusal;

use crate::storage;
use crate::storage::success::{self, Success, SuccessAudit};
use crate::types::{AuditAction, AuditResult};
use crate::types::{Code, MfaTokenUsrStat, RsStat, RsStatRsn, TokenId, UsrName, UsrTokenStat};
pub use awaited::{Decided, Pending};
pub use refusal::FAILURE_LOCK;

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
    /// Why it did not succeed (`None` on Success).
    pub reason: Option<RsStatRsn>,
    /// The token that decided the answer: the one that matched, locked or failed, else the
    /// only candidate; `None` when several candidates failed alike.
    pub token_id: Option<String>,
    /// The user asked about, else the deciding token's user.
    pub usr_name: Option<String>,
    /// jXchange `LastTrnRcptId`, new for every success.
    pub receipt_id: Option<String>,
    /// jXchange `LastAuthenTimeDt` of this success.
    pub last_authen_at: Option<DateTime<Utc>>,
    /// On a success by a token's code: the matched step's offset from now, in steps (the
    /// drift the success learned), for the drift telemetry.
    pub drift_steps: Option<i32>,
}

impl Validation {
    /// A success with its new receipt.
    pub(super) fn success(
        token_id: Option<String>,
        usr_name: String,
        receipt: String,
        now: DateTime<Utc>,
    ) -> Validation {
        Validation {
            rs_stat: RsStat::Success,
            reason: None,
            token_id,
            usr_name: Some(usr_name),
            receipt_id: Some(receipt),
            last_authen_at: Some(now),
            drift_steps: None,
        }
    }
}

/// Why a resync's write did not commit (the write rolled back).
pub(super) enum AcceptError {
    /// Another request accepted this step (or a newer one) first.
    Replayed,
    /// The token or binding left Act (a concurrent lock, an admin) after it was read.
    StatusChanged,
    Domain(Error),
}

impl From<storage::Error> for AcceptError {
    fn from(e: storage::Error) -> Self {
        AcceptError::Domain(e.into())
    }
}

impl storage::JobError for AcceptError {
    fn storage_error(&self) -> Option<&storage::Error> {
        match self {
            AcceptError::Domain(e) => e.storage_error(),
            _ => None,
        }
    }
}

/// A success to write, owned (it may be written by the writer thread), and its answer.
struct PendingSuccess {
    key: String,
    write: Success,
    answer: Won,
}

/// The answer a success gets if its write wins.
struct Won(Validation);

impl Won {
    /// What the success's write came to, as validation sees it.
    fn accepted(self, outcome: success::Accepted) -> Accepted {
        match outcome {
            success::Accepted::Won => Accepted::Won(self.0),
            success::Accepted::Replayed => Accepted::Replayed,
            success::Accepted::StatusChanged(fresh) => Accepted::StatusChanged(fresh),
        }
    }
}

/// What a committed acceptance attempt came to.
enum Accepted {
    Won(Validation),
    Replayed,
    StatusChanged(Option<Box<BoundToken>>),
}

fn is_usable(b: &BoundToken) -> bool {
    b.token.status == UsrTokenStat::Act && b.binding.status == MfaTokenUsrStat::Act
}

impl Service {
    /// Checks a code for a user or token (jXchange-style `RsStat` answer).
    ///
    /// Every outcome is decided inside a write transaction against the committed state: a
    /// code read before a concurrent lock but decided after it answers `Locked`, right or
    /// wrong, and counts nothing.
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
            return self.refuse(ctx, rq, &bound, now);
        }
        let mut replayed: Option<&BoundToken> = None;
        for b in &usable {
            let Some(step) = self.match_step(b, &rq.code, now)? else {
                continue;
            };
            if step > b.token.last_step {
                match self.accept(ctx, b, step, now)? {
                    Accepted::Won(done) => return Ok(done),
                    Accepted::StatusChanged(fresh) => {
                        return self.refuse_changed(ctx, rq, fresh, now)
                    }
                    Accepted::Replayed => {}
                }
            }
            replayed = Some(b);
        }
        if let Some(b) = replayed {
            self.record_validation(ctx, now, b, AuditResult::Failed, "replayed code".into())?;
            return Ok(answer(rq, Some(b), RsStat::Failed, RsStatRsn::Replayed));
        }
        if let Some(done) = self.try_temp_code(ctx, &bound, &rq.code, now)? {
            return Ok(done);
        }
        let counted =
            self.count_failure(ctx, &usable, now, AuditAction::Validate, Some(&rq.code))?;
        let decider = counted
            .first_locked
            .or((usable.len() == 1).then_some(0))
            .map(|i| usable[i]);
        Ok(answer(rq, decider, counted.rs_stat(), counted.reason()))
    }

    /// The bindings a request may validate against; unknown users or tokens are faults.
    fn candidates(&self, ctx: &Context, rq: &ValidateRequest) -> Result<Vec<BoundToken>, Error> {
        let inst = self.institution(ctx).to_owned();
        let bound = match (&rq.token_id, &rq.usr_name) {
            (Some(token_id), usr_name) => {
                let mut bound = self.bound_to_token(ctx, token_id)?;
                if let Some(name) = usr_name {
                    bindings::retain_named(&mut bound, name.as_str());
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

    /// Commits a success: replay guard, receipt, audit — all or nothing. Answers why not
    /// when the guard refused: the step was taken first, or the token or binding left Act
    /// after it was read (told apart by storage in the deciding transaction).
    fn accept(
        &self,
        ctx: &Context,
        b: &BoundToken,
        step: i64,
        now: DateTime<Utc>,
    ) -> Result<Accepted, Error> {
        let pending = self.success_of(ctx, b, step, now)?;
        let outcome = self.storage.accept_success(&pending.key, pending.write)?;
        Ok(pending.answer.accepted(outcome))
    }

    /// The success write of `b` at `step`, owned, and what answers it once written.
    fn success_of(
        &self,
        ctx: &Context,
        b: &BoundToken,
        step: i64,
        now: DateTime<Utc>,
    ) -> Result<PendingSuccess, Error> {
        let receipt = uuid::Uuid::new_v4().to_string();
        let drift = self.learned_drift(b, step, now)?;
        let write = Success {
            token_pk: b.token.id,
            binding_pk: b.binding.id,
            user_pk: b.binding.user_pk,
            inst_rt_id: b.token.inst_rt_id.clone(),
            token_id: b.token.token_id.clone(),
            usr_name: b.usr_name.clone(),
            step,
            drift,
            now_ms: to_ms(now),
            receipt_id: receipt.clone(),
            audit: SuccessAudit {
                actor: ctx.actor.clone(),
                audit_usr_id: ctx.audit_usr_id.clone(),
                audit_usr_src: ctx.audit_usr_src,
                audit_ws_id: ctx.audit_ws_id.clone(),
                tracking_id: ctx.tracking_id.clone(),
                bus_correl_id: ctx.bus_correl_id.clone(),
                inst_rt_id: ctx.inst_rt_id.clone(),
            },
        };
        Ok(PendingSuccess {
            key: user_key(b),
            write,
            answer: Won(won(b, receipt, drift, now)),
        })
    }

    /// Records the audit row of a validation refused about `b`, as an owned job (the
    /// writer thread): a guessing burst against a locked user makes these as hot as
    /// successes.
    pub(super) fn record_validation(
        &self,
        ctx: &Context,
        now: DateTime<Utc>,
        b: &BoundToken,
        result: AuditResult,
        detail: String,
    ) -> Result<(), Error> {
        let (ctx, token_id, usr_name) = (ctx.clone(), b.token.token_id.clone(), b.usr_name.clone());
        self.storage.write_owned(&user_key(b), move |c| {
            let entry = Entry {
                action: AuditAction::Validate,
                token_id: Some(&token_id),
                usr_name: Some(&usr_name),
                result,
                detail: Some(&detail),
            };
            Ok::<_, Error>(audit::record(c, &ctx, now, entry)?)
        })
    }

    /// Answers a code whose token or binding left Act between the read and the decision
    /// (a concurrent lock, an admin): as the binding is now, like its neighbours.
    fn refuse_changed(
        &self,
        ctx: &Context,
        rq: &ValidateRequest,
        fresh: Option<Box<BoundToken>>,
        now: DateTime<Utc>,
    ) -> Result<Validation, Error> {
        let Some(fresh) = fresh else {
            return Err(Error::at(Fault::TokenNotFound, "TokenId"));
        };
        self.refuse(ctx, rq, &[*fresh], now)
    }

    /// The drift to store after a success at `step`: where the token's clock really is.
    /// A token whose clock runs away is followed one step at a time, so it keeps working
    /// without a resync; the drift never exceeds the resync search range.
    fn learned_drift(&self, b: &BoundToken, step: i64, now: DateTime<Utc>) -> Result<i32, Error> {
        let now_step = params_of(&b.token)?.step_at(now.timestamp());
        let bound = i64::from(self.policy.resync_window_steps);
        Ok(i32::try_from((step - now_step).clamp(-bound, bound)).unwrap_or(0))
    }
}

/// The answer to a committed success.
fn won(b: &BoundToken, receipt: String, drift: i32, now: DateTime<Utc>) -> Validation {
    Validation {
        drift_steps: Some(drift),
        ..Validation::success(
            Some(b.token.token_id.clone()),
            b.usr_name.clone(),
            receipt,
            now,
        )
    }
}

/// The audit entry about one binding.
pub(super) fn entry_for<'a>(
    b: &'a BoundToken,
    action: AuditAction,
    result: AuditResult,
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

/// A non-success answer: the user asked about (else the deciding token's) and the token
/// that decided it.
fn answer(
    rq: &ValidateRequest,
    decider: Option<&BoundToken>,
    rs_stat: RsStat,
    reason: RsStatRsn,
) -> Validation {
    Validation {
        rs_stat,
        reason: Some(reason),
        token_id: decider.map(|b| b.token.token_id.clone()),
        usr_name: rq
            .usr_name
            .as_ref()
            .map(|n| n.as_str().to_owned())
            .or_else(|| decider.map(|b| b.usr_name.clone())),
        receipt_id: None,
        last_authen_at: None,
        drift_steps: None,
    }
}

/// The key on which one user's validation writes queue on PostgreSQL (see
/// `Storage::write_owned`): racing requests of one user touch the same rows.
fn user_key(b: &BoundToken) -> String {
    format!("user:{}", b.binding.user_pk)
}

#[cfg(test)]
mod tests;
