//! The push of "90040" events to the configured webhook (`event_webhook_url`): in `EvtId`
//! order, a failure holding back later events, retried with a doubling pause (250 ms to
//! 60 s) forever, except a refusal (set aside). Every attempt is logged
//! (`event_webhook_attempts`: when, which, how long, the HTTP status or the error) as the
//! managed endpoints' are (`domain::webhooks`), so the console's Webhooks page shows both;
//! the event row keeps only its counters and last error, which `GET /events` reports.

use chrono::{DateTime, Utc};
use std::time::Duration;

use super::delivery::feedback;
use crate::domain::{to_ms, Error, Service};
use crate::sms::http::PostFailure;
use crate::storage::oob_events::{self as events, LoggedAttempt, OobEvent};

/// Longest pause between two webhook attempts of one event.
const MAX_EVENT_BACKOFF_MS: i64 = 60_000;
/// First pause after a failed webhook attempt; doubles on each further failure.
const EVENT_BACKOFF_MS: i64 = 250;

/// The HTTP status an attempt got, if it got one: the note of a 2xx (`HTTP 204`) or the
/// status of a failure. Shared with the managed endpoints' log.
pub(crate) fn http_status(result: &Result<String, PostFailure>) -> Option<i32> {
    match result {
        Ok(note) => note
            .strip_prefix("HTTP ")
            .and_then(|n| n.parse::<i32>().ok()),
        Err(PostFailure::Status(code)) => Some(i32::from(*code)),
        Err(_) => None,
    }
}

impl Service {
    /// Leases the oldest undelivered event for one webhook attempt, if a webhook is set.
    pub fn claim_event(&self, now: DateTime<Utc>) -> Result<Option<OobEvent>, Error> {
        if self.oob.webhook.is_none() {
            return Ok(None);
        }
        self.lease(
            now,
            events::find_due_event,
            |e| e.id,
            events::update_event_claim,
        )
    }

    /// POSTs one event to the webhook.
    pub fn push_event(&self, e: &OobEvent) -> Result<String, PostFailure> {
        let target = self
            .oob
            .webhook
            .as_ref()
            .ok_or_else(|| PostFailure::Transport("no event webhook".into()))?;
        // The event's id names the message: the same on every retry, as receivers that
        // deduplicate by `webhook-id` expect.
        target.post_message(&format!("evt_{}", e.id), &feedback(e, None))
    }

    /// Records a webhook attempt. A failure is retried after a growing pause, forever,
    /// and holds back the later events (they are delivered in order) — except a refusal
    /// (a 4xx that retrying cannot change): that event is set aside, logged, counted, and
    /// stays readable at `GET /events`, so one bad event never blocks the feed.
    ///
    /// `begun` is when the attempt started and `took` how long it lasted (both logged).
    pub fn record_event_attempt(
        &self,
        e: &OobEvent,
        result: &Result<String, PostFailure>,
        begun: DateTime<Utc>,
        took: Duration,
    ) -> Result<(), Error> {
        let duration_ms = i64::try_from(took.as_millis()).unwrap_or(i64::MAX);
        let now = begun + chrono::Duration::milliseconds(duration_ms);
        let shift = u32::try_from(e.attempts).unwrap_or(0).min(16);
        let backoff = EVENT_BACKOFF_MS
            .saturating_mul(1 << shift)
            .min(MAX_EVENT_BACKOFF_MS);
        let error = result.as_ref().err().map(ToString::to_string);
        let refused = result.as_ref().is_err_and(PostFailure::is_refusal);
        if let Some(why) = &error {
            if refused {
                tracing::warn!("event {} refused by the webhook ({why}): set aside", e.id);
            } else {
                tracing::warn!("event {} webhook attempt failed: {why}", e.id);
            }
        }
        let attempt = events::EventAttempt {
            delivered_at: result.is_ok().then(|| to_ms(now)),
            refused_at: refused.then(|| to_ms(now)),
            next_attempt_at: to_ms(now) + backoff,
            error: error.as_deref(),
            attempt: e.attempts.saturating_add(1),
            at: to_ms(begun),
            status: http_status(result),
            duration_ms,
        };
        self.storage
            .write(|c| events::update_event_attempt(c, e.id, &attempt))?;
        Ok(())
    }

    /// The newest `limit` attempts to push events to the configured webhook, of one
    /// institution's events (every institution's with `None`), newest first.
    pub fn event_webhook_attempts(
        &self,
        inst_rt_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<LoggedAttempt>, Error> {
        Ok(self
            .storage
            .read(|c| events::find_logged_attempts(c, inst_rt_id, limit))?)
    }

    /// Whether a configured webhook is set (the console shows its attempts only then,
    /// or when some were logged before it was removed).
    pub fn has_event_webhook(&self) -> bool {
        self.oob.webhook.is_some()
    }
}
