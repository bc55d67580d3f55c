//! The archived part of the audit trail, as the database knows it: the chain's *anchor*
//! (the last archived row's place and link, kept in `meta`), the rows an archive run may
//! take, and the one write that removes archived rows and moves the anchor together.
//!
//! The anchor lives in the same database as the rows and is moved in the same
//! transaction as the DELETE, so there is no moment when rows are gone and the chain
//! does not say where it resumes: the hot table always verifies from its anchor, and the
//! linker continues from it when every linked row has been archived.

use diesel::prelude::*;

use super::audit::AuditEvent;
use super::audit_anchor::ANCHOR;
pub use super::audit_anchor::{find_anchor, AuditAnchor};
use super::schema::{audit_events, institutions};
use super::{meta, Conn, Error};

/// The `meta` name of the last archive run's outcome.
const LAST_RUN: &str = "audit_archive_last";

/// The last chain position an archive of the rows before `before_ms` takes: the highest
/// position of a row older than that. Rows of sandbox institutions do not count (their
/// test clock may be set years back, which would drag recent rows along); rows placed
/// before that position are archived with it whatever their time, so the archive is
/// always a prefix of the chain. The row with the highest id always stays: SQLite hands
/// out the highest id plus one, so deleting it would give its id to the next row.
pub fn find_archive_cut(conn: &mut Conn, before_ms: i64) -> Result<Option<i64>, Error> {
    let sandboxes = institutions::table
        .filter(institutions::sandbox.eq(true))
        .select(institutions::inst_rt_id.nullable());
    let newest: Option<Option<i64>> = audit_events::table
        .order(audit_events::id.desc())
        .select(audit_events::chain_pos)
        .first(conn)
        .optional()?;
    let cut = audit_events::table
        .filter(audit_events::at.lt(before_ms))
        .filter(audit_events::chain_pos.is_not_null())
        .filter(
            audit_events::inst_rt_id
                .is_null()
                .or(audit_events::inst_rt_id.ne_all(sandboxes)),
        )
        .select(diesel::dsl::max(audit_events::chain_pos))
        .first::<Option<i64>>(conn)?;
    Ok(match (cut, newest.flatten()) {
        (Some(cut), Some(kept)) => Some(cut.min(kept - 1)),
        (cut, _) => cut,
    })
}

/// Up to `limit` rows at chain positions `after + 1 ..= upto`, in chain order.
pub fn find_chain_range(
    conn: &mut Conn,
    after: i64,
    upto: i64,
    limit: i64,
) -> Result<Vec<AuditEvent>, Error> {
    Ok(audit_events::table
        .filter(audit_events::chain_pos.gt(after))
        .filter(audit_events::chain_pos.le(upto))
        .order(audit_events::chain_pos.asc())
        .limit(limit)
        .select(AuditEvent::as_select())
        .load(conn)?)
}

/// Removes the archived rows `from.pos + 1 ..= to.pos` and moves the anchor from `from` to
/// `to`, in the caller's (one) transaction. Refused with `Conflict` when the anchor is
/// no longer `from` (another run moved it) or when the range does not hold exactly
/// `rows` rows (the table changed under the archive): nothing is deleted then.
pub fn delete_archived(
    conn: &mut Conn,
    from: &AuditAnchor,
    to: &AuditAnchor,
    rows: usize,
) -> Result<(), Error> {
    let now = find_anchor(conn)?;
    if &now != from {
        return Err(Error::Conflict(
            "the audit anchor moved: another archive run finished first".into(),
        ));
    }
    let text = serde_json::to_string(to).map_err(|e| Error::Db(e.to_string()))?;
    meta::set_value(conn, ANCHOR, &text)?;
    let deleted = diesel::delete(
        audit_events::table
            .filter(audit_events::chain_pos.gt(from.pos))
            .filter(audit_events::chain_pos.le(to.pos)),
    )
    .execute(conn)?;
    if deleted != rows {
        return Err(Error::Conflict(format!(
            "{deleted} rows at the archived positions, {rows} archived: the table changed"
        )));
    }
    Ok(())
}

/// What the last archive run recorded (any node), as JSON text; `None` before the first.
pub fn find_last_run(conn: &mut Conn) -> Result<Option<String>, Error> {
    meta::find_value(conn, LAST_RUN)
}

/// Records the last archive run's outcome (JSON text), for `/metrics` on every node.
pub fn set_last_run(conn: &mut Conn, text: &str) -> Result<(), Error> {
    meta::set_value(conn, LAST_RUN, text)
}

/// The hot table at a glance, from its indexes: the rows in it (linked rows past the
/// anchor plus the ones not linked yet; no full count of a large table) and the oldest
/// row's time, ms.
pub fn find_hot_stats(conn: &mut Conn) -> Result<(i64, Option<i64>), Error> {
    let anchor = find_anchor(conn)?;
    let head: Option<i64> = audit_events::table
        .select(diesel::dsl::max(audit_events::chain_pos))
        .first(conn)?;
    let unlinked = super::audit::count_unlinked(conn)?;
    let oldest: Option<i64> = audit_events::table
        .select(diesel::dsl::min(audit_events::at))
        .first(conn)?;
    let linked = head.map_or(0, |h| (h - anchor.pos).max(0));
    Ok((linked + unlinked, oldest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::audit::{find_chain_page, insert_audit_event, NewAuditEvent};
    use crate::storage::test_support::temp_storage;

    fn event(at: i64) -> NewAuditEvent<'static> {
        crate::storage::test_support::audit_event(at, None)
    }

    #[test]
    fn pruning_moves_the_anchor_once_and_the_chain_continues_from_it() {
        let (_dir, storage) = temp_storage();
        storage.set_audit_linker(std::sync::Arc::new(|previous: &str, _row: &[u8]| {
            format!("{previous}+")
        }));
        for at in [1, 2, 3] {
            storage
                .write(|c| insert_audit_event(c, &event(at)))
                .unwrap();
        }
        // The newest row stays whatever the date.
        assert_eq!(storage.read(|c| find_archive_cut(c, 100)).unwrap(), Some(2));
        assert_eq!(storage.read(|c| find_archive_cut(c, 2)).unwrap(), Some(1));
        let to = AuditAnchor {
            pos: 2,
            link: "++".into(),
            manifest_sha256: "m".into(),
            archived_max_at: 2,
        };
        let from = AuditAnchor::default();
        storage
            .write(|c| delete_archived(c, &from, &to, 2))
            .unwrap();
        assert_eq!(storage.read(find_anchor).unwrap(), to);
        // A second run from the old anchor is refused and deletes nothing.
        let again = storage.write(|c| delete_archived(c, &from, &to, 2));
        assert!(matches!(again, Err(Error::Conflict(_))), "{again:?}");
        // A range that does not hold the rows said is refused too.
        let further = AuditAnchor {
            pos: 3,
            ..to.clone()
        };
        let wrong = storage.write(|c| delete_archived(c, &to, &further, 5));
        assert!(matches!(wrong, Err(Error::Conflict(_))), "{wrong:?}");
        assert_eq!(storage.read(find_anchor).unwrap(), to);
        assert_eq!(storage.read(find_hot_stats).unwrap(), (1, Some(3)));
        // Every linked row gone: the linker continues from the anchor, not from zero.
        storage
            .write(|c| {
                diesel::delete(audit_events::table).execute(c)?;
                insert_audit_event(c, &event(4))
            })
            .unwrap();
        let rows = storage.read(|c| find_chain_page(c, 0, 10)).unwrap();
        assert_eq!(rows[0].chain_pos, Some(3));
        assert_eq!(rows[0].link.as_deref(), Some("+++"));
    }
}
