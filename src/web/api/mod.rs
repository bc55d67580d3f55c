//! The jXchange-style JSON API under `/api/v1`.
//!
//! Every JSON operation runs one pipeline ([`Call`], or [`operate`] when it has no extra
//! step): authenticate → check scope (and the key's rate limit for validate, OOB and SMS
//! calls) → parse the path, query and body elements into domain types → the request's
//! context (its institution) → the domain operation on a blocking thread → answer with
//! the echoed header. Faults at any step answer through `fault::ApiFault`, header echoed.

pub mod alerts;
pub mod audit;
pub mod auth;
pub mod decode;
pub mod envelope;
pub mod events;
pub mod explain;
pub mod fault;
pub mod hdr_rules;
pub mod idempotency;
pub mod inquiry;
pub mod lifecycle;
pub mod oob;
pub mod oob_rq;
pub mod oob_wire;
pub mod openapi;
pub mod records;
pub mod sandbox;
pub mod sms;
pub mod tokens;
pub mod users;
pub mod validate;

use rocket::Route;
use std::sync::Arc;

use crate::domain::api_keys::{ApiCaller, Scope};
use crate::domain::{Context, Error, Service};
use crate::web::edge::{blocking, time_of};
use crate::web::limits::Limits;
use crate::web::parse::check_audit_id;
pub use auth::Caller;
use chrono::{DateTime, Utc};
use envelope::JxHdr;
use fault::ApiFault;

/// Every API route.
pub fn routes() -> Vec<Route> {
    [
        tokens::routes(),
        audit::routes(),
        validate::routes(),
        inquiry::routes(),
        lifecycle::routes(),
        oob::routes(),
        sms::routes(),
        events::routes(),
        users::routes(),
        alerts::routes(),
        explain::routes(),
        sandbox::routes(),
        openapi::routes(),
    ]
    .concat()
}

/// Who may run an operation: its scope, and for validate, OOB and SMS calls the API key's
/// request rate limit. A bare [`Scope`] is a gate without a limit.
#[derive(Clone, Copy)]
pub struct Gate<'a> {
    scope: Scope,
    limits: Option<&'a Limits>,
}

impl<'a> Gate<'a> {
    /// The scope, then the key's request rate limit.
    pub fn limited(scope: Scope, limits: &'a Limits) -> Gate<'a> {
        Gate {
            scope,
            limits: Some(limits),
        }
    }
}

impl From<Scope> for Gate<'static> {
    fn from(scope: Scope) -> Gate<'static> {
        Gate {
            scope,
            limits: None,
        }
    }
}

/// A request admitted by its gate: the header every answer and fault echoes, and the
/// checked caller. Handlers take the steps in the pipeline's order: [`Call::admit`],
/// parse ([`Call::check`]), [`Call::context`], [`Call::run`], [`Call::answer`]; an
/// operation's own step (a per-user limit, waiting for an SMS provider) goes between.
pub struct Call {
    hdr: JxHdr,
    caller: ApiCaller,
}

impl Call {
    /// Checks the caller, its scope and (if the gate has one) its rate limit, in that order.
    pub fn admit<'g>(
        hdr: JxHdr,
        caller: Result<Caller, Error>,
        gate: impl Into<Gate<'g>>,
    ) -> Result<Call, ApiFault> {
        let gate = gate.into();
        let caller = authorize(caller, gate.scope, &hdr)?;
        if let Some(limits) = gate.limits {
            limits
                .request(&caller.name)
                .map_err(|l| ApiFault::limited(&hdr, l))?;
        }
        Ok(Call { hdr, caller })
    }

    /// The request's header (echoed by every answer).
    pub fn hdr(&self) -> &JxHdr {
        &self.hdr
    }

    /// The admitted caller.
    pub fn caller(&self) -> &ApiCaller {
        &self.caller
    }

    /// A step's result, its error as a fault echoing the header.
    pub fn check<T>(&self, step: Result<T, Error>) -> Result<T, ApiFault> {
        step.map_err(|e| ApiFault::new(&self.hdr, e))
    }

    /// The request's context: fault 2505 when the key may not act in the header's
    /// `InstRtId`.
    pub fn context(&self) -> Result<Context, ApiFault> {
        self.check(context(&self.caller, &self.hdr))
    }

    /// The context when the body may name the institution too (OOBValidate): the header's
    /// `InstRtId` wins when both are set.
    pub fn context_naming(&self, inst_rt_id: Option<String>) -> Result<Context, ApiFault> {
        let mut named = self.hdr.clone();
        named.inst_rt_id = self.hdr.inst_rt_id.clone().or(inst_rt_id);
        self.check(context(&self.caller, &named))
    }

    /// Runs the domain operation on the blocking pool, at the time of the institution's
    /// clock (the real one, or a sandbox's test clock: `domain::sandbox`).
    pub async fn run<T>(
        &self,
        service: &Arc<Service>,
        ctx: &Context,
        op: impl FnOnce(&Service, &Context, DateTime<Utc>) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, ApiFault>
    where
        T: Send + 'static,
    {
        let ctx = ctx.clone();
        let reach = self.caller.reach.clone();
        self.check(
            blocking(service, move |s| {
                let now = time_of(s.clock_for(&ctx, &reach)?);
                op(s, &ctx, now)
            })
            .await,
        )
    }

    /// The time of the institution's clock, read on this thread (its one read, of an
    /// institution not seen yet, is in process where this is used).
    pub fn now(&self, service: &Service, ctx: &Context) -> Result<DateTime<Utc>, ApiFault> {
        self.check(service.clock_for(ctx, &self.caller.reach).map(time_of))
    }

    /// Runs a read-only domain operation: on this async thread where reads are in process
    /// (SQLite: microseconds, not worth the blocking pool's two thread hand-offs), else on
    /// the blocking pool like [`Call::run`] (PostgreSQL: a read is a network round trip on
    /// a blocking driver).
    pub async fn run_reading<T>(
        &self,
        service: &Arc<Service>,
        ctx: &Context,
        op: impl FnOnce(&Service, &Context, DateTime<Utc>) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, ApiFault>
    where
        T: Send + 'static,
    {
        if service.reads_in_process() {
            let now = self.now(service, ctx)?;
            return self.check(op(service, ctx, now));
        }
        self.run(service, ctx, op).await
    }

    /// The answer under the echoed header.
    pub fn answer<R>(self, body: R) -> envelope::Jx<R> {
        envelope::Jx {
            body,
            hdr: self.hdr,
        }
    }
}

/// One JSON operation without a step of its own: the gate, then the input the handler
/// parsed from the path, query and body (a fault if it did not parse), the context, the
/// domain operation on the blocking pool at the institution's time, and the answer built
/// from its result.
pub async fn operate<'g, I, T, R>(
    request: (JxHdr, Result<Caller, Error>, impl Into<Gate<'g>>),
    service: &Arc<Service>,
    input: Result<I, Error>,
    op: impl FnOnce(&Service, &Context, I, DateTime<Utc>) -> Result<T, Error> + Send + 'static,
    answer: impl FnOnce(T) -> R,
) -> Result<envelope::Jx<R>, ApiFault>
where
    I: Send + 'static,
    T: Send + 'static,
{
    operate_on(Runs::Blocking, request, service, input, op, answer).await
}

/// Where an operation's domain call runs.
#[derive(Clone, Copy)]
pub enum Runs {
    /// On the blocking pool ([`Call::run`]).
    Blocking,
    /// A read-only call: in place where reads are in process ([`Call::run_reading`]).
    Reading,
}

/// [`operate`], the domain call run where `runs` says.
pub async fn operate_on<'g, I, T, R>(
    runs: Runs,
    (hdr, caller, gate): (JxHdr, Result<Caller, Error>, impl Into<Gate<'g>>),
    service: &Arc<Service>,
    input: Result<I, Error>,
    op: impl FnOnce(&Service, &Context, I, DateTime<Utc>) -> Result<T, Error> + Send + 'static,
    answer: impl FnOnce(T) -> R,
) -> Result<envelope::Jx<R>, ApiFault>
where
    I: Send + 'static,
    T: Send + 'static,
{
    let call = Call::admit(hdr, caller, gate)?;
    let input = call.check(input)?;
    let ctx = call.context()?;
    let job = move |s: &Service, ctx: &Context, now| op(s, ctx, input, now);
    let out = match runs {
        Runs::Blocking => call.run(service, &ctx, job).await?,
        Runs::Reading => call.run_reading(service, &ctx, job).await?,
    };
    Ok(call.answer(answer(out)))
}

/// Checks the caller and scope, in that order, echoing `hdr` in the fault.
fn authorize(
    caller: Result<Caller, Error>,
    scope: Scope,
    hdr: &JxHdr,
) -> Result<ApiCaller, ApiFault> {
    let caller = caller.map_err(|e| ApiFault::new(hdr, e))?.0;
    caller
        .check_consumer(
            hdr.valid_consm_name.as_deref(),
            hdr.valid_consm_prod.as_deref(),
        )
        .map_err(|e| ApiFault::new(hdr, e))?;
    caller.require(scope).map_err(|e| ApiFault::new(hdr, e))?;
    Ok(caller)
}

/// The context of a request: who acts, within which institution (the header's
/// `InstRtId` checked against the key: fault 2505 when the key may not act there), and
/// the correlation ids the audit records.
fn context(caller: &ApiCaller, hdr: &JxHdr) -> Result<Context, Error> {
    let (src, elem) = if hdr.audit_usr_from_cred {
        ("AuthenUsrCred", "MsgRqHdr.AuthenUsrCred")
    } else {
        ("AuditUsrId", "MsgRqHdr.jXchangeHdr.AuditUsrId")
    };
    check_audit_id(elem, hdr.audit_usr_id.as_deref())?;
    check_audit_id("MsgRqHdr.jXchangeHdr.AuditWsId", hdr.audit_ws_id.as_deref())?;
    let asserted = hdr.audit_usr_id.as_deref().is_some_and(|u| !u.is_empty());
    Ok(Context {
        actor: caller.actor(),
        audit_usr_id: hdr.audit_usr_id.clone(),
        audit_usr_src: asserted.then_some(src),
        audit_ws_id: hdr.audit_ws_id.clone(),
        tracking_id: hdr.tracking_id.clone(),
        bus_correl_id: hdr.bus_correl_id.clone(),
        inst_rt_id: caller.institution(hdr.inst_rt_id.as_deref())?,
    })
}
