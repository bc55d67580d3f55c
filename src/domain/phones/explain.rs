//! "Explain this failure" for the help desk (issue 17): the last attempts of a user or a
//! token, each with its answer and reason, read from the audit trail; for a wrong code,
//! whether it belongs to a step near now (a token clock running fast or slow).
//!
//! WHAT IS KEPT, AND WHY IT IS SAFE: for each wrong code, an HMAC-SHA256 under the code
//! MAC key (derived from the master key by `crypto`, like the OOB code hashes) of
//! `failed-code / TokenId / attempt time / code`, for `explain_retention_secs`. Never the
//! code. Without the master key the 10^6 code space cannot be searched offline (the key
//! is not in the database); the token id and time in the message make every row's hash
//! different, so two rows never show "same code". Explaining recomputes, from the seed
//! opened in memory as validation does, the codes of the steps within
//! ±`resync_window_steps` of the attempt and compares their hashes: nothing is accepted,
//! no failure is counted, no state changes.

use chrono::{DateTime, Utc};
use std::collections::HashMap;

use super::super::audit::{AuditEvent, AuditFilter};
use super::super::inquiry::{BindingRecord, InquiryRequest};
use super::super::{from_ms, params_of, to_ms, Context, Error, Fault, Service};
use super::kept_codes::failed_code_message;
use crate::storage::bindings::{self, BoundToken};
use crate::storage::failed_codes::{self, FailedCode};
use crate::types::{ActIntent, AuditAction, TokenId, UsrName, UsrTokenStat};

/// Attempts explained when the request names no count.
pub const DEFAULT_ATTEMPTS: usize = 10;
/// Most attempts one request may ask for.
pub const MAX_ATTEMPTS: usize = 50;
/// Audit rows read to find the attempts among them.
const SCAN_ROWS: i64 = 500;

/// Whom to explain: a user (every token) or one token.
#[derive(Debug, Clone)]
pub struct ExplainRequest {
    /// jXchange `UsrName`.
    pub usr_name: Option<UsrName>,
    /// jXchange `TokenId`.
    pub token_id: Option<TokenId>,
    /// How many attempts, newest first.
    pub count: usize,
}

/// What the kept hash of a wrong code says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeFinding {
    /// The code is the token's code `offset` steps from the attempt's time (positive: the
    /// token's clock runs fast).
    Offset {
        /// Steps from the attempt's step.
        steps: i64,
        /// The token's step length, seconds.
        period: i64,
    },
    /// The code matches no step within ±`resync_window_steps`: a mistyped or guessed code.
    NoMatch,
    /// The hash is no longer kept (older than `explain_retention_secs`).
    NotKept,
    /// The code is the token's code of a step not reached yet: it will become valid, so
    /// neither the offset nor the time is told (issue 26).
    NotYetValid,
}

impl CodeFinding {
    /// The help desk's words.
    pub fn advice(&self) -> String {
        match self {
            CodeFinding::Offset { steps, period } => {
                let secs = steps.abs() * period;
                let way = if *steps > 0 { "fast" } else { "slow" };
                format!(
                    "this code belongs to a clock {} minute(s) ({secs} s, {} step(s)) {way} — resync the token",
                    secs / 60,
                    steps.abs()
                )
            }
            CodeFinding::NoMatch => {
                "this code matches no step near now (mistyped, or another token's code)".into()
            }
            CodeFinding::NotKept => {
                "the code's hash is no longer kept (explain_retention_secs)".into()
            }
            CodeFinding::NotYetValid => {
                "this code belongs to a step not reached yet: not yet valid — resync the token"
                    .into()
            }
        }
    }
}

/// One attempt, explained.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// When.
    pub at: Option<DateTime<Utc>>,
    /// The audit action (`validate`, `validate.tempcode`, `oob.start`, …).
    pub action: String,
    /// Which token (absent for OOB rows).
    pub token_id: Option<String>,
    /// The user.
    pub usr_name: Option<String>,
    /// The answer (`Success`, `Failed`, `Locked`, `Expired`).
    pub result: String,
    /// Why, in the help desk's words.
    pub reason: String,
    /// For a wrong code: what its kept hash says.
    pub code: Option<CodeFinding>,
}

/// A token's state now, as an inquiry shows it.
#[derive(Debug, Clone)]
pub struct TokenState {
    /// jXchange `TokenId`.
    pub token_id: String,
    /// jXchange `UsrTokenStat`.
    pub status: UsrTokenStat,
    /// Learned drift, steps.
    pub drift: i32,
    /// The binding records (locked since, by what, auto-unlock time).
    pub records: Vec<BindingRecord>,
}

/// The explanation: the attempts, and the tokens' state now (locks, auto-unlock).
#[derive(Debug, Clone)]
pub struct Explanation {
    /// Newest first.
    pub attempts: Vec<Attempt>,
    /// Each explained token's state now.
    pub tokens: Vec<TokenState>,
}

/// Whether an audit row is a wrong code counted by validation (whose hash is kept).
fn is_wrong_code(e: &AuditEvent) -> bool {
    e.action == AuditAction::Validate.as_str()
        && e.detail
            .as_deref()
            .is_some_and(|d| d.starts_with("wrong code"))
}

/// The kept hash of the wrong code of audit row `e`: rows of one token at one instant
/// are paired by order (each hash is written right after its audit row, in the same
/// transaction, so the k-th such audit row is the k-th such hash).
fn paired<'k>(
    e: &AuditEvent,
    rows: &[AuditEvent],
    token_pk: i32,
    kept: &'k [FailedCode],
) -> Option<&'k FailedCode> {
    let rank = rows
        .iter()
        .filter(|r| r.at == e.at && r.token_id == e.token_id && is_wrong_code(r) && r.id < e.id)
        .count();
    let mut same: Vec<&FailedCode> = kept
        .iter()
        .filter(|f| f.token_pk == token_pk && f.at == e.at)
        .collect();
    same.sort_by_key(|f| f.id);
    same.get(rank).copied()
}

/// Whether an audit row is an authentication attempt.
fn is_attempt(action: &str) -> bool {
    [
        AuditAction::Validate,
        AuditAction::ValidateTempcode,
        AuditAction::OobStart,
        AuditAction::OobVerify,
        AuditAction::OobInbound,
        AuditAction::OobExpire,
        AuditAction::AutoUnlock,
    ]
    .iter()
    .any(|a| a.as_str() == action)
}

/// The reason of an attempt, from its audit row.
fn reason_of(e: &AuditEvent) -> String {
    let detail = e.detail.as_deref().unwrap_or("");
    let what = match (e.action.as_str(), e.result.as_str()) {
        ("validate", "Success") => "code accepted".to_owned(),
        ("validate", _) if detail == "replayed code" => {
            "replayed code: this code (or a newer one) was already used — wait for the next code"
                .into()
        }
        ("validate", _) if detail.starts_with("wrong code") => detail.to_owned(),
        ("validate", "Locked") => format!("locked ({detail})"),
        ("validate", _) if detail.starts_with("token ") => {
            format!("token or binding not active ({detail})")
        }
        ("validate.tempcode", "Success") => "temporary code used".into(),
        ("oob.start", "Success") => format!("OOB started ({detail})"),
        ("oob.start", _) => format!("OOB not started ({detail})"),
        ("oob.verify" | "oob.inbound", "Success") => "OOB verified".into(),
        ("oob.verify" | "oob.inbound", _) => format!("OOB failed ({detail})"),
        ("oob.expire", _) => "OOB expired".into(),
        ("auto-unlock", _) => format!("unlocked automatically ({detail})"),
        _ => detail.to_owned(),
    };
    if what.is_empty() {
        format!("{} {}", e.action, e.result)
    } else {
        what
    }
}

impl Service {
    /// Explains the last attempts of a user or a token (read-only).
    pub fn explain(
        &self,
        ctx: &Context,
        rq: &ExplainRequest,
        now: DateTime<Utc>,
    ) -> Result<Explanation, Error> {
        let bound = self.explained_bindings(ctx, rq)?;
        let inst = self.institution(ctx).to_owned();
        let filter = AuditFilter {
            usr_name: rq.usr_name.as_ref().map(|u| u.as_str().to_owned()),
            token_id: rq.token_id.as_ref().map(|t| t.as_str().to_owned()),
            inst_rt_id: Some(inst),
            ..AuditFilter::default()
        };
        let rows = self.audit_log(&filter, SCAN_ROWS)?;
        let pks: Vec<i32> = bound.iter().map(|b| b.token.id).collect();
        let kept = self
            .storage
            .read(|c| failed_codes::find_failed_codes(c, &pks, to_ms(now)))?;
        let by_token: HashMap<&str, &BoundToken> = bound
            .iter()
            .map(|b| (b.token.token_id.as_str(), b))
            .collect();
        let mut attempts = Vec::new();
        for e in rows.iter().filter(|e| is_attempt(&e.action)).take(rq.count) {
            let code = self.finding(e, &rows, &by_token, &kept, now)?;
            attempts.push(Attempt {
                at: from_ms(e.at),
                action: e.action.clone(),
                token_id: e.token_id.clone(),
                usr_name: e.usr_name.clone(),
                result: e.result.clone(),
                reason: reason_of(e),
                code,
            });
        }
        Ok(Explanation {
            attempts,
            tokens: self.token_states(ctx, rq, &bound)?,
        })
    }

    /// The bindings explained: the user's, or the token's; faults 7021/7020 when none.
    fn explained_bindings(
        &self,
        ctx: &Context,
        rq: &ExplainRequest,
    ) -> Result<Vec<BoundToken>, Error> {
        let inst = self.institution(ctx).to_owned();
        match (&rq.token_id, &rq.usr_name) {
            (Some(token_id), _) => self.bound_to_token(ctx, token_id),
            (None, Some(name)) => {
                let bound = self
                    .storage
                    .read(|c| bindings::find_bound_by_user(c, &inst, name.as_str()))?;
                if bound.is_empty() {
                    self.find_user(ctx, name)?;
                }
                Ok(bound)
            }
            (None, None) => {
                Err(Error::at(Fault::FieldRequired, "UsrName").with_detail("(UsrName or TokenId)"))
            }
        }
    }

    /// The tokens' state now, as inquiries show it (lock time, reason, auto-unlock).
    fn token_states(
        &self,
        ctx: &Context,
        rq: &ExplainRequest,
        bound: &[BoundToken],
    ) -> Result<Vec<TokenState>, Error> {
        let mut out = Vec::new();
        for b in bound {
            let Some(token_id) = TokenId::parse(&b.token.token_id) else {
                continue;
            };
            let inq = self.inquire(
                ctx,
                InquiryRequest {
                    token_id,
                    usr_name: rq.usr_name.clone(),
                    intent: ActIntent::ReadOnly,
                },
            )?;
            out.push(TokenState {
                token_id: b.token.token_id.clone(),
                status: inq.token_status,
                drift: inq.facts.drift,
                records: inq.records,
            });
        }
        Ok(out)
    }

    /// What the kept hash of a wrong code says; `None` for any other attempt.
    fn finding(
        &self,
        e: &AuditEvent,
        rows: &[AuditEvent],
        by_token: &HashMap<&str, &BoundToken>,
        kept: &[FailedCode],
        now: DateTime<Utc>,
    ) -> Result<Option<CodeFinding>, Error> {
        let wrong = is_wrong_code(e);
        let Some(b) = e.token_id.as_deref().and_then(|t| by_token.get(t)) else {
            return Ok(None);
        };
        if !wrong {
            return Ok(None);
        }
        let Some(fc) = paired(e, rows, b.token.id, kept) else {
            return Ok(Some(CodeFinding::NotKept));
        };
        let params = params_of(&b.token)?;
        let seed = self.open_seed(&b.token)?;
        let at_step = params.step_at(e.at.div_euclid(1000));
        let now_step = params.step_at(now.timestamp());
        let window = i64::from(self.policy.resync_window_steps);
        let mut offsets: Vec<i64> = (-window..=window).collect();
        offsets.sort_by_key(|o| o.abs());
        for offset in offsets {
            let Some(code) = params.code_at_step(seed.expose(), at_step + offset) else {
                continue;
            };
            let msg = failed_code_message(&b.token.token_id, e.at, &code);
            if self.keyring.is_code_hash(&msg, &fc.code_hash) {
                // A step still ahead: its code will be accepted, so its offset (and with
                // it when) is never told; past and current steps are history.
                if at_step + offset > now_step {
                    return Ok(Some(CodeFinding::NotYetValid));
                }
                return Ok(Some(CodeFinding::Offset {
                    steps: offset,
                    period: i64::from(params.period.secs()),
                }));
            }
        }
        Ok(Some(CodeFinding::NoMatch))
    }
}
