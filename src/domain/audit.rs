//! Audit records: who did what to which token, with the jXchange correlation ids.
//!
//! Written in the same transaction as the change they describe, so a change without its
//! record (or the reverse) cannot exist. NEVER pass a seed or a code in `detail`.

use chrono::{DateTime, Utc};

use super::{to_ms, Context, Error, Service};
use crate::storage::audit::{find_audit_for_token, insert_audit_event, AuditEvent, NewAuditEvent};
use crate::storage::{self, Conn};

/// What one audit row says, apart from who and when.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// The operation: `enroll`, `activate`, `validate`, `apikey.create`, ...
    pub action: &'a str,
    /// Token concerned.
    pub token_id: Option<&'a str>,
    /// User concerned.
    pub usr_name: Option<&'a str>,
    /// Outcome: `Success`, `Failed`, `Locked`, ...
    pub result: &'a str,
    /// Why, for a help desk (e.g. "replayed code", "wrong code, 2 of 5").
    pub detail: Option<&'a str>,
}

/// Appends one audit row inside the caller's transaction.
pub fn record(
    conn: &mut Conn,
    ctx: &Context,
    now: DateTime<Utc>,
    entry: Entry<'_>,
) -> Result<(), storage::Error> {
    insert_audit_event(
        conn,
        &NewAuditEvent {
            at: to_ms(now),
            actor: &ctx.actor,
            audit_usr_id: ctx.audit_usr_id.as_deref(),
            audit_ws_id: ctx.audit_ws_id.as_deref(),
            tracking_id: ctx.tracking_id.as_deref(),
            bus_correl_id: ctx.bus_correl_id.as_deref(),
            action: entry.action,
            token_id: entry.token_id,
            usr_name: entry.usr_name,
            result: entry.result,
            detail: entry.detail,
        },
    )
}

impl Service {
    /// The newest audit rows about a token, newest first.
    pub fn token_history(&self, token_id: &str, limit: i64) -> Result<Vec<AuditEvent>, Error> {
        Ok(self
            .storage
            .read(|c| find_audit_for_token(c, token_id, limit))?)
    }
}
