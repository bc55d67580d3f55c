//! Running a SOAP operation: its body element read into the JSON operation's request type
//! (`de`), the very handler the JSON route calls, and the answer written from its type
//! (`ser`), with SOAP's own placements (the inquiry's lifted extras, OOBValidate's seed
//! answer) as typed transforms. In debug builds each read and write asserts its type is
//! the one the operation table (`ops`) declares, which the WSDL is generated from, so the
//! table and the dispatch cannot name different types unnoticed by the tests.
//! Imports: serde, the JSON API's handlers and types.

use serde::de::DeserializeOwned;

use super::envelope::Node;
use super::ops::{Action, Op};
use super::{de, ser, Deps, Handled};
use crate::domain::Error;
use crate::web::api::envelope::{Jx, JxHdr, JxRequest};
use crate::web::api::fault::ApiFault;
use crate::web::api::inquiry::MfaTokenInqRs;
use crate::web::api::{alerts, explain, inquiry, lifecycle, oob, tokens, users, validate, Caller};

/// The JSON operation's answer, written as the SOAP answer's elements straight from its
/// type (`ser`).
fn done<T: serde::Serialize>(
    op: &Op,
    answer: Result<Jx<T>, ApiFault>,
) -> Result<Handled, ApiFault> {
    debug_assert_eq!(
        (op.response)().rust,
        std::any::type_name::<T>(),
        "{}",
        op.name
    );
    let jx = answer?;
    match ser::to_elements(&jx.body) {
        Ok(elements) => Ok((jx.hdr, elements)),
        Err(e) => Err(ApiFault::new(
            &jx.hdr,
            Error::Internal(format!("writing an answer: {e}")),
        )),
    }
}

/// The inquiry answer in SOAP's placement (each binding's facts in the message's
/// `Custom`, the seed's record exactly).
fn lifted(mut jx: Jx<MfaTokenInqRs>) -> Jx<MfaTokenInqRs> {
    jx.body.lift_binding_extras();
    jx
}

/// OOBValidate's answer as the seed's (the JSON API's has the session's other facts).
fn seed(jx: Jx<oob::OobRs>) -> Jx<oob::OobSeedRs> {
    Jx {
        hdr: jx.hdr,
        body: jx.body.seed(),
    }
}

/// The request in the operation's own type, read straight from the element tree, under
/// the header the envelope's reading made (its tracking id already the echoed one).
fn typed<T: DeserializeOwned>(op: &Op, body: &Node, hdr: JxHdr) -> JxRequest<T> {
    debug_assert_eq!(
        (op.request)().rust,
        std::any::type_name::<T>(),
        "{}",
        op.name
    );
    JxRequest {
        hdr,
        body: de::from_node(body),
    }
}

/// The header of a JSON GET operation's request: its SOAP body may hold nothing but the
/// header (the path element is already taken out), as a GET on the JSON API has no body.
fn header_only(op: &Op, body: &Node, hdr: JxHdr) -> Result<JxHdr, ApiFault> {
    let rq = typed::<oob::HeaderRq>(op, body, hdr);
    match rq.body {
        Ok(_) => Ok(rq.hdr),
        Err(e) => Err(ApiFault::new(&rq.hdr, e)),
    }
}

/// Runs the JSON operation of `op` (the very handler its JSON route calls) with the
/// request read into its type and the caller.
pub(super) async fn dispatch(
    op: &Op,
    caller: Caller,
    path: &str,
    body: &Node,
    hdr: JxHdr,
    deps: &Deps<'_>,
) -> Result<Handled, ApiFault> {
    let (service, limits, metrics) = (deps.service, deps.limits, deps.metrics);
    let c = Ok(caller);
    match op.action {
        Action::Inquire => done(
            op,
            inquiry::inquire(c, typed(op, body, hdr), service)
                .await
                .map(lifted),
        ),
        Action::Add => done(op, tokens::add(c, typed(op, body, hdr), service).await),
        Action::Activate => done(
            op,
            tokens::activate(c, path, typed(op, body, hdr), service).await,
        ),
        Action::Modify => done(
            op,
            lifecycle::modify(c, path, typed(op, body, hdr), service)
                .await
                .map(lifted),
        ),
        Action::Delete => done(
            op,
            lifecycle::delete(c, path, typed(op, body, hdr), service).await,
        ),
        Action::Resync => done(
            op,
            lifecycle::resync(c, path, typed(op, body, hdr), service).await,
        ),
        Action::TempPswd => done(
            op,
            lifecycle::temp_code(c, typed(op, body, hdr), service).await,
        ),
        Action::Validate => done(
            op,
            validate::validate(c, typed(op, body, hdr), service, metrics, limits).await,
        ),
        Action::OobStart => done(
            op,
            oob::start(c, typed(op, body, hdr), service, limits, metrics)
                .await
                .map(seed),
        ),
        Action::OobVerify => done(
            op,
            oob::verify(c, path, typed(op, body, hdr), service, limits).await,
        ),
        Action::OobResend => done(
            op,
            oob::resend(c, path, typed(op, body, hdr), service, limits).await,
        ),
        Action::OobStatus => done(
            op,
            oob::session(header_only(op, body, hdr)?, c, path, service).await,
        ),
        Action::UsrAdd => done(op, users::create(c, typed(op, body, hdr), service).await),
        Action::UsrInq => done(
            op,
            users::read(header_only(op, body, hdr)?, c, path, service).await,
        ),
        Action::UsrPhoneMod => done(
            op,
            users::phone(c, path, typed(op, body, hdr), service).await,
        ),
        Action::UsrHoldLift => done(
            op,
            users::lift_hold(c, path, typed(op, body, hdr), service).await,
        ),
        Action::UsrAlrtSub => done(
            op,
            alerts::subscribe(c, path, typed(op, body, hdr), service).await,
        ),
        Action::Explain => done(op, explain::explain(c, typed(op, body, hdr), service).await),
    }
}
