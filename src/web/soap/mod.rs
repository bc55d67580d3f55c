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
//! its `PasswordDigest` (a `--soap-digest` key named by `Username`, checked by the
//! domain), or `Authorization: Bearer`, as on the JSON API. Its `Timestamp` and `Nonce`,
//! when sent, are enforced before the operation runs (`wssec`, the domain's `use_nonce`).
//! `AuthenUsrCred` (the end user's SAML) is
//! accepted and handed to the JSON API as a tree, whose header path records its user as
//! the audit user when `AuditUsrId` is empty (as for JSON); tokend does NOT verify SAML.
//!
//! Rooms: `request` (the data guard reading the envelope, its header first), `envelope`
//! (XML in, SOAP 1.1's envelope rules, WS-Security via `wssec`), `ops` (the operation
//! table) and `layouts` (its element types and shared layouts), `answer` (answers and
//! faults) written by `write`, `wsdl` (generated from `ops`); this file routes and
//! dispatches.
//! Imports: rocket, serde_json, the JSON API, domain.

pub mod addressing;
pub mod answer;
pub mod envelope;
pub mod layouts;
pub mod ops;
pub mod request;
pub mod write;
pub mod wsdl;
pub mod wssec;

use rocket::http::ContentType;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{catchers, get, post, routes, Catcher, Route, State};
use serde_json::{Map, Value};
use std::sync::Arc;

use crate::domain::{Error, Fault, Service};
use crate::web::api::envelope::{decode, JxHdr};
use crate::web::api::fault::ApiFault;
use crate::web::api::{
    alerts, auth, explain, hdr_rules, idempotency, inquiry, lifecycle, oob, tokens, users,
    validate, Caller,
};
use crate::web::edge::blocking;
use crate::web::limits::Limits;
use crate::web::metrics::Metrics;
use answer::SoapAnswer;
use ops::{Action, Op};
use request::{Bearer, Parsed, SoapRequest};

/// Where the binding is mounted.
pub const BASE: &str = "/jxchange";

/// The jXchange release whose answer shapes the binding follows (the OOBValidate seed's
/// answer says `R2017.4`): the provider's `JxVer`, whatever the consumer's is.
pub const JX_VER: &str = "R2017.4";

/// The binding's routes.
pub fn routes() -> Vec<Route> {
    routes![endpoint, wsdl_document, wsdl_document_upper]
}

/// SOAP faults for whatever Rocket answers itself under `/jxchange`.
pub fn catchers() -> Vec<Catcher> {
    catchers![answer::any_status]
}

/// `POST /jxchange` — every operation of the table.
#[post("/jxchange", data = "<rq>")]
async fn endpoint(
    bearer: Bearer,
    rq: SoapRequest,
    service: &State<Arc<Service>>,
    limits: &State<Arc<Limits>>,
    metrics: &State<Arc<Metrics>>,
    config: &State<SoapConfig>,
    slot: &idempotency::Slot,
) -> SoapAnswer {
    let now = chrono::Utc::now();
    let deps = Deps {
        service,
        limits,
        metrics,
        config,
        slot,
    };
    let parsed = match rq.0 {
        Ok(parsed) => parsed,
        Err(refused) => return SoapAnswer::fault(&refused, now),
    };
    let name = parsed.answer_name();
    match handle(bearer.0, parsed, &deps).await {
        Ok((op, hdr, value)) => SoapAnswer::ok(op, &name, &hdr, &value, now),
        Err(fault) => SoapAnswer::fault(&fault.into(), now),
    }
}

/// The binding's settings (managed state).
#[derive(Debug, Clone, Default)]
pub struct SoapConfig {
    /// `public_url` (no trailing slash): the WSDL's `soap:address` base when set.
    pub public_url: Option<String>,
    /// `soap_clock_skew_secs`: the WS-Security timestamp's tolerance.
    pub clock_skew_secs: u64,
    /// `idempotency_retention_secs`, for `MessageID`s.
    pub idempotency_retention_secs: u64,
}

/// The base URL clients reach this server at (for the WSDL's `soap:address`):
/// `public_url` when set, else the request's scheme and `Host` — which a client could
/// choose, so deployments behind a proxy set `public_url`.
pub struct BaseUrl(String);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for BaseUrl {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let configured = req
            .rocket()
            .state::<SoapConfig>()
            .and_then(|c| c.public_url.clone());
        if let Some(base) = configured {
            return Outcome::Success(BaseUrl(base));
        }
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

/// `GET /jxchange?WSDL` — the same (.NET and Java tools ask for it in capitals).
#[get("/jxchange?WSDL", rank = 2)]
fn wsdl_document_upper(base: BaseUrl) -> (ContentType, String) {
    wsdl_document(base)
}

type Handled = (&'static Op, JxHdr, Map<String, Value>);

/// The managed state the JSON operations take.
struct Deps<'a> {
    service: &'a State<Arc<Service>>,
    limits: &'a State<Arc<Limits>>,
    metrics: &'a State<Arc<Metrics>>,
    config: &'a State<SoapConfig>,
    slot: &'a idempotency::Slot,
}

/// A message's WS-Addressing `MessageID` is its idempotency key (issue 29), as the
/// JSON API's `Idempotency-Key`: the same operation and body answers the stored answer.
/// The security header is left out of the fingerprint: a retry brings a new nonce.
async fn claim_message(
    deps: &Deps<'_>,
    caller: &Caller,
    op: &'static Op,
    json: &Map<String, Value>,
    id: String,
) -> Result<(), Error> {
    idempotency::check_key(&id, "MessageID")?;
    let body = serde_json::to_vec(json).map_err(|e| Error::Internal(e.to_string()))?;
    let print = crate::domain::idempotency::fingerprint("SOAP", op.name, &body);
    let key = crate::domain::idempotency::IdemKey {
        api_key: caller.0.name.clone(),
        key: id,
    };
    let retention = deps.config.idempotency_retention_secs;
    idempotency::claim(deps.service, deps.slot, key, print, retention).await
}

/// A request from its bytes to the JSON operation's answer.
async fn handle(
    bearer: Option<String>,
    parsed: Parsed,
    deps: &Deps<'_>,
) -> Result<Handled, ApiFault> {
    let Parsed {
        op,
        mut json,
        present,
        hdr,
        mut security,
        has_cred,
        message_id,
        ..
    } = parsed;
    let fail = |e: Error| ApiFault::new(&hdr, e);
    let (now, skew) = (chrono::Utc::now(), deps.config.clock_skew_secs);
    security.check_fresh(now, skew).map_err(fail)?;
    let nonce_until = security.nonce_until(now, skew);
    let caller = match (security.digest.take(), security.password.clone().or(bearer)) {
        (Some((proof, _)), _) => {
            blocking(deps.service, move |s| s.authenticate_digest(&proof, now))
                .await
                .map(Caller)
        }
        (None, Some(key)) => auth::caller_of(deps.service, &key).await,
        (None, None) => Err(Error::fault(Fault::Unauthenticated)
            .with_detail("(a WS-Security UsernameToken or Authorization: Bearer)")),
    }
    .map_err(fail)?;
    // Only an authenticated caller's nonce is remembered: no one else fills the table.
    if let Some(nonce) = security.nonce.clone() {
        let (actor, until) = (caller.0.actor(), nonce_until);
        blocking(deps.service, move |s| {
            s.use_nonce(&actor, &nonce, until, now)
        })
        .await
        .map_err(fail)?;
    }
    if let Some(id) = message_id {
        claim_message(deps, &caller, op, &json, id)
            .await
            .map_err(fail)?;
    }
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
    let (hdr, mut value) = dispatch(op, caller, &path, json, hdr, deps).await?;
    if matches!(op.action, Action::Inquire | Action::Modify) {
        answer::lift_binding_extras(&mut value);
    }
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
    if op.action.is_get() {
        return dispatch_get(op, caller, path, json, hdr, deps).await;
    }
    let fail = |e: Error| ApiFault::new(&hdr, e);
    let (service, limits, metrics) = (deps.service, deps.limits, deps.metrics);
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
        Action::OobStart => done(oob::start(c, decode(&bytes), service, limits, metrics).await),
        Action::OobVerify => done(oob::verify(c, path, decode(&bytes), service, limits).await),
        Action::OobResend => done(oob::resend(c, path, decode(&bytes), service, limits).await),
        Action::UsrAdd => done(users::create(c, decode(&bytes), service).await),
        Action::UsrPhoneMod => done(users::phone(c, path, decode(&bytes), service).await),
        Action::UsrHoldLift => done(users::lift_hold(c, path, decode(&bytes), service).await),
        Action::UsrAlrtSub => done(alerts::subscribe(c, path, decode(&bytes), service).await),
        Action::Explain => done(explain::explain(c, decode(&bytes), service).await),
        Action::OobStatus | Action::UsrInq => {
            Err(fail(Error::Internal("unreachable dispatch".into())))
        }
    }
}

/// Runs a JSON operation that is a GET: the body may hold nothing but the header (the
/// path element is already taken out), as a GET on the JSON API has no body.
async fn dispatch_get(
    op: &Op,
    caller: Caller,
    path: &str,
    json: Map<String, Value>,
    hdr: JxHdr,
    deps: &Deps<'_>,
) -> Result<(JxHdr, Map<String, Value>), ApiFault> {
    if let Some(extra) = json.keys().find(|k| *k != "MsgRqHdr") {
        return Err(ApiFault::new(
            &hdr,
            Error::at(Fault::UnknownElement, extra.clone()),
        ));
    }
    let c = Ok(caller);
    match op.action {
        Action::UsrInq => done(users::read(hdr, c, path, deps.service).await),
        Action::OobStatus => done(oob::session(hdr, c, path, deps.service).await),
        _ => Err(ApiFault::new(
            &hdr,
            Error::Internal(format!("{} is not a GET", op.name)),
        )),
    }
}
