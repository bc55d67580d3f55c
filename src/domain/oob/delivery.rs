//! Delivery of what the OOB sessions recorded: SMS through the http provider (retries with
//! back-off, every attempt recorded), and the "90040" events as listed and pushed (the
//! push to the configured webhook is `event_push`). Both queues live in the database, so
//! a restart resumes them.
//!
//! The background threads (`crate::worker`) drive these steps and read the clock; the
//! steps take `now` like every domain call. A claim is a conditional UPDATE that leases the
//! row, so two threads or two processes never make the same attempt at once.

use chrono::{DateTime, Utc};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::crypto::SealedSeed;
use crate::domain::{from_ms, to_ms, Context, Error, Service};
use crate::storage::oob_events::OobEvent;
use crate::storage::sms_messages::{AttemptOutcome, NewMessage, SmsMessage};
use crate::storage::{self, Conn};
use crate::storage::{oob_events as events, oob_sessions as sessions, sms_messages as messages};
use crate::types::Cursor;
use crate::types::{OobStat, PhoneNum, ProviderKind, SendStat};

/// jXchange event type of OOB results ("ENS Publisher Feedback").
pub const EVENT_TYPE: &str = "90040";
/// How long a lease outlives one attempt's timeout (the record of the attempt included).
const LEASE_MARGIN_MS: i64 = 10_000;

/// A "90040" event as listed and pushed. `Serialize` is the event webhook's body (the
/// jXchange names); the API's listing builds its own wire form (`web::api::oob_wire`).
#[derive(Debug, Clone, Serialize)]
pub struct FeedbackEvent {
    /// Position in the event log (`GET /events?after=EvtId`).
    #[serde(rename = "EvtId")]
    pub evt_id: i64,
    /// Always "90040".
    #[serde(rename = "EvtType")]
    pub evt_type: &'static str,
    /// The session.
    #[serde(rename = "AlrtPkgId")]
    pub alrt_pkg_id: String,
    /// Success, Failed or Expired.
    #[serde(rename = "RsStat")]
    pub rs_stat: OobStat,
    /// When the session ended (ISO 8601).
    #[serde(rename = "EvtDt")]
    pub at: String,
    /// The user, when known.
    #[serde(rename = "UsrName", skip_serializing_if = "Option::is_none")]
    pub usr_name: Option<String>,
    /// Whether the webhook accepted it (absent without a webhook).
    #[serde(rename = "Delivered", skip_serializing_if = "Option::is_none")]
    pub delivered: Option<bool>,
    /// Present (true) when the webhook refused it for good (a 4xx): it was set aside and
    /// is not pushed again; read it here.
    #[serde(rename = "Refused", skip_serializing_if = "Option::is_none")]
    pub refused: Option<bool>,
    /// Why the session ended when its code did not decide it (a phone change), or what
    /// the consumer must know of it (sent to a number not on file).
    #[serde(rename = "EvtRsn", skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An SMS as the outbox lists it. The phone is masked; the body is the message the
/// recipient gets (held only by outbox messages and http messages not yet delivered).
#[derive(Debug, Clone)]
pub struct OutboxMessage {
    /// Row id (`GET /sms/outbox?after=MsgId`).
    pub msg_id: i64,
    /// The session it belongs to.
    pub alrt_pkg_id: Option<String>,
    /// Last four digits.
    pub phone_masked: String,
    /// The text.
    pub body: Option<String>,
    /// `outbox` or `http`.
    pub provider: ProviderKind,
    /// Pending, Sent, Failed.
    pub send_stat: SendStat,
    /// Attempts made.
    pub attempts: i32,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it was recorded.
    pub created_at: String,
}

fn iso(ms: i64) -> String {
    from_ms(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, false))
        .unwrap_or_default()
}

fn ms_of(d: u64) -> i64 {
    i64::try_from(d).unwrap_or(i64::MAX)
}

/// One SMS to store: its session, user, number, its text with the code (stored sealed)
/// and the same text with the code masked (kept).
pub(super) struct Outgoing<'a> {
    pub session_pk: i32,
    pub user_pk: Option<i32>,
    pub phone: &'a PhoneNum,
    pub body: &'a str,
    pub masked: &'a str,
}

/// What binds a sealed SMS text to its row: its session and number, so a sealed text
/// copied into another row does not open.
fn text_aad(session_pk: Option<i32>, phone: &str) -> Vec<u8> {
    format!("tokend sms\n{}\n{phone}", session_pk.unwrap_or(0)).into_bytes()
}

impl Service {
    /// Stores one SMS: delivered at once for the outbox, queued for the http sender. It
    /// records the institution and the sender (the audit's actor), which the hourly caps
    /// count.
    pub(super) fn queue_sms(
        &self,
        c: &mut Conn,
        ctx: &Context,
        out: &Outgoing<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), storage::Error> {
        // A sandbox's stays in the outbox (issue 29, `sandbox_sms`).
        let route = self.sms_route(ctx, out.phone, now)?;
        let (provider, stat) = (route.provider, route.first);
        let sent = stat == SendStat::Sent;
        // Sealed like a seed: the database never holds a live code in clear (issue 26).
        let sealed = self
            .keyring
            .seal_bound(
                &text_aad(Some(out.session_pk), out.phone.as_str()),
                out.body.as_bytes(),
            )
            .map_err(|e| storage::Error::Db(format!("sealing an SMS text: {e}")))?
            .to_bytes();
        let id = messages::insert_message(
            c,
            &NewMessage {
                session_pk: Some(out.session_pk),
                user_pk: out.user_pk,
                phone_num: out.phone.as_str(),
                body: Some(out.masked),
                provider,
                state: stat,
                attempts: i32::from(sent),
                next_attempt_at: route.accepted_at.unwrap_or(to_ms(now)),
                created_at: to_ms(now),
                sent_at: sent.then(|| to_ms(now)),
                inst_rt_id: Some(self.institution(ctx)),
                sent_by: Some(&ctx.actor),
                body_sealed: Some(&sealed),
            },
        )?;
        if sent {
            messages::insert_outbox_attempt(c, id, to_ms(now))?;
        }
        Self::record_sandbox_outcome(c, id, &route, now)
    }

    /// Leases the oldest due http SMS for one attempt.
    pub fn claim_sms(&self, now: DateTime<Utc>) -> Result<Option<SmsMessage>, Error> {
        if self.oob.http.is_none() {
            return Ok(None);
        }
        self.lease(
            now,
            |c, now_ms| messages::find_due_message(c, ProviderKind::Http, now_ms),
            |m| m.id,
            messages::update_message_claim,
        )
    }

    /// THE ONE CLAIM of both queues (SMS and events): looks for the oldest due row on a
    /// reading connection first (idle senders poll, and must not queue empty write
    /// transactions behind real ones), then leases it by a conditional UPDATE that pushes
    /// its next attempt past one attempt's timeout; `None` when nothing is due or another
    /// sender (thread or process) claimed it first.
    pub(super) fn lease<T>(
        &self,
        now: DateTime<Utc>,
        find: impl Fn(&mut Conn, i64) -> Result<Option<T>, storage::Error>,
        id: impl Fn(&T) -> i32,
        claim: impl Fn(&mut Conn, i32, i64, i64) -> Result<bool, storage::Error>,
    ) -> Result<Option<T>, Error> {
        let now_ms = to_ms(now);
        let until = now_ms
            .saturating_add(ms_of(self.oob.policy.http_timeout_ms))
            .saturating_add(LEASE_MARGIN_MS);
        let Some(row) = self.storage.read(|c| find(c, now_ms))? else {
            return Ok(None);
        };
        let claimed = self.storage.write(|c| claim(c, id(&row), now_ms, until))?;
        Ok(claimed.then_some(row))
    }

    /// Makes one attempt (no database, no lock held: it may take the provider's timeout).
    pub fn deliver_sms(&self, m: &SmsMessage) -> Result<String, String> {
        let provider = self.oob.http.as_ref().ok_or("no http provider")?;
        let to = PhoneNum::parse(&m.phone_num).ok_or("stored phone is malformed")?;
        let body = self
            .sms_text(m)
            .ok_or("the message's text is gone or does not open")?;
        provider.deliver(&to, &body)
    }

    /// The text with its code of a message still holding it sealed (`None` once dropped,
    /// or sealed under a key no longer held).
    fn sms_text(&self, m: &SmsMessage) -> Option<Zeroizing<String>> {
        let sealed = SealedSeed::from_bytes(m.body_sealed.as_deref()?)?;
        let plain = self
            .keyring
            .open_bound(&text_aad(m.session_pk, &m.phone_num), &sealed)
            .ok()?;
        String::from_utf8(plain.to_vec()).ok().map(Zeroizing::new)
    }

    /// Records an attempt: Sent, a retry after back-off, or Failed after the last attempt;
    /// the session's `SendStat` follows the final state.
    pub fn record_sms_attempt(
        &self,
        m: &SmsMessage,
        result: &Result<String, String>,
        now: DateTime<Utc>,
    ) -> Result<SendStat, Error> {
        let policy = &self.oob.policy;
        let attempts = m.attempts.saturating_add(1);
        let last = u32::try_from(attempts).unwrap_or(u32::MAX) >= policy.http_attempts.max(1);
        let (state, detail) = match result {
            Ok(note) => (SendStat::Sent, note.as_str()),
            Err(why) if last => (SendStat::Failed, why.as_str()),
            Err(why) => (SendStat::Pending, why.as_str()),
        };
        let shift = u32::try_from(attempts - 1).unwrap_or(0).min(16);
        let backoff = ms_of(policy.http_backoff_ms).saturating_mul(1 << shift);
        if let Err(why) = result {
            let masked = PhoneNum::parse(&m.phone_num).map(|p| p.masked());
            tracing::warn!(
                "SMS {} to {} attempt {attempts} failed: {why}",
                m.id,
                masked.unwrap_or_default()
            );
        }
        self.storage.write(|c| {
            messages::update_message_attempt(
                c,
                &AttemptOutcome {
                    id: m.id,
                    state,
                    attempts,
                    next_attempt_at: to_ms(now).saturating_add(backoff),
                    detail,
                    now_ms: to_ms(now),
                },
            )?;
            if let (Some(session), true) = (m.session_pk, state != SendStat::Pending) {
                sessions::update_session_send_stat(c, session, state)?;
            }
            Ok::<_, Error>(())
        })?;
        // Pending: the sender retries after the back-off; Sent or Failed: a request
        // waiting for the first answer (`await_send_stat`) may stop waiting.
        self.oob.signal.notify();
        Ok(state)
    }

    /// Events from `cursor` on (at most `limit`); of one institution, or of every
    /// institution with `None`.
    pub fn oob_events(
        &self,
        inst_rt_id: Option<&str>,
        cursor: Cursor,
        limit: i64,
    ) -> Result<Vec<FeedbackEvent>, Error> {
        let hooked = self.oob.webhook.is_some();
        Ok(self
            .storage
            .read(|c| events::find_events(c, inst_rt_id, cursor, limit))?
            .iter()
            .map(|e| feedback(e, hooked.then_some(e.delivered_at.is_some())))
            .collect())
    }

    /// SMS from `cursor` on (at most `limit`); of one institution's sessions, or every
    /// SMS with `None`.
    pub fn sms_outbox(
        &self,
        inst_rt_id: Option<&str>,
        cursor: Cursor,
        limit: i64,
    ) -> Result<Vec<OutboxMessage>, Error> {
        Ok(self
            .storage
            .read(|c| messages::find_messages(c, inst_rt_id, cursor, limit))?
            .into_iter()
            .map(|(m, alrt_pkg_id)| OutboxMessage {
                // The code while it may be used; the masked text once sent or ended.
                body: self
                    .sms_text(&m)
                    .map(|t| t.to_string())
                    .or_else(|| m.body.clone()),
                msg_id: i64::from(m.id),
                alrt_pkg_id,
                phone_masked: PhoneNum::parse(&m.phone_num)
                    .map(|p| p.masked())
                    .unwrap_or_default(),
                provider: m.provider,
                send_stat: m.state,
                attempts: m.attempts,
                last_error: m.last_error,
                created_at: iso(m.created_at),
            })
            .collect())
    }
}

/// An event as pushed (its jXchange body), to the configured webhook and to tokend's
/// webhook endpoints alike.
pub(crate) fn feedback(e: &OobEvent, delivered: Option<bool>) -> FeedbackEvent {
    FeedbackEvent {
        evt_id: i64::from(e.id),
        evt_type: EVENT_TYPE,
        alrt_pkg_id: e.alrt_pkg_id.clone(),
        rs_stat: e.result,
        at: iso(e.at),
        usr_name: e.usr_name.clone(),
        delivered,
        refused: e.refused_at.is_some().then_some(true),
        reason: e.reason.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_kit::{ctx, service, t0, two_way};
    use crate::storage::sms_messages as messages;
    use crate::types::{ProviderKind, SendStat};
    use std::time::{Duration, Instant};

    #[test]
    fn a_waiting_request_wakes_when_the_first_attempt_is_recorded() {
        let (_dir, mut s) = service();
        s.oob.policy.provider = ProviderKind::Http;
        let started = s
            .start_oob(&ctx(), &two_way("4175556652", 300), t0())
            .unwrap();
        assert_eq!(started.session.send_stat, SendStat::Pending);
        let id = started.session.alrt_pkg_id.as_str();
        let quick = s.await_send_stat(&ctx(), id, Duration::from_millis(30));
        assert_eq!(
            quick.unwrap(),
            SendStat::Pending,
            "nothing recorded: the deadline"
        );
        let m = s
            .storage
            .read(|c| messages::find_due_message(c, ProviderKind::Http, i64::MAX))
            .unwrap()
            .unwrap();
        let begun = Instant::now();
        let stat = std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(100));
                s.record_sms_attempt(&m, &Ok("accepted".into()), t0())
                    .unwrap();
            });
            s.await_send_stat(&ctx(), id, Duration::from_secs(30))
                .unwrap()
        });
        assert_eq!(stat, SendStat::Sent);
        assert!(
            begun.elapsed() < Duration::from_secs(10),
            "woken, not timed out"
        );
    }
}
