//! Writing SOAP answers: a 200 with the operation's answer under the echoed header, or
//! a 500 with a `Fault` whose `detail` holds `MsgRsHdr` and the jXchange fault record;
//! both under the WS-Security timestamp header the seed's answer has.
//! Imports: rocket, serde_json, quick-xml (through `envelope`), the JSON API's header
//! and fault types.

use rocket::catch;
use rocket::http::{ContentType, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use serde_json::{Map, Value};
use std::io::Cursor;

use super::layouts;
use super::ops;
use super::write;
use super::JX_VER;
use crate::domain::{Error, Fault};
use crate::web::api::envelope::JxHdr;
use crate::web::api::fault::{custom_of, record_of, status_of, ApiFault};

/// The SOAP 1.1 `faultcode` (section 4.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultCode {
    /// The envelope is not SOAP 1.1's (a SOAP 1.2 one, say).
    VersionMismatch,
    /// A header block marked `mustUnderstand="1"` that tokend does not process.
    MustUnderstand,
    /// The message is at fault.
    Client,
    /// The service is (busy, or an internal error).
    Server,
}

impl FaultCode {
    fn qname(self) -> &'static str {
        match self {
            FaultCode::VersionMismatch => "s:VersionMismatch",
            FaultCode::MustUnderstand => "s:MustUnderstand",
            FaultCode::Client => "s:Client",
            FaultCode::Server => "s:Server",
        }
    }
}

/// A SOAP fault to answer: the jXchange fault (its header the request's, whenever it could
/// be read) and the SOAP `faultcode`, `Client`/`Server` by the fault's status unless the
/// envelope itself was refused.
#[derive(Debug)]
pub struct SoapFault {
    /// The jXchange fault and the header it echoes.
    pub fault: ApiFault,
    /// `VersionMismatch` or `MustUnderstand`, when that is what went wrong.
    pub code: Option<FaultCode>,
}

impl From<ApiFault> for SoapFault {
    fn from(fault: ApiFault) -> Self {
        SoapFault { fault, code: None }
    }
}

/// A SOAP answer: 200 with the operation's answer, or 500 with a `Fault`.
pub struct SoapAnswer {
    status: Status,
    body: Vec<u8>,
    retry_after: Option<u64>,
}

impl SoapAnswer {
    /// An answer (root element `name`: `<Op>Response`, or `<Op>Rs` for a request made
    /// as `<Op>Rq`): its `elements` (written by `ser`), under the echoed header.
    pub fn ok(
        name: &str,
        hdr: &JxHdr,
        elements: &[u8],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        let hdr_map = response_header(hdr);
        let body = write::answer(now, |w| {
            use quick_xml::events::{BytesEnd, BytesStart, Event};
            let start = BytesStart::new(name).with_attributes([("xmlns", ops::NS)]);
            w.write_event(Event::Start(start))?;
            let mut rs_hdr = Map::new();
            rs_hdr.insert("jXchangeHdr".into(), Value::Object(hdr_map));
            w.write_event(Event::Start(BytesStart::new("MsgRsHdr")))?;
            write::write_layout(w, layouts::MSG_RS_HDR, &rs_hdr)?;
            w.write_event(Event::End(BytesEnd::new("MsgRsHdr")))?;
            w.get_mut().extend_from_slice(elements);
            w.write_event(Event::End(BytesEnd::new(name)))
        });
        SoapAnswer {
            status: Status::Ok,
            body,
            retry_after: None,
        }
    }

    /// A fault: internal errors logged with the tracking id; `faultstring` the published
    /// sentence, `detail` one element (as WS-I and generated clients expect), `MsgRsHdr`:
    /// the header, the record and, last, tokend's explanation (`Custom/ErrDetail`) when
    /// it has one (`layouts::FAULT_CUSTOM`, declared in the WSDL).
    pub fn fault(soap_fault: &SoapFault, now: chrono::DateTime<chrono::Utc>) -> Self {
        let fault = &soap_fault.fault;
        if let Error::Internal(message) = &fault.error {
            tracing::error!(
                tracking_id = fault.hdr.tracking_id.as_deref().unwrap_or("-"),
                "internal error: {message}"
            );
        }
        let record = record_of(&fault.error);
        let custom = custom_of(&fault.error);
        let code = soap_fault.code.unwrap_or({
            if status_of(fault.error.kind()).code >= 500 {
                FaultCode::Server
            } else {
                FaultCode::Client
            }
        });
        let mut rs_hdr = Map::new();
        rs_hdr.insert(
            "jXchangeHdr".into(),
            Value::Object(response_header(&fault.hdr)),
        );
        if let Ok(rec) = serde_json::to_value(&record) {
            rs_hdr.insert("MsgRecInfoArray".into(), Value::Array(vec![rec]));
        }
        let body = write::answer(now, |w| {
            use quick_xml::events::{BytesEnd, BytesStart, Event};
            w.write_event(Event::Start(BytesStart::new("s:Fault")))?;
            write::text_elem(w, "faultcode", code.qname())?;
            write::text_elem(w, "faultstring", &record.err_desc)?;
            w.write_event(Event::Start(BytesStart::new("detail")))?;
            let start = BytesStart::new("MsgRsHdr").with_attributes([("xmlns", ops::NS)]);
            w.write_event(Event::Start(start))?;
            write::write_layout(w, layouts::MSG_RS_HDR, &rs_hdr)?;
            if let Some(custom) = &custom {
                w.write_event(Event::Start(BytesStart::new("Custom")))?;
                write::text_elem(w, "ErrDetail", &custom.err_detail)?;
                w.write_event(Event::End(BytesEnd::new("Custom")))?;
            }
            w.write_event(Event::End(BytesEnd::new("MsgRsHdr")))?;
            w.write_event(Event::End(BytesEnd::new("detail")))?;
            w.write_event(Event::End(BytesEnd::new("s:Fault")))
        });
        SoapAnswer {
            status: Status::InternalServerError,
            body,
            retry_after: fault.retry_after,
        }
    }
}

/// The answer's `jXchangeHdr`: the request's echoed, every element of the seed's answer
/// written (empty when unknown), the provider's `JxVer`, a `BusCorrelId` made up when
/// the consumer sent none (the seed's answer has one its request lacked).
fn response_header(hdr: &JxHdr) -> Map<String, Value> {
    let mut map = match serde_json::to_value(hdr) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    map.insert("JxVer".into(), Value::String(JX_VER.into()));
    if map
        .get("BusCorrelId")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        let id = uuid::Uuid::new_v4().to_string();
        map.insert("BusCorrelId".into(), Value::String(id));
    }
    // Every element of the seed's answer; not the two it lacks.
    for elem in layouts::JX_HDR {
        if !["WorkflowCorrelId", "AuthenUsrId"].contains(&elem.name) {
            map.entry(elem.name)
                .or_insert_with(|| Value::String(String::new()));
        }
    }
    map
}

impl<'r> Responder<'r, 'static> for SoapAnswer {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let mut response = Response::build()
            .status(self.status)
            .header(ContentType::new("text", "xml").with_params(("charset", "utf-8")))
            .sized_body(self.body.len(), Cursor::new(self.body))
            .finalize();
        if let Some(secs) = self.retry_after {
            response.set_raw_header("Retry-After", secs.to_string());
        }
        Ok(response)
    }
}

/// Whatever Rocket answers itself under `/jxchange` (no route for a method, a body
/// Rocket refused) is a SOAP fault too.
#[catch(default)]
pub fn any_status(status: Status, _req: &Request<'_>) -> SoapAnswer {
    let error = match status.code {
        404 | 405 => Error::fault(Fault::UnknownOperation)
            .with_detail("(POST /jxchange with a SOAP envelope, or GET /jxchange?wsdl)"),
        413 => Error::fault(Fault::BodyTooLarge),
        400 => Error::fault(Fault::MalformedRequest),
        411 | 415 | 422 => Error::fault(Fault::MalformedBody),
        503 => Error::fault(Fault::Busy),
        _ => Error::Internal(format!("unhandled status {status}")),
    };
    let fault = ApiFault::new(&JxHdr::generated(), error);
    SoapAnswer::fault(&fault.into(), chrono::Utc::now())
}
