//! The staff console's vocabulary (issues 24 and 25): roles, the actions the role table
//! and dual control name, and where a dual-control request stands. Stored and configured
//! by these spellings, like every `wire_enum!` of [`super`].

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use super::UnknownValue;

wire_enum!(
    /// A staff member's role in the console, weakest first: each role may do what the one
    /// before it may, and more (`domain::staff` holds the table of who may do what).
    Role { Auditor = "auditor", Helpdesk = "helpdesk", Officer = "officer", Admin = "admin" }
);

wire_enum!(
    /// What a staff member does in the console: the names the role table, the
    /// `dual_control` setting, the approvals and the `console.denied` audit rows use.
    /// NEVER rename one (settings and stored requests name them).
    StaffAction {
        Read = "console.read",
        TokenUnlock = "token.unlock",
        TokenResync = "token.resync",
        TempcodeIssue = "tempcode.issue",
        SmsTest = "sms.test",
        UserCreate = "user.create",
        TokenEnroll = "token.enroll",
        TokenBind = "token.bind",
        TokenDisable = "token.disable",
        TokenDelete = "token.delete",
        HardwareImport = "hardware.import",
        PhoneChange = "phone.change",
        HoldLift = "hold.lift",
        ApikeyCreate = "apikey.create",
        ApikeyRevoke = "apikey.revoke",
        StaffCreate = "staff.create",
        StaffRole = "staff.role",
        StaffDisable = "staff.disable",
        StaffFactorReset = "staff.mfa_reset",
        WebhookResend = "webhook.resend",
        AlertEdit = "alert.edit",
    }
);

wire_enum!(
    /// Where a dual-control request stands: Pending until a second staff member approves
    /// or rejects it, or it expires; Failed when it was approved but the action refused
    /// (the target changed since the request, or the action's own rules).
    ApprovalState {
        Pending = "pending",
        Approved = "approved",
        Rejected = "rejected",
        Expired = "expired",
        Failed = "failed",
    }
);
