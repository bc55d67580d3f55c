//! OOB sessions (`oob_sessions`): one row per OOBValidate or lock fallback, holding the
//! keyed hash of its code (never the code), its state and the delivery state of its SMS.
//!
//! Every state change is a conditional UPDATE (`WHERE state = 'Pending'`, and for an end
//! also on the code that was checked), so of two concurrent verifications, a verification
//! and the sweeper, or two processes on one file, exactly one ends the session; the
//! caller commits its event (`oob_events`, UNIQUE per session) in the same transaction.
//! Imports: diesel, `types`.

use diesel::prelude::*;

use super::schema::{institutions, oob_events, oob_sessions, sms_attempts, sms_messages};
use super::{Conn, Error};
use crate::types::{OobModeType, OobStat, OtpKind, SendStat, SessionOrigin};

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

/// A user's Pending sessions not yet expired at `now_ms`, of any mode and origin (a
/// phone change ends them).
pub fn find_pending_for_user(
    conn: &mut Conn,
    user_pk: i32,
    now_ms: i64,
) -> Result<Vec<OobSession>, Error> {
    Ok(oob_sessions::table
        .filter(oob_sessions::user_pk.eq(user_pk))
        .filter(oob_sessions::state.eq(PENDING))
        .filter(oob_sessions::expires_at.gt(now_ms))
        .order(oob_sessions::id.asc())
        .select(OobSession::as_select())
        .load(conn)?)
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

/// Which institutions' sessions a sweep looks at: the production ones (on the real
/// clock), or one sandbox (on its test clock, issue 29).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swept<'a> {
    /// Every institution but the sandboxes.
    Production,
    /// This sandbox institution.
    Sandbox(&'a str),
}

/// Pending TwoWay sessions of `swept` whose expiry has passed, oldest first.
pub fn find_expired_pending(
    conn: &mut Conn,
    swept: Swept<'_>,
    now_ms: i64,
    limit: i64,
) -> Result<Vec<OobSession>, Error> {
    let query = oob_sessions::table
        .filter(oob_sessions::state.eq(PENDING))
        .filter(oob_sessions::mode.eq(TWO_WAY))
        .filter(oob_sessions::expires_at.le(now_ms))
        .into_boxed();
    let sandboxes = institutions::table
        .filter(institutions::sandbox.eq(true))
        .select(institutions::inst_rt_id);
    let query = match swept {
        Swept::Production => query.filter(oob_sessions::inst_rt_id.ne_all(sandboxes)),
        Swept::Sandbox(inst) => query.filter(oob_sessions::inst_rt_id.eq(inst)),
    };
    Ok(query
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

/// The newest sessions first, with their user's name, before row id `before` (the admin
/// console's list), `limit` at most.
pub fn find_sessions_page(
    conn: &mut Conn,
    inst_rt_id: &str,
    before: Option<i32>,
    limit: i64,
) -> Result<Vec<(OobSession, Option<String>)>, Error> {
    use super::schema::users;
    let mut q = oob_sessions::table
        .left_join(users::table)
        .filter(oob_sessions::inst_rt_id.eq(inst_rt_id.to_owned()))
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::storage::test_support::temp_storage;
    use crate::storage::Storage;

    /// A Pending TwoWay session with code hash `otp_hash`, expiring at 1000 ms.
    pub(crate) fn session(storage: &Storage, alrt: &str, otp_hash: &str) -> i32 {
        let new = NewSession {
            alrt_pkg_id: alrt,
            user_pk: None,
            phone_num: "4175556652",
            mode: OobModeType::TwoWay,
            origin: SessionOrigin::Explicit,
            otp_kind: OtpKind::Digits,
            otp_hash,
            sms_template: "code <%$otp%>",
            state: OobStat::Pending,
            send_stat: SendStat::Sent,
            resend_count: 0,
            expires_at: 1000,
            created_at: 0,
            inst_rt_id: "inst",
        };
        storage.write(|c| insert_session(c, &new)).unwrap()
    }

    fn state(storage: &Storage, id: i32) -> OobStat {
        let s = storage.read(|c| find_session_by_pk(c, id)).unwrap();
        s.unwrap().state
    }

    #[test]
    fn a_session_ends_once_and_only_with_the_code_that_was_checked() {
        let (_dir, storage) = temp_storage();
        let id = session(&storage, "a", "h1");
        let end = |hash: &str, to: OobStat| {
            storage
                .write(|c| update_session_end(c, id, hash, to, 10))
                .unwrap()
        };
        assert!(!end("h0", OobStat::Success), "another code's hash");
        assert_eq!(state(&storage, id), OobStat::Pending);
        assert!(end("h1", OobStat::Failed));
        assert!(!end("h1", OobStat::Success), "already ended");
        assert_eq!(state(&storage, id), OobStat::Failed);
    }

    #[test]
    fn a_resend_replaces_the_code_within_its_limit_and_only_while_pending() {
        let (_dir, storage) = temp_storage();
        let id = session(&storage, "a", "h1");
        let resend = |hash: &str, now: i64| {
            storage
                .write(|c| update_session_resend(c, id, hash, 1, now))
                .unwrap()
        };
        assert!(!resend("h2", 1000), "expired");
        assert!(resend("h2", 999));
        assert!(!resend("h3", 999), "limit of one resend");
        let s = storage
            .read(|c| find_session_by_pk(c, id))
            .unwrap()
            .unwrap();
        assert_eq!((s.otp_hash.as_str(), s.resend_count), ("h2", 1));
        assert_eq!(s.send_stat, SendStat::Pending);
        let ended = storage.write(|c| update_session_end(c, id, "h1", OobStat::Success, 5));
        assert!(!ended.unwrap(), "the replaced code cannot end it");
        storage
            .write(|c| update_session_end(c, id, "h2", OobStat::Success, 5))
            .unwrap();
        let other = session(&storage, "b", "h1");
        storage
            .write(|c| update_session_end(c, other, "h1", OobStat::Expired, 5))
            .unwrap();
        assert!(!storage
            .write(|c| update_session_resend(c, other, "h4", 9, 5))
            .unwrap());
    }
}
