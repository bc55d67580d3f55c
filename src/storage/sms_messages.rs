//! The SMS of OOB sessions (`sms_messages`) and their delivery attempts (`sms_attempts`):
//! the outbox and the http provider's queue. A sender claims a due message by a
//! conditional UPDATE that leases it, so two threads or processes never make the same
//! attempt at once. A message's text with its code is stored sealed (`body_sealed`, the
//! domain seals it) and dropped once its delivery ends or its session does; `body` keeps
//! the text with the code masked. Imports: diesel, `types`.

use diesel::prelude::*;

use super::oob_sessions::Swept;
use super::schema::{institutions, oob_sessions, sms_attempts, sms_messages};
use super::{Conn, Error};
use crate::types::Cursor;
use crate::types::{ProviderKind, SendStat};

/// A message to insert.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = sms_messages)]
pub struct NewMessage<'a> {
    /// The session it belongs to.
    pub session_pk: Option<i32>,
    /// The user (for the per-user send cap).
    pub user_pk: Option<i32>,
    /// 10 digits.
    pub phone_num: &'a str,
    /// The text with the code masked (kept).
    pub body: Option<&'a str>,
    /// `outbox` or `http`.
    pub provider: ProviderKind,
    /// Pending (http) or Sent (outbox).
    pub state: SendStat,
    /// Attempts so far.
    pub attempts: i32,
    /// When a sender may try it, ms.
    pub next_attempt_at: i64,
    /// Creation, ms.
    pub created_at: i64,
    /// When delivered, ms.
    pub sent_at: Option<i64>,
    /// The institution it was sent for (the hourly cap per institution).
    pub inst_rt_id: Option<&'a str>,
    /// Who asked for it, the audit's actor (the hourly cap per API key).
    pub sent_by: Option<&'a str>,
    /// The text with the code, sealed (the domain's format); dropped once it is no
    /// longer needed.
    pub body_sealed: Option<&'a [u8]>,
}

/// A stored message.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sms_messages)]
pub struct SmsMessage {
    /// Row id.
    pub id: i32,
    /// The session it belongs to.
    pub session_pk: Option<i32>,
    /// The user.
    pub user_pk: Option<i32>,
    /// 10 digits.
    pub phone_num: String,
    /// The text with the code masked.
    pub body: Option<String>,
    /// `outbox` or `http`.
    pub provider: ProviderKind,
    /// Pending, Sent, Failed.
    pub state: SendStat,
    /// Attempts so far.
    pub attempts: i32,
    /// When a sender may try it next, ms.
    pub next_attempt_at: i64,
    /// The last failure.
    pub last_error: Option<String>,
    /// Creation, ms.
    pub created_at: i64,
    /// When delivered, ms.
    pub sent_at: Option<i64>,
    /// The institution it was sent for.
    pub inst_rt_id: Option<String>,
    /// Who asked for it.
    pub sent_by: Option<String>,
    /// The text with the code, sealed, while it may still be delivered or read.
    pub body_sealed: Option<Vec<u8>>,
}

/// Stores a message; answers its row id.
pub fn insert_message(conn: &mut Conn, message: &NewMessage<'_>) -> Result<i32, Error> {
    Ok(diesel::insert_into(sms_messages::table)
        .values(message)
        .returning(sms_messages::id)
        .get_result(conn)?)
}

/// Messages created since `since_ms` to a phone, and to a user.
pub fn count_messages_since(
    conn: &mut Conn,
    phone_num: &str,
    user_pk: Option<i32>,
    since_ms: i64,
) -> Result<(i64, i64), Error> {
    let to_phone = sms_messages::table
        .filter(sms_messages::phone_num.eq(phone_num))
        .filter(sms_messages::created_at.gt(since_ms))
        .count()
        .get_result(conn)?;
    let to_user = match user_pk {
        Some(pk) => sms_messages::table
            .filter(sms_messages::user_pk.eq(pk))
            .filter(sms_messages::created_at.gt(since_ms))
            .count()
            .get_result(conn)?,
        None => 0,
    };
    Ok((to_phone, to_user))
}

/// Messages created since `since_ms` for an institution, and by a sender (the hourly
/// caps against SMS pumping; indexed on both).
pub fn count_sent_since(
    conn: &mut Conn,
    inst_rt_id: &str,
    sent_by: &str,
    since_ms: i64,
) -> Result<(i64, i64), Error> {
    let for_inst = sms_messages::table
        .filter(sms_messages::inst_rt_id.eq(inst_rt_id))
        .filter(sms_messages::created_at.gt(since_ms))
        .count()
        .get_result(conn)?;
    let by_sender = sms_messages::table
        .filter(sms_messages::sent_by.eq(sent_by))
        .filter(sms_messages::created_at.gt(since_ms))
        .count()
        .get_result(conn)?;
    Ok((for_inst, by_sender))
}

/// The oldest Pending message of `provider` due at `now_ms`.
pub fn find_due_message(
    conn: &mut Conn,
    provider: ProviderKind,
    now_ms: i64,
) -> Result<Option<SmsMessage>, Error> {
    Ok(sms_messages::table
        .filter(sms_messages::state.eq(SendStat::Pending))
        .filter(sms_messages::provider.eq(provider))
        .filter(sms_messages::next_attempt_at.le(now_ms))
        .order(sms_messages::id.asc())
        .select(SmsMessage::as_select())
        .first(conn)
        .optional()?)
}

/// Claims a due message for one attempt by pushing its next attempt to `lease_until_ms`;
/// false when another sender (thread or process) claimed it first.
pub fn update_message_claim(
    conn: &mut Conn,
    id: i32,
    now_ms: i64,
    lease_until_ms: i64,
) -> Result<bool, Error> {
    let rows = diesel::update(
        sms_messages::table
            .find(id)
            .filter(sms_messages::state.eq(SendStat::Pending))
            .filter(sms_messages::next_attempt_at.le(now_ms)),
    )
    .set(sms_messages::next_attempt_at.eq(lease_until_ms))
    .execute(conn)?;
    Ok(rows == 1)
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone)]
pub struct AttemptOutcome<'a> {
    /// Message row id.
    pub id: i32,
    /// The message's new state: Pending (retry), Sent or Failed.
    pub state: SendStat,
    /// Attempts made, this one included.
    pub attempts: i32,
    /// When to retry (Pending), ms.
    pub next_attempt_at: i64,
    /// What the attempt answered (`Sent`, `HTTP 500`, `timeout`, ...).
    pub detail: &'a str,
    /// When, ms.
    pub now_ms: i64,
}

/// Records one attempt and the message's new state; the sealed text is dropped once the
/// message is Sent or Failed for good, so the code does not outlive its delivery.
pub fn update_message_attempt(conn: &mut Conn, o: &AttemptOutcome<'_>) -> Result<(), Error> {
    let result = if o.state == SendStat::Sent {
        SendStat::Sent
    } else {
        SendStat::Failed
    };
    diesel::insert_into(sms_attempts::table)
        .values((
            sms_attempts::message_pk.eq(o.id),
            sms_attempts::at.eq(o.now_ms),
            sms_attempts::result.eq(result),
            sms_attempts::detail.eq(o.detail),
        ))
        .execute(conn)?;
    let done = o.state != SendStat::Pending;
    let error = (result == SendStat::Failed).then_some(o.detail);
    diesel::update(sms_messages::table.find(o.id))
        .set((
            sms_messages::state.eq(o.state),
            sms_messages::attempts.eq(o.attempts),
            sms_messages::next_attempt_at.eq(o.next_attempt_at),
            sms_messages::last_error.eq(error),
            sms_messages::sent_at.eq((o.state == SendStat::Sent).then_some(o.now_ms)),
        ))
        .execute(conn)?;
    if done {
        diesel::update(sms_messages::table.find(o.id))
            .set(sms_messages::body_sealed.eq(None::<Vec<u8>>))
            .execute(conn)?;
    }
    Ok(())
}

/// Once a session has ended its codes are worthless: drops the texts of its messages
/// (outbox ones included) and gives up those still queued.
pub fn update_messages_forget(conn: &mut Conn, session_pk: i32) -> Result<(), Error> {
    let of_session = sms_messages::table.filter(sms_messages::session_pk.eq(session_pk));
    diesel::update(of_session.filter(sms_messages::state.eq(SendStat::Pending)))
        .set((
            sms_messages::state.eq(SendStat::Failed),
            sms_messages::last_error.eq("the session ended before delivery"),
        ))
        .execute(conn)?;
    diesel::update(of_session)
        .set(sms_messages::body_sealed.eq(None::<Vec<u8>>))
        .execute(conn)?;
    Ok(())
}

/// Messages that still hold their text although their session is past its expiry
/// (OneWay sessions never end, so their texts are dropped at expiry this way). Driven by
/// the partial index of messages with a text, which stays small.
pub fn find_expired_texts(
    conn: &mut Conn,
    swept: Swept<'_>,
    now_ms: i64,
    limit: i64,
) -> Result<Vec<i32>, Error> {
    let query = sms_messages::table
        .inner_join(oob_sessions::table)
        .filter(sms_messages::body_sealed.is_not_null())
        .filter(oob_sessions::expires_at.le(now_ms))
        .into_boxed();
    let sandboxes = institutions::table
        .filter(institutions::sandbox.eq(true))
        .select(institutions::inst_rt_id);
    let query = match swept {
        Swept::Production => query.filter(oob_sessions::inst_rt_id.ne_all(sandboxes)),
        Swept::Sandbox(inst) => query.filter(oob_sessions::inst_rt_id.eq(inst)),
    };
    Ok(query.select(sms_messages::id).limit(limit).load(conn)?)
}

/// Drops the texts of these messages and gives up those still queued: their codes can no
/// longer be used.
pub fn update_texts_forget(conn: &mut Conn, ids: &[i32]) -> Result<(), Error> {
    let these = || sms_messages::table.filter(sms_messages::id.eq_any(ids));
    diesel::update(these().filter(sms_messages::state.eq(SendStat::Pending)))
        .set((
            sms_messages::state.eq(SendStat::Failed),
            sms_messages::last_error.eq("the session expired before delivery"),
        ))
        .execute(conn)?;
    diesel::update(these())
        .set(sms_messages::body_sealed.eq(None::<Vec<u8>>))
        .execute(conn)?;
    Ok(())
}

/// Records a message stored in the outbox as its one (successful) attempt.
pub fn insert_outbox_attempt(conn: &mut Conn, message_pk: i32, now_ms: i64) -> Result<(), Error> {
    diesel::insert_into(sms_attempts::table)
        .values((
            sms_attempts::message_pk.eq(message_pk),
            sms_attempts::at.eq(now_ms),
            sms_attempts::result.eq(SendStat::Sent),
            sms_attempts::detail.eq("stored in the outbox"),
        ))
        .execute(conn)?;
    Ok(())
}

/// A sandbox's outbox messages its slow gateway held until `now_ms` or before (issue
/// 29): (id, session).
pub fn find_held_outbox(
    conn: &mut Conn,
    inst_rt_id: &str,
    now_ms: i64,
) -> Result<Vec<(i32, Option<i32>)>, Error> {
    Ok(sms_messages::table
        .filter(sms_messages::inst_rt_id.eq(inst_rt_id))
        .filter(sms_messages::provider.eq(ProviderKind::Outbox))
        .filter(sms_messages::state.eq(SendStat::Pending))
        .filter(sms_messages::next_attempt_at.le(now_ms))
        .select((sms_messages::id, sms_messages::session_pk))
        .load(conn)?)
}

/// Marks a held outbox message Sent at `now_ms` (a sandbox's slow gateway accepted it).
pub fn update_outbox_sent(conn: &mut Conn, id: i32, now_ms: i64) -> Result<(), Error> {
    diesel::update(sms_messages::table.find(id))
        .set((
            sms_messages::state.eq(SendStat::Sent),
            sms_messages::attempts.eq(1),
            sms_messages::sent_at.eq(now_ms),
        ))
        .execute(conn)?;
    insert_outbox_attempt(conn, id, now_ms)
}

/// Messages from `cursor` on, with their session's `AlrtPkgId`; with `inst_rt_id`, only
/// that institution's sessions' messages.
pub fn find_messages(
    conn: &mut Conn,
    inst_rt_id: Option<&str>,
    cursor: Cursor,
    limit: i64,
) -> Result<Vec<(SmsMessage, Option<String>)>, Error> {
    let mut query = sms_messages::table
        .left_join(oob_sessions::table)
        .into_boxed();
    if let Some(inst) = inst_rt_id {
        query = query.filter(oob_sessions::inst_rt_id.eq(inst));
    }
    query = by_cursor!(query, sms_messages::id, cursor);
    Ok(query
        .limit(limit)
        .select((
            SmsMessage::as_select(),
            oob_sessions::alrt_pkg_id.nullable(),
        ))
        .load(conn)?)
}

/// SMS sent without a session (console test SMS) before `cutoff_ms`, `limit` at most.
pub fn find_purgeable_messages(
    conn: &mut Conn,
    cutoff_ms: i64,
    limit: i64,
) -> Result<Vec<i32>, Error> {
    Ok(sms_messages::table
        .filter(sms_messages::created_at.lt(cutoff_ms))
        .filter(sms_messages::session_pk.is_null())
        .order(sms_messages::created_at)
        .limit(limit)
        .select(sms_messages::id)
        .load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::oob_sessions::tests::session;
    use crate::storage::test_support::temp_storage;

    #[test]
    fn a_due_message_is_claimed_by_one_sender_until_its_lease_ends() {
        let (_dir, storage) = temp_storage();
        let session_pk = session(&storage, "a", "h");
        let new = NewMessage {
            session_pk: Some(session_pk),
            user_pk: None,
            phone_num: "4175556652",
            body: Some("code 123456"),
            provider: ProviderKind::Http,
            state: SendStat::Pending,
            attempts: 0,
            next_attempt_at: 100,
            created_at: 0,
            sent_at: None,
            inst_rt_id: Some("i"),
            sent_by: Some("apikey:k"),
            body_sealed: Some(b"sealed"),
        };
        let id = storage.write(|c| insert_message(c, &new)).unwrap();
        let due = |now: i64| {
            storage
                .read(|c| find_due_message(c, ProviderKind::Http, now))
                .unwrap()
                .map(|m| m.id)
        };
        let claim = |now: i64| {
            storage
                .write(|c| update_message_claim(c, id, now, now + 50))
                .unwrap()
        };
        assert_eq!(due(99), None, "not due yet");
        assert!(!claim(99));
        assert_eq!(due(100), Some(id));
        assert!(claim(100));
        assert!(!claim(100), "leased to the first sender");
        assert_eq!(due(149), None);
        assert!(claim(150), "the lease ended: another sender may try");
        let outcome = AttemptOutcome {
            id,
            state: SendStat::Sent,
            attempts: 1,
            next_attempt_at: 150,
            detail: "ok",
            now_ms: 150,
        };
        storage
            .write(|c| update_message_attempt(c, &outcome))
            .unwrap();
        assert!(!claim(1000), "a sent message is never claimed again");
        let listed = storage
            .read(|c| find_messages(c, None, Cursor::After(0), 10))
            .unwrap();
        assert_eq!(listed[0].0.state, SendStat::Sent);
        assert_eq!(
            listed[0].0.body_sealed, None,
            "the text went with the delivery"
        );
    }
}
