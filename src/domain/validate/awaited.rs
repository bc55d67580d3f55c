//! Validation split at its write, for a caller that awaits the write instead of blocking
//! a thread on it (issue 30 item 4): decide (the reads and the HMACs, no write), write
//! (one owned job, awaited), answer.
//!
//! Only the two hot outcomes are split: a code that matches an Act binding (its success)
//! and a wrong code on Act bindings (its failure count). Everything else — a failure lock
//! that may have expired, a replayed code, a temporary code, a request none of whose
//! bindings may validate, a success that lost a race — is [`Decided::Elsewhere`]: the
//! caller runs [`Service::validate`] whole, on a thread that may block. That repeats the
//! reads and HMACs but nothing else, since deciding wrote nothing and every outcome is
//! decided inside a write transaction against the committed state (as in `validate`): a
//! success whose write was refused rolled back, so validating again from the start
//! answers what `validate` would have answered on its next candidate.
//!
//! Which caller may decide on its own thread is the edge's choice: the reads here block
//! (a SQLite read is microseconds in process; a PostgreSQL read is a round trip).

use chrono::{DateTime, Utc};

use super::refusal::FailureCount;
use super::{answer, is_usable, Accepted, PendingSuccess, ValidateRequest, Validation};
use crate::domain::oob::Fallback;
use crate::domain::{Context, Error, Service};
use crate::storage::bindings::BoundToken;
use crate::types::AuditAction;

/// What a validation's reads and HMACs decided, before any write.
// Made once per request and moved once, to the write: boxing it would be an allocation
// for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Decided {
    /// One write to make and await ([`Service::write_decided`]).
    Write(Pending),
    /// Not one of the hot outcomes: run [`Service::validate`] whole. Nothing was written.
    Elsewhere,
}

/// A decided validation's write, owned, and what answers it.
pub struct Pending(Hot);

enum Hot {
    Success(PendingSuccess),
    Failure {
        count: FailureCount,
        rq: ValidateRequest,
        /// The bindings the code was tried against (the deciding one is named in the
        /// answer).
        tried: Vec<BoundToken>,
    },
}

impl Service {
    /// Validates a code and, when the answer is Locked, starts the SMS fallback for the
    /// user (or reuses their pending fallback session, sending nothing new): the whole
    /// validation as one blocking call.
    pub fn validate_with_fallback(
        &self,
        ctx: &Context,
        rq: &ValidateRequest,
        now: DateTime<Utc>,
    ) -> Result<(Validation, Fallback), Error> {
        let v = self.validate(ctx, rq, now)?;
        self.with_fallback(ctx, rq, v, now)
    }

    /// The first half of [`Service::validate`]: reads and HMACs, no write.
    pub fn decide_validation(
        &self,
        ctx: &Context,
        rq: &ValidateRequest,
        now: DateTime<Utc>,
    ) -> Result<Decided, Error> {
        let bound = self.candidates(ctx, rq)?;
        if self.may_auto_unlock(&bound) {
            return Ok(Decided::Elsewhere);
        }
        let (tried, others): (Vec<BoundToken>, Vec<BoundToken>) =
            bound.into_iter().partition(is_usable);
        if tried.is_empty() {
            return Ok(Decided::Elsewhere);
        }
        for b in &tried {
            let Some(step) = self.match_step(b, &rq.code, now)? else {
                continue;
            };
            if step <= b.token.last_step {
                return Ok(Decided::Elsewhere);
            }
            let success = self.success_of(ctx, b, step, now)?;
            return Ok(Decided::Write(Pending(Hot::Success(success))));
        }
        if self.has_temp_codes(&tried, &others, now)? {
            return Ok(Decided::Elsewhere);
        }
        let refs: Vec<&BoundToken> = tried.iter().collect();
        let count = self.failure_count(ctx, &refs, now, AuditAction::Validate, Some(&rq.code));
        Ok(Decided::Write(Pending(Hot::Failure {
            count,
            rq: rq.clone(),
            tried,
        })))
    }

    /// The rest of a decided validation: its write, awaited, and the answer. `None` when
    /// the write was refused (a success that lost its step or its binding to a concurrent
    /// request): nothing was written, and the caller runs [`Service::validate`] whole.
    pub async fn write_decided(&self, pending: Pending) -> Result<Option<Validation>, Error> {
        match pending.0 {
            Hot::Success(success) => {
                let written = self
                    .storage
                    .accept_success_async(&success.key, success.write);
                Ok(match success.answer.accepted(written.await?) {
                    Accepted::Won(done) => Some(done),
                    Accepted::Replayed | Accepted::StatusChanged(_) => None,
                })
            }
            Hot::Failure { count, rq, tried } => {
                let key = count.key.clone();
                let counted = self
                    .storage
                    .write_owned_async(&key, move |c| count.run(c))
                    .await?;
                let decider = counted
                    .first_locked
                    .or((tried.len() == 1).then_some(0))
                    .map(|i| &tried[i]);
                Ok(Some(answer(
                    &rq,
                    decider,
                    counted.rs_stat(),
                    counted.reason(),
                )))
            }
        }
    }
}
