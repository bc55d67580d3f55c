//! Answers to OOB sessions: verification (`POST /oob/{AlrtPkgId}/verify`), SMS replies,
//! resends, and expiry by the sweeper. Each end of a session — Success, Failed or Expired —
//! is one conditional UPDATE committed with its "90040" event and its audit row.

use chrono::{DateTime, Utc};
use zeroize::Zeroizing;

use super::guard::OFF_FILE;
use super::text;
use super::{ended, oob_entry, otp_message, Verified};
use crate::domain::audit;
use crate::domain::{to_ms, Context, Error, Fault, Service};
use crate::storage::oob_sessions::OobSession;
use crate::storage::{oob_events as events, oob_sessions as sessions, sms_messages as messages};
use crate::storage::{users, Conn};
use crate::types::{AuditAction, AuditResult};
use crate::types::{OobStat, OtpKind, PhoneNum, SessionOrigin};

/// What one attempt to end a session came to.
enum Ended {
    /// The session's answer (this attempt ended it, or it had already ended).
    Answer(OobStat),
    /// Still Pending, with another code (a resend): decide again against this one.
    CodeReplaced(Box<OobSession>),
}

impl Service {
    /// Verifies the OTP of a TwoWay session (`POST /oob/{AlrtPkgId}/verify`).
    pub fn verify_oob(
        &self,
        ctx: &Context,
        alrt_pkg_id: &str,
        otp: &str,
        now: DateTime<Utc>,
    ) -> Result<Verified, Error> {
        if !text::is_otp_form(otp) {
            return Err(Error::at(Fault::OtpFormat, "OTP"));
        }
        let session = self.two_way_session(ctx, alrt_pkg_id)?;
        self.finish(ctx, &session, Some(otp), now, AuditAction::OobVerify)
    }

    /// A two-way SMS reply (`POST /sms/inbound`): the newest pending TwoWay session of the
    /// phone is verified with the first 6-character word of the body. A body without such
    /// a word (STOP, HELP, …) or a phone without a pending session changes nothing.
    ///
    /// Institutions: a key bound to one reaches only its sessions; a cross-institution key
    /// reaches the institution its request names, else the phone's pending sessions only
    /// when they all belong to one institution (a number pending in two is ambiguous: the
    /// reply changes nothing and the audit says why).
    pub fn inbound_sms(
        &self,
        ctx: &Context,
        from: &PhoneNum,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Verified>, Error> {
        let Some(word) = body.split_whitespace().find(|w| text::is_otp_form(w)) else {
            return Ok(None);
        };
        let inst = ctx.inst_rt_id.as_deref();
        let pending = self
            .storage
            .read(|c| sessions::find_pending_for_phone(c, from.as_str(), inst))?;
        let Some(newest) = pending.first() else {
            return Ok(None);
        };
        if pending.iter().any(|p| p.inst_rt_id != newest.inst_rt_id) {
            let detail = format!(
                "reply from {} ignored: sessions pending in several institutions (name InstRtId)",
                from.masked()
            );
            let entry = oob_entry(AuditAction::OobInbound, None, AuditResult::Failed, &detail);
            self.storage.write(|c| audit::record(c, ctx, now, entry))?;
            return Ok(None);
        }
        self.finish(ctx, newest, Some(word), now, AuditAction::OobInbound)
            .map(Some)
    }

    /// Ends a session: Expired past its expiry, else Success or Failed by the code — only
    /// if it is still Pending with the code that was checked (else the answer is Failed,
    /// or Expired if it expired). A resend racing the check replaces the code: the answer
    /// is then decided again against the new one. The end, its event and its audit row
    /// commit together.
    pub(super) fn finish(
        &self,
        ctx: &Context,
        s: &OobSession,
        otp: Option<&str>,
        now: DateTime<Utc>,
        action: AuditAction,
    ) -> Result<Verified, Error> {
        // The end of a session is its institution's, whoever ends it (the sweeper, the
        // provider's reply webhook): its audit row says so.
        let ctx = &Context {
            inst_rt_id: Some(s.inst_rt_id.clone()),
            ..ctx.clone()
        };
        let usr_name = self.usr_name_of(s.user_pk)?;
        let mut session = s.clone();
        // A resend can replace the code at most `max_resends` times.
        let tries = self.oob.policy.max_resends.saturating_add(2);
        for _ in 0..tries {
            let outcome = self.outcome_of(&session, otp, now);
            match self.end_session(ctx, &session, outcome, usr_name.as_deref(), now, action)? {
                Ended::Answer(answer) => {
                    self.oob.signal.notify();
                    return Ok(Verified {
                        alrt_pkg_id: s.alrt_pkg_id.clone(),
                        rs_stat: answer,
                        usr_name,
                        off_file: s.origin == SessionOrigin::OffFile,
                    });
                }
                Ended::CodeReplaced(fresh) => session = *fresh,
            }
        }
        Err(Error::Internal(
            "an OOB session's code kept changing while it was verified".into(),
        ))
    }

    /// What a presented code (or none: the sweeper) makes of a session as read.
    fn outcome_of(&self, s: &OobSession, otp: Option<&str>, now: DateTime<Utc>) -> OobStat {
        if to_ms(now) >= s.expires_at {
            return OobStat::Expired;
        }
        let kind = s.otp_kind;
        let matches = otp.is_some_and(|o| {
            let presented = Zeroizing::new(match kind {
                OtpKind::Alnum => o.to_ascii_uppercase(),
                OtpKind::Digits => o.to_owned(),
            });
            self.keyring
                .is_code_hash(&otp_message(&s.alrt_pkg_id, &presented), &s.otp_hash)
        });
        if matches {
            OobStat::Success
        } else {
            OobStat::Failed
        }
    }

    /// Commits `outcome` if the session is still Pending with the code it was decided on.
    fn end_session(
        &self,
        ctx: &Context,
        s: &OobSession,
        outcome: OobStat,
        usr_name: Option<&str>,
        now: DateTime<Utc>,
        action: AuditAction,
    ) -> Result<Ended, Error> {
        self.storage.write(|c| {
            if !sessions::update_session_end(c, s.id, &s.otp_hash, outcome, to_ms(now))? {
                let current = sessions::find_session_by_pk(c, s.id)?;
                if let Some(fresh) = current.as_ref().filter(|f| f.state == OobStat::Pending) {
                    return Ok(Ended::CodeReplaced(Box::new(fresh.clone())));
                }
                let answer = match current.map(|f| f.state) {
                    Some(OobStat::Expired) => OobStat::Expired,
                    _ => OobStat::Failed,
                };
                let detail = format!("AlrtPkgId {} had already ended", s.alrt_pkg_id);
                let entry = oob_entry(action, usr_name, ended(answer), &detail);
                audit::record(c, ctx, now, entry)?;
                return Ok::<_, Error>(Ended::Answer(answer));
            }
            let reason = (s.origin == SessionOrigin::OffFile).then_some(OFF_FILE);
            record_end(c, s, outcome, usr_name, reason, now)?;
            let mut detail = format!("AlrtPkgId {}", s.alrt_pkg_id);
            if let (Some(user_pk), SessionOrigin::Lock) = (s.user_pk, s.origin) {
                detail.push_str(&self.count_fallback_end(c, user_pk, outcome)?);
            }
            let entry = oob_entry(action, usr_name, ended(outcome), &detail);
            audit::record(c, ctx, now, entry)?;
            Ok(Ended::Answer(outcome))
        })
    }

    /// Ends the user's pending sessions because their phone changed (within the change's
    /// transaction): each Failed, with its event giving the reason and an audit row, so
    /// none can be answered or resent to the old number. They do not count towards the
    /// fallback's failure streak: the user did nothing wrong.
    pub(crate) fn end_for_phone_change(
        &self,
        c: &mut Conn,
        ctx: &Context,
        user: &users::User,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        for s in sessions::find_pending_for_user(c, user.id, to_ms(now))? {
            if !sessions::update_session_end(c, s.id, &s.otp_hash, OobStat::Failed, to_ms(now))? {
                continue;
            }
            let name = Some(user.usr_name.as_str());
            record_end(c, &s, OobStat::Failed, name, Some(PHONE_CHANGED), now)?;
            let detail = format!("AlrtPkgId {}: {PHONE_CHANGED}", s.alrt_pkg_id);
            let entry = oob_entry(AuditAction::OobVerify, name, AuditResult::Failed, &detail);
            audit::record(c, ctx, now, entry)?;
        }
        Ok(())
    }

    /// Keeps the user's streak of lock-fallback sessions that failed or expired: a success
    /// ends it, a failure or expiry adds one. Answers what the audit should add.
    fn count_fallback_end(
        &self,
        c: &mut crate::storage::Conn,
        user_pk: i32,
        outcome: OobStat,
    ) -> Result<String, Error> {
        if outcome == OobStat::Success {
            users::update_user_oob_failures(c, user_pk, 0)?;
            return Ok(String::new());
        }
        let streak = users::update_user_oob_failed(c, user_pk)?;
        let max = self.oob.policy.max_failed_sessions;
        Ok(if u32::try_from(streak).unwrap_or(0) >= max {
            format!("; {streak} fallback sessions failed in a row: SMS fallback suspended")
        } else {
            format!("; {streak} of {max} fallback sessions failed in a row")
        })
    }
}

/// The reason of a session a phone change ended.
pub const PHONE_CHANGED: &str = "ended by a change of the user's phone";

/// What every end of a session records beside its state: its SMS forgotten (texts
/// dropped, queued ones given up) and its "90040" event.
fn record_end(
    c: &mut Conn,
    s: &OobSession,
    outcome: OobStat,
    usr_name: Option<&str>,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    messages::update_messages_forget(c, s.id)?;
    let event = events::NewEvent {
        session_pk: s.id,
        alrt_pkg_id: &s.alrt_pkg_id,
        usr_name,
        result: outcome,
        at: to_ms(now),
        attempts: 0,
        next_attempt_at: to_ms(now),
        reason,
    };
    events::insert_event(c, &event)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_kit::{at, ctx, other_code, service, t0, two_way};
    use super::*;
    use crate::storage::oob_sessions as sessions;
    use crate::types::Cursor;

    #[test]
    fn one_attempt_then_every_answer_is_failed_with_one_event() {
        let (_dir, s) = service();
        let started = s
            .start_oob(&ctx(), &two_way("4175556652", 300), t0())
            .unwrap();
        let (id, otp) = (started.session.alrt_pkg_id.as_str(), started.otp.0.as_str());
        let wrong = s.verify_oob(&ctx(), id, other_code(otp), at(1000)).unwrap();
        assert_eq!(wrong.rs_stat, OobStat::Failed);
        let right = s.verify_oob(&ctx(), id, otp, at(2000)).unwrap();
        assert_eq!(right.rs_stat, OobStat::Failed, "the session already failed");
        let events = s.oob_events(None, Cursor::After(0), 10).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].rs_stat, OobStat::Failed);
    }

    /// A code checked against the session as read before a resend replaced it must not
    /// end the new session: the end is compare-and-swap on the checked code, and the
    /// answer is decided again against the new one.
    #[test]
    fn an_old_code_racing_a_resend_cannot_end_the_new_session() {
        let (_dir, s) = service();
        let started = s
            .start_oob(&ctx(), &two_way("4175556652", 300), t0())
            .unwrap();
        let old_otp = started.otp.0.clone();
        let as_read = s
            .storage
            .read(|c| sessions::find_session(c, "t", &started.session.alrt_pkg_id))
            .unwrap()
            .unwrap();
        let resent = s
            .resend_oob(&ctx(), &started.session.alrt_pkg_id, at(1000))
            .unwrap();
        let new_otp = resent.otp.0.clone();
        assert_ne!(old_otp, new_otp);
        // The storage guard alone: the old hash no longer ends the session.
        let ended = s
            .storage
            .write(|c| {
                sessions::update_session_end(c, as_read.id, &as_read.otp_hash, OobStat::Success, 0)
            })
            .unwrap();
        assert!(!ended, "the UPDATE is conditional on the checked code");
        // Through the domain: the old code, checked against the stale row, is decided
        // again against the new code and fails the session.
        let v = s
            .finish(
                &ctx(),
                &as_read,
                Some(&old_otp),
                at(2000),
                crate::types::AuditAction::OobVerify,
            )
            .unwrap();
        assert_eq!(v.rs_stat, OobStat::Failed);
        let again = s
            .verify_oob(&ctx(), &started.session.alrt_pkg_id, &new_otp, at(3000))
            .unwrap();
        assert_eq!(again.rs_stat, OobStat::Failed, "one attempt per session");
    }

    #[test]
    fn concurrent_verifications_end_a_session_once() {
        let (_dir, s) = service();
        let started = s
            .start_oob(&ctx(), &two_way("4175556652", 300), t0())
            .unwrap();
        let wins = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        s.verify_oob(&ctx(), &started.session.alrt_pkg_id, &started.otp.0, at(10))
                            .unwrap()
                            .rs_stat
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .filter(|r| *r == OobStat::Success)
                .count()
        });
        assert_eq!(wins, 1);
        assert_eq!(s.oob_events(None, Cursor::After(0), 10).unwrap().len(), 1);
    }
}
