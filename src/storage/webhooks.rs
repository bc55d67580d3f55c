//! Webhook endpoints managed by tokend (issue 29): the endpoints with their sealed
//! secrets, one delivery per (endpoint, event) with its state, and every attempt made.
//! Deliveries are made in the event's own transaction ([`insert_deliveries_for_event`]),
//! so an event is never committed without them; a sender leases one by a conditional
//! UPDATE, as the SMS and event queues do, so two nodes never make one attempt twice.
//! Imports: diesel, `types`.

use diesel::prelude::*;

use super::schema::webhook_endpoints as endpoints;
use super::schema::{oob_events, oob_sessions, webhook_attempts, webhook_deliveries};
use super::{Conn, Error};
use crate::types::DeliveryStat;

/// An endpoint as stored. Its secrets are sealed (AES-256-GCM under the master key).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = endpoints)]
pub struct Endpoint {
    /// Row id: the `--id` of the CLI.
    pub id: i32,
    /// Where events are POSTed.
    pub url: String,
    /// Only this institution's events; every institution's with `None`.
    pub inst_rt_id: Option<String>,
    /// The current secret, sealed (empty once removed).
    pub secret_sealed: Vec<u8>,
    /// The secret being rotated out, sealed, while it still signs.
    pub previous_sealed: Option<Vec<u8>>,
    /// Until when the previous secret signs, ms.
    pub previous_until: Option<i64>,
    /// When it was added, ms.
    pub created_at: i64,
    /// When its secret was last rotated, ms.
    pub rotated_at: Option<i64>,
    /// When it was removed, ms: it gets no new event and no further attempt.
    pub removed_at: Option<i64>,
}

/// Adds an endpoint with an empty secret and answers its id: the secret is sealed bound
/// to that id, then set by [`update_endpoint_secret`] in the same transaction.
pub fn insert_endpoint(
    conn: &mut Conn,
    url: &str,
    inst_rt_id: Option<&str>,
    now_ms: i64,
) -> Result<i32, Error> {
    Ok(diesel::insert_into(endpoints::table)
        .values((
            endpoints::url.eq(url),
            endpoints::inst_rt_id.eq(inst_rt_id),
            endpoints::secret_sealed.eq(Vec::<u8>::new()),
            endpoints::created_at.eq(now_ms),
        ))
        .returning(endpoints::id)
        .get_result(conn)?)
}

/// Sets the secrets of a live endpoint: the new current one, and the one that keeps
/// signing until `previous_until` (none outside a rotation). False when it is removed.
pub fn update_endpoint_secret(
    conn: &mut Conn,
    id: i32,
    sealed: &[u8],
    previous: Option<(&[u8], i64)>,
    rotated_at: Option<i64>,
) -> Result<bool, Error> {
    let rows = diesel::update(
        endpoints::table
            .find(id)
            .filter(endpoints::removed_at.is_null()),
    )
    .set((
        endpoints::secret_sealed.eq(sealed),
        endpoints::previous_sealed.eq(previous.map(|p| p.0)),
        endpoints::previous_until.eq(previous.map(|p| p.1)),
        endpoints::rotated_at.eq(rotated_at),
    ))
    .execute(conn)?;
    Ok(rows == 1)
}

/// Replaces the sealed blobs of an endpoint (the same secrets, sealed under another
/// master key by `rekey`), if they are still the ones read (`was`): a rotation meanwhile
/// wins. False when they changed.
pub fn update_endpoint_resealed(
    conn: &mut Conn,
    id: i32,
    was: &[u8],
    sealed: &[u8],
    previous: Option<&[u8]>,
) -> Result<bool, Error> {
    let rows = diesel::update(
        endpoints::table
            .find(id)
            .filter(endpoints::secret_sealed.eq(was)),
    )
    .set((
        endpoints::secret_sealed.eq(sealed),
        endpoints::previous_sealed.eq(previous),
    ))
    .execute(conn)?;
    Ok(rows == 1)
}

/// Removes an endpoint: wipes its secrets and stops its deliveries; the row stays so
/// its deliveries stay listed. False when there is no such live endpoint.
pub fn update_endpoint_removed(conn: &mut Conn, id: i32, now_ms: i64) -> Result<bool, Error> {
    let rows = diesel::update(
        endpoints::table
            .find(id)
            .filter(endpoints::removed_at.is_null()),
    )
    .set((
        endpoints::secret_sealed.eq(Vec::<u8>::new()),
        endpoints::previous_sealed.eq(None::<Vec<u8>>),
        endpoints::previous_until.eq(None::<i64>),
        endpoints::removed_at.eq(now_ms),
    ))
    .execute(conn)?;
    Ok(rows == 1)
}

/// Every endpoint, removed ones included, oldest first.
pub fn find_endpoints(conn: &mut Conn) -> Result<Vec<Endpoint>, Error> {
    Ok(endpoints::table
        .order(endpoints::id.asc())
        .select(Endpoint::as_select())
        .load(conn)?)
}

/// One endpoint.
pub fn find_endpoint(conn: &mut Conn, id: i32) -> Result<Option<Endpoint>, Error> {
    Ok(endpoints::table
        .find(id)
        .select(Endpoint::as_select())
        .first(conn)
        .optional()?)
}

/// A delivery as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
pub struct Delivery {
    /// Row id.
    pub id: i32,
    /// The endpoint.
    pub endpoint_id: i32,
    /// The event (`oob_events.id`, the `EvtId`).
    pub event_id: i32,
    /// Pending, Delivered, Refused or Failed.
    pub state: DeliveryStat,
    /// Attempts so far.
    pub attempts: i32,
    /// When the next attempt is due, ms.
    pub next_attempt_at: i64,
    /// When it was made (the event's commit), ms.
    pub created_at: i64,
    /// When the endpoint accepted it, ms.
    pub delivered_at: Option<i64>,
    /// The last failure.
    pub last_error: Option<String>,
}

/// Makes one delivery of the event of session `session_pk` to every live endpoint that
/// takes its institution's events; answers how many. Called in the event's transaction.
pub fn insert_deliveries_for_event(
    conn: &mut Conn,
    session_pk: i32,
    now_ms: i64,
) -> Result<usize, Error> {
    let (event_id, inst): (i32, String) = oob_events::table
        .inner_join(oob_sessions::table)
        .filter(oob_events::session_pk.eq(session_pk))
        .select((oob_events::id, oob_sessions::inst_rt_id))
        .first(conn)?;
    let ids: Vec<i32> = endpoints::table
        .filter(endpoints::removed_at.is_null())
        .filter(
            endpoints::inst_rt_id
                .is_null()
                .or(endpoints::inst_rt_id.eq(&inst)),
        )
        .select(endpoints::id)
        .load(conn)?;
    // One INSERT per endpoint: Diesel's batch insert is not offered over both engines,
    // and an install has a handful of endpoints.
    for &endpoint_id in &ids {
        diesel::insert_into(webhook_deliveries::table)
            .values((
                webhook_deliveries::endpoint_id.eq(endpoint_id),
                webhook_deliveries::event_id.eq(event_id),
                webhook_deliveries::state.eq(DeliveryStat::Pending),
                webhook_deliveries::attempts.eq(0),
                webhook_deliveries::next_attempt_at.eq(now_ms),
                webhook_deliveries::created_at.eq(now_ms),
            ))
            .execute(conn)?;
    }
    Ok(ids.len())
}

/// The delivery due longest ago at `now_ms`, to a live endpoint.
pub fn find_due_delivery(conn: &mut Conn, now_ms: i64) -> Result<Option<Delivery>, Error> {
    Ok(webhook_deliveries::table
        .inner_join(endpoints::table)
        .filter(webhook_deliveries::state.eq(DeliveryStat::Pending))
        .filter(webhook_deliveries::next_attempt_at.le(now_ms))
        .filter(endpoints::removed_at.is_null())
        .order((
            webhook_deliveries::next_attempt_at.asc(),
            webhook_deliveries::id.asc(),
        ))
        .select(Delivery::as_select())
        .first(conn)
        .optional()?)
}

/// Leases a delivery for one attempt: pushes its next attempt to `lease_until_ms` if it
/// is still pending and due; false when another sender took it first.
pub fn update_delivery_claim(
    conn: &mut Conn,
    id: i32,
    now_ms: i64,
    lease_until_ms: i64,
) -> Result<bool, Error> {
    let rows = diesel::update(
        webhook_deliveries::table
            .find(id)
            .filter(webhook_deliveries::state.eq(DeliveryStat::Pending))
            .filter(webhook_deliveries::next_attempt_at.le(now_ms)),
    )
    .set(webhook_deliveries::next_attempt_at.eq(lease_until_ms))
    .execute(conn)?;
    Ok(rows == 1)
}

/// One attempt, as logged.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_attempts)]
pub struct Attempt {
    /// Row id.
    pub id: i32,
    /// The delivery.
    pub delivery_id: i32,
    /// 1 for the first attempt, and so on (a resend continues the count).
    pub attempt: i32,
    /// When it started, ms.
    pub at: i64,
    /// The HTTP status answered, if any.
    pub status: Option<i32>,
    /// Why it failed (no answer, or not 2xx).
    pub error: Option<String>,
    /// How long it took, ms.
    pub duration_ms: i64,
}

/// What one attempt came to, and the delivery's state after it.
#[derive(Debug, Clone, Copy)]
pub struct AttemptRecord<'a> {
    /// The delivery.
    pub delivery_id: i32,
    /// Its number (1, 2, …).
    pub attempt: i32,
    /// When it started, ms.
    pub at: i64,
    /// The HTTP status, if one was answered.
    pub status: Option<i32>,
    /// Why it failed.
    pub error: Option<&'a str>,
    /// How long it took, ms.
    pub duration_ms: i64,
    /// The delivery's state after it.
    pub state: DeliveryStat,
    /// When to try again (while Pending), ms.
    pub next_attempt_at: i64,
}

/// Logs an attempt and moves its delivery on.
pub fn insert_attempt(conn: &mut Conn, a: &AttemptRecord<'_>) -> Result<(), Error> {
    diesel::insert_into(webhook_attempts::table)
        .values((
            webhook_attempts::delivery_id.eq(a.delivery_id),
            webhook_attempts::attempt.eq(a.attempt),
            webhook_attempts::at.eq(a.at),
            webhook_attempts::status.eq(a.status),
            webhook_attempts::error.eq(a.error),
            webhook_attempts::duration_ms.eq(a.duration_ms),
        ))
        .execute(conn)?;
    let delivered = (a.state == DeliveryStat::Delivered).then_some(a.at + a.duration_ms);
    diesel::update(webhook_deliveries::table.find(a.delivery_id))
        .set((
            webhook_deliveries::state.eq(a.state),
            webhook_deliveries::attempts.eq(a.attempt),
            webhook_deliveries::next_attempt_at.eq(a.next_attempt_at),
            webhook_deliveries::delivered_at.eq(delivered),
            webhook_deliveries::last_error.eq(a.error),
        ))
        .execute(conn)?;
    Ok(())
}

/// Queues a delivery again, due at once (whatever its state), if its endpoint is live;
/// false otherwise.
pub fn update_delivery_resend(conn: &mut Conn, id: i32, now_ms: i64) -> Result<bool, Error> {
    let live = endpoints::table
        .filter(endpoints::removed_at.is_null())
        .select(endpoints::id);
    let rows = diesel::update(
        webhook_deliveries::table
            .find(id)
            .filter(webhook_deliveries::endpoint_id.eq_any(live)),
    )
    .set((
        webhook_deliveries::state.eq(DeliveryStat::Pending),
        webhook_deliveries::next_attempt_at.eq(now_ms),
    ))
    .execute(conn)?;
    Ok(rows == 1)
}

/// A delivery as listed: with its endpoint's URL, its event's session and institution.
pub type Listed = (Delivery, String, String, String);

/// Deliveries newest first, before id `before` (all with `None`), of one institution's
/// events (every institution's with `None`).
pub fn find_deliveries(
    conn: &mut Conn,
    inst_rt_id: Option<&str>,
    before: Option<i32>,
    limit: i64,
) -> Result<Vec<Listed>, Error> {
    let mut query = webhook_deliveries::table
        .inner_join(endpoints::table)
        .inner_join(oob_events::table.inner_join(oob_sessions::table))
        .into_boxed();
    if let Some(inst) = inst_rt_id {
        query = query.filter(oob_sessions::inst_rt_id.eq(inst));
    }
    if let Some(b) = before {
        query = query.filter(webhook_deliveries::id.lt(b));
    }
    Ok(query
        .order(webhook_deliveries::id.desc())
        .limit(limit)
        .select((
            Delivery::as_select(),
            endpoints::url,
            oob_events::alrt_pkg_id,
            oob_sessions::inst_rt_id,
        ))
        .load(conn)?)
}

/// One delivery with its event's institution.
pub fn find_delivery(conn: &mut Conn, id: i32) -> Result<Option<(Delivery, String)>, Error> {
    Ok(webhook_deliveries::table
        .inner_join(oob_events::table.inner_join(oob_sessions::table))
        .filter(webhook_deliveries::id.eq(id))
        .select((Delivery::as_select(), oob_sessions::inst_rt_id))
        .first(conn)
        .optional()?)
}

/// The attempts of these deliveries, oldest first.
pub fn find_attempts(conn: &mut Conn, delivery_ids: &[i32]) -> Result<Vec<Attempt>, Error> {
    Ok(webhook_attempts::table
        .filter(webhook_attempts::delivery_id.eq_any(delivery_ids))
        .order(webhook_attempts::id.asc())
        .select(Attempt::as_select())
        .load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::oob_events::{insert_event, NewEvent};
    use crate::storage::oob_sessions::tests::session;
    use crate::storage::test_support::temp_storage;
    use crate::types::OobStat;

    #[test]
    fn an_event_goes_to_the_live_endpoints_of_its_institution_and_is_leased_once() {
        let (_dir, storage) = temp_storage();
        let add = |inst: Option<&str>| {
            storage
                .write(|c| insert_endpoint(c, "https://h.example/", inst, 0))
                .unwrap()
        };
        let (all, mine, other, gone) = (add(None), add(Some("inst")), add(Some("x")), add(None));
        assert!(storage
            .write(|c| update_endpoint_removed(c, gone, 5))
            .unwrap());
        assert!(!storage
            .write(|c| update_endpoint_removed(c, gone, 6))
            .unwrap());
        let session_pk = session(&storage, "a", "h");
        let event = NewEvent {
            session_pk,
            alrt_pkg_id: "a",
            usr_name: None,
            result: OobStat::Success,
            at: 10,
            attempts: 0,
            next_attempt_at: 10,
            reason: None,
        };
        storage.write(|c| insert_event(c, &event)).unwrap();
        let listed = storage
            .read(|c| find_deliveries(c, Some("inst"), None, 10))
            .unwrap();
        let mut to: Vec<i32> = listed.iter().map(|l| l.0.endpoint_id).collect();
        to.sort_unstable();
        assert_eq!(
            to,
            vec![all, mine],
            "not {other}'s institution, not removed {gone}"
        );

        let due = storage.read(|c| find_due_delivery(c, 10)).unwrap().unwrap();
        let claim = |now| {
            storage
                .write(|c| update_delivery_claim(c, due.id, now, now + 100))
                .unwrap()
        };
        assert!(claim(10));
        assert!(!claim(11), "leased: one attempt at a time, on any node");
        let record = AttemptRecord {
            delivery_id: due.id,
            attempt: 1,
            at: 20,
            status: Some(200),
            error: None,
            duration_ms: 3,
            state: DeliveryStat::Delivered,
            next_attempt_at: 20,
        };
        storage.write(|c| insert_attempt(c, &record)).unwrap();
        assert!(!claim(500), "delivered");
        assert!(storage
            .write(|c| update_delivery_resend(c, due.id, 600))
            .unwrap());
        assert!(claim(600), "resent: due again");
        let attempts = storage.read(|c| find_attempts(c, &[due.id])).unwrap();
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].status, Some(200));
    }
}
