//! What an audit row records: its action and its outcome. Stored by these spellings,
//! like every `wire_enum!` of [`super`].

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use super::{RsStat, UnknownValue};

wire_enum!(
    /// What an audit row records. The spellings are stored and are what `/audit?Action=`
    /// filters on: NEVER rename one (rows already written keep theirs).
    AuditAction {
        Enroll = "enroll",
        Import = "import",
        Activate = "activate",
        Bind = "bind",
        Validate = "validate",
        ValidateTempcode = "validate.tempcode",
        AutoUnlock = "auto-unlock",
        Resync = "resync",
        Modify = "modify",
        Delete = "delete",
        UserCreate = "user.create",
        PhoneChange = "user.phone",
        HoldLift = "user.hold-lift",
        TempcodeIssue = "tempcode.issue",
        ApikeyCreate = "apikey.create",
        ApikeyRevoke = "apikey.revoke",
        AdminCreate = "admin.create",
        AdminSignin = "admin.signin",
        AdminPassword = "admin.password",
        AdminRole = "admin.role",
        AdminDisable = "admin.disable",
        AdminSessionsEnd = "admin.sessions-end",
        AdminFactor = "admin.factor",
        AdminFactorReset = "admin.factor-reset",
        ConsoleDenied = "console.denied",
        ApprovalRequest = "approval.request",
        ApprovalApprove = "approval.approve",
        ApprovalReject = "approval.reject",
        ApprovalExpire = "approval.expire",
        RekeyStart = "rekey.start",
        RekeyFinish = "rekey.finish",
        OobStart = "oob.start",
        OobResend = "oob.resend",
        OobVerify = "oob.verify",
        OobInbound = "oob.inbound",
        OobExpire = "oob.expire",
        OobPurge = "oob.purge",
        InstitutionCreate = "institution.create",
        SandboxClock = "sandbox.clock",
        WebhookAdd = "webhook.add",
        WebhookRemove = "webhook.remove",
        WebhookRotate = "webhook.rotate",
        WebhookResend = "webhook.resend",
        AlertAdd = "alert.add",
        AlertSubscribe = "alert.subscribe",
        AlertLibrary = "alert.library",
    }
);

wire_enum!(
    /// The outcome an audit row records.
    /// `Denied`: a staff member's role or institution did not allow the action;
    /// `Requested`: an action under dual control waits for a second staff member.
    AuditResult { Success, Failed, Locked, Expired, Denied, Requested }
);

impl From<RsStat> for AuditResult {
    fn from(s: RsStat) -> Self {
        match s {
            RsStat::Success => AuditResult::Success,
            RsStat::Failed => AuditResult::Failed,
            RsStat::Locked => AuditResult::Locked,
        }
    }
}
