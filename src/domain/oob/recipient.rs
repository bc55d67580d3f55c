//! OOBValidate's recipient/subscription mode (issue 28): `ConsmRecipId`, optionally
//! `AlrtName` (and `PubVer`) from the institution's library (`domain::alerts`), instead of
//! the explicit `PhoneNum` + `SMSText`.
//!
//! Decisions (docs/api.md, "Recipient mode"):
//! - `ConsmRecipId` is the recipient's `UsrName` in the request's institution: tokend's
//!   users are the institution's ENS recipients, and the code goes to their phone on
//!   file. No second identifier to keep in step.
//! - The two modes are never mixed (3154, as the seeds say): with `ConsmRecipId` or
//!   `AlrtName`, a `PhoneNum`, `SMSText` or `UsrName` is refused naming it.
//! - Without `AlrtName` the recipient gets the system default text, library or not
//!   (the seeds' FAQ); a library closed to OOB refuses both (3155).
//! - With `AlrtName`: no library is 3126, an unknown name 3121, a `PubVer` that is not
//!   one of its versions 3124 (default: the latest), and a recipient not subscribed to
//!   the alert 3121 too ("not valid for the applicable publisher library" for them).
//!
//! Everything else (expiry, TwoWay's tag, caps, the SIM-swap hold) is the explicit
//! path's: the request is resolved into an explicit one for the user. Imports: storage.

use super::text::{parse_template, SmsTemplate};
use super::OobRequest;
use crate::domain::{Context, Error, Fault, Service};
use crate::storage::{alerts, users};
use crate::types::UsrName;

/// The recipient-mode elements of a request, present when any of them is.
#[derive(Debug, Clone, Default)]
pub struct RecipientRq {
    /// jXchange `ConsmRecipId`: the recipient's `UsrName`.
    pub consm_recip_id: Option<UsrName>,
    /// jXchange `AlrtName`: an alert of the institution's library.
    pub alrt_name: Option<String>,
    /// jXchange `PubVer`: a version of `AlrtName` (default: the latest).
    pub pub_ver: Option<i64>,
}

/// A request naming both modes (3154), at the explicit element.
fn mixed(elem: &str) -> Error {
    Error::at(Fault::PhoneRequired, elem).with_detail(
        "(recipient mode (ConsmRecipId, AlrtName) and explicit mode (PhoneNum, SMSText, \
         UsrName) are never mixed)",
    )
}

impl Service {
    /// The explicit request a recipient-mode request stands for, with what it named for
    /// the audit (`None`: it is explicit).
    pub(super) fn resolve_recipient(
        &self,
        ctx: &Context,
        rq: &OobRequest,
    ) -> Result<Option<(OobRequest, String)>, Error> {
        let Some(r) = &rq.recipient else {
            return Ok(None);
        };
        let explicit = [
            (rq.phone.is_some(), "PhoneNum"),
            (rq.template.is_some(), "SMSText"),
            (rq.usr_name.is_some(), "UsrName"),
        ];
        if let Some((_, elem)) = explicit.iter().find(|(present, _)| *present) {
            return Err(mixed(elem));
        }
        let Some(recip) = &r.consm_recip_id else {
            return Err(Error::at(Fault::FieldRequired, "ConsmRecipId")
                .with_detail("(an AlrtName is sent to a subscribed recipient, ConsmRecipId)"));
        };
        if r.alrt_name.is_none() {
            if let Some(v) = r.pub_ver {
                return Err(Error::at(Fault::PubVerInvalid, "PubVer")
                    .with_value(v.to_string())
                    .with_detail("(PubVer names a version of an AlrtName)"));
            }
        }
        let inst = self.institution(ctx).to_owned();
        let user = self
            .storage
            .read(|c| users::find_user(c, &inst, recip.as_str()))?
            .ok_or_else(|| {
                Error::at(Fault::UserNotFound, "ConsmRecipId").with_value(recip.as_str())
            })?;
        let (template, named) = match self.library_text(&inst, &user, r)? {
            Some((template, ver)) => {
                let name = r.alrt_name.as_deref().unwrap_or_default();
                (
                    Some(template),
                    format!("recipient: alert {name} PubVer {ver}"),
                )
            }
            None => (None, "recipient: system default text".to_owned()),
        };
        if user.phone_num.is_none() {
            return Err(Error::at(Fault::PhoneRequired, "ConsmRecipId")
                .with_value(recip.as_str())
                .with_detail("(the recipient has no phone on file)"));
        }
        let usr_name = UsrName::parse(&user.usr_name)
            .ok_or_else(|| Error::Internal("a stored UsrName does not parse".into()))?;
        let explicit = OobRequest {
            phone: None,
            usr_name: Some(usr_name),
            mode: rq.mode,
            template,
            exp_secs: rq.exp_secs,
            recipient: None,
        };
        Ok(Some((explicit, named)))
    }

    /// The text of `r`'s alert for `user` and its `PubVer` (`None`: the system default),
    /// after the library's checks (3155, 3126, 3121, 3124, subscription).
    fn library_text(
        &self,
        inst: &str,
        user: &users::User,
        r: &RecipientRq,
    ) -> Result<Option<(SmsTemplate, i32)>, Error> {
        let library = self.storage.read(|c| alerts::find_library(c, inst))?;
        if library == Some(false) {
            let elem = if r.alrt_name.is_some() {
                "AlrtName"
            } else {
                "ConsmRecipId"
            };
            return Err(Error::at(Fault::OobNotEnabled, elem)
                .with_detail(format!("(the alert library of {inst} is closed to OOB)")));
        }
        let Some(name) = &r.alrt_name else {
            return Ok(None);
        };
        if library.is_none() {
            return Err(Error::at(Fault::NoPublisherLibrary, "AlrtName")
                .with_value(name.chars().take(64).collect::<String>())
                .with_detail(format!("(institution {inst} has no alert library)")));
        }
        let (versions, subscribed) = self.storage.read(|c| {
            Ok::<_, crate::storage::Error>((
                alerts::find_alert_versions(c, inst, name)?,
                alerts::is_subscribed(c, user.id, name)?,
            ))
        })?;
        let unknown = || {
            Error::at(Fault::AlertNameInvalid, "AlrtName")
                .with_value(name.chars().take(64).collect::<String>())
        };
        let latest = versions.first().ok_or_else(unknown)?;
        let chosen = match r.pub_ver {
            None => latest,
            Some(v) => versions
                .iter()
                .find(|t| i64::from(t.pub_ver) == v)
                .ok_or_else(|| {
                    Error::at(Fault::PubVerInvalid, "PubVer")
                        .with_value(v.to_string())
                        .with_detail(format!("(versions of this alert: 1 to {})", latest.pub_ver))
                })?,
        };
        if !subscribed {
            return Err(unknown().with_detail("(the recipient is not subscribed to this alert)"));
        }
        Ok(Some((parse_template(&chosen.text)?, chosen.pub_ver)))
    }
}
