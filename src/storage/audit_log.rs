//! The audit log as the admin console browses it: newest first, filtered by user, token,
//! action and time, paged by row id. Kept apart from `audit.rs` (which writes the trail)
//! and selecting only the columns it shows.

use diesel::prelude::*;

use super::schema::audit_events;
use super::{Conn, Error};

/// One row as listed.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct AuditLine {
    /// Row id.
    pub id: i32,
    /// When, ms.
    pub at: i64,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// Token.
    pub token_id: Option<String>,
    /// User.
    pub usr_name: Option<String>,
    /// Outcome.
    pub result: String,
    /// Why.
    pub detail: Option<String>,
    /// jXchange `jXLogTrackingId`.
    pub tracking_id: Option<String>,
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Exact `UsrName`.
    pub usr_name: Option<String>,
    /// Exact `TokenId`.
    pub token_id: Option<String>,
    /// Exact action (`validate`, `modify`, `admin.signin`, …).
    pub action: Option<String>,
    /// From this time (ms, inclusive).
    pub from_ms: Option<i64>,
    /// Before this time (ms, exclusive).
    pub to_ms: Option<i64>,
    /// Rows with a smaller id only (the next page).
    pub before_id: Option<i32>,
}

/// Newest first, `limit` at most.
pub fn find_audit_lines(
    conn: &mut Conn,
    f: &AuditFilter,
    limit: i64,
) -> Result<Vec<AuditLine>, Error> {
    let mut q = audit_events::table.into_boxed();
    if let Some(u) = &f.usr_name {
        q = q.filter(audit_events::usr_name.eq(u));
    }
    if let Some(t) = &f.token_id {
        q = q.filter(audit_events::token_id.eq(t));
    }
    if let Some(a) = &f.action {
        q = q.filter(audit_events::action.eq(a));
    }
    if let Some(from) = f.from_ms {
        q = q.filter(audit_events::at.ge(from));
    }
    if let Some(to) = f.to_ms {
        q = q.filter(audit_events::at.lt(to));
    }
    if let Some(before) = f.before_id {
        q = q.filter(audit_events::id.lt(before));
    }
    Ok(q.order(audit_events::id.desc())
        .limit(limit)
        .select(AuditLine::as_select())
        .load(conn)?)
}
