//! The audit trail: one row per state change or validation. Never a seed, never a code.
//!
//! The rows form a keyed hash chain: each row's `link` is a MAC over the previous row's
//! link and this row's [`canonical_bytes`]. Links are made by the writer just before each
//! commit ([`link_pending`]), inside the transaction that wrote the rows, with a function
//! the domain installs (storage never holds a key). Changing, inserting or deleting a row
//! in the middle breaks the chain at that row; `tokend audit verify` finds it.

use diesel::prelude::*;

use super::schema::{audit_events, institutions};
use super::{Bind, Conn, Error, Fixed};
use crate::types::{AuditAction, AuditResult};

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
    pub action: AuditAction,
    /// Token concerned.
    pub token_id: Option<&'a str>,
    /// User concerned.
    pub usr_name: Option<&'a str>,
    /// Outcome (Success, Failed, Locked, ...).
    pub result: AuditResult,
    /// Why, in words a help desk can read (e.g. "replayed code").
    pub detail: Option<&'a str>,
    /// jXchange `InstRtId` the request acted within; `None`: the default institution.
    pub inst_rt_id: Option<&'a str>,
    /// Which element the consumer asserted `audit_usr_id` in (`AuditUsrId`, or
    /// `AuthenUsrCred`, unverified).
    pub audit_usr_src: Option<&'a str>,
}

/// A stored audit row. Written with the typed `AuditAction`/`AuditResult`, but read back
/// as text: the trail is history, and a row written by an earlier version (an action
/// since renamed or retired) must stay readable and its link verifiable byte for byte.
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
    /// The chain link (see [`canonical_bytes`]); `None` until the commit that links it.
    pub link: Option<String>,
    /// Institution; `None`: the default one (and every row written before institutions).
    pub inst_rt_id: Option<String>,
    /// Place in the chain, set with the link. The chain's order is the order rows became
    /// visible to the linker, which on PostgreSQL (several nodes, ids handed out before
    /// commit) need not be id order.
    pub chain_pos: Option<i64>,
    /// Which element the consumer asserted the audit user in (issue 26).
    pub audit_usr_src: Option<String>,
}

/// Appends one row.
///
/// The values are a fixed tuple of `column = value`, the optional ones bound as NULL,
/// rather than the `Insertable` struct: Diesel renders a `None` field of an insertable
/// struct as DEFAULT, so such an INSERT's SQL can vary and Diesel prepares it anew on
/// every call. Every validation writes one audit row; with fixed SQL, run on the engine's
/// connection (`on_engine`), it comes from the prepared-statement cache.
pub fn insert_audit_event(conn: &mut Conn, event: &NewAuditEvent<'_>) -> Result<(), Error> {
    use audit_events as a;
    super::on_engine!(conn, |c| diesel::insert_into(a::table)
        .values((
            a::at.eq(event.at),
            a::actor.eq(event.actor),
            a::audit_usr_id.eq(event.audit_usr_id),
            a::audit_ws_id.eq(event.audit_ws_id),
            a::tracking_id.eq(event.tracking_id),
            a::bus_correl_id.eq(event.bus_correl_id),
            a::action.eq(event.action),
            a::token_id.eq(event.token_id),
            a::usr_name.eq(event.usr_name),
            a::result.eq(event.result),
            a::detail.eq(event.detail),
            a::inst_rt_id.eq(event.inst_rt_id),
            a::audit_usr_src.eq(event.audit_usr_src),
        ))
        .execute(c))?;
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

/// The bytes a row's link covers: every column but the link, each length-prefixed and
/// with `None` distinct from an empty string, so no two different rows share them.
pub fn canonical_bytes(row: &AuditEvent) -> Vec<u8> {
    fn text(out: &mut Vec<u8>, value: Option<&str>) {
        match value {
            None => out.push(0),
            Some(s) => {
                out.push(1);
                out.extend_from_slice(&(s.len() as u64).to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
    }
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&i64::from(row.id).to_be_bytes());
    out.extend_from_slice(&row.at.to_be_bytes());
    for value in [
        Some(row.actor.as_str()),
        row.audit_usr_id.as_deref(),
        row.audit_ws_id.as_deref(),
        row.tracking_id.as_deref(),
        row.bus_correl_id.as_deref(),
        Some(row.action.as_str()),
        row.token_id.as_deref(),
        row.usr_name.as_deref(),
        Some(row.result.as_str()),
        row.detail.as_deref(),
    ] {
        text(&mut out, value);
    }
    // Added with institutions: covered when set, absent otherwise, so the rows linked
    // before the column existed keep their bytes and their links still verify.
    if let Some(inst) = row.inst_rt_id.as_deref() {
        text(&mut out, Some(inst));
    }
    // Added in issue 26, covered the same way; after an absent institution its tag keeps
    // the two apart.
    if let Some(src) = row.audit_usr_src.as_deref() {
        if row.inst_rt_id.is_none() {
            text(&mut out, None);
        }
        text(&mut out, Some(src));
    }
    out
}

/// Makes a row's link from the previous link and the row's canonical bytes.
pub type Linker = dyn Fn(&str, &[u8]) -> String + Send + Sync;

/// Links every row that has no link yet, in id order, continuing from the chain's head.
/// On SQLite it runs inside the write transaction, just before its commit; on PostgreSQL
/// the elected linker runs it (`leader`). Answers how many rows it linked.
pub fn link_pending(conn: &mut Conn, linker: &Linker) -> Result<usize, Error> {
    let pending: Vec<AuditEvent> = audit_events::table
        .filter(audit_events::link.is_null())
        .order(audit_events::id.asc())
        .limit(LINK_BATCH)
        .select(AuditEvent::as_select())
        .load(conn)?;
    if pending.is_empty() {
        return Ok(0);
    }
    let head: Option<(Option<i64>, Option<String>)> = audit_events::table
        .filter(audit_events::chain_pos.is_not_null())
        .order(audit_events::chain_pos.desc())
        .select((audit_events::chain_pos, audit_events::link))
        .first(conn)
        .optional()?;
    // With every linked row archived, the chain continues from the archive's anchor.
    let (mut pos, mut previous) = match head {
        Some((pos, link)) => (pos.unwrap_or(0), link.unwrap_or_default()),
        None => {
            let anchor = super::audit_anchor::find_anchor(conn)?;
            (anchor.pos, anchor.link)
        }
    };
    for row in &pending {
        let link = linker(&previous, &canonical_bytes(row));
        pos += 1;
        Fixed::new(
            "UPDATE audit_events SET link = ?, chain_pos = ? WHERE id = ?",
            &[Bind::Text(&link), Bind::BigInt(pos), Bind::Int(row.id)],
        )
        .execute(conn)?;
        previous = link;
    }
    Ok(pending.len())
}

/// Rows one linking round takes (a burst is linked over several rounds).
const LINK_BATCH: i64 = 5_000;

/// Rows written but not linked yet.
pub fn count_unlinked(conn: &mut Conn) -> Result<i64, Error> {
    Ok(audit_events::table
        .filter(audit_events::link.is_null())
        .count()
        .get_result(conn)?)
}

/// Rows written before `before_ms` but not linked yet (an archive up to that time waits
/// for them; newer ones are no concern of it).
pub fn count_unlinked_before(conn: &mut Conn, before_ms: i64) -> Result<i64, Error> {
    Ok(audit_events::table
        .filter(audit_events::link.is_null())
        .filter(audit_events::at.lt(before_ms))
        .count()
        .get_result(conn)?)
}

/// The latest time the trail records on the real clock, ms (`None` on an empty trail);
/// an index search. A sandbox's rows are left out: they carry its test clock's time,
/// which may be far ahead (issue 29).
pub fn latest_audit_at(conn: &mut Conn) -> Result<Option<i64>, Error> {
    let sandboxes = institutions::table
        .filter(institutions::sandbox.eq(true))
        .select(institutions::inst_rt_id.nullable());
    Ok(audit_events::table
        .filter(
            audit_events::inst_rt_id
                .is_null()
                .or(audit_events::inst_rt_id.ne_all(sandboxes)),
        )
        .select(diesel::dsl::max(audit_events::at))
        .first::<Option<i64>>(conn)?)
}

/// Up to `limit` linked rows past chain position `after`, in chain order: the
/// verifier's pages.
pub fn find_chain_page(conn: &mut Conn, after: i64, limit: i64) -> Result<Vec<AuditEvent>, Error> {
    Ok(audit_events::table
        .filter(audit_events::chain_pos.gt(after))
        .order(audit_events::chain_pos.asc())
        .limit(limit)
        .select(AuditEvent::as_select())
        .load(conn)?)
}

/// What `GET /api/v1/audit` filters on; every field optional.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Rows about this user.
    pub usr_name: Option<String>,
    /// Rows about this token.
    pub token_id: Option<String>,
    /// Rows of this action.
    pub action: Option<String>,
    /// Rows at or after this time, ms.
    pub from_ms: Option<i64>,
    /// Rows before this time, ms.
    pub to_ms: Option<i64>,
    /// Rows with ids below this one (the previous page's last id).
    pub before_id: Option<i32>,
    /// Rows of this institution only (an institution-bound key's view).
    pub inst_rt_id: Option<String>,
    /// With `inst_rt_id`: also the rows without one, which are the default institution's.
    pub with_unplaced: bool,
}

/// Up to `limit` rows matching `filter`, newest first.
pub fn find_audit(
    conn: &mut Conn,
    filter: &AuditFilter,
    limit: i64,
) -> Result<Vec<AuditEvent>, Error> {
    let mut query = audit_events::table
        .select(AuditEvent::as_select())
        .order(audit_events::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(usr) = &filter.usr_name {
        query = query.filter(audit_events::usr_name.eq(usr.clone()));
    }
    if let Some(token) = &filter.token_id {
        query = query.filter(audit_events::token_id.eq(token.clone()));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_events::action.eq(action.clone()));
    }
    if let Some(from) = filter.from_ms {
        query = query.filter(audit_events::at.ge(from));
    }
    if let Some(to) = filter.to_ms {
        query = query.filter(audit_events::at.lt(to));
    }
    if let Some(before) = filter.before_id {
        query = query.filter(audit_events::id.lt(before));
    }
    match (&filter.inst_rt_id, filter.with_unplaced) {
        (Some(inst), false) => query = query.filter(audit_events::inst_rt_id.eq(inst.clone())),
        (Some(inst), true) => {
            query = query.filter(
                audit_events::inst_rt_id
                    .eq(inst.clone())
                    .or(audit_events::inst_rt_id.is_null()),
            );
        }
        (None, _) => {}
    }
    Ok(query.load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_support::temp_storage;

    fn event(detail: Option<&str>) -> NewAuditEvent<'_> {
        crate::storage::test_support::audit_event(1, detail)
    }

    #[test]
    fn rows_are_linked_in_order_each_to_the_previous_link_at_commit() {
        let (_dir, storage) = temp_storage();
        storage.set_audit_linker(std::sync::Arc::new(|previous: &str, row: &[u8]| {
            format!("{previous}+{}", row.len())
        }));
        storage
            .write(|c| {
                insert_audit_event(c, &event(None))?;
                insert_audit_event(c, &event(Some("")))?;
                Ok::<_, Error>(())
            })
            .unwrap();
        storage
            .write(|c| insert_audit_event(c, &event(Some("x"))))
            .unwrap();
        let rows = storage.read(|c| find_chain_page(c, 0, 10)).unwrap();
        let positions: Vec<Option<i64>> = rows.iter().map(|r| r.chain_pos).collect();
        assert_eq!(positions, [Some(1), Some(2), Some(3)]);
        let links: Vec<String> = rows.iter().map(|r| r.link.clone().unwrap()).collect();
        let len = |i: usize| canonical_bytes(&rows[i]).len();
        assert_eq!(links[0], format!("+{}", len(0)));
        assert_eq!(links[1], format!("{}+{}", links[0], len(1)));
        assert_eq!(links[2], format!("{}+{}", links[1], len(2)));
        // None and an empty string are different rows.
        assert_ne!(
            canonical_bytes(&rows[0])[16..],
            canonical_bytes(&rows[1])[16..]
        );
    }
}
