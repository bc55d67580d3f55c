//! Webhook endpoints managed by tokend (issue 29): `tokend webhook add|list|remove|secret
//! rotate`, the delivery of every "90040" event to each endpoint that takes its
//! institution's events, signed to the Standard Webhooks specification with the
//! endpoint's own secret, every attempt logged, and the console's resend.
//!
//! An endpoint's secret (`whsec_…`) is shown once, when made, and stored sealed under
//! the master key bound to its endpoint's id, like a seed: never hashed, since tokend
//! must sign with it. A rotation keeps the old secret signing beside the new one for a
//! grace period, so receivers can switch without a refused delivery.
//!
//! Deliveries are independent of one another (one slow or failing endpoint never holds
//! back another, nor the configured `event_webhook_url`), retried with a doubling pause
//! (250 ms to 1 h) until delivered, refused (a 4xx that retrying cannot change), or a
//! day old (Failed); an operator can resend any of them. On PostgreSQL every node runs
//! the sender: a delivery is leased by a conditional UPDATE, so each attempt is made by
//! one node. Imports: crypto, sms, storage, types.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use std::time::Instant;
use zeroize::Zeroizing;

use super::audit::{self, Entry};
use super::oob::delivery::feedback;
use super::oob::http_status;
use super::{from_ms, to_ms, Context, Error, Fault, Service};
use crate::crypto::SealedSeed;
use crate::sms::http::PostFailure;
use crate::sms::signing::Signing;
use crate::storage::oob_events as events;
use crate::storage::webhooks::{self as rows, AttemptRecord, Delivery, Endpoint};
use crate::types::{AuditAction, AuditResult, Cursor, DeliveryStat};

/// The default grace period of a rotation, in which the old secret still signs: a day,
/// time for every receiver to deploy the new secret.
pub const DEFAULT_GRACE_SECS: i64 = 86_400;
/// The longest grace period accepted (30 days).
pub const MAX_GRACE_SECS: i64 = 30 * 86_400;
/// First pause after a failed attempt; doubles on each further failure.
const BACKOFF_MS: i64 = 250;
/// Longest pause between two attempts of one delivery.
const MAX_BACKOFF_MS: i64 = 3_600_000;
/// How long after its event a delivery is still tried; then it is Failed (a resend
/// tries it again).
const GIVE_UP_AFTER_MS: i64 = 86_400_000;
/// Random bytes of a new secret (Standard Webhooks asks 24 to 64).
const SECRET_BYTES: usize = 32;
/// How long a lease outlives one attempt's timeout.
const LEASE_MARGIN_MS: i64 = 10_000;

/// A new secret, `whsec_<base64>`, to show once. No `Display`; redacted `Debug`.
pub struct NewSecret(Zeroizing<String>);

impl NewSecret {
    /// The text to show the operator, once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewSecret(…)")
    }
}

/// A delivery as the console lists it, with its attempts.
#[derive(Debug, Clone)]
pub struct DeliveryView {
    /// The delivery row.
    pub delivery: Delivery,
    /// The endpoint's URL.
    pub url: String,
    /// The event's session.
    pub alrt_pkg_id: String,
    /// The event's institution.
    pub inst_rt_id: String,
    /// Its attempts, oldest first.
    pub attempts: Vec<rows::Attempt>,
}

/// What binds a sealed secret to its endpoint: a sealed secret copied to another row
/// does not open.
fn aad(id: i32) -> Vec<u8> {
    format!("tokend webhook secret\n{id}").into_bytes()
}

fn not_found(id: i32) -> Error {
    Error::at(Fault::InvalidValue, "id")
        .with_value(id.to_string())
        .with_detail("is not a webhook endpoint (or it was removed)")
}

impl Service {
    /// Adds an endpoint for the events of `inst_rt_id` (every institution with `None`)
    /// and answers its id and its new secret, which is shown this once. Audited.
    pub fn add_webhook(
        &self,
        ctx: &Context,
        url: &str,
        inst_rt_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(i32, NewSecret), Error> {
        let (secret, bytes) = new_secret()?;
        let id = self.storage.write(|c| {
            let id = rows::insert_endpoint(c, url, inst_rt_id, to_ms(now))?;
            let sealed = self.keyring.seal_bound(&aad(id), &bytes)?.to_bytes();
            rows::update_endpoint_secret(c, id, &sealed, None, None)?;
            let detail = format!("endpoint {id} {url}");
            audit::record(c, ctx, now, entry(AuditAction::WebhookAdd, &detail))?;
            Ok::<_, Error>(id)
        })?;
        Ok((id, secret))
    }

    /// Every endpoint, removed ones included.
    pub fn webhooks(&self) -> Result<Vec<Endpoint>, Error> {
        Ok(self.storage.read(rows::find_endpoints)?)
    }

    /// Gives endpoint `id` a new secret (answered, to show once); the old one keeps
    /// signing beside it for `grace_secs` (0: not at all). Audited.
    pub fn rotate_webhook_secret(
        &self,
        ctx: &Context,
        id: i32,
        grace_secs: i64,
        now: DateTime<Utc>,
    ) -> Result<NewSecret, Error> {
        if !(0..=MAX_GRACE_SECS).contains(&grace_secs) {
            return Err(Error::at(Fault::InvalidValue, "grace-secs")
                .with_value(grace_secs.to_string())
                .with_detail("(0 to 2592000 seconds)"));
        }
        let (secret, bytes) = new_secret()?;
        self.storage.write(|c| {
            let old = rows::find_endpoint(c, id)?
                .filter(|e| e.removed_at.is_none())
                .ok_or_else(|| not_found(id))?;
            let sealed = self.keyring.seal_bound(&aad(id), &bytes)?.to_bytes();
            let until = to_ms(now).saturating_add(grace_secs.saturating_mul(1000));
            let previous = (grace_secs > 0).then_some((old.secret_sealed.as_slice(), until));
            rows::update_endpoint_secret(c, id, &sealed, previous, Some(to_ms(now)))?;
            let detail = format!("endpoint {id}, old secret signs for {grace_secs} s");
            audit::record(c, ctx, now, entry(AuditAction::WebhookRotate, &detail))?;
            Ok::<_, Error>(())
        })?;
        Ok(secret)
    }

    /// Removes endpoint `id`: it gets no further event or attempt, its secrets are
    /// wiped, its deliveries stay listed. Audited.
    pub fn remove_webhook(&self, ctx: &Context, id: i32, now: DateTime<Utc>) -> Result<(), Error> {
        self.storage.write(|c| {
            if !rows::update_endpoint_removed(c, id, to_ms(now))? {
                return Err(not_found(id));
            }
            let detail = format!("endpoint {id}");
            audit::record(c, ctx, now, entry(AuditAction::WebhookRemove, &detail))?;
            Ok(())
        })
    }

    /// Seals every live endpoint's secrets under the active master key (`rekey` calls it
    /// before retiring the old key, so no secret is left under a key that may go);
    /// answers how many endpoints it resealed.
    pub fn reseal_webhook_secrets(&self) -> Result<usize, Error> {
        let active = self.keyring.active_key_id();
        let mut done = 0;
        for e in self
            .webhooks()?
            .into_iter()
            .filter(|e| e.removed_at.is_none())
        {
            let reseal = |bytes: &[u8]| -> Result<Option<Vec<u8>>, Error> {
                let Some(sealed) = SealedSeed::from_bytes(bytes) else {
                    return Ok(None);
                };
                if sealed.key_id == active {
                    return Ok(Some(bytes.to_vec()));
                }
                let plain = self.keyring.open_bound(&aad(e.id), &sealed)?;
                Ok(Some(
                    self.keyring.seal_bound(&aad(e.id), &plain)?.to_bytes(),
                ))
            };
            let Some(current) = reseal(&e.secret_sealed)? else {
                continue;
            };
            let previous = match e.previous_sealed.as_deref() {
                Some(p) => reseal(p)?,
                None => None,
            };
            if current == e.secret_sealed && previous == e.previous_sealed {
                continue;
            }
            let (id, was) = (e.id, &e.secret_sealed);
            if self.storage.write(|c| {
                rows::update_endpoint_resealed(c, id, was, &current, previous.as_deref())
            })? {
                done += 1;
            }
        }
        Ok(done)
    }

    /// Leases the delivery due longest ago for one attempt.
    pub fn claim_delivery(&self, now: DateTime<Utc>) -> Result<Option<Delivery>, Error> {
        let now_ms = to_ms(now);
        let Some(d) = self.storage.read(|c| rows::find_due_delivery(c, now_ms))? else {
            return Ok(None);
        };
        let until = now_ms
            .saturating_add(i64::try_from(self.oob.policy.http_timeout_ms).unwrap_or(i64::MAX))
            .saturating_add(LEASE_MARGIN_MS);
        let claimed = self
            .storage
            .write(|c| rows::update_delivery_claim(c, d.id, now_ms, until))?;
        Ok(claimed.then_some(d))
    }

    /// Makes one attempt of `d` (no database lock held: it may take the timeout) and
    /// logs it; `now` is when it starts, and decides which secrets sign.
    pub fn attempt_delivery(&self, d: &Delivery, now: DateTime<Utc>) -> Result<bool, Error> {
        let begun = Instant::now();
        let result = self.post_delivery(d, now);
        let duration_ms = i64::try_from(begun.elapsed().as_millis()).unwrap_or(i64::MAX);
        let attempt = d.attempts.saturating_add(1);
        let status = http_status(&result);
        let error = result.as_ref().err().map(ToString::to_string);
        let refused = result.as_ref().is_err_and(PostFailure::is_refusal);
        let old = to_ms(now).saturating_sub(d.created_at) > GIVE_UP_AFTER_MS;
        let state = match (&result, refused, old) {
            (Ok(_), _, _) => DeliveryStat::Delivered,
            (Err(_), true, _) => DeliveryStat::Refused,
            (Err(_), false, true) => DeliveryStat::Failed,
            (Err(_), false, false) => DeliveryStat::Pending,
        };
        if let Some(why) = &error {
            tracing::warn!(
                "webhook endpoint {} event {} attempt {attempt}: {why} ({state})",
                d.endpoint_id,
                d.event_id
            );
        }
        let shift = u32::try_from(d.attempts).unwrap_or(0).min(20);
        let backoff = BACKOFF_MS.saturating_mul(1 << shift).min(MAX_BACKOFF_MS);
        let record = AttemptRecord {
            delivery_id: d.id,
            attempt,
            at: to_ms(now),
            status,
            error: error.as_deref(),
            duration_ms,
            state,
            next_attempt_at: to_ms(now).saturating_add(duration_ms + backoff),
        };
        self.storage.write(|c| rows::insert_attempt(c, &record))?;
        Ok(state == DeliveryStat::Delivered)
    }

    /// POSTs the event of `d` to its endpoint, signed with the endpoint's secrets.
    fn post_delivery(&self, d: &Delivery, now: DateTime<Utc>) -> Result<String, PostFailure> {
        let gone = |why: &str| PostFailure::Transport(why.to_owned());
        let maker = self
            .oob
            .endpoints
            .as_ref()
            .ok_or_else(|| gone("no client"))?;
        let found = self.storage.read(|c| {
            let endpoint = rows::find_endpoint(c, d.endpoint_id)?;
            let after = Cursor::After(i64::from(d.event_id) - 1);
            let event = events::find_events(c, None, after, 1)?.into_iter().next();
            Ok::<_, crate::storage::Error>((endpoint, event))
        });
        let (Some(endpoint), Some(event)) = found.map_err(|e| gone(&e.to_string()))? else {
            return Err(gone("the endpoint or the event is gone"));
        };
        let signing = self
            .signing_of(&endpoint, now)
            .ok_or_else(|| gone("the endpoint's secret does not open"))?;
        maker
            .target(&endpoint.url)
            .signed(signing)
            .post_message(&format!("evt_{}", event.id), &feedback(&event, None))
    }

    /// The secrets that sign for `e` at `now`: the current one, and the previous one
    /// during a rotation's grace.
    fn signing_of(&self, e: &Endpoint, now: DateTime<Utc>) -> Option<Signing> {
        let open = |bytes: &[u8]| {
            let sealed = SealedSeed::from_bytes(bytes)?;
            self.keyring.open_bound(&aad(e.id), &sealed).ok()
        };
        let mut secrets = vec![open(&e.secret_sealed)?];
        if e.previous_until.is_some_and(|until| until > to_ms(now)) {
            if let Some(previous) = e.previous_sealed.as_deref().and_then(open) {
                secrets.push(previous);
            }
        }
        Some(Signing::new(secrets))
    }

    /// Deliveries newest first (before `before`), with their attempts; of one
    /// institution's events, or every institution's with `None`.
    pub fn webhook_deliveries(
        &self,
        inst_rt_id: Option<&str>,
        before: Option<i32>,
        limit: i64,
    ) -> Result<Vec<DeliveryView>, Error> {
        Ok(self.storage.read(|c| {
            let listed = rows::find_deliveries(c, inst_rt_id, before, limit)?;
            let ids: Vec<i32> = listed.iter().map(|l| l.0.id).collect();
            let mut attempts = rows::find_attempts(c, &ids)?;
            Ok(listed
                .into_iter()
                .map(|(delivery, url, alrt_pkg_id, inst_rt_id)| {
                    let (mine, rest): (Vec<_>, Vec<_>) = attempts
                        .drain(..)
                        .partition(|a| a.delivery_id == delivery.id);
                    attempts = rest;
                    DeliveryView {
                        delivery,
                        url,
                        alrt_pkg_id,
                        inst_rt_id,
                        attempts: mine,
                    }
                })
                .collect::<Vec<_>>())
        })?)
    }

    /// Queues delivery `id` again (same `webhook-id`; a new timestamp and signature), if
    /// its event is of `inst_rt_id` (any with `None`) and its endpoint is live. Audited.
    pub fn resend_delivery(
        &self,
        ctx: &Context,
        inst_rt_id: Option<&str>,
        id: i32,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.storage.write(|c| {
            let found = rows::find_delivery(c, id)?
                .filter(|(_, inst)| inst_rt_id.is_none_or(|i| i == inst));
            let no_delivery = || {
                Error::at(Fault::InvalidValue, "id")
                    .with_value(id.to_string())
                    .with_detail("is not a delivery here, or its endpoint was removed")
            };
            let Some((d, _)) = found else {
                return Err(no_delivery());
            };
            if !rows::update_delivery_resend(c, id, to_ms(now))? {
                return Err(no_delivery());
            }
            let detail = format!("event {} to endpoint {}", d.event_id, d.endpoint_id);
            audit::record(c, ctx, now, entry(AuditAction::WebhookResend, &detail))?;
            Ok(())
        })?;
        self.oob.signal.notify();
        Ok(())
    }
}

/// An audit entry of an endpoint's administration.
fn entry(action: AuditAction, detail: &str) -> Entry<'_> {
    Entry {
        action,
        token_id: None,
        usr_name: None,
        result: AuditResult::Success,
        detail: Some(detail),
    }
}

/// A new random secret: its text (`whsec_<base64>`) and its bytes.
fn new_secret() -> Result<(NewSecret, Zeroizing<Vec<u8>>), Error> {
    let bytes = Zeroizing::new(crate::crypto::digest::random_bytes(SECRET_BYTES)?);
    let text = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(&*bytes)
    );
    Ok((NewSecret(Zeroizing::new(text)), bytes))
}

/// When an endpoint was made, for listings (RFC 3339).
pub fn when(ms: i64) -> String {
    from_ms(ms).map(|t| t.to_rfc3339()).unwrap_or_default()
}
