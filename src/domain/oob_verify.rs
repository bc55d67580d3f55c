//! Answers to OOB sessions: verification (`POST /oob/{AlrtPkgId}/verify`), SMS replies,
//! resends, and expiry by the sweeper. Each end of a session — Success, Failed or Expired —
//! is one conditional UPDATE committed with its "90040" event and its audit row.

use chrono::{DateTime, Utc};
use zeroize::Zeroizing;

use super::audit;
use super::oob::{initial_send_stat, oob_entry, otp_message, Otp, Started, Verified};
use super::sms_text::{self, OtpKind};
use super::{to_ms, Context, Error, Fault, Service};
use crate::storage::oob_sessions::OobSession;
use crate::storage::users;
use crate::storage::{oob_events as events, oob_sessions as sessions, sms_messages as messages};
use crate::types::{OobStat, PhoneNum, SendStat, SessionOrigin};

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
        if !sms_text::is_otp_form(otp) {
            return Err(Error::at(Fault::OtpFormat, "OTP"));
        }
        let session = self.two_way_session(ctx, alrt_pkg_id)?;
        self.finish(ctx, &session, Some(otp), now, "oob.verify")
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
        let Some(word) = body.split_whitespace().find(|w| sms_text::is_otp_form(w)) else {
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
            let entry = oob_entry("oob.inbound", None, "Failed", &detail);
            self.storage.write(|c| audit::record(c, ctx, now, entry))?;
            return Ok(None);
        }
        self.finish(ctx, newest, Some(word), now, "oob.inbound")
            .map(Some)
    }

    /// Ends the pending TwoWay sessions past their expiry (the sweeper); answers how many.
    pub fn expire_due(&self, now: DateTime<Utc>) -> Result<usize, Error> {
        let due = self
            .storage
            .read(|c| sessions::find_expired_pending(c, to_ms(now), 100))?;
        let ctx = Context {
            actor: "sweeper".into(),
            ..Context::default()
        };
        for s in &due {
            self.finish(&ctx, s, None, now, "oob.expire")?;
        }
        // OneWay sessions never end; their texts go at expiry. Looked for on a reading
        // connection first, so an idle sweep writes nothing.
        let texts = self
            .storage
            .read(|c| messages::find_expired_texts(c, to_ms(now), 500))?;
        if !texts.is_empty() {
            self.storage
                .write(|c| messages::update_texts_forget(c, &texts))?;
        }
        Ok(due.len())
    }

    /// Deletes the OOB sessions that expired more than `retention_secs` ago, with their SMS
    /// (phone numbers) and events, and old session-less SMS: a phone number is personal
    /// data, kept no longer than the bank's retention. An event the webhook still owes is
    /// kept until it is delivered or refused. Audited with the counts (the audit trail
    /// itself is not purged). Looked for on a reading connection first, so an idle
    /// sweep writes nothing; at most `PURGE_BATCH` sessions per transaction.
    pub fn purge_oob(&self, now: DateTime<Utc>) -> Result<(usize, usize), Error> {
        const PURGE_BATCH: i64 = 500;
        let secs = self.oob.policy.retention_secs;
        if secs == 0 {
            return Ok((0, 0));
        }
        let retention_ms = i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let cutoff = to_ms(now).saturating_sub(retention_ms);
        let keep_undelivered = self.oob.webhook.is_some();
        let (sessions, messages) = self.storage.read(|c| {
            Ok((
                sessions::find_purgeable_sessions(c, cutoff, keep_undelivered, PURGE_BATCH)?,
                messages::find_purgeable_messages(c, cutoff, PURGE_BATCH)?,
            ))
        })?;
        if sessions.is_empty() && messages.is_empty() {
            return Ok((0, 0));
        }
        let ctx = Context {
            actor: "sweeper".into(),
            ..Context::default()
        };
        self.storage.write(|c| {
            let (s, m) = sessions::delete_oob(c, &sessions, &messages)?;
            let detail = format!("{s} session(s), {m} SMS, expired over {secs} s ago");
            let entry = audit::Entry {
                action: "oob.purge",
                token_id: None,
                usr_name: None,
                result: "Success",
                detail: Some(&detail),
            };
            audit::record(c, &ctx, now, entry)?;
            Ok::<_, Error>((s, m))
        })
    }

    /// Ends a session: Expired past its expiry, else Success or Failed by the code — only
    /// if it is still Pending with the code that was checked (else the answer is Failed,
    /// or Expired if it expired). A resend racing the check replaces the code: the answer
    /// is then decided again against the new one. The end, its event and its audit row
    /// commit together.
    fn finish(
        &self,
        ctx: &Context,
        s: &OobSession,
        otp: Option<&str>,
        now: DateTime<Utc>,
        action: &str,
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
        action: &str,
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
                let entry = oob_entry(action, usr_name, answer.as_str(), &detail);
                audit::record(c, ctx, now, entry)?;
                return Ok::<_, Error>(Ended::Answer(answer));
            }
            messages::update_messages_forget(c, s.id)?;
            events::insert_event(
                c,
                &events::NewEvent {
                    session_pk: s.id,
                    alrt_pkg_id: &s.alrt_pkg_id,
                    usr_name,
                    result: outcome,
                    at: to_ms(now),
                    attempts: 0,
                    next_attempt_at: to_ms(now),
                },
            )?;
            let mut detail = format!("AlrtPkgId {}", s.alrt_pkg_id);
            if let (Some(user_pk), SessionOrigin::Lock) = (s.user_pk, s.origin) {
                detail.push_str(&self.count_fallback_end(c, user_pk, outcome)?);
            }
            let entry = oob_entry(action, usr_name, outcome.as_str(), &detail);
            audit::record(c, ctx, now, entry)?;
            Ok(Ended::Answer(outcome))
        })
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

    /// Re-sends a pending TwoWay session with a fresh code (the previous one stops working).
    /// Answers the session and, for an explicit session, the new code.
    pub fn resend_oob(
        &self,
        ctx: &Context,
        alrt_pkg_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Started, Error> {
        let s = self.two_way_session(ctx, alrt_pkg_id)?;
        if s.state != OobStat::Pending || to_ms(now) >= s.expires_at {
            return Err(Error::at(Fault::OobWrongState, "AlrtPkgId")
                .with_value(alrt_pkg_id)
                .with_detail("(the session has ended: start a new one)"));
        }
        let max = i32::try_from(self.oob.policy.max_resends).unwrap_or(i32::MAX);
        if s.resend_count >= max {
            return Err(Error::at(Fault::ResendLimit, "AlrtPkgId").with_value(alrt_pkg_id));
        }
        let kind = s.otp_kind;
        let otp = sms_text::generate(kind)?;
        let hash = self.keyring.code_hash(&otp_message(&s.alrt_pkg_id, &otp));
        let body = sms_text::render(&s.sms_template, &otp);
        let phone = PhoneNum::parse(&s.phone_num)
            .ok_or_else(|| Error::Internal("stored phone is malformed".into()))?;
        let usr_name = self.usr_name_of(s.user_pk)?;
        self.storage.write(|c| {
            self.check_send_cap(c, &phone, s.user_pk, now)?;
            if !sessions::update_session_resend(c, s.id, &hash, max, to_ms(now))? {
                return Err(Error::at(Fault::ResendLimit, "AlrtPkgId")
                    .with_value(s.alrt_pkg_id.as_str())
                    .with_detail("(or the session ended meanwhile)"));
            }
            if initial_send_stat(self.oob.policy.provider) == SendStat::Sent {
                sessions::update_session_send_stat(c, s.id, SendStat::Sent)?;
            }
            self.queue_sms(c, s.id, s.user_pk, &phone, &body, now)?;
            let detail = format!("AlrtPkgId {}, resend {}", s.alrt_pkg_id, s.resend_count + 1);
            let entry = oob_entry("oob.resend", usr_name.as_deref(), "Success", &detail);
            Ok::<_, Error>(audit::record(c, ctx, now, entry)?)
        })?;
        self.oob.signal.notify();
        let fresh = self
            .storage
            .read(|c| sessions::find_session_by_pk(c, s.id))?
            .ok_or_else(|| Error::Internal("resent session vanished".into()))?;
        let shown = if s.origin == SessionOrigin::Explicit {
            otp
        } else {
            Zeroizing::new(String::new())
        };
        self.started_view(&fresh, Otp(shown))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Keyring, MasterKey};
    use crate::domain::oob::OobRequest;
    use crate::domain::oob_delivery::Cursor;
    use crate::domain::Policy;
    use crate::storage::test_support::temp_storage;
    use crate::types::OobModeType;
    use chrono::Duration;
    use chrono::TimeZone as _;

    fn service() -> (tempfile::TempDir, Service) {
        let (dir, storage) = temp_storage();
        let keyring = Keyring::new(&MasterKey::generate().unwrap()).unwrap();
        let policy = Policy {
            issuer: "Bank".into(),
            window_steps: 1,
            lock_after_failures: 5,
            default_inst_rt_id: "t".into(),
            resync_window_steps: 100,
            auto_unlock_after_secs: 0,
        };
        (dir, Service::new(storage, keyring, policy))
    }

    fn ctx() -> Context {
        Context {
            actor: "test".into(),
            ..Context::default()
        }
    }

    fn t0() -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000, 0).unwrap()
    }

    fn at(ms: i64) -> DateTime<Utc> {
        t0() + Duration::milliseconds(ms)
    }

    fn two_way(phone: &str, exp_secs: u64) -> OobRequest {
        OobRequest {
            phone: PhoneNum::parse(phone),
            usr_name: None,
            mode: OobModeType::TwoWay,
            template: None,
            exp_secs,
        }
    }

    fn other_code(otp: &str) -> &'static str {
        if otp == "000000" {
            "111111"
        } else {
            "000000"
        }
    }

    #[test]
    fn one_attempt_then_every_answer_is_failed_with_one_event() {
        let (_dir, s) = service();
        let started = s
            .start_oob(&ctx(), &two_way("4175556652", 300), t0())
            .unwrap();
        let (id, otp) = (started.alrt_pkg_id.as_str(), started.otp.0.as_str());
        let wrong = s.verify_oob(&ctx(), id, other_code(otp), at(1000)).unwrap();
        assert_eq!(wrong.rs_stat, OobStat::Failed);
        let right = s.verify_oob(&ctx(), id, otp, at(2000)).unwrap();
        assert_eq!(right.rs_stat, OobStat::Failed, "the session already failed");
        let events = s.oob_events(None, Cursor::After(0), 10).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].rs_stat, "Failed");
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
            .read(|c| sessions::find_session(c, "t", &started.alrt_pkg_id))
            .unwrap()
            .unwrap();
        let resent = s
            .resend_oob(&ctx(), &started.alrt_pkg_id, at(1000))
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
            .finish(&ctx(), &as_read, Some(&old_otp), at(2000), "oob.verify")
            .unwrap();
        assert_eq!(v.rs_stat, OobStat::Failed);
        let again = s
            .verify_oob(&ctx(), &started.alrt_pkg_id, &new_otp, at(3000))
            .unwrap();
        assert_eq!(again.rs_stat, OobStat::Failed, "one attempt per session");
    }

    #[test]
    fn expiry_is_exact_and_the_sweeper_and_a_late_answer_agree() {
        let (_dir, s) = service();
        let a = s
            .start_oob(&ctx(), &two_way("4175556652", 15), t0())
            .unwrap();
        let b = s
            .start_oob(&ctx(), &two_way("4175556653", 15), t0())
            .unwrap();
        let ok = s
            .verify_oob(&ctx(), &a.alrt_pkg_id, &a.otp.0, at(14_999))
            .unwrap();
        assert_eq!(
            ok.rs_stat,
            OobStat::Success,
            "one millisecond before expiry"
        );
        assert_eq!(s.expire_due(at(14_999)).unwrap(), 0);
        assert_eq!(s.expire_due(at(15_000)).unwrap(), 1);
        let late = s
            .verify_oob(&ctx(), &b.alrt_pkg_id, &b.otp.0, at(15_001))
            .unwrap();
        assert_eq!(late.rs_stat, OobStat::Expired);
        let results: Vec<String> = s
            .oob_events(None, Cursor::After(0), 10)
            .unwrap()
            .into_iter()
            .map(|e| e.rs_stat)
            .collect();
        assert_eq!(results, ["Success", "Expired"]);
    }

    #[test]
    fn texts_leave_the_database_when_a_session_ends_or_expires() {
        let (_dir, s) = service();
        let mut one_way = two_way("4175556652", 15);
        one_way.mode = OobModeType::OneWay;
        s.start_oob(&ctx(), &one_way, t0()).unwrap();
        let two = s
            .start_oob(&ctx(), &two_way("4175556653", 300), t0())
            .unwrap();
        let texts = |s: &Service| {
            s.sms_outbox(None, Cursor::After(0), 10)
                .unwrap()
                .iter()
                .filter(|m| m.body.is_some())
                .count()
        };
        assert_eq!(texts(&s), 2);
        s.verify_oob(&ctx(), &two.alrt_pkg_id, &two.otp.0, at(1000))
            .unwrap();
        assert_eq!(texts(&s), 1, "the ended TwoWay session's text is gone");
        s.expire_due(at(14_000)).unwrap();
        assert_eq!(texts(&s), 1);
        s.expire_due(at(15_000)).unwrap();
        assert_eq!(texts(&s), 0, "the OneWay text goes at its expiry");
        assert_eq!(
            s.oob_events(None, Cursor::After(0), 10).unwrap().len(),
            1,
            "OneWay emits no event"
        );
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
                        s.verify_oob(&ctx(), &started.alrt_pkg_id, &started.otp.0, at(10))
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

    #[test]
    fn the_send_cap_is_a_sliding_window_per_phone() {
        let (_dir, s) = service();
        for i in 0..5 {
            s.start_oob(&ctx(), &two_way("4175556652", 300), at(i))
                .unwrap();
        }
        let capped = s.start_oob(&ctx(), &two_way("4175556652", 300), at(10));
        assert_eq!(capped.unwrap_err().kind(), Fault::SendCapReached);
        s.start_oob(&ctx(), &two_way("4175556699", 300), at(10))
            .unwrap();
        s.start_oob(&ctx(), &two_way("4175556652", 300), at(600_001))
            .unwrap();
    }

    #[test]
    fn the_otp_is_stored_hashed_and_never_debug_printed() {
        let (_dir, s) = service();
        let started = s
            .start_oob(&ctx(), &two_way("4175556652", 300), t0())
            .unwrap();
        assert!(!format!("{started:?}").contains(started.otp.0.as_str()));
        let stored = s
            .storage
            .read(|c| sessions::find_session(c, "t", &started.alrt_pkg_id))
            .unwrap()
            .unwrap();
        assert_ne!(stored.otp_hash, started.otp.0.as_str());
        assert!(!stored.otp_hash.contains(started.otp.0.as_str()));
        assert!(!stored.sms_template.contains(started.otp.0.as_str()));
    }

    fn rows(s: &Service) -> (i64, i64, i64) {
        use crate::storage::schema::{oob_events, oob_sessions, sms_messages};
        use diesel::prelude::*;
        s.storage
            .read(|c| {
                Ok((
                    oob_sessions::table.count().get_result(c)?,
                    sms_messages::table.count().get_result(c)?,
                    oob_events::table.count().get_result(c)?,
                ))
            })
            .unwrap()
    }

    #[test]
    fn sessions_past_the_retention_are_purged_with_their_sms_and_events() {
        let (_dir, s) = service();
        let started = s
            .start_oob(&ctx(), &two_way("4175556652", 300), t0())
            .unwrap();
        let otp = started.otp.0.clone();
        s.verify_oob(&ctx(), &started.alrt_pkg_id, &otp, at(1000))
            .unwrap();
        assert_eq!(rows(&s), (1, 1, 1));
        let day = Duration::days(1);
        assert_eq!(
            s.purge_oob(t0() + day * 89).unwrap(),
            (0, 0),
            "kept 90 days"
        );
        assert_eq!(rows(&s), (1, 1, 1));
        assert_eq!(s.purge_oob(t0() + day * 91).unwrap(), (1, 1));
        assert_eq!(rows(&s), (0, 0, 0));
        assert_eq!(s.purge_oob(t0() + day * 92).unwrap(), (0, 0), "idempotent");
        let purges = s
            .audit_log(
                &crate::domain::audit::AuditFilter {
                    action: Some("oob.purge".into()),
                    ..Default::default()
                },
                10,
            )
            .unwrap();
        assert_eq!(purges.len(), 1);
        assert!(purges[0]
            .detail
            .as_deref()
            .unwrap()
            .starts_with("1 session(s), 1 SMS"));
    }

    #[test]
    fn an_event_the_webhook_still_owes_keeps_its_session() {
        let (_dir, mut s) = service();
        s.oob.webhook = Some(crate::sms::http::HttpTarget::new(
            "http://127.0.0.1:9/",
            None,
            std::time::Duration::from_secs(1),
        ));
        let started = s
            .start_oob(&ctx(), &two_way("4175556652", 300), t0())
            .unwrap();
        let otp = started.otp.0.clone();
        s.verify_oob(&ctx(), &started.alrt_pkg_id, &otp, at(1000))
            .unwrap();
        let later = t0() + Duration::days(365);
        assert_eq!(s.purge_oob(later).unwrap(), (0, 0));
        let event = s.claim_event(later).unwrap().unwrap();
        let refused = Err(crate::sms::http::PostFailure::Status(400));
        s.record_event_attempt(&event, &refused, later).unwrap();
        assert_eq!(
            s.purge_oob(later).unwrap(),
            (1, 1),
            "a refused event is not owed"
        );
    }

    #[test]
    fn retention_zero_keeps_everything() {
        let (_dir, mut s) = service();
        s.oob.policy.retention_secs = 0;
        s.start_oob(&ctx(), &two_way("4175556652", 300), t0())
            .unwrap();
        assert_eq!(s.purge_oob(t0() + Duration::days(3650)).unwrap(), (0, 0));
        assert_eq!(rows(&s).0, 1);
    }
}
