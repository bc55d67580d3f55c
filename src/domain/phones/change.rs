//! Changing or removing a user's phone, and lifting the SIM-swap hold: each audited with
//! the masked numbers (never a number in clear), decided by a conditional UPDATE.

use chrono::{DateTime, Utc};

use super::super::audit::{self, Entry};
use super::super::oob::text::SmsTemplate;
use super::super::oob::OobRequest;
use super::super::{to_ms, Context, Error, Fault, Service};
use crate::storage::phones;
use crate::types::{AuditAction, AuditResult, OobModeType, PhoneNum, UsrName};

/// The text of the notice sent to the OLD number after a change.
const NOTICE: &str =
    "Your security phone was changed. If you did not ask for this, call your bank now.";

/// A requested phone change: the new phone, or `None` to remove it.
#[derive(Debug, Clone)]
pub struct PhoneChange {
    /// The user.
    pub usr_name: UsrName,
    /// The ActIntentKey of the user view the change was decided on.
    pub intent_key: String,
    /// The new phone (`None`: remove).
    pub phone: Option<PhoneNum>,
}

fn masked(phone: Option<&str>) -> String {
    phone
        .and_then(PhoneNum::parse)
        .map_or_else(|| "none".to_owned(), |p| p.masked())
}

impl Service {
    /// Changes (or removes) the phone on file; fault 7031 when the user changed since
    /// the key was read. Ends the user's pending OOB sessions, starts the SIM-swap hold
    /// and, if configured, notifies the old number. Setting the phone already on file changes nothing.
    pub fn change_phone(
        &self,
        ctx: &Context,
        rq: &PhoneChange,
        now: DateTime<Utc>,
    ) -> Result<super::UserView, Error> {
        let user = self.find_user(ctx, &rq.usr_name)?;
        let inst = self.institution(ctx).to_owned();
        if !self.is_user_intent_key(&inst, &user, &rq.intent_key) {
            return Err(Error::at(Fault::StaleIntentKey, "ActIntentKey"));
        }
        let new = rq.phone.as_ref().map(PhoneNum::as_str);
        if new == user.phone_num.as_deref() {
            return self.user_view(ctx, &rq.usr_name, now);
        }
        let detail = format!(
            "phone {} -> {}",
            masked(user.phone_num.as_deref()),
            masked(new)
        );
        self.storage.write(|c| {
            let old = user.phone_num.as_deref();
            if !phones::update_user_phone(c, user.id, old, user.phone_changed_at, new, to_ms(now))?
            {
                return Err(Error::at(Fault::StaleIntentKey, "ActIntentKey"));
            }
            // A code sent to the old number must not authenticate after the change.
            self.end_for_phone_change(c, ctx, &user, now)?;
            let entry = Entry {
                action: AuditAction::PhoneChange,
                token_id: None,
                usr_name: Some(&user.usr_name),
                result: AuditResult::Success,
                detail: Some(&detail),
            };
            Ok::<_, Error>(audit::record(c, ctx, now, entry)?)
        })?;
        // The events of the sessions the change ended go to the webhook now.
        self.oob().signal.notify();
        if let Some(old) = user.phone_num.as_deref().and_then(PhoneNum::parse) {
            self.notify_old_phone(ctx, old, now);
        }
        self.user_view(ctx, &rq.usr_name, now)
    }

    /// Sends the change notice to the old number when `phone_change_notice` is on, under
    /// the send caps. Best effort: a refused or failed notice never undoes the change (the
    /// refusal is audited by the OOB start).
    fn notify_old_phone(&self, ctx: &Context, old: PhoneNum, now: DateTime<Utc>) {
        if !self.phones.phone_change_notice {
            return;
        }
        let rq = OobRequest {
            phone: Some(old),
            usr_name: None,
            mode: OobModeType::OneWay,
            template: Some(SmsTemplate {
                text: NOTICE.to_owned(),
                kind: None,
            }),
            exp_secs: super::super::oob::DEFAULT_EXP_SECS,
            recipient: None,
        };
        if let Err(e) = self.start_oob(ctx, &rq, now) {
            tracing::warn!("phone change notice not sent: {e}");
        }
    }

    /// Lifts the SIM-swap hold of a user (audited with the admin's reason).
    pub fn lift_hold(
        &self,
        ctx: &Context,
        usr_name: &UsrName,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<super::UserView, Error> {
        let reason: String = reason.trim().chars().take(200).collect();
        if reason.is_empty() {
            return Err(Error::at(Fault::FieldRequired, "Rsn"));
        }
        let user = self.find_user(ctx, usr_name)?;
        let detail = format!("SIM-swap hold lifted: {reason}");
        self.storage.write(|c| {
            phones::update_user_hold_lifted(c, user.id, to_ms(now))?;
            let entry = Entry {
                action: AuditAction::HoldLift,
                token_id: None,
                usr_name: Some(&user.usr_name),
                result: AuditResult::Success,
                detail: Some(&detail),
            };
            Ok::<_, Error>(audit::record(c, ctx, now, entry)?)
        })?;
        self.user_view(ctx, usr_name, now)
    }
}
