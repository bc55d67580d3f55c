//! Each institution's library of named alert texts (jXchange's ENS publisher library) and
//! its users' subscriptions, for OOBValidate's recipient mode (issue 28; the request side
//! is `oob::recipient`).
//!
//! - A text is checked as an `SMSText` is (3156 both tags, 3157 another tag, no URL
//!   unless `sms_text_allow_urls`), when it is added rather than on every send.
//! - Adding a name again adds its next version (`PubVer` n+1); versions are never
//!   changed or removed, so a consumer that pins one keeps sending exactly that text.
//! - The first `alert add` of an institution deploys its library, open to OOB; an
//!   operator may close it (fault 3155) and open it again, the texts kept.
//! - A user is subscribed to a name (every version): only a subscribed recipient is sent
//!   a library alert, as jXchange says.
//!
//! Every change is audited. Imports: storage.

use chrono::{DateTime, Utc};

use super::api_keys::is_inst_rt_id;
use super::audit::{self, Entry};
use super::oob::text::parse_template;
use super::staff::requests::{Done, StaffRequest};
use super::{to_ms, Context, Error, Fault, Service};
use crate::storage::{alerts, users};
use crate::types::{AuditAction, AuditResult};

pub use crate::storage::alerts::AlertText;

/// Longest `AlrtName`.
pub const MAX_ALERT_NAME: usize = 64;

/// Checks an `AlrtName` (fault 7001 at `elem`): 1-64 characters, no control characters,
/// no surrounding spaces.
pub fn check_alert_name(name: &str, elem: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_ALERT_NAME
        && name.trim() == name
        && !name.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(Error::at(Fault::InvalidValue, elem)
            .with_value(name.chars().take(MAX_ALERT_NAME).collect::<String>())
            .with_detail(format!(
                "(1-{MAX_ALERT_NAME} characters, no control characters or surrounding spaces)"
            )))
    }
}

fn check_inst(inst: &str) -> Result<(), Error> {
    if is_inst_rt_id(inst) {
        Ok(())
    } else {
        Err(Error::at(Fault::InvalidValue, "InstRtId")
            .with_detail("(1-64 characters of A-Z a-z 0-9 . _ -)"))
    }
}

/// The audit context of a library change: the institution's.
fn within(ctx: &Context, inst: &str) -> Context {
    Context {
        inst_rt_id: Some(inst.to_owned()),
        ..ctx.clone()
    }
}

fn entry<'a>(action: AuditAction, usr_name: Option<&'a str>, detail: &'a str) -> Entry<'a> {
    Entry {
        action,
        token_id: None,
        usr_name,
        result: AuditResult::Success,
        detail: Some(detail),
    }
}

impl Service {
    /// Adds `name`'s next version to `inst`'s library (deploying the library on the first
    /// alert); answers its `PubVer`.
    pub fn add_alert(
        &self,
        ctx: &Context,
        inst: &str,
        name: &str,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<i32, Error> {
        check_inst(inst)?;
        check_alert_name(name, "AlrtName")?;
        let template = parse_template(text)?;
        // Refused now rather than at every send (where it would name SMSText).
        if !self.oob().policy.guard.allow_urls && super::oob::guard::has_url(&template.text) {
            return Err(Error::at(Fault::InvalidValue, "text")
                .with_detail("(no URL in an SMS text unless sms_text_allow_urls)"));
        }
        let ctx = within(ctx, inst);
        self.storage.write(|c| {
            alerts::insert_library(c, inst, to_ms(now))?;
            let ver = alerts::insert_alert_text(c, inst, name, &template.text, to_ms(now))?;
            let detail = format!("{name} PubVer {ver}");
            audit::record(c, &ctx, now, entry(AuditAction::AlertAdd, None, &detail))?;
            Ok::<_, Error>(ver)
        })
    }

    /// Every version of every alert of `inst`'s library, and whether it is open to OOB
    /// (`None`: no library).
    pub fn alert_library(&self, inst: &str) -> Result<(Option<bool>, Vec<AlertText>), Error> {
        Ok(self.storage.read(|c| {
            Ok::<_, crate::storage::Error>((
                alerts::find_library(c, inst)?,
                alerts::find_alert_texts(c, inst)?,
            ))
        })?)
    }

    /// Opens or closes `inst`'s library to OOB validation (closed: fault 3155).
    pub fn set_alert_library_oob(
        &self,
        ctx: &Context,
        inst: &str,
        enabled: bool,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        check_inst(inst)?;
        let ctx = within(ctx, inst);
        self.storage.write(|c| {
            if !alerts::update_library_oob(c, inst, enabled)? {
                return Err(Error::at(Fault::NoPublisherLibrary, "InstRtId").with_value(inst));
            }
            let detail = format!("OOB {}", if enabled { "enabled" } else { "disabled" });
            audit::record(
                c,
                &ctx,
                now,
                entry(AuditAction::AlertLibrary, None, &detail),
            )?;
            Ok(())
        })
    }

    /// Subscribes (or with `subscribe` false unsubscribes) user `usr_name` of `inst` to
    /// alert `name`, which the library must hold (3126, 3121); answers whether anything
    /// changed.
    pub fn subscribe_alert(
        &self,
        ctx: &Context,
        (inst, usr_name): (&str, &str),
        name: &str,
        subscribe: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        check_inst(inst)?;
        check_alert_name(name, "AlrtName")?;
        let ctx = within(ctx, inst);
        self.storage.write(|c| {
            if alerts::find_library(c, inst)?.is_none() {
                return Err(Error::at(Fault::NoPublisherLibrary, "InstRtId").with_value(inst));
            }
            if alerts::find_alert_versions(c, inst, name)?.is_empty() {
                return Err(Error::at(Fault::AlertNameInvalid, "AlrtName").with_value(name));
            }
            let user = users::find_user(c, inst, usr_name)?
                .ok_or_else(|| Error::at(Fault::UserNotFound, "UsrName").with_value(usr_name))?;
            let changed = if subscribe {
                alerts::insert_subscription(c, user.id, name, to_ms(now))?
            } else {
                alerts::delete_subscription(c, user.id, name)?
            };
            let detail = format!(
                "{} {name}",
                if subscribe {
                    "subscribed to"
                } else {
                    "unsubscribed from"
                }
            );
            let row = entry(AuditAction::AlertSubscribe, Some(&user.usr_name), &detail);
            audit::record(c, &ctx, now, row)?;
            Ok(changed)
        })
    }

    /// The `UsrName`s of `inst` subscribed to alert `name`.
    pub fn alert_subscribers(&self, inst: &str, name: &str) -> Result<Vec<String>, Error> {
        Ok(self
            .storage
            .read(|c| alerts::find_subscribers(c, inst, name))?)
    }

    /// Every subscription of `inst`'s users, as (alert name, user name), by name.
    pub fn alert_subscriptions(&self, inst: &str) -> Result<Vec<(String, String)>, Error> {
        Ok(self
            .storage
            .read(|c| alerts::find_all_subscribers(c, inst))?)
    }
}

impl Service {
    /// Runs an `alert.edit` request (at once, or as approved under dual control) within
    /// its institution.
    pub(super) fn perform_alert(
        &self,
        ctx: &Context,
        rq: &StaffRequest,
        now: DateTime<Utc>,
    ) -> Result<Done, Error> {
        let inst = ctx
            .inst_rt_id
            .clone()
            .ok_or_else(|| Error::at(Fault::FieldRequired, "InstRtId"))?;
        let message = match rq {
            StaffRequest::AlertAdd { name, text } => {
                let ver = self.add_alert(ctx, &inst, name, text, now)?;
                format!("Alert {name} PubVer {ver} is added.")
            }
            StaffRequest::AlertLibrary { enabled } => {
                self.set_alert_library_oob(ctx, &inst, *enabled, now)?;
                let said = if *enabled { "open to" } else { "closed to" };
                format!("The library is {said} OOB.")
            }
            _ => return Err(Error::Internal("perform_alert on another request".into())),
        };
        Ok(Done {
            message,
            secret: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::{ctx, service};

    #[test]
    fn alert_texts_are_checked_like_sms_texts_and_versioned() {
        let (_dir, s) = service();
        let now = Utc::now();
        let add = |name: &str, text: &str| s.add_alert(&ctx(), "011000015", name, text, now);
        assert_eq!(add("Login", "Code <%$otp%>").unwrap(), 1);
        assert_eq!(add("Login", "Your code <%$otp%>").unwrap(), 2);
        let both = add("Bad", "<%$otp%> <%$otpa%>").unwrap_err();
        assert_eq!(both.kind(), Fault::SmsTextBothTags);
        let other = add("Bad", "<%$name%> <%$otp%>").unwrap_err();
        assert_eq!(other.kind(), Fault::SmsTextOtherTag);
        assert_eq!(add(" sp", "x").unwrap_err().kind(), Fault::InvalidValue);
        let url = add("Url", "Go to https://evil.example <%$otp%>").unwrap_err();
        assert_eq!(url.kind(), Fault::InvalidValue);
        let (open, texts) = s.alert_library("011000015").unwrap();
        assert_eq!((open, texts.len()), (Some(true), 2));
        let none = s.subscribe_alert(&ctx(), ("nolib", "ann"), "Login", true, now);
        assert_eq!(none.unwrap_err().kind(), Fault::NoPublisherLibrary);
        let unknown = s.subscribe_alert(&ctx(), ("011000015", "ann"), "Wire", true, now);
        assert_eq!(unknown.unwrap_err().kind(), Fault::AlertNameInvalid);
    }
}
