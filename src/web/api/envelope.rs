//! The jXchange envelope: `MsgRqHdr` in, `MsgRsHdr` out, and the JSON body data guard.
//!
//! Every request may carry `MsgRqHdr.jXchangeHdr`; every answer echoes it in
//! `MsgRsHdr.jXchangeHdr`, with a `jXLogTrackingId` generated when the caller sent none.
//! The body guard never fails: it hands the handler the header it could read and either
//! the decoded body or the fault that explains, element by element, why it is not one.

use rocket::data::{self, Data, FromData, ToByteUnit as _};
use rocket::http::{ContentType, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::Cursor;

pub use super::decode::decode;
use crate::domain::{Error, Fault};

/// jXchange `jXchangeHdr`: correlation and audit ids, echoed verbatim.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JxHdr {
    /// jXchange version the consumer speaks.
    #[serde(rename = "JxVer", default, skip_serializing_if = "Option::is_none")]
    pub jx_ver: Option<String>,
    /// User to write in the audit.
    #[serde(
        rename = "AuditUsrId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub audit_usr_id: Option<String>,
    /// Workstation to write in the audit.
    #[serde(rename = "AuditWsId", default, skip_serializing_if = "Option::is_none")]
    pub audit_ws_id: Option<String>,
    /// Consumer business name.
    #[serde(
        rename = "ConsumerName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub consumer_name: Option<String>,
    /// Consumer product name.
    #[serde(
        rename = "ConsumerProd",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub consumer_prod: Option<String>,
    /// Institution routing id.
    #[serde(rename = "InstRtId", default, skip_serializing_if = "Option::is_none")]
    pub inst_rt_id: Option<String>,
    /// Institution environment.
    #[serde(rename = "InstEnv", default, skip_serializing_if = "Option::is_none")]
    pub inst_env: Option<String>,
    /// Governed consumer name.
    #[serde(
        rename = "ValidConsmName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_consm_name: Option<String>,
    /// Governed consumer product.
    #[serde(
        rename = "ValidConsmProd",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_consm_prod: Option<String>,
    /// Trace id of this message; generated when absent.
    #[serde(
        rename = "jXLogTrackingId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub tracking_id: Option<String>,
    /// Business correlation id.
    #[serde(
        rename = "BusCorrelId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub bus_correl_id: Option<String>,
    /// Workflow correlation id.
    #[serde(
        rename = "WorkflowCorrelId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub workflow_correl_id: Option<String>,
    /// Whether `audit_usr_id` was taken from `AuthenUsrCred` (the audit says so).
    #[serde(skip)]
    pub audit_usr_from_cred: bool,
}

impl JxHdr {
    /// A header for a request that sent none (or none we could read).
    pub fn generated() -> JxHdr {
        JxHdr::default().with_tracking_id()
    }

    /// Fills in a tracking id when the consumer sent none.
    fn with_tracking_id(mut self) -> JxHdr {
        if self.tracking_id.as_deref().is_none_or(str::is_empty) {
            self.tracking_id = Some(uuid::Uuid::new_v4().to_string());
        }
        self
    }
}

/// jXchange `MsgRqHdr`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct MsgRqHdr {
    /// The end user's credentials (WS-Security: a `UsernameToken` or SAML assertion);
    /// accepted, NOT verified: its user (`Username`, else `NameID`) is recorded as the
    /// audit user when `AuditUsrId` is empty. Only that user is kept, never the rest
    /// (a `UsernameToken` may hold the end user's password).
    #[serde(
        rename = "AuthenUsrCred",
        default,
        deserialize_with = "deserialize_cred_user"
    )]
    #[schema(value_type = Option<Object>)]
    pub cred_user: Option<String>,
    /// The header proper.
    #[serde(rename = "jXchangeHdr", default)]
    pub jx: JxHdr,
}

impl MsgRqHdr {
    /// The header to act under and echo, on both bindings (SOAP hands its `AuthenUsrCred`
    /// here as a tree): an empty `AuditUsrId` takes the user of `AuthenUsrCred`, so the
    /// audit records who acted; a `jXLogTrackingId` is made when there is none.
    pub fn header(&self) -> JxHdr {
        let mut jx = self.jx.clone();
        if jx.audit_usr_id.as_deref().is_none_or(str::is_empty) && self.cred_user.is_some() {
            jx.audit_usr_id.clone_from(&self.cred_user);
            jx.audit_usr_from_cred = true;
        }
        jx.with_tracking_id()
    }
}

/// Reads `AuthenUsrCred` (any JSON) down to the user it names.
fn deserialize_cred_user<'de, D>(de: D) -> Result<Option<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let cred = serde_json::Value::deserialize(de)?;
    Ok(cred_user(&cred))
}

/// The end user an `AuthenUsrCred` names: the first `Username` (a UsernameToken), else
/// the first `NameID` (a SAML assertion), depth first. Cut one past the longest audit id,
/// so a longer one is refused (2005) rather than silently shortened.
fn cred_user(cred: &serde_json::Value) -> Option<String> {
    ["Username", "NameID"]
        .into_iter()
        .find_map(|name| member_text(cred, name))
        .map(|u| {
            u.chars()
                .take(crate::web::parse::MAX_AUDIT_ID + 1)
                .collect::<String>()
        })
        .filter(|u| !u.is_empty())
}

/// The text of the first member `name`, depth first.
fn member_text<'a>(v: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    match v {
        serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| match v {
            serde_json::Value::String(s) if k == name => Some(s.as_str()),
            other => member_text(other, name),
        }),
        serde_json::Value::Array(items) => items.iter().find_map(|i| member_text(i, name)),
        _ => None,
    }
}

/// jXchange `MsgRec`: one fault record.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MsgRec {
    /// Category: always `Error` here.
    #[serde(rename = "ErrCat")]
    #[schema(schema_with = super::openapi::err_cat)]
    pub err_cat: &'static str,
    /// Code, as text (jXchange codes are text in XML).
    #[serde(rename = "ErrCode")]
    #[schema(schema_with = super::openapi::err_codes)]
    pub err_code: String,
    /// Description.
    #[serde(rename = "ErrDesc")]
    pub err_desc: String,
    /// The element at fault.
    #[serde(rename = "ErrElem", skip_serializing_if = "Option::is_none")]
    pub err_elem: Option<String>,
    /// Its value, when safe to echo.
    #[serde(rename = "ErrElemVal", skip_serializing_if = "Option::is_none")]
    pub err_elem_val: Option<String>,
    /// Where: the service.
    #[serde(rename = "ErrLoc")]
    pub err_loc: &'static str,
}

/// jXchange `MsgRsHdr`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MsgRsHdr<'a> {
    /// The echoed header.
    #[serde(rename = "jXchangeHdr")]
    #[schema(value_type = JxHdr)]
    pub jx: &'a JxHdr,
    /// Faults, if any.
    #[serde(rename = "MsgRecInfoArray", skip_serializing_if = "<[_]>::is_empty")]
    #[schema(value_type = Vec<MsgRec>, required = false)]
    pub records: &'a [MsgRec],
}

#[derive(Serialize)]
struct Envelope<'a, T> {
    #[serde(rename = "MsgRsHdr")]
    hdr: MsgRsHdr<'a>,
    #[serde(flatten)]
    body: &'a T,
}

/// Serializes `{"MsgRsHdr": …, …body}` into a JSON response with `status`.
pub fn json_response<'r, T: Serialize>(
    status: Status,
    jx: &JxHdr,
    records: &[MsgRec],
    body: &T,
) -> response::Result<'r> {
    let envelope = Envelope {
        hdr: MsgRsHdr { jx, records },
        body,
    };
    let bytes = serde_json::to_vec(&envelope).map_err(|_| Status::InternalServerError)?;
    Response::build()
        .status(status)
        .header(ContentType::JSON)
        .sized_body(bytes.len(), Cursor::new(bytes))
        .ok()
}

/// A successful answer: the echoed header and the operation's body.
pub struct Jx<T> {
    /// Echoed header.
    pub hdr: JxHdr,
    /// The answer's elements.
    pub body: T,
}

impl<'r, T: Serialize> Responder<'r, 'static> for Jx<T> {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        json_response(Status::Ok, &self.hdr, &[], &self.body)
    }
}

/// Request bodies expose their header so the answer can echo it.
pub trait HasHeader {
    /// Whether the body is a jXchange operation's, to which the header rules apply
    /// (`jxchange_strict_headers`); the SMS provider's reply webhook is not.
    const JXCHANGE: bool = true;

    /// Whether the operation has the contract's `UsrName`/`AuthenUsrCred` choice (one of
    /// them required under the header rules): MFATokenInq.
    const USR_CHOICE: bool = false;

    /// The request's `MsgRqHdr`.
    fn msg_rq_hdr(&self) -> &MsgRqHdr;
}

/// A decoded request: the header to echo, and the body or the fault explaining why not.
pub struct JxRequest<T> {
    /// Header to echo (tracking id filled in).
    pub hdr: JxHdr,
    /// The body, or why it is not one.
    pub body: Result<T, Error>,
}

#[rocket::async_trait]
impl<'r, T: DeserializeOwned + HasHeader + Send> FromData<'r> for JxRequest<T> {
    type Error = std::convert::Infallible;

    async fn from_data(req: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        let limit = req.limits().get("json").unwrap_or_else(|| 64.kibibytes());
        let read = data.open(limit).into_bytes().await;
        let outcome = match read {
            Ok(bytes) if bytes.is_complete() => {
                let mut rq = decode(&bytes);
                apply_strict_rules(req, &bytes, &mut rq);
                if T::JXCHANGE {
                    super::idempotency::admit(req, &bytes, &mut rq.body).await;
                }
                rq
            }
            Ok(_) => JxRequest {
                hdr: JxHdr::generated(),
                body: Err(Error::fault(Fault::BodyTooLarge).with_detail(format!("limit {limit}"))),
            },
            Err(_) => JxRequest {
                hdr: JxHdr::generated(),
                body: Err(Error::fault(Fault::MalformedBody)),
            },
        };
        remember_tracking_id(req, &outcome.hdr);
        data::Outcome::Success(outcome)
    }
}

/// What the header rules need of a JSON body: whether it has `MsgRqHdr.jXchangeHdr` (and
/// `AuthenUsrCred`), and what its body names that the header names too (OOBValidate's
/// `InstRtId` and `ConsumerProd`) or that a choice needs (`UsrName`).
#[derive(Deserialize)]
struct Presence {
    #[serde(rename = "MsgRqHdr", default)]
    hdr: Option<PresenceHdr>,
    #[serde(rename = "InstRtId", default)]
    inst_rt_id: Option<serde_json::Value>,
    #[serde(rename = "ConsumerProd", default)]
    consumer_prod: Option<serde_json::Value>,
    #[serde(rename = "UsrName", default)]
    usr_name: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct PresenceHdr {
    #[serde(rename = "jXchangeHdr", default)]
    jx: Option<serde::de::IgnoredAny>,
    #[serde(rename = "AuthenUsrCred", default)]
    cred: Option<serde::de::IgnoredAny>,
}

/// With `jxchange_strict_headers`, a decoded body whose header breaks the published rules
/// becomes that fault (`hdr_rules`); without it (the default) nothing changes.
fn apply_strict_rules<T: HasHeader>(req: &Request<'_>, bytes: &[u8], rq: &mut JxRequest<T>) {
    let strict = T::JXCHANGE
        && req
            .rocket()
            .state::<super::hdr_rules::HeaderRules>()
            .is_some_and(|r| r.json_strict);
    if !strict || rq.body.is_err() {
        return;
    }
    let seen = serde_json::from_slice::<Presence>(bytes).ok();
    let present = seen
        .as_ref()
        .and_then(|p| p.hdr.as_ref())
        .is_some_and(|h| h.jx.is_some());
    let choice_made = seen
        .as_ref()
        .is_some_and(|p| p.usr_name.is_some() || p.hdr.as_ref().is_some_and(|h| h.cred.is_some()));
    let text = |v: Option<serde_json::Value>| v.and_then(|v| v.as_str().map(str::to_owned));
    let (inst, prod) = match seen {
        Some(p) => (text(p.inst_rt_id), text(p.consumer_prod)),
        None => (None, None),
    };
    let body = super::hdr_rules::BodyIds {
        inst_rt_id: inst.as_deref(),
        consumer_prod: prod.as_deref(),
        usr_choice: T::USR_CHOICE.then_some(choice_made),
    };
    if let Err(e) = super::hdr_rules::check(present, &rq.hdr, body) {
        rq.body = Err(e);
    }
}

/// The request's `jXLogTrackingId`, kept in the request's local cache so the access log
/// line and the answer carry the same id.
#[derive(Debug, Clone, Default)]
pub struct TrackingId(pub Option<String>);

/// Caches the header's tracking id for the access log (the first one set wins).
pub(crate) fn remember_tracking_id(req: &Request<'_>, hdr: &JxHdr) {
    req.local_cache(|| TrackingId(hdr.tracking_id.clone()));
}

/// For routes without a JSON body: a fresh header whose `jXLogTrackingId` is the one the
/// access log writes for this request, and whose `InstRtId` is the `InstRtId` query
/// parameter, if any (a GET has no `MsgRqHdr` to carry it).
#[rocket::async_trait]
impl<'r> rocket::request::FromRequest<'r> for JxHdr {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> rocket::request::Outcome<Self, Self::Error> {
        let mut hdr = JxHdr::generated();
        hdr.inst_rt_id = req
            .query_value::<&str>("InstRtId")
            .and_then(Result::ok)
            .map(|s| s.chars().take(128).collect());
        remember_tracking_id(req, &hdr);
        rocket::request::Outcome::Success(hdr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Probe {
        #[serde(rename = "MsgRqHdr", default)]
        hdr: MsgRqHdr,
        #[serde(rename = "TokenId")]
        #[expect(dead_code, reason = "decoded only to test the classification")]
        token_id: String,
        #[serde(rename = "ActIntent", default)]
        #[expect(dead_code, reason = "decoded only to test the classification")]
        intent: Option<crate::types::ActIntent>,
        #[serde(rename = "Digits", default)]
        #[expect(dead_code, reason = "decoded only to test the classification")]
        digits: Option<crate::types::Digits>,
    }

    impl HasHeader for Probe {
        fn msg_rq_hdr(&self) -> &MsgRqHdr {
            &self.hdr
        }
    }

    fn fault_of(json: &str) -> (Fault, Option<String>) {
        match decode::<Probe>(json.as_bytes()).body {
            Err(Error::Fault { fault, elem, .. }) => (fault, elem),
            other => panic!("expected a fault, got {other:?}"),
        }
    }

    #[test]
    fn each_kind_of_bad_body_gets_its_fault_and_element() {
        assert_eq!(fault_of("{").0, Fault::MalformedBody);
        assert_eq!(
            fault_of(r#"{"TokenId":"a"} trailing"#).0,
            Fault::MalformedBody
        );
        assert_eq!(fault_of("{}"), (Fault::IdRequired, Some("TokenId".into())));
        assert_eq!(
            fault_of(r#"{"TokenId":"a","ActIntent":"Delete"}"#),
            (Fault::EnumValue, Some("ActIntent".into()))
        );
        assert_eq!(
            fault_of(r#"{"TokenId":"a","Digits":7}"#),
            (Fault::InvalidValue, Some("Digits".into()))
        );
        assert_eq!(
            fault_of(r#"{"TokenId":5}"#),
            (Fault::InvalidValue, Some("TokenId".into()))
        );
        assert_eq!(
            fault_of(r#"{"TokenId":"a","Bogus":1}"#),
            (Fault::UnknownElement, Some("Bogus".into()))
        );
    }

    #[test]
    fn the_header_is_echoed_even_when_the_body_is_bad() {
        let rq = decode::<Probe>(
            br#"{"MsgRqHdr":{"jXchangeHdr":{"jXLogTrackingId":"T-1","AuditUsrId":"u"}},"Bogus":1}"#,
        );
        assert!(rq.body.is_err());
        assert_eq!(rq.hdr.tracking_id.as_deref(), Some("T-1"));
        assert_eq!(rq.hdr.audit_usr_id.as_deref(), Some("u"));
    }

    #[test]
    fn authen_usr_cred_names_the_audit_user_when_audit_usr_id_is_empty() {
        let audit = |json: String| decode::<Probe>(json.as_bytes()).hdr.audit_usr_id;
        let with = |cred: serde_json::Value, hdr: serde_json::Value, body: serde_json::Value| {
            let mut rq =
                serde_json::json!({"MsgRqHdr": {"AuthenUsrCred": cred, "jXchangeHdr": hdr}});
            rq.as_object_mut()
                .unwrap()
                .extend(body.as_object().unwrap().clone());
            rq.to_string()
        };
        let token = serde_json::json!({"Security": {"UsernameToken": {"Username": "jdoe", "Password": "pw"}}});
        let saml = serde_json::json!({"Assertion": {"Subject": {"NameID": "asmith"}}});
        let ok = serde_json::json!({"TokenId": "a"});
        let empty = serde_json::json!({"AuditUsrId": ""});
        let named = serde_json::json!({"AuditUsrId": "t7"});
        let none = serde_json::json!({});
        assert_eq!(
            audit(with(token.clone(), none.clone(), ok.clone())).as_deref(),
            Some("jdoe")
        );
        assert_eq!(
            audit(with(saml, empty, ok.clone())).as_deref(),
            Some("asmith")
        );
        assert_eq!(
            audit(with(token.clone(), named, ok.clone())).as_deref(),
            Some("t7")
        );
        assert_eq!(audit(with("opaque".into(), none.clone(), ok)), None);
        // A body that fails to decode still echoes the header it names.
        let bad = serde_json::json!({"Bogus": 1});
        assert_eq!(audit(with(token, none, bad)).as_deref(), Some("jdoe"));
    }

    #[test]
    fn a_tracking_id_is_generated_when_absent() {
        let rq = decode::<Probe>(br#"{"TokenId":"a"}"#);
        assert!(rq.body.is_ok());
        assert_eq!(rq.hdr.tracking_id.unwrap().len(), 36);
    }
}
