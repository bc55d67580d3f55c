//! The OOBValidate request on the wire (JSON, and SOAP through it), read into the
//! domain's `OobRequest`: the explicit mode (`PhoneNum`, `SMSText`, `UsrName`) and the
//! recipient mode (`ConsmRecipId`, `AlrtName`, `PubVer`; issue 28), whose rules (never
//! mixed: 3154) the domain applies.

use serde::Deserialize;

use super::envelope::{HasHeader, MsgRqHdr};
use crate::domain::alerts::check_alert_name;
use crate::domain::api_keys::{ApiCaller, Scope};
use crate::domain::oob::text::parse_template;
use crate::domain::oob::{OobRequest, RecipientRq, DEFAULT_EXP_SECS};
use crate::domain::{Error, Fault};
use crate::types::{OobModeType, UsrName};
use crate::web::parse::{parse_phone, parse_usr_name};

/// jXchange OOBValidate request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = OOBValidateRq)]
pub struct OobValidateRq {
    #[serde(rename = "MsgRqHdr", default)]
    hdr: MsgRqHdr,
    // The seed's order (JSON's key order is free; the WSDL's sequence is this one).
    #[serde(rename = "InstRtId", default)]
    pub(super) inst_rt_id: Option<String>,
    #[serde(rename = "ConsumerProd", default)]
    _consumer_prod: Option<String>,
    /// Recipient mode: the recipient's `UsrName` in the request's institution (the code
    /// goes to their phone on file). Never with `PhoneNum`, `SMSText` or `UsrName` (3154).
    #[serde(rename = "ConsmRecipId", default)]
    #[schema(max_length = 128)]
    consm_recip_id: Option<String>,
    /// Recipient mode: an alert of the institution's library (`tokend alert add`) the
    /// recipient is subscribed to; without it, the system default text.
    #[serde(rename = "AlrtName", default)]
    #[schema(max_length = 64)]
    alrt_name: Option<String>,
    /// Recipient mode: a version of `AlrtName` (default: the latest).
    #[serde(rename = "PubVer", default)]
    #[schema(minimum = 1)]
    pub_ver: Option<i64>,
    #[serde(rename = "PhoneNum", default)]
    #[schema(pattern = "^[0-9]{10}$", example = "4175556652")]
    phone: Option<String>,
    #[serde(rename = "UsrName", default)]
    #[schema(
        pattern = "^[^\\s:\\x00-\\x1f\\x7f-\\x9f]([^:\\x00-\\x1f\\x7f-\\x9f]*[^\\s:\\x00-\\x1f\\x7f-\\x9f])?$",
        max_length = 128,
        example = "jdoe"
    )]
    usr_name: Option<String>,
    #[serde(rename = "OOBModeType", default)]
    mode: Option<OobModeType>,
    #[serde(rename = "SMSText", default)]
    sms_text: Option<String>,
    #[serde(rename = "ExpSec", default)]
    #[schema(minimum = 15, maximum = 1800)]
    exp_secs: Option<i64>,
    #[serde(rename = "Custom", default)]
    #[schema(value_type = Option<Object>)]
    _custom: Option<serde_json::Value>,
}

impl HasHeader for OobValidateRq {
    fn msg_rq_hdr(&self) -> &MsgRqHdr {
        &self.hdr
    }
}

pub(super) fn oob_request(rq: OobValidateRq) -> Result<OobRequest, Error> {
    let exp_secs = match rq.exp_secs {
        None => DEFAULT_EXP_SECS,
        // Negative: out of range like any other value (3160), not a type error.
        Some(n) => u64::try_from(n).unwrap_or(0),
    };
    Ok(OobRequest {
        phone: rq.phone.as_deref().map(parse_phone).transpose()?,
        usr_name: rq.usr_name.as_deref().map(parse_usr_name).transpose()?,
        mode: rq.mode.unwrap_or(OobModeType::TwoWay),
        template: rq.sms_text.as_deref().map(parse_template).transpose()?,
        exp_secs,
        recipient: recipient_of(rq.consm_recip_id, rq.alrt_name, rq.pub_ver)?,
    })
}

/// The recipient-mode elements, when any is present.
fn recipient_of(
    consm_recip_id: Option<String>,
    alrt_name: Option<String>,
    pub_ver: Option<i64>,
) -> Result<Option<RecipientRq>, Error> {
    if consm_recip_id.is_none() && alrt_name.is_none() && pub_ver.is_none() {
        return Ok(None);
    }
    let consm_recip_id = match consm_recip_id.as_deref() {
        None => None,
        Some("") => return Err(Error::at(Fault::FieldRequired, "ConsmRecipId")),
        Some(id) => Some(UsrName::parse(id).ok_or_else(|| {
            Error::at(Fault::InvalidValue, "ConsmRecipId")
                .with_detail("(a UsrName: 1-128 characters, no control characters, no colon)")
        })?),
    };
    if let Some(name) = &alrt_name {
        check_alert_name(name, "AlrtName")?;
    }
    Ok(Some(RecipientRq {
        consm_recip_id,
        alrt_name,
        pub_ver,
    }))
}

/// A OneWay text of the consumer's own is a message relayed to any number, with no code
/// to verify: only a key with the `sms` scope may send one (a `validate` key sends codes).
pub(super) fn may_send_text(caller: &ApiCaller, rq: &OobRequest) -> Result<(), Error> {
    let free_text = rq.mode == OobModeType::OneWay && rq.template.is_some();
    if free_text && !caller.scopes.contains(&Scope::Sms) {
        return Err(Error::at(Fault::ScopeDenied, "SMSText")
            .with_detail("(a OneWay SMSText of your own needs the sms scope)"));
    }
    Ok(())
}
