//! Out-of-band validation: sessions (hashed OTPs), the SMS outbox/queue with its delivery
//! attempts, and the "90040" result events with their webhook delivery state.
//!
//! Every state change of a session is a conditional UPDATE (`WHERE state = 'Pending'`), so
//! of two concurrent verifications, a verification and the sweeper, or two processes on one
//! file, exactly one ends the session; `oob_events.session_pk` is UNIQUE besides.

use diesel::prelude::*;

use super::schema::{oob_events, oob_sessions, sms_attempts, sms_messages};
use super::{Conn, Error};
use crate::types::{OobModeType, OobStat, OtpKind, ProviderKind, SendStat, SessionOrigin};

/// The state every session starts in and the only one that may change.
const PENDING: OobStat = OobStat::Pending;
/// The mode whose sessions verify, expire and emit events.
const TWO_WAY: OobModeType = OobModeType::TwoWay;

/// A session to insert.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = oob_sessions)]
pub struct NewSession<'a> {
    /// jXchange `AlrtPkgId` (UUID).
    pub alrt_pkg_id: &'a str,
    /// The user, when known (lock fallback, or `UsrName` given).
    pub user_pk: Option<i32>,
    /// 10 digits. NEVER log it.
    pub phone_num: &'a str,
    /// `OneWay` or `TwoWay`.
    pub mode: OobModeType,
    /// `lock` (fallback of a locked validation) or `explicit` (OOBValidate).
    pub origin: SessionOrigin,
    /// `otp` (6 digits) or `otpa` (6 letters or digits).
    pub otp_kind: OtpKind,
    /// Keyed hash of the OTP.
    pub otp_hash: &'a str,
    /// The SMS text with its `<%$otp%>` tag (never the code itself).
    pub sms_template: &'a str,
    /// `Pending`.
    pub state: OobStat,
    /// `Pending` or `Sent`.
    pub send_stat: SendStat,
    /// 0.
    pub resend_count: i32,
    /// Expiry, ms.
    pub expires_at: i64,
    /// Creation, ms.
    pub created_at: i64,
    /// jXchange `InstRtId` of the request that started it.
    pub inst_rt_id: &'a str,
}

/// A stored session.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = oob_sessions)]
pub struct OobSession {
    /// Row id.
    pub id: i32,
    /// jXchange `AlrtPkgId`.
    pub alrt_pkg_id: String,
    /// The user, when known.
    pub user_pk: Option<i32>,
    /// 10 digits. NEVER log it.
    pub phone_num: String,
    /// `OneWay` or `TwoWay`.
    pub mode: OobModeType,
    /// `lock` or `explicit`.
    pub origin: SessionOrigin,
    /// `otp` or `otpa`.
    pub otp_kind: OtpKind,
    /// Keyed hash of the OTP.
    pub otp_hash: String,
    /// The SMS text with its tag.
    pub sms_template: String,
    /// Pending, Success, Failed, Expired.
    pub state: OobStat,
    /// Pending, Sent, Failed: the last SMS of the session.
    pub send_stat: SendStat,
    /// Resends so far.
    pub resend_count: i32,
    /// Expiry, ms.
    pub expires_at: i64,
    /// Creation, ms.
    pub created_at: i64,
    /// When it ended, ms.
    pub ended_at: Option<i64>,
    /// The institution it belongs to.
    pub inst_rt_id: String,
}

/// Stores a session; answers its row id.
pub fn insert_session(conn: &mut Conn, session: &NewSession<'_>) -> Result<i32, Error> {
    Ok(diesel::insert_into(oob_sessions::table)
        .values(session)
        .returning(oob_sessions::id)
        .get_result(conn)?)
}

/// An institution's session with this `AlrtPkgId`.
pub fn find_session(
    conn: &mut Conn,
    inst_rt_id: &str,
    alrt_pkg_id: &str,
) -> Result<Option<OobSession>, Error> {
    Ok(oob_sessions::table
        .filter(oob_sessions::alrt_pkg_id.eq(alrt_pkg_id))
        .filter(oob_sessions::inst_rt_id.eq(inst_rt_id))
        .select(OobSession::as_select())
        .first(conn)
        .optional()?)
}

/// The session with this row id.
pub fn find_session_by_pk(conn: &mut Conn, id: i32) -> Result<Option<OobSession>, Error> {
    Ok(oob_sessions::table
        .find(id)
        .select(OobSession::as_select())
        .first(conn)
        .optional()?)
}

/// The newest unexpired Pending TwoWay session a locked validation started for a user.
pub fn find_pending_lock_session(
    conn: &mut Conn,
    user_pk: i32,
    now_ms: i64,
) -> Result<Option<OobSession>, Error> {
    Ok(oob_sessions::table
        .filter(oob_sessions::user_pk.eq(user_pk))
        .filter(oob_sessions::origin.eq(SessionOrigin::Lock))
        .filter(oob_sessions::mode.eq(TWO_WAY))
        .filter(oob_sessions::state.eq(PENDING))
        .filter(oob_sessions::expires_at.gt(now_ms))
        .order(oob_sessions::id.desc())
        .select(OobSession::as_select())
        .first(conn)
        .optional()?)
}

/// The Pending TwoWay sessions for a phone (the ones an SMS reply may answer), newest
/// first, within one institution or (`None`) in any.
pub fn find_pending_for_phone(
    conn: &mut Conn,
    phone_num: &str,
    inst_rt_id: Option<&str>,
) -> Result<Vec<OobSession>, Error> {
    let mut query = oob_sessions::table
        .filter(oob_sessions::phone_num.eq(phone_num))
        .filter(oob_sessions::mode.eq(TWO_WAY))
        .filter(oob_sessions::state.eq(PENDING))
        .order(oob_sessions::id.desc())
        .select(OobSession::as_select())
        .limit(50)
        .into_boxed();
    if let Some(inst) = inst_rt_id {
        query = query.filter(oob_sessions::inst_rt_id.eq(inst));
    }
    Ok(query.load(conn)?)
}

/// Pending TwoWay sessions whose expiry has passed, oldest first.
pub fn find_expired_pending(
    conn: &mut Conn,
    now_ms: i64,
    limit: i64,
) -> Result<Vec<OobSession>, Error> {
    Ok(oob_sessions::table
        .filter(oob_sessions::state.eq(PENDING))
        .filter(oob_sessions::mode.eq(TWO_WAY))
        .filter(oob_sessions::expires_at.le(now_ms))
        .order(oob_sessions::id.asc())
        .limit(limit)
        .select(OobSession::as_select())
        .load(conn)?)
}

/// Ends a Pending session in `state`, only while its code is still the one `otp_hash`
/// names (the one that was checked); false when it had already ended (someone else won)
/// or a resend replaced the code meanwhile.
pub fn update_session_end(
    conn: &mut Conn,
    id: i32,
    otp_hash: &str,
    state: OobStat,
    now_ms: i64,
) -> Result<bool, Error> {
    let rows = diesel::update(
        oob_sessions::table
            .find(id)
            .filter(oob_sessions::state.eq(PENDING))
            .filter(oob_sessions::otp_hash.eq(otp_hash)),
    )
    .set((
        oob_sessions::state.eq(state),
        oob_sessions::ended_at.eq(now_ms),
    ))
    .execute(conn)?;
    Ok(rows == 1)
}

/// Replaces the OTP of a Pending, unexpired session for a resend, if fewer than
/// `max_resends` were made; false otherwise.
pub fn update_session_resend(
    conn: &mut Conn,
    id: i32,
    otp_hash: &str,
    max_resends: i32,
    now_ms: i64,
) -> Result<bool, Error> {
    let rows = diesel::update(
        oob_sessions::table
            .find(id)
            .filter(oob_sessions::state.eq(PENDING))
            .filter(oob_sessions::expires_at.gt(now_ms))
            .filter(oob_sessions::resend_count.lt(max_resends)),
    )
    .set((
        oob_sessions::otp_hash.eq(otp_hash),
        oob_sessions::resend_count.eq(oob_sessions::resend_count + 1),
        oob_sessions::send_stat.eq(SendStat::Pending),
    ))
    .execute(conn)?;
    Ok(rows == 1)
}

/// Records the delivery state of a session's SMS.
pub fn update_session_send_stat(
    conn: &mut Conn,
    id: i32,
    send_stat: SendStat,
) -> Result<(), Error> {
    diesel::update(oob_sessions::table.find(id))
        .set(oob_sessions::send_stat.eq(send_stat))
        .execute(conn)?;
    Ok(())
}

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
    /// The text, with the code.
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
    /// The text (cleared after an http delivery ends).
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

/// Records one attempt and the message's new state; the body is cleared once the message
/// is Sent or Failed for good, so the code does not outlive its delivery.
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
            .set(sms_messages::body.eq(None::<String>))
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
        .set(sms_messages::body.eq(None::<String>))
        .execute(conn)?;
    Ok(())
}

/// Messages that still hold their text although their session is past its expiry
/// (OneWay sessions never end, so their texts are dropped at expiry this way). Driven by
/// the partial index of messages with a text, which stays small.
pub fn find_expired_texts(conn: &mut Conn, now_ms: i64, limit: i64) -> Result<Vec<i32>, Error> {
    Ok(sms_messages::table
        .inner_join(oob_sessions::table)
        .filter(sms_messages::body.is_not_null())
        .filter(oob_sessions::expires_at.le(now_ms))
        .select(sms_messages::id)
        .limit(limit)
        .load(conn)?)
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
        .set(sms_messages::body.eq(None::<String>))
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

/// Where a listing by row id starts and which way it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// Ids above this one, oldest first: how consumers follow a feed (`after=N`).
    After(i64),
    /// Ids below this one, newest first: how a person reads a log (`i64::MAX`: the newest).
    Before(i64),
}

impl Cursor {
    fn id(n: i64) -> i32 {
        i32::try_from(n.max(0)).unwrap_or(i32::MAX)
    }
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
    query = match cursor {
        Cursor::After(n) => query
            .filter(sms_messages::id.gt(Cursor::id(n)))
            .order(sms_messages::id.asc()),
        Cursor::Before(n) => query
            .filter(sms_messages::id.lt(Cursor::id(n)))
            .order(sms_messages::id.desc()),
    };
    Ok(query
        .limit(limit)
        .select((
            SmsMessage::as_select(),
            oob_sessions::alrt_pkg_id.nullable(),
        ))
        .load(conn)?)
}

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
}

/// Stores the event of an ended session.
pub fn insert_event(conn: &mut Conn, event: &NewEvent<'_>) -> Result<(), Error> {
    diesel::insert_into(oob_events::table)
        .values(event)
        .execute(conn)?;
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
    query = match cursor {
        Cursor::After(n) => query
            .filter(oob_events::id.gt(Cursor::id(n)))
            .order(oob_events::id.asc()),
        Cursor::Before(n) => query
            .filter(oob_events::id.lt(Cursor::id(n)))
            .order(oob_events::id.desc()),
    };
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
}

/// Records a webhook attempt: delivered, refused, or failed with the time of the next try.
pub fn update_event_attempt(conn: &mut Conn, id: i32, a: &EventAttempt<'_>) -> Result<(), Error> {
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

/// The newest sessions first, with their user's name, before row id `before` (the admin
/// console's list), `limit` at most.
pub fn find_sessions_page(
    conn: &mut Conn,
    before: Option<i32>,
    limit: i64,
) -> Result<Vec<(OobSession, Option<String>)>, Error> {
    use super::schema::users;
    let mut q = oob_sessions::table
        .left_join(users::table)
        .select((OobSession::as_select(), users::usr_name.nullable()))
        .order(oob_sessions::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(b) = before {
        q = q.filter(oob_sessions::id.lt(b));
    }
    Ok(q.load(conn)?)
}

/// Sessions that expired before `cutoff_ms` (so ended long ago), oldest first, `limit` at
/// most; with `keep_undelivered`, not those with an event the webhook has neither taken
/// nor refused yet (the event log is their only copy).
pub fn find_purgeable_sessions(
    conn: &mut Conn,
    cutoff_ms: i64,
    keep_undelivered: bool,
    limit: i64,
) -> Result<Vec<i32>, Error> {
    use diesel::dsl::{exists, not};
    let mut query = oob_sessions::table
        .filter(oob_sessions::expires_at.lt(cutoff_ms))
        .order(oob_sessions::expires_at)
        .limit(limit)
        .select(oob_sessions::id)
        .into_boxed();
    if keep_undelivered {
        query = query.filter(not(exists(
            oob_events::table
                .filter(oob_events::session_pk.eq(oob_sessions::id))
                .filter(oob_events::delivered_at.is_null())
                .filter(oob_events::refused_at.is_null()),
        )));
    }
    Ok(query.load(conn)?)
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

/// Deletes sessions with their SMS, SMS attempts and events, and session-less SMS with
/// their attempts, children first. Answers (sessions, messages) deleted.
pub fn delete_oob(
    conn: &mut Conn,
    sessions: &[i32],
    loose_messages: &[i32],
) -> Result<(usize, usize), Error> {
    let of_sessions: Vec<i32> = sms_messages::table
        .filter(sms_messages::session_pk.eq_any(sessions))
        .select(sms_messages::id)
        .load(conn)?;
    let messages: Vec<i32> = of_sessions
        .into_iter()
        .chain(loose_messages.iter().copied())
        .collect();
    diesel::delete(sms_attempts::table.filter(sms_attempts::message_pk.eq_any(&messages)))
        .execute(conn)?;
    let deleted_messages =
        diesel::delete(sms_messages::table.filter(sms_messages::id.eq_any(&messages)))
            .execute(conn)?;
    diesel::delete(oob_events::table.filter(oob_events::session_pk.eq_any(sessions)))
        .execute(conn)?;
    let deleted_sessions =
        diesel::delete(oob_sessions::table.filter(oob_sessions::id.eq_any(sessions)))
            .execute(conn)?;
    Ok((deleted_sessions, deleted_messages))
}
