//! The "90040" result events of ended OOB sessions (`oob_events`) and their webhook
//! delivery state. Events are pushed in order; a webhook attempt claims the oldest due
//! event by a conditional UPDATE that leases it. Imports: diesel, `types`.

use diesel::prelude::*;

use super::schema::{event_webhook_attempts as logged, oob_events, oob_sessions};
use super::{Conn, Error};
use crate::types::Cursor;
use crate::types::OobStat;

/// An event to insert.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = oob_events)]
pub struct NewEvent<'a> {
    /// The session that ended.
    pub session_pk: i32,
    /// Its `AlrtPkgId`.
    pub alrt_pkg_id: &'a str,
    /// Its user, when known.
    pub usr_name: Option<&'a str>,
    /// Success, Failed or Expired.
    pub result: OobStat,
    /// When it ended, ms.
    pub at: i64,
    /// 0.
    pub attempts: i32,
    /// When the webhook may first be tried, ms.
    pub next_attempt_at: i64,
    /// Why it ended, when the code did not decide it (a phone change), or what the
    /// consumer should know of it (sent to a number not on file).
    pub reason: Option<&'a str>,
}

/// A stored event.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = oob_events)]
pub struct OobEvent {
    /// Row id: the `EvtId` consumers page with (`after=N`).
    pub id: i32,
    /// The session.
    pub session_pk: i32,
    /// Its `AlrtPkgId`.
    pub alrt_pkg_id: String,
    /// Its user.
    pub usr_name: Option<String>,
    /// Success, Failed or Expired.
    pub result: OobStat,
    /// When, ms.
    pub at: i64,
    /// When the webhook accepted it, ms.
    pub delivered_at: Option<i64>,
    /// Webhook attempts so far.
    pub attempts: i32,
    /// When the webhook may be tried next, ms.
    pub next_attempt_at: i64,
    /// The last webhook failure.
    pub last_error: Option<String>,
    /// When the webhook refused it for good (a 4xx): set aside, never tried again.
    pub refused_at: Option<i64>,
    /// Why it ended, when the code did not decide it, or what to know of it.
    pub reason: Option<String>,
}

/// Stores the event of an ended session, with one delivery per webhook endpoint that
/// takes it.
///
/// Ids follow commit order on both engines (see `engine::order_events`): a consumer
/// paging by id never misses an event that committed late.
pub fn insert_event(conn: &mut Conn, event: &NewEvent<'_>) -> Result<(), Error> {
    super::engine::order_events(conn)?;
    diesel::insert_into(oob_events::table)
        .values(event)
        .execute(conn)?;
    // Its deliveries to tokend's webhook endpoints commit with it (or not at all).
    super::webhooks::insert_deliveries_for_event(conn, event.session_pk, event.next_attempt_at)?;
    Ok(())
}

/// Events from `cursor` on; with `inst_rt_id`, only that institution's sessions' events.
pub fn find_events(
    conn: &mut Conn,
    inst_rt_id: Option<&str>,
    cursor: Cursor,
    limit: i64,
) -> Result<Vec<OobEvent>, Error> {
    let mut query = oob_events::table
        .inner_join(oob_sessions::table)
        .into_boxed();
    if let Some(inst) = inst_rt_id {
        query = query.filter(oob_sessions::inst_rt_id.eq(inst));
    }
    query = by_cursor!(query, oob_events::id, cursor);
    Ok(query
        .limit(limit)
        .select(OobEvent::as_select())
        .load(conn)?)
}

/// The oldest undelivered event, if it is due at `now_ms` (events are pushed in order:
/// a later event never overtakes an earlier one).
pub fn find_due_event(conn: &mut Conn, now_ms: i64) -> Result<Option<OobEvent>, Error> {
    let oldest = oob_events::table
        .filter(oob_events::delivered_at.is_null())
        .filter(oob_events::refused_at.is_null())
        .order(oob_events::id.asc())
        .select(OobEvent::as_select())
        .first(conn)
        .optional()?;
    Ok(oldest.filter(|e| e.next_attempt_at <= now_ms))
}

/// Claims an event for one webhook attempt (see [`update_message_claim`]).
pub fn update_event_claim(
    conn: &mut Conn,
    id: i32,
    now_ms: i64,
    lease_until_ms: i64,
) -> Result<bool, Error> {
    let rows = diesel::update(
        oob_events::table
            .find(id)
            .filter(oob_events::delivered_at.is_null())
            .filter(oob_events::refused_at.is_null())
            .filter(oob_events::next_attempt_at.le(now_ms)),
    )
    .set(oob_events::next_attempt_at.eq(lease_until_ms))
    .execute(conn)?;
    Ok(rows == 1)
}

/// What one webhook attempt came to.
#[derive(Debug, Clone, Copy)]
pub struct EventAttempt<'a> {
    /// When the webhook accepted it, ms.
    pub delivered_at: Option<i64>,
    /// When the webhook refused it for good, ms.
    pub refused_at: Option<i64>,
    /// When to try again (unless delivered or refused), ms.
    pub next_attempt_at: i64,
    /// Why it failed.
    pub error: Option<&'a str>,
    /// Which attempt it was (1 for the first).
    pub attempt: i32,
    /// When it began, ms.
    pub at: i64,
    /// The HTTP status answered, if any.
    pub status: Option<i32>,
    /// How long it took, ms.
    pub duration_ms: i64,
}

/// Records a webhook attempt: delivered, refused, or failed with the time of the next try,
/// and logs it (`event_webhook_attempts`) in the same statement group, so the event's
/// counters and its history never disagree.
pub fn update_event_attempt(conn: &mut Conn, id: i32, a: &EventAttempt<'_>) -> Result<(), Error> {
    diesel::insert_into(logged::table)
        .values((
            logged::event_id.eq(id),
            logged::attempt.eq(a.attempt),
            logged::at.eq(a.at),
            logged::status.eq(a.status),
            logged::error.eq(a.error),
            logged::duration_ms.eq(a.duration_ms),
        ))
        .execute(conn)?;
    diesel::update(oob_events::table.find(id))
        .set((
            oob_events::delivered_at.eq(a.delivered_at),
            oob_events::refused_at.eq(a.refused_at),
            oob_events::attempts.eq(oob_events::attempts + 1),
            oob_events::next_attempt_at.eq(a.next_attempt_at),
            oob_events::last_error.eq(a.error),
        ))
        .execute(conn)?;
    Ok(())
}

/// One logged attempt to push an event to the configured webhook.
#[derive(Debug, Clone, Queryable)]
pub struct LoggedAttempt {
    /// The event (`EvtId`).
    pub event_id: i32,
    /// Which attempt (1 for the first).
    pub attempt: i32,
    /// When it began, ms.
    pub at: i64,
    /// The HTTP status answered, if any.
    pub status: Option<i32>,
    /// The failure, if it failed.
    pub error: Option<String>,
    /// How long it took, ms.
    pub duration_ms: i64,
    /// The event's session.
    pub alrt_pkg_id: String,
    /// The event's institution.
    pub inst_rt_id: String,
}

/// The newest `limit` attempts to push events to the configured webhook; with
/// `inst_rt_id`, only that institution's events'.
pub fn find_logged_attempts(
    conn: &mut Conn,
    inst_rt_id: Option<&str>,
    limit: i64,
) -> Result<Vec<LoggedAttempt>, Error> {
    let mut q = logged::table
        .inner_join(oob_events::table.inner_join(oob_sessions::table))
        .select((
            logged::event_id,
            logged::attempt,
            logged::at,
            logged::status,
            logged::error,
            logged::duration_ms,
            oob_events::alrt_pkg_id,
            oob_sessions::inst_rt_id,
        ))
        .order(logged::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(inst) = inst_rt_id {
        q = q.filter(oob_sessions::inst_rt_id.eq(inst));
    }
    Ok(q.load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::oob_sessions::tests::session;
    use crate::storage::test_support::temp_storage;

    #[test]
    fn the_oldest_event_is_claimed_once_per_lease_and_never_after_delivery() {
        let (_dir, storage) = temp_storage();
        let session_pk = session(&storage, "a", "h");
        let new = NewEvent {
            session_pk,
            alrt_pkg_id: "a",
            usr_name: None,
            result: OobStat::Expired,
            at: 0,
            attempts: 0,
            next_attempt_at: 0,
            reason: None,
        };
        storage.write(|c| insert_event(c, &new)).unwrap();
        let e = storage.read(|c| find_due_event(c, 0)).unwrap().unwrap();
        assert_eq!(e.result, OobStat::Expired);
        let claim = |now: i64| {
            storage
                .write(|c| update_event_claim(c, e.id, now, now + 50))
                .unwrap()
        };
        assert!(claim(0));
        assert!(!claim(10), "leased");
        assert!(storage.read(|c| find_due_event(c, 10)).unwrap().is_none());
        let delivered = EventAttempt {
            delivered_at: Some(60),
            refused_at: None,
            next_attempt_at: 60,
            error: None,
            attempt: 1,
            at: 50,
            status: Some(204),
            duration_ms: 10,
        };
        storage
            .write(|c| update_event_attempt(c, e.id, &delivered))
            .unwrap();
        assert!(!claim(100), "delivered");
        assert!(storage.read(|c| find_due_event(c, 100)).unwrap().is_none());
        let log = storage.read(|c| find_logged_attempts(c, None, 10)).unwrap();
        assert_eq!(log.len(), 1, "the attempt is logged");
        assert_eq!((log[0].event_id, log[0].status), (e.id, Some(204)));
    }
}
