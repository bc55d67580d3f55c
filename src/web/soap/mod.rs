//! The jXchange SOAP 1.1 binding: `POST /jxchange` and its WSDL at `GET /jxchange?wsdl`.
//!
//! A second edge over the same operations as the JSON API: a request's operation (from
//! `SOAPAction` and the body's root element, which must agree) names an entry of the
//! operation table (`ops`); its body element is read by `de` straight into the JSON
//! operation's own request type (no JSON in between) and handed to the handler the JSON
//! route calls, so both bindings share one pipeline (scope, limits, institution,
//! blocking domain call, header echo) and one set of fault codes. The answer is written by the entry's layout; a fault becomes a SOAP
//! `Fault` (HTTP 500, as SOAP 1.1 requires) whose `detail` holds `MsgRsHdr` with the
//! jXchange fault record. The header rules (`api::hdr_rules`) always apply here.
//!
//! Credentials: a WS-Security `UsernameToken` whose `PasswordText` is the API key, or
//! its `PasswordDigest` (a `--soap-digest` key named by `Username`, checked by the
//! domain), or `Authorization: Bearer`, as on the JSON API. Its `Timestamp` and `Nonce`,
//! when sent, are enforced before the operation runs (`wssec`, the domain's `use_nonce`).
//! `AuthenUsrCred` (the end user's SAML) is
//! accepted and read as a tree (`de`'s untyped reading), whose header path records its user as
//! the audit user when `AuditUsrId` is empty (as for JSON); tokend does NOT verify SAML.
//!
//! Rooms: `request` (the data guard reading the envelope, its header first), `xml` (XML
//! in: the bounded element tree), `envelope` (SOAP 1.1's envelope rules, WS-Security via
//! `wssec`, WS-Addressing via `addressing`), `de` (an element tree into a request type),
//! `ser` (an answer type into elements), `ops` (the operation table: names, JSON
//! operations, request and answer types), `layouts` (the headers' and fault record's),
//! `answer` (answers and faults) written by `write`, `wsdl` (its operations' types by
//! `xsd` from their schemas); this file routes and dispatches.
//! Imports: rocket, serde, the JSON API, domain.

pub mod addressing;
pub mod answer;
pub mod de;
mod dispatch;
pub mod envelope;
pub mod layouts;
pub mod ops;
pub mod request;
pub mod ser;
pub mod write;
pub mod wsdl;
pub mod wssec;
pub mod xml;
pub mod xsd;

use rocket::http::ContentType;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{catchers, get, post, routes, Catcher, Route, State};
use std::sync::Arc;

use crate::domain::{Error, Fault, Service};
use crate::web::api::envelope::JxHdr;
use crate::web::api::fault::ApiFault;
use crate::web::api::{auth, hdr_rules, idempotency, Caller};
use crate::web::edge::blocking;
use crate::web::limits::Limits;
use crate::web::metrics::Metrics;
use answer::SoapAnswer;
use ops::{Action, Op};
use request::{Bearer, Parsed, SoapRequest};
use xml::Node;

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
        Ok((hdr, elements)) => SoapAnswer::ok(&name, &hdr, &elements, now),
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

/// An operation's answer: its header and its elements as XML (`ser`).
type Handled = (JxHdr, Vec<u8>);

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
/// The fingerprint is of the operation element's canonical XML (`de::canonical`: local
/// names, so a retry with other prefixes matches); the security header is left out of
/// it: a retry brings a new nonce.
async fn claim_message(
    deps: &Deps<'_>,
    caller: &Caller,
    op: &'static Op,
    body: &Node,
    id: String,
) -> Result<(), Error> {
    idempotency::check_key(&id, "MessageID")?;
    let print = crate::domain::idempotency::fingerprint("SOAP", op.name, &de::canonical(body));
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
        mut body,
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
        claim_message(deps, &caller, op, &body, id)
            .await
            .map_err(fail)?;
    }
    let ids = hdr_rules::BodyIds {
        inst_rt_id: member(&body, "InstRtId"),
        consumer_prod: member(&body, "ConsumerProd"),
        usr_choice: (op.action == Action::Inquire)
            .then(|| member(&body, "UsrName").is_some() || has_cred),
    };
    hdr_rules::check(present, &hdr, ids).map_err(fail)?;
    let path = take_path(op, &mut body).map_err(fail)?;
    dispatch::dispatch(op, caller, &path, &body, hdr, deps).await
}

/// The text of the body's element `name` (in the jXchange namespace, not nil), for the
/// header rules, which look at the body before it is read into its type.
fn member<'a>(body: &'a Node, name: &str) -> Option<&'a str> {
    body.children
        .iter()
        .find(|c| c.name == name && c.ns == ops::NS)
        .filter(|c| c.attr("nil").is_none_or(|v| v != "true" && v != "1"))
        .map(|c| c.text.as_str())
}

/// Takes the element the JSON API has in its path (`TokenId`, `AlrtPkgId`, `UsrName`)
/// out of the body: once, in the jXchange namespace, required.
fn take_path(op: &Op, body: &mut Node) -> Result<String, Error> {
    let Some(name) = op.path.name() else {
        return Ok(String::new());
    };
    let mut found = body.children.iter().filter(|c| c.name == name);
    let (first, second) = (found.next(), found.next());
    if second.is_some() {
        return Err(
            Error::at(Fault::InvalidValue, name).with_detail("(the element occurs more than once)")
        );
    }
    if first.is_some_and(|c| c.ns != ops::NS) {
        return Err(Error::at(Fault::UnknownElement, name)
            .with_detail(format!("(elements are in {})", ops::NS)));
    }
    let text = member(body, name).map(str::to_owned);
    body.children.retain(|c| c.name != name);
    text.ok_or_else(|| required(name))
}

fn required(name: &str) -> Error {
    let fault = if name == "TokenId" {
        Fault::IdRequired
    } else {
        Fault::FieldRequired
    };
    Error::at(fault, name)
}
