//! Reading a SOAP request at the edge: the `Bearer` key, and the data guard that takes
//! the envelope apart (operation, body by its layout, header) before the handler runs, so
//! the access log line carries the request's `jXLogTrackingId`.
//! Imports: rocket, serde_json, the JSON API's header and fault types.

use rocket::data::{self, Data, FromData, ToByteUnit as _};
use rocket::request::{FromRequest, Outcome, Request};
use serde_json::{Map, Value};

use super::envelope;
use super::ops::{self, Op};
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
pub struct SoapRequest(pub Result<Parsed, ApiFault>);

/// What the endpoint needs of a request's envelope.
pub struct Parsed {
    pub op: &'static Op,
    /// The body as the JSON operation's body (the path element still in it).
    pub json: Map<String, Value>,
    /// Whether it had `MsgRqHdr/jXchangeHdr`.
    pub present: bool,
    pub hdr: JxHdr,
    /// The WS-Security header (the API key, nonce, timestamp).
    pub security: super::wssec::WsSecurity,
    /// Whether `MsgRqHdr` carried `AuthenUsrCred`.
    pub has_cred: bool,
    /// The WS-Addressing `MessageID`, the retry's idempotency key.
    pub message_id: Option<String>,
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
            Err(f) => &*f.hdr,
        };
        remember_tracking_id(req, hdr);
        data::Outcome::Success(SoapRequest(parsed))
    }
}

/// Takes a request apart: envelope, operation (body element and SOAPAction), the body
/// by the operation's layout, and its header.
fn read(body: Result<Vec<u8>, Error>, action: Option<&str>) -> Result<Parsed, ApiFault> {
    let bare = JxHdr::generated();
    let fail = |e: Error| ApiFault::new(&bare, e);
    let bytes = body.map_err(fail)?;
    let rq = envelope::parse(&bytes)
        .and_then(envelope::read_envelope)
        .map_err(fail)?;
    let op = resolve(&rq.op, action).map_err(fail)?;
    let mut json = envelope::to_json(&rq.op, op.request).map_err(fail)?;
    let (present, hdr) = header(&mut json, &bare);
    let has_cred = rq
        .op
        .child("MsgRqHdr")
        .and_then(|h| h.child("AuthenUsrCred"))
        .is_some();
    Ok(Parsed {
        op,
        json,
        present,
        hdr,
        security: rq.security,
        has_cred,
        message_id: rq.message_id,
    })
}

/// The operation of a body element and the `SOAPAction` (when sent, they must agree).
fn resolve(op: &envelope::Node, action: Option<&str>) -> Result<&'static Op, Error> {
    if op.ns != ops::NS {
        return Err(Error::at(Fault::UnknownOperation, op.name.clone())
            .with_value(op.ns.clone())
            .with_detail(format!("(operations are in the namespace {})", ops::NS)));
    }
    let found = ops::find(&op.name).ok_or_else(|| {
        Error::at(Fault::UnknownOperation, op.name.clone()).with_detail("(see /jxchange?wsdl)")
    })?;
    match action.filter(|a| !a.is_empty()) {
        Some(a) if a.strip_prefix(ops::ACTION_BASE) != Some(found.name) => {
            Err(Error::at(Fault::UnknownOperation, "SOAPAction")
                .with_value(a.chars().take(128).collect::<String>())
                .with_detail(format!(
                    "(SOAPAction must be {}{} for this body)",
                    ops::ACTION_BASE,
                    found.name
                )))
        }
        _ => Ok(found),
    }
}

/// The request's header: whether it has one, and the header itself as the JSON API
/// reads it (`MsgRqHdr::header`: an empty `AuditUsrId` takes `AuthenUsrCred`'s user),
/// with a tracking id written back into the body, so every answer echoes the same one.
fn header(json: &mut Map<String, Value>, bare: &JxHdr) -> (bool, JxHdr) {
    let Some(Value::Object(msg)) = json.get_mut("MsgRqHdr") else {
        return (false, bare.clone());
    };
    let Some(Value::Object(jx)) = msg.get_mut("jXchangeHdr") else {
        return (false, bare.clone());
    };
    let tracking_empty = jx
        .get("jXLogTrackingId")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    if tracking_empty {
        let id = bare.tracking_id.clone().unwrap_or_default();
        jx.insert("jXLogTrackingId".into(), Value::String(id));
    }
    let hdr = serde_json::from_value::<MsgRqHdr>(Value::Object(msg.clone()))
        .map_or_else(|_| bare.clone(), |h| h.header());
    (true, hdr)
}
