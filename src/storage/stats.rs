//! Counts the metrics endpoint reads from the database at scrape time: state that lives in
//! rows (locked bindings, the SMS queue, the event backlog), not in process counters, so
//! it is right across restarts and across processes sharing the file.

use diesel::dsl::count_star;
use diesel::prelude::*;

use super::schema::{audit_events, bindings, oob_events, sms_messages, tokens, users};
use super::{Conn, Error};
use crate::types::{ProviderKind, SendStat};

/// What the database says at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Bindings in Lock.
    pub locked_bindings: i64,
    /// SMS messages by provider and state.
    pub sms: Vec<(ProviderKind, SendStat, i64)>,
    /// Result events not yet delivered to the webhook.
    pub undelivered_events: i64,
    /// Audit rows not yet linked into the chain (0 outside a commit in flight).
    pub unlinked_audit_rows: i64,
}

/// Reads the snapshot in one read transaction.
pub fn snapshot(conn: &mut Conn) -> Result<Snapshot, Error> {
    conn.transaction(|c| {
        Ok(Snapshot {
            locked_bindings: bindings::table
                .filter(bindings::status.eq(crate::types::MfaTokenUsrStat::Lock))
                .select(count_star())
                .first(c)?,
            sms: sms_messages::table
                .group_by((sms_messages::provider, sms_messages::state))
                .select((sms_messages::provider, sms_messages::state, count_star()))
                .load(c)?,
            undelivered_events: oob_events::table
                .filter(oob_events::delivered_at.is_null())
                .filter(oob_events::refused_at.is_null())
                .select(count_star())
                .first(c)?,
            unlinked_audit_rows: audit_events::table
                .filter(audit_events::link.is_null())
                .select(count_star())
                .first(c)?,
        })
    })
}

/// How much an install holds: (users, tokens, audit rows), for what `tokend restore`
/// says it restored.
pub fn holdings(conn: &mut Conn) -> Result<(i64, i64, i64), Error> {
    conn.transaction(|c| {
        Ok((
            users::table.select(count_star()).first(c)?,
            tokens::table.select(count_star()).first(c)?,
            audit_events::table.select(count_star()).first(c)?,
        ))
    })
}
