//! Dual control (maker–checker). An action listed in `dual_control` does not run when a
//! staff member makes it in the console: it is stored as a pending request (who, what,
//! target, reason, and a guard of the target's state), audited `approval.request`
//! (Requested). Another staff member whose role allows the action — never the maker;
//! an admin may approve anything in their institution — approves or rejects it. An
//! approval claims the request first (one conditional UPDATE: of two checkers on any
//! nodes, one wins), then re-reads the target: changed since the request, it is refused
//! and says why; otherwise the action runs as it would have. Requests lapse after
//! `dual_control_expiry_secs`. The request, the decision and the action's own audit rows
//! share the tracking id `approval-N`, which links them in the trail.
//!
//! A crash between the claim and the action leaves the request approved with the
//! outcome "running" and no action row in the trail: visible, and the maker asks again.

use chrono::{DateTime, Duration, Utc};

use super::super::audit::{self, Entry};
use super::super::{from_ms, to_ms, Context, Error, Fault, Service};
use super::requests::{Done, StaffRequest};
use super::Staff;
use crate::storage::approvals::{self as store, Approval, NewApproval};
use crate::types::{ApprovalState, AuditAction, AuditResult, Role, StaffAction};

/// Requests listed per page.
pub const PAGE: i64 = 200;
/// Expired requests swept per call.
const SWEEP: i64 = 100;

/// What a console action came to.
#[derive(Debug)]
pub enum Submitted {
    /// It ran.
    Done(Done),
    /// It waits for a second staff member: the request's number.
    Filed(i32),
}

/// A request as the approvals page shows it.
#[derive(Debug, Clone)]
pub struct ApprovalView {
    /// Its number.
    pub id: i32,
    /// Its institution.
    pub inst_rt_id: String,
    /// What it does.
    pub action: StaffAction,
    /// On what.
    pub target: String,
    /// Why.
    pub reason: String,
    /// Who asked.
    pub maker: String,
    /// Where it stands.
    pub state: ApprovalState,
    /// When asked.
    pub created_at: Option<DateTime<Utc>>,
    /// When it lapses.
    pub expires_at: Option<DateTime<Utc>>,
    /// Who decided, what came of it.
    pub decided_by: Option<String>,
    /// In words.
    pub outcome: Option<String>,
    /// Whether the viewer may approve it (pending, not theirs, their role allows it).
    pub decidable: bool,
}

/// The stored input and the guard of the target when asked.
#[derive(serde::Serialize, serde::Deserialize)]
struct Params {
    request: StaffRequest,
    guard: String,
}

fn tracked(ctx: &Context, id: i32) -> Context {
    Context {
        tracking_id: Some(format!("approval-{id}")),
        ..ctx.clone()
    }
}

fn entry<'a>(action: AuditAction, result: AuditResult, detail: &'a str) -> Entry<'a> {
    Entry {
        action,
        token_id: None,
        usr_name: None,
        result,
        detail: Some(detail),
    }
}

fn not_found(id: i32) -> Error {
    Error::at(Fault::InvalidValue, "approval")
        .with_value(id.to_string())
        .with_detail("(no such request in this institution)")
}

/// Whether `staff` may decide a request for `action` (an admin may decide any).
fn may_decide(staff: &Staff, action: StaffAction) -> bool {
    staff.role == Role::Admin || staff.may(action)
}

impl Service {
    /// Runs a console action, or files it for approval when it is under dual control.
    /// The role is checked here too, whatever the edge did.
    pub fn submit(
        &self,
        ctx: &Context,
        staff: &Staff,
        rq: &StaffRequest,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Submitted, Error> {
        let action = rq.action();
        staff.require(action)?;
        if !self.staff.dual_control.contains(&action) {
            return self.perform(ctx, rq, now).map(Submitted::Done);
        }
        let reason: String = reason.trim().chars().take(500).collect();
        if reason.is_empty() {
            return Err(Error::at(Fault::FieldRequired, "reason")
                .with_detail("(an action under dual control needs a reason for the approver)"));
        }
        let params = Params {
            request: rq.clone(),
            guard: self.guard_of(ctx, rq, now)?,
        };
        let json = serde_json::to_string(&params).map_err(|e| Error::Internal(e.to_string()))?;
        let target = rq.target();
        let inst = self.institution(ctx).to_owned();
        let new = NewApproval {
            inst_rt_id: &inst,
            action,
            target: &target,
            params: &json,
            reason: &reason,
            maker_id: staff.admin_id,
            maker: &staff.username,
            state: ApprovalState::Pending,
            created_at: to_ms(now),
            expires_at: to_ms(now + Duration::seconds(self.staff.expiry_secs)),
        };
        self.storage.write(|c| {
            let id = store::insert_approval(c, &new)?;
            let detail = format!("#{id} {action}: {target}; reason: {reason}");
            let e = entry(
                AuditAction::ApprovalRequest,
                AuditResult::Requested,
                &detail,
            );
            audit::record(c, &tracked(ctx, id), now, e)?;
            Ok::<_, Error>(Submitted::Filed(id))
        })
    }

    /// The newest requests of the institutions `staff` reaches (lapsed ones marked
    /// expired first).
    pub fn approvals(
        &self,
        ctx: &Context,
        staff: &Staff,
        now: DateTime<Utc>,
    ) -> Result<Vec<ApprovalView>, Error> {
        self.expire_approvals(ctx, now)?;
        let inst = self.institution(ctx).to_owned();
        let rows = self
            .storage
            .read(|c| store::find_approvals(c, Some(&inst), PAGE))?;
        Ok(rows
            .into_iter()
            .map(|a| ApprovalView {
                decidable: a.state == ApprovalState::Pending
                    && a.maker_id != staff.admin_id
                    && may_decide(staff, a.action),
                id: a.id,
                inst_rt_id: a.inst_rt_id,
                action: a.action,
                target: a.target,
                reason: a.reason,
                maker: a.maker,
                state: a.state,
                created_at: from_ms(a.created_at),
                expires_at: from_ms(a.expires_at),
                decided_by: a.decided_by,
                outcome: a.outcome,
            })
            .collect())
    }

    /// Marks the pending requests past their expiry as expired (audited). Run by the
    /// approvals page and by every decision, on whichever node serves them.
    pub fn expire_approvals(&self, ctx: &Context, now: DateTime<Utc>) -> Result<usize, Error> {
        let lapsed = self
            .storage
            .read(|c| store::find_expired_approvals(c, to_ms(now), SWEEP))?;
        let mut n = 0;
        for a in lapsed {
            n += usize::from(self.storage.write(|c| {
                let won = store::update_approval_decided(
                    c,
                    a.id,
                    ApprovalState::Expired,
                    "tokend",
                    "expired undecided",
                    to_ms(now),
                )?;
                if won {
                    let detail = format!("#{} {}: {}", a.id, a.action, a.target);
                    let e = entry(AuditAction::ApprovalExpire, AuditResult::Expired, &detail);
                    let ctx = Context {
                        actor: "tokend".into(),
                        inst_rt_id: Some(a.inst_rt_id.clone()),
                        ..ctx.clone()
                    };
                    audit::record(c, &tracked(&ctx, a.id), now, e)?;
                }
                Ok::<_, Error>(won)
            })?);
        }
        Ok(n)
    }

    /// Approves (`approve`) or rejects a pending request of `ctx`'s institution.
    /// Answers what came of it; the maker can reject (withdraw) their own request but
    /// never approve it.
    pub fn decide(
        &self,
        ctx: &Context,
        staff: &Staff,
        id: i32,
        approve: bool,
        now: DateTime<Utc>,
    ) -> Result<Done, Error> {
        self.expire_approvals(ctx, now)?;
        let inst = self.institution(ctx).to_owned();
        let a = self
            .storage
            .read(|c| store::find_approval(c, id))?
            .filter(|a| a.inst_rt_id == inst && staff.reaches(&a.inst_rt_id))
            .ok_or_else(|| not_found(id))?;
        if a.state != ApprovalState::Pending {
            return Err(Error::at(Fault::WrongTokenState, "approval")
                .with_value(id.to_string())
                .with_detail(format!("(request #{id} is {} already)", a.state)));
        }
        let own = a.maker_id == staff.admin_id;
        if approve && own {
            return Err(Error::at(Fault::ScopeDenied, "approval").with_detail(
                "(the maker of a request cannot approve it: another staff member must)",
            ));
        }
        if !own && !may_decide(staff, a.action) {
            return Err(super::denied(a.action));
        }
        let ctx = tracked(
            &Context {
                inst_rt_id: Some(inst),
                ..ctx.clone()
            },
            id,
        );
        if approve {
            self.approve(&ctx, staff, &a, now)
        } else {
            self.reject(&ctx, staff, &a, now)
        }
    }

    fn reject(
        &self,
        ctx: &Context,
        staff: &Staff,
        a: &Approval,
        now: DateTime<Utc>,
    ) -> Result<Done, Error> {
        let outcome = format!("rejected by {}", staff.username);
        self.claim_decision(ctx, staff, a, ApprovalState::Rejected, &outcome, now)?;
        Ok(Done {
            message: format!("Request #{} is rejected.", a.id),
            secret: None,
        })
    }

    fn approve(
        &self,
        ctx: &Context,
        staff: &Staff,
        a: &Approval,
        now: DateTime<Utc>,
    ) -> Result<Done, Error> {
        let params: Params = serde_json::from_str(&a.params)
            .map_err(|e| Error::Internal(format!("approval #{}: {e}", a.id)))?;
        self.claim_decision(ctx, staff, a, ApprovalState::Approved, "running", now)?;
        let ran = match self.guard_of(ctx, &params.request, now) {
            Ok(g) if g == params.guard => self.perform(ctx, &params.request, now),
            Ok(_) => Err(Error::at(Fault::StaleIntentKey, "approval").with_detail(
                "(the target changed since the request was made: ask again from its current state)",
            )),
            Err(e) => Err(e),
        };
        let (state, outcome) = match &ran {
            Ok(done) => (ApprovalState::Approved, done.message.clone()),
            Err(Error::Internal(m)) => {
                tracing::error!(approval = a.id, "an approved request failed: {m}");
                (
                    ApprovalState::Failed,
                    "internal error: see the log".to_owned(),
                )
            }
            Err(e) => (ApprovalState::Failed, e.to_string()),
        };
        self.storage
            .write(|c| store::update_approval_outcome(c, a.id, state, &outcome))?;
        ran
    }

    /// Moves the request out of Pending (one winner) and audits the decision.
    fn claim_decision(
        &self,
        ctx: &Context,
        staff: &Staff,
        a: &Approval,
        to: ApprovalState,
        outcome: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let (action, result) = match to {
            ApprovalState::Rejected => (AuditAction::ApprovalReject, AuditResult::Success),
            _ => (AuditAction::ApprovalApprove, AuditResult::Success),
        };
        let detail = format!(
            "#{} {}: {} (asked by {})",
            a.id, a.action, a.target, a.maker
        );
        self.storage.write(|c| {
            if !store::update_approval_decided(c, a.id, to, &staff.username, outcome, to_ms(now))? {
                return Err(Error::at(Fault::WrongTokenState, "approval")
                    .with_value(a.id.to_string())
                    .with_detail("(decided meanwhile by another staff member)"));
            }
            Ok(audit::record(c, ctx, now, entry(action, result, &detail))?)
        })
    }
}
