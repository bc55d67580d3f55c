//! The sweeper's OOB work: ending TwoWay sessions past their expiry (each with its
//! "90040" event, like any end), dropping the texts of expired OneWay sessions, and
//! purging sessions, SMS and events past the retention.

use chrono::{DateTime, Utc};

use crate::domain::audit;
use crate::domain::{to_ms, Context, Error, Service};
use crate::storage::oob_sessions::Swept;
use crate::storage::{oob_sessions as sessions, sms_messages as messages};
use crate::types::{AuditAction, AuditResult};

impl Service {
    /// Ends the pending TwoWay sessions past their expiry (the sweeper); answers how many.
    /// The real clock's sweep: a sandbox's sessions expire by its own clock, when it moves
    /// (`expire_due_in`) or when a verification finds them past it.
    pub fn expire_due(&self, now: DateTime<Utc>) -> Result<usize, Error> {
        self.expire_swept(Swept::Production, now)
    }

    /// [`Service::expire_due`] for the sandbox `inst`, whose clock just moved to `now`;
    /// its slow gateway's held SMS go too (`sandbox_sms`).
    pub fn expire_due_in(&self, inst: &str, now: DateTime<Utc>) -> Result<usize, Error> {
        self.storage
            .write(|c| Self::accept_slow_sandbox_sms(c, inst, to_ms(now)))?;
        self.expire_swept(Swept::Sandbox(inst), now)
    }

    fn expire_swept(&self, swept: Swept<'_>, now: DateTime<Utc>) -> Result<usize, Error> {
        let due = self
            .storage
            .read(|c| sessions::find_expired_pending(c, swept, to_ms(now), 100))?;
        let ctx = Context {
            actor: "sweeper".into(),
            ..Context::default()
        };
        for s in &due {
            self.finish(&ctx, s, None, now, AuditAction::OobExpire)?;
        }
        // OneWay sessions never end; their texts go at expiry. Looked for on a reading
        // connection first, so an idle sweep writes nothing.
        let texts = self
            .storage
            .read(|c| messages::find_expired_texts(c, swept, to_ms(now), 500))?;
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
                action: AuditAction::OobPurge,
                token_id: None,
                usr_name: None,
                result: AuditResult::Success,
                detail: Some(&detail),
            };
            audit::record(c, &ctx, now, entry)?;
            Ok::<_, Error>((s, m))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_kit::{at, ctx, service, t0, two_way};
    use crate::domain::Service;
    use crate::types::Cursor;
    use crate::types::{OobModeType, OobStat};
    use chrono::Duration;

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
            .verify_oob(&ctx(), &a.session.alrt_pkg_id, &a.otp.0, at(14_999))
            .unwrap();
        assert_eq!(
            ok.rs_stat,
            OobStat::Success,
            "one millisecond before expiry"
        );
        assert_eq!(s.expire_due(at(14_999)).unwrap(), 0);
        assert_eq!(s.expire_due(at(15_000)).unwrap(), 1);
        let late = s
            .verify_oob(&ctx(), &b.session.alrt_pkg_id, &b.otp.0, at(15_001))
            .unwrap();
        assert_eq!(late.rs_stat, OobStat::Expired);
        let results: Vec<OobStat> = s
            .oob_events(None, Cursor::After(0), 10)
            .unwrap()
            .into_iter()
            .map(|e| e.rs_stat)
            .collect();
        assert_eq!(results, [OobStat::Success, OobStat::Expired]);
    }

    #[test]
    /// A live code leaves the database (its sealed text) when its session ends or
    /// expires; the outbox then shows the text with the code masked.
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
                .filter(|m| {
                    let live = m.body.as_deref();
                    live.is_some_and(|b| !b.contains(super::super::text::MASK))
                })
                .count()
        };
        assert_eq!(texts(&s), 2);
        s.verify_oob(&ctx(), &two.session.alrt_pkg_id, &two.otp.0, at(1000))
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
        s.verify_oob(&ctx(), &started.session.alrt_pkg_id, &otp, at(1000))
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
        s.verify_oob(&ctx(), &started.session.alrt_pkg_id, &otp, at(1000))
            .unwrap();
        let later = t0() + Duration::days(365);
        assert_eq!(s.purge_oob(later).unwrap(), (0, 0));
        let event = s.claim_event(later).unwrap().unwrap();
        let refused = Err(crate::sms::http::PostFailure::Status(400));
        s.record_event_attempt(&event, &refused, later, std::time::Duration::ZERO)
            .unwrap();
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
