//! Running a SOAP operation: its body element read into the JSON operation's request type
//! (`de`), the very handler the JSON route calls, and the answer written from its type
//! (`ser`), with SOAP's own placements (the inquiry's lifted extras, OOBValidate's seed
//! answer) as typed transforms. In debug builds each read and write asserts its type is
//! the one the operation table (`ops`) declares, which the WSDL is generated from, so the
//! table and the dispatch cannot name different types unnoticed by the tests.
//! Imports: serde, the JSON API's handlers and types.

use serde::de::DeserializeOwned;
use std::any::type_name;

use super::ops::{Action, Op};
use super::xml::Node;
use super::{de, ser, Deps, Handled};
use crate::domain::Error;
use crate::web::api::envelope::{Jx, JxHdr, JxRequest};
use crate::web::api::fault::ApiFault;
use crate::web::api::inquiry::MfaTokenInqRs;
use crate::web::api::{alerts, explain, inquiry, lifecycle, oob, tokens, users, validate, Caller};

/// One operation's request on its way: the table's entry and the body element.
#[derive(Clone, Copy)]
struct Run<'a> {
    op: &'a Op,
    body: &'a Node,
}

impl Run<'_> {
    /// The request in the operation's own type, read straight from the element tree,
    /// under the header the envelope's reading made (its tracking id the echoed one).
    fn rq<T: DeserializeOwned>(self, hdr: JxHdr) -> JxRequest<T> {
        debug_assert_eq!(
            (self.op.request)().rust,
            type_name::<T>(),
            "{}",
            self.op.name
        );
        JxRequest {
            hdr,
            body: de::from_node(self.body),
        }
    }

    /// The header of a JSON GET operation's request: its SOAP body may hold nothing but
    /// the header (the path element is already out), as a GET on the JSON API has none.
    fn header(self, hdr: JxHdr) -> Result<JxHdr, ApiFault> {
        let rq = self.rq::<oob::HeaderRq>(hdr);
        match rq.body {
            Ok(_) => Ok(rq.hdr),
            Err(e) => Err(ApiFault::new(&rq.hdr, e)),
        }
    }

    /// The JSON operation's answer, written as the SOAP answer's elements straight from
    /// its type (`ser`).
    fn done<T: serde::Serialize>(
        self,
        answer: Result<Jx<T>, ApiFault>,
    ) -> Result<Handled, ApiFault> {
        debug_assert_eq!(
            (self.op.response)().rust,
            type_name::<T>(),
            "{}",
            self.op.name
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
    let (c, r) = (Ok(caller), Run { op, body });
    match op.action {
        Action::Inquire => r.done(inquiry::inquire(c, r.rq(hdr), service).await.map(lifted)),
        Action::Add => r.done(tokens::add(c, r.rq(hdr), service).await),
        Action::Activate => r.done(tokens::activate(c, path, r.rq(hdr), service).await),
        Action::Modify => r.done(
            lifecycle::modify(c, path, r.rq(hdr), service)
                .await
                .map(lifted),
        ),
        Action::Delete => r.done(lifecycle::delete(c, path, r.rq(hdr), service).await),
        Action::Resync => r.done(lifecycle::resync(c, path, r.rq(hdr), service).await),
        Action::TempPswd => r.done(lifecycle::temp_code(c, r.rq(hdr), service).await),
        Action::Validate => {
            r.done(validate::validate(c, r.rq(hdr), service, metrics, limits).await)
        }
        Action::OobStart => r.done(
            oob::start(c, r.rq(hdr), service, limits, metrics)
                .await
                .map(seed),
        ),
        Action::OobVerify => r.done(oob::verify(c, path, r.rq(hdr), service, limits).await),
        Action::OobResend => r.done(oob::resend(c, path, r.rq(hdr), service, limits).await),
        Action::OobStatus => r.done(oob::session(r.header(hdr)?, c, path, service).await),
        Action::UsrAdd => r.done(users::create(c, r.rq(hdr), service).await),
        Action::UsrInq => r.done(users::read(r.header(hdr)?, c, path, service).await),
        Action::UsrPhoneMod => r.done(users::phone(c, path, r.rq(hdr), service).await),
        Action::UsrHoldLift => r.done(users::lift_hold(c, path, r.rq(hdr), service).await),
        Action::UsrAlrtSub => r.done(alerts::subscribe(c, path, r.rq(hdr), service).await),
        Action::Explain => r.done(explain::explain(c, r.rq(hdr), service).await),
    }
}
