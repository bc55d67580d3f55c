//! Staff trust in the console: who may do what (one role per account, weakest first:
//! auditor < helpdesk < officer < admin), where (one institution, or every one), and
//! which actions need a second pair of eyes (dual control, see [`approvals`]).
//!
//! The web edge checks a staff member's role before each page and action (and refuses
//! with a page naming the role needed); the domain checks it again where a request is
//! submitted or decided, so no edge can forget it. The CLI is the operator's break-glass
//! path: it acts as `cli` with every right, audited, never under dual control.

pub mod accounts;
pub mod approvals;
pub mod external;
pub mod factor;
pub mod passkeys;
pub mod requests;

use chrono::{DateTime, Utc};

use super::api_keys::KeyReach;
use super::audit::{self, Entry};
use super::{Context, Error, Fault, Service};
use crate::types::{AuditAction, AuditResult, Role, StaffAction};

/// The actions under dual control by default: the ones that bind a factor to a customer
/// (a phone, a hardware token), remove one, or widen who can do so.
pub const DEFAULT_DUAL_CONTROL: &[StaffAction] = &[
    StaffAction::PhoneChange,
    StaffAction::HoldLift,
    StaffAction::TokenDelete,
    StaffAction::TokenBind,
    StaffAction::ApikeyCreate,
    StaffAction::StaffCreate,
    StaffAction::StaffRole,
];

/// Whether a bank may put `action` under dual control: those whose input can wait for an
/// approval and be run as it was asked (the default ones, a staff member's second factor
/// reset, and an SMS alert text or the library's state). Not software enrollment (its secret is shown once, to whoever runs
/// it, and an enrolled token works only after a code from the device activates it),
/// nor reads.
pub fn is_dual_controllable(action: StaffAction) -> bool {
    DEFAULT_DUAL_CONTROL.contains(&action)
        || matches!(
            action,
            StaffAction::StaffFactorReset | StaffAction::AlertEdit
        )
}

/// Dual-control settings (`dual_control`, `dual_control_expiry_secs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffPolicy {
    /// Actions that become requests a second staff member approves.
    pub dual_control: Vec<StaffAction>,
    /// Seconds a request waits for a decision before it lapses.
    pub expiry_secs: i64,
}

impl Default for StaffPolicy {
    fn default() -> StaffPolicy {
        StaffPolicy {
            dual_control: DEFAULT_DUAL_CONTROL.to_vec(),
            expiry_secs: 86_400,
        }
    }
}

/// The weakest role allowed to do `action`.
pub fn required_role(action: StaffAction) -> Role {
    use StaffAction as A;
    match action {
        A::Read => Role::Auditor,
        A::TokenUnlock | A::TokenResync | A::TempcodeIssue | A::SmsTest => Role::Helpdesk,
        A::UserCreate
        | A::TokenEnroll
        | A::TokenBind
        | A::TokenDisable
        | A::TokenDelete
        | A::HardwareImport
        | A::PhoneChange
        | A::HoldLift
        | A::WebhookResend => Role::Officer,
        A::ApikeyCreate
        | A::ApikeyRevoke
        | A::StaffCreate
        | A::StaffRole
        | A::StaffDisable
        | A::StaffFactorReset
        | A::AlertEdit => Role::Admin,
    }
}

/// A role's place in the order (auditor 0 … admin 3).
pub fn rank(role: Role) -> u8 {
    match role {
        Role::Auditor => 0,
        Role::Helpdesk => 1,
        Role::Officer => 2,
        Role::Admin => 3,
    }
}

/// Whether `role` may do `action`.
pub fn role_may(role: Role, action: StaffAction) -> bool {
    rank(role) >= rank(required_role(action))
}

/// The staff member acting, as the console's session knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staff {
    /// Account row id.
    pub admin_id: i32,
    /// Username (the audit actor is `admin:USERNAME`).
    pub username: String,
    /// What they may do.
    pub role: Role,
    /// Where: one institution, or every one.
    pub reach: KeyReach,
}

impl Staff {
    /// Whether their role allows `action`.
    pub fn may(&self, action: StaffAction) -> bool {
        role_may(self.role, action)
    }

    /// Whether they may act within `inst_rt_id`.
    pub fn reaches(&self, inst_rt_id: &str) -> bool {
        match &self.reach {
            KeyReach::All => true,
            KeyReach::Institution(own) => own == inst_rt_id,
        }
    }

    /// Refuses (fault 2501 with the role needed) an action their role does not allow.
    pub fn require(&self, action: StaffAction) -> Result<(), Error> {
        if self.may(action) {
            Ok(())
        } else {
            Err(denied(action))
        }
    }
}

/// The refusal of an action a role does not allow.
pub fn denied(action: StaffAction) -> Error {
    Error::at(Fault::ScopeDenied, action.as_str()).with_detail(format!(
        "(the {} role or above may do this)",
        required_role(action)
    ))
}

impl Service {
    /// The dual-control settings in force.
    pub fn staff_policy(&self) -> &StaffPolicy {
        &self.staff
    }

    /// Sets the dual-control settings (default: [`StaffPolicy::default`]).
    pub fn with_staff(mut self, staff: StaffPolicy) -> Service {
        self.staff = staff;
        self
    }

    /// Records a refused console action: who, what, and why (`console.denied`, Denied).
    pub fn record_denied(
        &self,
        ctx: &Context,
        what: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let entry = Entry {
            action: AuditAction::ConsoleDenied,
            token_id: None,
            usr_name: None,
            result: AuditResult::Denied,
            detail: Some(what),
        };
        self.storage
            .write(|c| Ok::<_, Error>(audit::record(c, ctx, now, entry)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_may_do_what_the_weaker_ones_may_and_more() {
        for action in StaffAction::ALL {
            let allowed: Vec<Role> = Role::ALL
                .iter()
                .copied()
                .filter(|r| role_may(*r, *action))
                .collect();
            assert!(allowed.contains(&Role::Admin), "{action}");
            let first = rank(allowed[0]);
            assert!(allowed.iter().all(|r| rank(*r) >= first));
            assert_eq!(allowed.len(), 4 - usize::from(first));
        }
        assert!(role_may(Role::Auditor, StaffAction::Read));
        assert!(!role_may(Role::Auditor, StaffAction::TokenUnlock));
        assert!(role_may(Role::Helpdesk, StaffAction::TokenUnlock));
        assert!(!role_may(Role::Helpdesk, StaffAction::TokenDelete));
        assert!(role_may(Role::Officer, StaffAction::PhoneChange));
        assert!(!role_may(Role::Officer, StaffAction::ApikeyCreate));
        assert!(role_may(Role::Admin, StaffAction::StaffRole));
    }

    #[test]
    fn reach_is_one_institution_or_all() {
        let staff = |reach| Staff {
            admin_id: 1,
            username: "kari".into(),
            role: Role::Officer,
            reach,
        };
        assert!(staff(KeyReach::All).reaches("b"));
        assert!(staff(KeyReach::Institution("a".into())).reaches("a"));
        assert!(!staff(KeyReach::Institution("a".into())).reaches("b"));
    }
}
