//! The jXchange SOAP 1.1 binding: `POST /jxchange` and its WSDL at `GET /jxchange?wsdl`.
//!
//! A second edge over the same operations as the JSON API: a request's operation (from
//! `SOAPAction` and the body's root element, which must agree) names an entry of the
//! operation table (`ops`); its body is read by that entry's layout into the JSON API's
//! own request and handed to the JSON operation's handler, so both bindings share one
//! pipeline (scope, limits, institution, blocking domain call, header echo) and one set
//! of fault codes. The answer is written by the entry's layout; a fault becomes a SOAP
//! `Fault` (HTTP 500, as SOAP 1.1 requires) whose `detail` holds `MsgRsHdr` with the
//! jXchange fault record. The header rules (`api::hdr_rules`) always apply here.
//!
//! Credentials: a WS-Security `UsernameToken` whose `PasswordText` is the API key, or
//! `Authorization: Bearer`, as on the JSON API. `AuthenUsrCred` (the end user's SAML) is
//! accepted and its user recorded as the audit user when `AuditUsrId` is empty; tokend
//! does NOT verify SAML. Imports: rocket, serde_json, the JSON API, domain.

pub mod envelope;
pub mod ops;
pub mod wsdl;

use rocket::data::{self, Data, FromData, ToByteUnit as _};
use rocket::http::{ContentType, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::{self, Responder, Response};
use rocket::{catch, catchers, get, post, routes, Catcher, Route, State};
use serde_json::{Map, Value};
use std::io::Cursor;
use std::sync::Arc;

use crate::domain::{Error, Fault, Service};
use crate::web::api::envelope::{decode, remember_tracking_id, JxHdr};
use crate::web::api::fault::{record_of, status_of, ApiFault};
use crate::web::api::{auth, hdr_rules, inquiry, lifecycle, oob, tokens, validate, Caller};
use crate::web::limits::Limits;
use crate::web::metrics::Metrics;
use ops::{Action, Op};

/// Where the binding is mounted.
pub const BASE: &str = "/jxchange";

/// The jXchange release whose answer shapes the binding follows (the OOBValidate seed's
/// answer says `R2017.4`): the provider's `JxVer`, whatever the consumer's is.
pub const JX_VER: &str = "R2017.4";

/// The binding's routes.
pub fn routes() -> Vec<Route> {
    routes![endpoint, wsdl_document]
}

/// SOAP faults for whatever Rocket answers itself under `/jxchange`.
pub fn catchers() -> Vec<Catcher> {
    catchers![any_status]
}

/// The `Authorization: Bearer` key, if any (a UsernameToken in the envelope wins).
pub struct Bearer(Option<String>);

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
pub struct SoapRequest(Result<Parsed, ApiFault>);

/// What the endpoint needs of a request's envelope.
struct Parsed {
    op: &'static Op,
    /// The body as the JSON operation's body (the path element still in it).
    json: Map<String, Value>,
    /// Whether it had `MsgRqHdr/jXchangeHdr`.
    present: bool,
    hdr: JxHdr,
    /// The UsernameToken's `PasswordText` (the API key).
    password: Option<String>,
    /// Whether `MsgRqHdr` carried `AuthenUsrCred`.
    has_cred: bool,
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
    let (present, hdr) = header(&mut json, &rq.op, &bare);
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
        password: rq.password,
        has_cred,
    })
}

/// `POST /jxchange` — every operation of the table.
#[post("/jxchange", data = "<rq>")]
async fn endpoint(
    bearer: Bearer,
    rq: SoapRequest,
    service: &State<Arc<Service>>,
    limits: &State<Arc<Limits>>,
    metrics: &State<Arc<Metrics>>,
) -> SoapAnswer {
    let now = chrono::Utc::now();
    let deps = Deps {
        service,
        limits,
        metrics,
    };
    match handle(bearer.0, rq.0, &deps).await {
        Ok((op, hdr, value)) => SoapAnswer::ok(op, &hdr, &value, now),
        Err(fault) => SoapAnswer::fault(&fault, now),
    }
}

/// The base URL clients reach this server at (for the WSDL's `soap:address`).
pub struct BaseUrl(String);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for BaseUrl {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let scheme = if crate::web::secure::is_secure(req) {
            "https"
        } else {
            "http"
        };
        let host = req
            .host()
            .map(|h| h.to_string())
            .or_else(|| {
                let c = req.rocket().config();
                Some(format!("{}:{}", c.address, c.port))
            })
            .unwrap_or_default();
        Outcome::Success(BaseUrl(format!("{scheme}://{host}")))
    }
}

/// `GET /jxchange?wsdl` — the WSDL (XSD inline), generated from the operation table.
#[get("/jxchange?wsdl")]
fn wsdl_document(base: BaseUrl) -> (ContentType, String) {
    (
        ContentType::XML,
        wsdl::document(&format!("{}{BASE}", base.0)),
    )
}

type Handled = (&'static Op, JxHdr, Map<String, Value>);

/// The managed state the JSON operations take.
struct Deps<'a> {
    service: &'a State<Arc<Service>>,
    limits: &'a State<Arc<Limits>>,
    metrics: &'a State<Arc<Metrics>>,
}

/// A request from its bytes to the JSON operation's answer.
async fn handle(
    bearer: Option<String>,
    parsed: Result<Parsed, ApiFault>,
    deps: &Deps<'_>,
) -> Result<Handled, ApiFault> {
    let Parsed {
        op,
        mut json,
        present,
        hdr,
        password,
        has_cred,
    } = parsed?;
    let fail = |e: Error| ApiFault::new(&hdr, e);
    let key = password.or(bearer);
    let caller = match key {
        Some(key) => auth::caller_of(deps.service, &key).await,
        None => Err(Error::fault(Fault::Unauthenticated)
            .with_detail("(a WS-Security UsernameToken or Authorization: Bearer)")),
    }
    .map_err(fail)?;
    let body = hdr_rules::BodyIds {
        inst_rt_id: json.get("InstRtId").and_then(Value::as_str),
        consumer_prod: json.get("ConsumerProd").and_then(Value::as_str),
        usr_choice: (op.action == Action::Inquire)
            .then(|| json.contains_key("UsrName") || has_cred),
    };
    hdr_rules::check(present, &hdr, body).map_err(fail)?;
    let path = match op.path.name() {
        None => String::new(),
        Some(name) => match json.remove(name) {
            Some(Value::String(s)) => s,
            _ => return Err(fail(required(name))),
        },
    };
    let (hdr, value) = dispatch(op, caller, &path, json, hdr, deps).await?;
    Ok((op, hdr, value))
}

fn required(name: &str) -> Error {
    let fault = if name == "TokenId" {
        Fault::IdRequired
    } else {
        Fault::FieldRequired
    };
    Error::at(fault, name)
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

/// The request's header: whether it has one, and the header itself with a tracking id
/// (written back into the body, so every answer echoes the same one). An empty
/// `AuditUsrId` takes the user of `AuthenUsrCred` (a UsernameToken `Username` or a SAML
/// `NameID`), so the audit records who acted.
fn header(json: &mut Map<String, Value>, op: &envelope::Node, bare: &JxHdr) -> (bool, JxHdr) {
    let Some(Value::Object(jx)) = json
        .get_mut("MsgRqHdr")
        .and_then(|h| h.as_object_mut())
        .and_then(|h| h.get_mut("jXchangeHdr"))
    else {
        return (false, bare.clone());
    };
    let authen_usr = op
        .child("MsgRqHdr")
        .and_then(|h| h.child("AuthenUsrCred"))
        .and_then(|c| c.find("Username").or_else(|| c.find("NameID")))
        .map(|n| n.text.chars().take(128).collect::<String>())
        .filter(|u| !u.is_empty());
    let audit_empty = jx
        .get("AuditUsrId")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    if let (Some(user), true) = (authen_usr, audit_empty) {
        jx.insert("AuditUsrId".into(), Value::String(user));
    }
    let tracking_empty = jx
        .get("jXLogTrackingId")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    if tracking_empty {
        let id = bare.tracking_id.clone().unwrap_or_default();
        jx.insert("jXLogTrackingId".into(), Value::String(id));
    }
    let hdr =
        serde_json::from_value::<JxHdr>(Value::Object(jx.clone())).unwrap_or_else(|_| bare.clone());
    (true, hdr)
}

/// The JSON answer as members to write.
fn done<T: serde::Serialize>(
    answer: Result<crate::web::api::envelope::Jx<T>, ApiFault>,
) -> Result<(JxHdr, Map<String, Value>), ApiFault> {
    let jx = answer?;
    match serde_json::to_value(&jx.body) {
        Ok(Value::Object(map)) => Ok((jx.hdr, map)),
        _ => Err(ApiFault::new(
            &jx.hdr,
            Error::Internal("an answer did not serialize to an object".into()),
        )),
    }
}

/// Runs the JSON operation of `op` with the request's body (as JSON) and caller.
async fn dispatch(
    op: &Op,
    caller: Caller,
    path: &str,
    json: Map<String, Value>,
    hdr: JxHdr,
    deps: &Deps<'_>,
) -> Result<(JxHdr, Map<String, Value>), ApiFault> {
    let fail = |e: Error| ApiFault::new(&hdr, e);
    let (service, limits, metrics) = (deps.service, deps.limits, deps.metrics);
    if op.action == Action::OobStatus {
        // A GET on the JSON API: nothing but the header may come with it.
        if let Some(extra) = json.keys().find(|k| *k != "MsgRqHdr") {
            return Err(fail(Error::at(Fault::UnknownElement, extra.clone())));
        }
        return done(oob::session(hdr, Ok(caller), path, service).await);
    }
    let bytes = serde_json::to_vec(&Value::Object(json))
        .map_err(|e| fail(Error::Internal(format!("re-encoding a SOAP body: {e}"))))?;
    let c = Ok(caller);
    match op.action {
        Action::Inquire => done(inquiry::inquire(c, decode(&bytes), service).await),
        Action::Add => done(tokens::add(c, decode(&bytes), service).await),
        Action::Activate => done(tokens::activate(c, path, decode(&bytes), service).await),
        Action::Modify => done(lifecycle::modify(c, path, decode(&bytes), service).await),
        Action::Delete => done(lifecycle::delete(c, path, decode(&bytes), service).await),
        Action::Resync => done(lifecycle::resync(c, path, decode(&bytes), service).await),
        Action::TempPswd => done(lifecycle::temp_code(c, decode(&bytes), service).await),
        Action::Validate => {
            done(validate::validate(c, decode(&bytes), service, metrics, limits).await)
        }
        Action::OobStart => done(oob::start(c, decode(&bytes), service, limits).await),
        Action::OobVerify => done(oob::verify(c, path, decode(&bytes), service, limits).await),
        Action::OobResend => done(oob::resend(c, path, decode(&bytes), service, limits).await),
        Action::OobStatus => Err(fail(Error::Internal("unreachable dispatch".into()))),
    }
}

/// A SOAP answer: 200 with the operation's answer, or 500 with a `Fault`.
pub struct SoapAnswer {
    status: Status,
    body: Vec<u8>,
    retry_after: Option<u64>,
}

impl SoapAnswer {
    fn ok(
        op: &Op,
        hdr: &JxHdr,
        value: &Map<String, Value>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        let name = format!("{}Response", op.name);
        let hdr_map = response_header(hdr);
        let body = envelope::answer(now, |w| {
            use quick_xml::events::{BytesEnd, BytesStart, Event};
            let start = BytesStart::new(name.as_str()).with_attributes([("xmlns", ops::NS)]);
            w.write_event(Event::Start(start))?;
            let mut rs_hdr = Map::new();
            rs_hdr.insert("jXchangeHdr".into(), Value::Object(hdr_map));
            w.write_event(Event::Start(BytesStart::new("MsgRsHdr")))?;
            envelope::write_layout(w, ops::MSG_RS_HDR, &rs_hdr)?;
            w.write_event(Event::End(BytesEnd::new("MsgRsHdr")))?;
            envelope::write_layout(w, op.response, value)?;
            w.write_event(Event::End(BytesEnd::new(name.as_str())))
        });
        SoapAnswer {
            status: Status::Ok,
            body,
            retry_after: None,
        }
    }

    fn fault(fault: &ApiFault, now: chrono::DateTime<chrono::Utc>) -> Self {
        if let Error::Internal(message) = &fault.error {
            tracing::error!(
                tracking_id = fault.hdr.tracking_id.as_deref().unwrap_or("-"),
                "internal error: {message}"
            );
        }
        let record = record_of(&fault.error);
        let server = status_of(fault.error.kind()).code >= 500;
        let mut rs_hdr = Map::new();
        rs_hdr.insert(
            "jXchangeHdr".into(),
            Value::Object(response_header(&fault.hdr)),
        );
        if let Ok(rec) = serde_json::to_value(&record) {
            rs_hdr.insert("MsgRecInfoArray".into(), Value::Array(vec![rec]));
        }
        let body = envelope::answer(now, |w| {
            use quick_xml::events::{BytesEnd, BytesStart, Event};
            w.write_event(Event::Start(BytesStart::new("s:Fault")))?;
            let code = if server { "s:Server" } else { "s:Client" };
            envelope::text_elem(w, "faultcode", code)?;
            envelope::text_elem(w, "faultstring", &record.err_desc)?;
            w.write_event(Event::Start(BytesStart::new("detail")))?;
            let start = BytesStart::new("MsgRsHdr").with_attributes([("xmlns", ops::NS)]);
            w.write_event(Event::Start(start))?;
            envelope::write_layout(w, ops::MSG_RS_HDR, &rs_hdr)?;
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
    for elem in ops::JX_HDR_RS {
        if elem.name != "WorkflowCorrelId" {
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
fn any_status(status: Status, _req: &Request<'_>) -> SoapAnswer {
    let error = match status.code {
        404 | 405 => Error::fault(Fault::UnknownOperation)
            .with_detail("(POST /jxchange with a SOAP envelope, or GET /jxchange?wsdl)"),
        413 => Error::fault(Fault::BodyTooLarge),
        400 => Error::fault(Fault::MalformedRequest),
        411 | 415 | 422 => Error::fault(Fault::MalformedBody),
        503 => Error::fault(Fault::Busy),
        _ => Error::Internal(format!("unhandled status {status}")),
    };
    SoapAnswer::fault(
        &ApiFault::new(&JxHdr::generated(), error),
        chrono::Utc::now(),
    )
}
