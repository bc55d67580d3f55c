//! The audit trail: one row per state change or validation. Never a seed, never a code.

use diesel::prelude::*;

use super::schema::audit_events;
use super::{Conn, Error};

/// An audit row to insert.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_events)]
pub struct NewAuditEvent<'a> {
    /// When, ms.
    pub at: i64,
    /// API key name or admin.
    pub actor: &'a str,
    /// jXchange `AuditUsrId`.
    pub audit_usr_id: Option<&'a str>,
    /// jXchange `AuditWsId`.
    pub audit_ws_id: Option<&'a str>,
    /// jXchange `jXLogTrackingId`.
    pub tracking_id: Option<&'a str>,
    /// jXchange `BusCorrelId`.
    pub bus_correl_id: Option<&'a str>,
    /// What happened (enroll, activate, validate, ...).
    pub action: &'a str,
    /// Token concerned.
    pub token_id: Option<&'a str>,
    /// User concerned.
    pub usr_name: Option<&'a str>,
    /// Outcome (Success, Failed, Locked, ...).
    pub result: &'a str,
    /// Why, in words a help desk can read (e.g. "replayed code").
    pub detail: Option<&'a str>,
}

/// A stored audit row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    /// Row id.
    pub id: i32,
    /// When, ms.
    pub at: i64,
    /// Who.
    pub actor: String,
    /// jXchange `AuditUsrId`.
    pub audit_usr_id: Option<String>,
    /// jXchange `AuditWsId`.
    pub audit_ws_id: Option<String>,
    /// jXchange `jXLogTrackingId`.
    pub tracking_id: Option<String>,
    /// jXchange `BusCorrelId`.
    pub bus_correl_id: Option<String>,
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
}

/// Appends one row.
pub fn insert_audit_event(conn: &mut Conn, event: &NewAuditEvent<'_>) -> Result<(), Error> {
    diesel::insert_into(audit_events::table)
        .values(event)
        .execute(conn)?;
    Ok(())
}

/// The newest rows about one token, newest first.
pub fn find_audit_for_token(
    conn: &mut Conn,
    token_id: &str,
    limit: i64,
) -> Result<Vec<AuditEvent>, Error> {
    Ok(audit_events::table
        .filter(audit_events::token_id.eq(token_id))
        .order(audit_events::id.desc())
        .limit(limit)
        .select(AuditEvent::as_select())
        .load(conn)?)
}
