//! A validation's success write, all of it or nothing: on the token row the replay guard
//! (the last accepted step) and the success (its binding, time and receipt, which readers
//! give that binding: `bindings::into_bound`), the binding's failure count cleared, the end
//! of the user's temporary codes, the reset of the user's OOB failure streak and the audit
//! row. One function for the domain, [`Storage::accept_success`]; which statements make
//! it on which engine is this module's business:
//! - SQLite: the statements one after another in a job of the writer thread (SQLite has
//!   no data-modifying CTE), rolled back together when a guard refuses;
//! - PostgreSQL: first ONE statement that PostgreSQL commits on its own ([`AT_ONCE`]), in
//!   one round trip instead of nine (advisory lock, BEGIN, five statements, COMMIT,
//!   unlock); when it writes nothing (the step was taken, the token or binding left Act,
//!   a deadlock) the same job as SQLite's decides in a SERIALIZABLE transaction, which
//!   tells a replay from a status change. Refusals are rare; successes take one trip.
//!
//! Of any number of concurrent calls with one step, on any number of nodes, exactly one
//! answers [`Accepted::Won`] (the race test below runs on both engines).

use super::audit::{insert_audit_event, NewAuditEvent};
use super::bindings::{self, BoundToken};
use super::{temp_codes, tokens, users, Bind, Conn, Error, Fixed, JobError, Storage};
use crate::types::{AuditAction, AuditResult, MfaTokenUsrStat, UsrTokenStat};

/// The audit row of a success, owned (the SQLite job runs on the writer thread).
#[derive(Debug, Clone)]
pub struct SuccessAudit {
    /// Who (`apikey:NAME`, ...).
    pub actor: String,
    /// jXchange `AuditUsrId`.
    pub audit_usr_id: Option<String>,
    /// Which element the consumer asserted it in.
    pub audit_usr_src: Option<&'static str>,
    /// jXchange `AuditWsId`.
    pub audit_ws_id: Option<String>,
    /// jXchange `jXLogTrackingId`.
    pub tracking_id: Option<String>,
    /// jXchange `BusCorrelId`.
    pub bus_correl_id: Option<String>,
    /// The institution the request acted within.
    pub inst_rt_id: Option<String>,
}

/// What a success writes.
#[derive(Debug, Clone)]
pub struct Success {
    /// The token (row id) whose step is accepted.
    pub token_pk: i32,
    /// The binding (row id) the success is recorded on.
    pub binding_pk: i32,
    /// The binding's user (row id).
    pub user_pk: i32,
    /// The token's institution and serial (to read the binding again on a refusal).
    pub inst_rt_id: String,
    /// The token's serial.
    pub token_id: String,
    /// The user's name (the audit row's).
    pub usr_name: String,
    /// The accepted step: must be newer than the token's last accepted one.
    pub step: i64,
    /// The drift the success learned.
    pub drift: i32,
    /// When, ms.
    pub now_ms: i64,
    /// The new `LastTrnRcptId`.
    pub receipt_id: String,
    /// Who asked, for the audit row.
    pub audit: SuccessAudit,
}

impl Success {
    /// The success's audit row.
    fn audit_row(&self) -> NewAuditEvent<'_> {
        let a = &self.audit;
        NewAuditEvent {
            at: self.now_ms,
            actor: &a.actor,
            audit_usr_id: a.audit_usr_id.as_deref(),
            audit_ws_id: a.audit_ws_id.as_deref(),
            tracking_id: a.tracking_id.as_deref(),
            bus_correl_id: a.bus_correl_id.as_deref(),
            action: AuditAction::Validate,
            token_id: Some(&self.token_id),
            usr_name: Some(&self.usr_name),
            result: AuditResult::Success,
            detail: Some(&self.receipt_id),
            inst_rt_id: a.inst_rt_id.as_deref(),
            audit_usr_src: a.audit_usr_src,
        }
    }
}

/// What [`Storage::accept_success`] came to.
#[derive(Debug)]
pub enum Accepted {
    /// Committed: the step was this call's, and everything a success writes is written.
    Won,
    /// Nothing written: another request accepted this step (or a newer one) first.
    Replayed,
    /// Nothing written: the token or binding left Act (a concurrent lock, an admin) after
    /// the caller read it; the binding as it is now (read in the deciding transaction,
    /// which sees what it decided on), or `None` if it is gone.
    StatusChanged(Option<Box<BoundToken>>),
}

/// A guard's refusal inside the job (rolls the job back), or a storage error.
enum Refused {
    Replayed,
    StatusChanged(Option<Box<BoundToken>>),
    Storage(Error),
}

impl From<Error> for Refused {
    fn from(e: Error) -> Self {
        Refused::Storage(e)
    }
}

impl JobError for Refused {
    fn storage_error(&self) -> Option<&Error> {
        match self {
            Refused::Storage(e) => Some(e),
            _ => None,
        }
    }
}

impl Storage {
    /// Writes a validation's success, or answers why nothing was written. `key` queues
    /// one user's racing writes on PostgreSQL (see [`Storage::write_owned`]).
    pub fn accept_success(&self, key: &str, success: Success) -> Result<Accepted, Error> {
        if self.is_postgres() && self.write_at_once(|c| at_once(c, &success))? {
            return Ok(Accepted::Won);
        }
        accepted(self.write_owned(key, move |c| decide(c, &success)))
    }
}

impl Storage {
    /// [`Storage::accept_success`] for an async caller (see [`Storage::write_owned_async`]):
    /// on SQLite the same job on the writer thread, awaited; on PostgreSQL the same call
    /// on the blocking pool.
    pub fn accept_success_async(
        &self,
        key: &str,
        success: Success,
    ) -> impl std::future::Future<Output = Result<Accepted, Error>> + Send + 'static {
        let on_writer = if self.in_process() {
            Ok(self.write_owned_async(key, move |c| decide(c, &success)))
        } else {
            Err((self.clone(), key.to_owned(), success))
        };
        async move {
            match on_writer {
                Ok(answer) => accepted(answer.await),
                Err((storage, key, success)) => {
                    tokio::task::spawn_blocking(move || storage.accept_success(&key, success))
                        .await
                        .unwrap_or_else(|e| Err(Error::Db(format!("the write failed: {e}"))))
                }
            }
        }
    }
}

/// What the deciding job's outcome means to the caller.
fn accepted(outcome: Result<(), Refused>) -> Result<Accepted, Error> {
    match outcome {
        Ok(()) => Ok(Accepted::Won),
        Err(Refused::Replayed) => Ok(Accepted::Replayed),
        Err(Refused::StatusChanged(now)) => Ok(Accepted::StatusChanged(now)),
        Err(Refused::Storage(e)) => Err(e),
    }
}

/// The success as a transaction's statements (every engine's deciding path). The token
/// row takes the replay guard and the success itself (which binding, when, the receipt);
/// the binding is read for its status and written only to clear a failure count, or to
/// keep its own last success when the token's moves to another user's binding.
fn decide(c: &mut Conn, s: &Success) -> Result<(), Refused> {
    // The common case in one statement: the token's last success was this binding's (or
    // none). Otherwise read whose it was, so the binding it leaves keeps it.
    if !update_token_success(c, s, Holder::ThisOrNone)? {
        let moved = last_success(c, s.token_pk)?.filter(|b| b.0 != s.binding_pk);
        let Some((previous, at, receipt)) = moved else {
            return Err(refusal(c, s)?);
        };
        if !update_token_success(c, s, Holder::Any)? {
            return Err(refusal(c, s)?);
        }
        bindings::update_binding_last_success(c, previous, at, receipt.as_deref())?;
    }
    if !bindings::update_binding_clear_failures(c, s.binding_pk)? {
        return Err(Refused::StatusChanged(reread(c, s)?));
    }
    temp_codes::update_temp_codes_end(c, s.user_pk, s.now_ms)?;
    users::update_user_oob_failures(c, s.user_pk, 0)?;
    insert_audit_event(c, &s.audit_row())?;
    Ok(())
}

/// Why the replay guard refused: the step was taken (the token is still Act), or the
/// token left Act.
fn refusal(c: &mut Conn, s: &Success) -> Result<Refused, Error> {
    if tokens::find_token_status(c, s.token_pk)? == Some(UsrTokenStat::Act) {
        return Ok(Refused::Replayed);
    }
    Ok(Refused::StatusChanged(reread(c, s)?))
}

/// The token's last success before this one: its binding (row id), time and receipt.
type LastSuccess = (i32, Option<i64>, Option<String>);

/// Reads which binding the token's last success was, with its time and receipt.
fn last_success(c: &mut Conn, token_pk: i32) -> Result<Option<LastSuccess>, Error> {
    use super::schema::tokens::dsl as t;
    use diesel::prelude::*;
    let row: Option<(Option<i32>, Option<i64>, Option<String>)> = t::tokens
        .find(token_pk)
        .select((t::success_binding_pk, t::success_at, t::success_receipt_id))
        .first(c)
        .optional()?;
    Ok(row.and_then(|(pk, at, receipt)| pk.map(|pk| (pk, at, receipt))))
}

/// The token row's part of a success, as a statement (SQLite) and as `t` of [`AT_ONCE`]:
/// one text, bound by [`token_binds`].
macro_rules! token_success {
    () => {
        "UPDATE tokens SET last_step = ?, drift = ?, version = version + 1, updated_at = ?, \
         success_binding_pk = ?, success_at = ?, success_receipt_id = ? \
         WHERE id = ? AND last_step < ? AND status = ?"
    };
}

/// Which token rows [`update_token_success`] may write.
#[derive(Clone, Copy)]
enum Holder {
    /// Only if the token's last success was this binding's, or it has none.
    ThisOrNone,
    /// Whoever's it was (the caller keeps that binding's values first).
    Any,
}

/// THE REPLAY GUARD with the success on the token row: records the step only if it is
/// newer than the last accepted one and the token is Act, and with it the binding, time
/// and receipt of this success; answers whether this call won.
fn update_token_success(c: &mut Conn, s: &Success, holder: Holder) -> Result<bool, Error> {
    let binds = token_binds(s);
    let rows = match holder {
        Holder::Any => Fixed::new(token_success!(), &binds).execute(c)?,
        Holder::ThisOrNone => {
            let binds: Vec<Bind<'_>> = binds.into_iter().chain([Bind::Int(s.binding_pk)]).collect();
            Fixed::new(
                concat!(
                    token_success!(),
                    " AND (success_binding_pk IS NULL OR success_binding_pk = ?)"
                ),
                &binds,
            )
            .execute(c)?
        }
    };
    Ok(rows == 1)
}

/// The values of [`token_success`], in its order.
fn token_binds(s: &Success) -> [Bind<'_>; 9] {
    [
        Bind::BigInt(s.step),
        Bind::Int(s.drift),
        Bind::BigInt(s.now_ms),
        Bind::Int(s.binding_pk),
        Bind::BigInt(s.now_ms),
        Bind::Text(&s.receipt_id),
        Bind::Int(s.token_pk),
        Bind::BigInt(s.step),
        Bind::Text(UsrTokenStat::Act.as_str()),
    ]
}

/// The binding as it is now, read in the deciding transaction.
fn reread(c: &mut Conn, s: &Success) -> Result<Option<Box<BoundToken>>, Error> {
    Ok(
        bindings::find_bound_by_token(c, &s.inst_rt_id, &s.token_id)?
            .into_iter()
            .find(|f| f.binding.id == s.binding_pk)
            .map(Box::new),
    )
}

/// PostgreSQL's one statement ([`AT_ONCE`]); true when it committed the success, false
/// when it wrote nothing.
fn at_once(c: &mut Conn, s: &Success) -> Result<bool, Error> {
    #[derive(diesel::QueryableByName)]
    struct Outcome {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        won: i64,
    }
    let a = s.audit_row();
    let lock = [
        Bind::Int(s.binding_pk),
        Bind::Text(MfaTokenUsrStat::Act.as_str()),
        Bind::Int(s.token_pk),
    ];
    let rest = [
        Bind::Int(s.binding_pk),
        Bind::Int(s.binding_pk),
        Bind::BigInt(s.now_ms),
        Bind::Int(s.user_pk),
        Bind::Int(s.user_pk),
        Bind::BigInt(a.at),
        Bind::Text(a.actor),
        Bind::OptText(a.audit_usr_id),
        Bind::OptText(a.audit_ws_id),
        Bind::OptText(a.tracking_id),
        Bind::OptText(a.bus_correl_id),
        Bind::Text(a.action.as_str()),
        Bind::OptText(a.token_id),
        Bind::OptText(a.usr_name),
        Bind::Text(a.result.as_str()),
        Bind::OptText(a.detail),
        Bind::OptText(a.inst_rt_id),
        Bind::OptText(a.audit_usr_src),
    ];
    let binds: Vec<Bind<'_>> = lock.into_iter().chain(token_binds(s)).chain(rest).collect();
    let Conn::Pg(pg) = c else {
        return Ok(false);
    };
    match diesel::RunQueryDsl::get_result::<Outcome>(Fixed::new(AT_ONCE, &binds), pg) {
        Ok(o) => Ok(o.won == 1),
        // A deadlock (with a writer that locks the token before the binding) also leaves
        // nothing written: the deciding transaction runs.
        Err(e) => match Error::from(e) {
            Error::Serialization => Ok(false),
            other => Err(other),
        },
    }
}

/// The success on PostgreSQL, one statement in autocommit (no BEGIN, no COMMIT): a failed
/// autocommit statement rolls back whole, and the answer comes after the commit (Diesel
/// reads up to ReadyForQuery), so `won = 1` is durable.
///
/// All or nothing: `l` locks the binding's newest version while it is Act (`FOR UPDATE`
/// under READ COMMITTED waits for a concurrent writer of the row and re-checks its WHERE
/// on the version that writer committed); `p` then locks the token and reads which
/// binding its last success was; `t`, the replay guard, writes only if `p` (so `l`) found
/// a row, and records this success on the token row. `t` names `p` so that `p` runs
/// first: a statement's own `FOR UPDATE` does not see a row the statement has already
/// updated. The rest writes only if `t` did: `b` clears the binding's failure count if it
/// has one (otherwise the binding row is not written: one page less per success), `f`
/// keeps the last success of the binding the token's moves away from (a token shared by
/// users), `e`, `u` and `a` as on SQLite. The binding cannot leave Act between `l` and
/// `t` (this statement holds its lock), so the success is whole whenever `t` wrote.
///
/// One winner: `t` re-checks `last_step < step` on the token's newest version after
/// waiting for any concurrent writer of it, so of concurrent calls with one step exactly
/// one passes, on every node. Against the failure count (`bindings::update_binding_failure`,
/// SERIALIZABLE): both lock the binding first, then the token, so they queue on the
/// binding and never deadlock with each other. If the count commits first, `l` sees the
/// binding as it left it (a lock it made stops this; otherwise this clears its count:
/// "count, then success"); if this commits first, the count's transaction fails to
/// serialize and runs again, counting from zero ("success, then count"). Rows this only
/// reads from its snapshot (a temporary code issued by a transaction committing
/// meanwhile) are ordered as if written after it.
const AT_ONCE: &str = concat!(
    "\
WITH l AS MATERIALIZED (\
  SELECT id, failure_count FROM bindings WHERE id = ? AND status = ? FOR UPDATE), \
p AS MATERIALIZED (\
  SELECT success_binding_pk, success_at, success_receipt_id FROM tokens \
  WHERE id = ? AND EXISTS (SELECT 1 FROM l) FOR UPDATE), \
t AS (",
    token_success!(),
    " AND EXISTS (SELECT 1 FROM p) RETURNING id), \
b AS (\
  UPDATE bindings SET failure_count = 0 \
  WHERE id = ? AND EXISTS (SELECT 1 FROM l WHERE failure_count <> 0) \
  AND EXISTS (SELECT 1 FROM t)), \
f AS (\
  UPDATE bindings SET last_authen_at = p.success_at, last_receipt_id = p.success_receipt_id \
  FROM p WHERE bindings.id = p.success_binding_pk AND p.success_binding_pk <> ? \
  AND EXISTS (SELECT 1 FROM t)), \
e AS (\
  UPDATE temp_codes SET ended_at = ? \
  WHERE user_pk = ? AND ended_at IS NULL AND EXISTS (SELECT 1 FROM t)), \
u AS (\
  UPDATE users SET oob_failed_sessions = 0 \
  WHERE id = ? AND oob_failed_sessions <> 0 AND EXISTS (SELECT 1 FROM t)), \
a AS (\
  INSERT INTO audit_events (at, actor, audit_usr_id, audit_ws_id, tracking_id, \
  bus_correl_id, action, token_id, usr_name, result, detail, inst_rt_id, audit_usr_src) \
  SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM t)) \
SELECT (SELECT count(*) FROM t) AS won"
);

#[cfg(test)]
#[path = "success_tests.rs"]
mod tests;
