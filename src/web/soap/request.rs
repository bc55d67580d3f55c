//! Reading a SOAP request at the edge: the `Bearer` key, and the data guard that takes
//! the envelope apart (operation, body element, header) before the handler runs, so
//! the access log line carries the request's `jXLogTrackingId`.
//! Imports: rocket, serde_json, the JSON API's header and fault types.

use rocket::data::{self, Data, FromData, ToByteUnit as _};
use rocket::request::{FromRequest, Outcome, Request};
use serde_json::Value;

use super::answer::{FaultCode, SoapFault};
use super::envelope;
use super::ops::{self, Op};
use super::xml::{self, Node};
use crate::domain::{Error, Fault};
use crate::web::api::envelope::{remember_tracking_id, JxHdr, MsgRqHdr};
use crate::web::api::fault::ApiFault;

/// The `Authorization: Bearer` key, if any (a UsernameToken in the envelope wins).
pub struct Bearer(pub Option<String>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Bearer {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let key = req
            .headers()
            .get_one("Authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(|k| k.trim().to_owned());
        Outcome::Success(Bearer(key))
    }
}

/// A SOAP request read and taken apart by its data guard (so the access log line
/// carries its `jXLogTrackingId`), or the fault saying why it is not one. The body is
/// read up to the `soap` limit (else `json`'s, else 64 KiB), never further: 7002 above.
pub struct SoapRequest(pub Result<Parsed, SoapFault>);

/// What the endpoint needs of a request's envelope.
pub struct Parsed {
    pub op: &'static Op,
    /// The body's operation element (the path element still in it), read into the
    /// operation's request type by `de` once the caller is known.
    pub body: Node,
    /// Whether it had `MsgRqHdr/jXchangeHdr`.
    pub present: bool,
    pub hdr: JxHdr,
    /// The WS-Security header (the API key, nonce, timestamp).
    pub security: super::wssec::WsSecurity,
    /// Whether `MsgRqHdr` carried `AuthenUsrCred`.
    pub has_cred: bool,
    /// The WS-Addressing `MessageID`, the retry's idempotency key.
    pub message_id: Option<String>,
    /// Whether the body element was the tutorial's `<Op>Rq` (answered `<Op>Rs`).
    pub alias: bool,
}

impl Parsed {
    /// The answer's root element: `<Op>Response`, or `<Op>Rs` for an `<Op>Rq`.
    pub fn answer_name(&self) -> String {
        let tail = if self.alias { "Rs" } else { "Response" };
        format!("{}{tail}", self.op.name)
    }
}

#[rocket::async_trait]
impl<'r> FromData<'r> for SoapRequest {
    type Error = std::convert::Infallible;

    async fn from_data(req: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        let limits = req.limits();
        let limit = limits
            .get("soap")
            .or_else(|| limits.get("json"))
            .unwrap_or_else(|| 64.kibibytes());
        let body = match data.open(limit).into_bytes().await {
            Ok(bytes) if bytes.is_complete() => Ok(bytes.into_inner()),
            Ok(_) => Err(Error::fault(Fault::BodyTooLarge).with_detail(format!("limit {limit}"))),
            Err(_) => Err(Error::fault(Fault::MalformedBody)),
        };
        let action = req
            .headers()
            .get_one("SOAPAction")
            .map(|a| a.trim().trim_matches('"').to_owned());
        let parsed = read(body, action.as_deref());
        let hdr = match &parsed {
            Ok(p) => &p.hdr,
            Err(f) => &*f.fault.hdr,
        };
        remember_tracking_id(req, hdr);
        data::Outcome::Success(SoapRequest(parsed))
    }
}

/// Takes a request apart: the document, then its `jXchangeHdr` (read first, so every
/// later fault echoes it), the envelope (version, header blocks, WS-Security), the
/// operation (body element and SOAPAction).
fn read(body: Result<Vec<u8>, Error>, action: Option<&str>) -> Result<Parsed, SoapFault> {
    let bare = JxHdr::generated();
    let bytes = body.map_err(|e| ApiFault::new(&bare, e))?;
    let root = xml::parse(&bytes).map_err(|e| ApiFault::new(&bare, e))?;
    let (present, hdr) =
        envelope::peek_op(&root).map_or((false, bare.clone()), |op| header(op, &bare));
    let refuse = |e: Error, code: FaultCode| SoapFault {
        fault: ApiFault::new(&hdr, e),
        code: Some(code),
    };
    if let Some(e) = envelope::version_mismatch(&root) {
        return Err(refuse(e, FaultCode::VersionMismatch));
    }
    if let Some(e) = envelope::not_understood(&root) {
        return Err(refuse(e, FaultCode::MustUnderstand));
    }
    let fail = |e: Error| SoapFault::from(ApiFault::new(&hdr, e));
    let rq = envelope::read_envelope(root).map_err(fail)?;
    let (op, alias) = resolve(&rq.op, action).map_err(fail)?;
    let has_cred = rq
        .op
        .child("MsgRqHdr")
        .and_then(|h| h.child("AuthenUsrCred"))
        .is_some();
    Ok(Parsed {
        op,
        body: rq.op,
        present,
        hdr,
        security: rq.security,
        has_cred,
        alias,
        message_id: rq.message_id,
    })
}

/// The operation of a body element and the `SOAPAction` (when sent, they must agree),
/// and whether the element was the tutorial's `<Op>Rq` spelling (the developer resources
/// name the element `<Op>`, the tutorial `<Op>Rq`: both are accepted).
fn resolve(op: &Node, action: Option<&str>) -> Result<(&'static Op, bool), Error> {
    if op.ns != ops::NS {
        return Err(Error::at(Fault::UnknownOperation, op.name.clone())
            .with_value(op.ns.clone())
            .with_detail(format!("(operations are in the namespace {})", ops::NS)));
    }
    let (found, alias) = match ops::find(&op.name) {
        Some(found) => (found, false),
        None => op
            .name
            .strip_suffix("Rq")
            .and_then(ops::find)
            .map(|found| (found, true))
            .ok_or_else(|| {
                Error::at(Fault::UnknownOperation, op.name.clone())
                    .with_detail("(see /jxchange?wsdl)")
            })?,
    };
    let agrees = |tail: &str| tail == found.name || tail == op.name;
    match action.filter(|a| !a.is_empty()) {
        Some(a) if !a.strip_prefix(ops::ACTION_BASE).is_some_and(agrees) => {
            Err(Error::at(Fault::UnknownOperation, "SOAPAction")
                .with_value(a.chars().take(128).collect::<String>())
                .with_detail(format!(
                    "(SOAPAction must be {}{} for this body)",
                    ops::ACTION_BASE,
                    found.name
                )))
        }
        _ => Ok((found, alias)),
    }
}

/// The request's header, read leniently from the operation element before anything
/// else is checked (any namespace, the first of a repeated element, nested content
/// ignored), so a fault about the rest still echoes it: whether it has one, and the
/// header itself as the JSON API reads it (`MsgRqHdr::header`: an empty `AuditUsrId`
/// takes `AuthenUsrCred`'s user; a `jXLogTrackingId` made when there is none).
fn header(op: &Node, bare: &JxHdr) -> (bool, JxHdr) {
    let Some(msg) = op.child("MsgRqHdr") else {
        return (false, bare.clone());
    };
    let present = msg
        .child("jXchangeHdr")
        .is_some_and(|h| !h.children.is_empty() || !h.text.is_empty());
    if !present {
        return (false, bare.clone());
    }
    let mut tree = super::de::tree(msg);
    if let Some(Value::Object(jx)) = tree.get_mut("jXchangeHdr") {
        jx.retain(|_, v| v.is_string());
        let tracking_empty = jx
            .get("jXLogTrackingId")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty);
        if tracking_empty {
            let id = bare.tracking_id.clone().unwrap_or_default();
            jx.insert("jXLogTrackingId".into(), Value::String(id));
        }
    }
    let hdr =
        serde_json::from_value::<MsgRqHdr>(tree).map_or_else(|_| bare.clone(), |h| h.header());
    (true, hdr)
}
