//! The SMS of a sandbox institution (issue 29): none leaves tokend, whatever
//! `sms_provider` says; each goes to the outbox, where the integrator reads it
//! (`GET /api/v1/sandbox/sms`). Three line numbers (any area code) play a gateway's
//! troubles, so an integrator can test its handling of each:
//!
//! | number | plays | `SendStat` |
//! |---|---|---|
//! | `XXX5550100` | the gateway refuses the message | `Failed` |
//! | `XXX5550101` | a slow gateway: accepted after 30 s of the sandbox clock | `Pending`, then `Sent` |
//! | `XXX5550102` | the number cannot be reached | `Failed` |
//!
//! Imports: storage.

use chrono::{DateTime, Utc};

use super::initial_send_stat;
use crate::domain::{to_ms, Context, Service};
use crate::storage::sms_messages::{self as messages, AttemptOutcome};
use crate::storage::{self, oob_sessions as sessions, Conn};
use crate::types::{PhoneNum, ProviderKind, SendStat};

/// The line (last seven digits) whose messages the sandbox gateway refuses.
pub const REFUSED_LINE: &str = "5550100";
/// The line whose messages the sandbox gateway accepts only after [`SLOW_SECS`].
pub const SLOW_LINE: &str = "5550101";
/// The line the sandbox gateway cannot reach.
pub const UNREACHABLE_LINE: &str = "5550102";
/// How long (sandbox clock) the slow gateway takes to accept a message.
pub const SLOW_SECS: i64 = 30;

/// How one SMS goes: who delivers it, its first state, and why it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsRoute {
    /// Who delivers it (the outbox, for a sandbox).
    pub provider: ProviderKind,
    /// Its state once recorded.
    pub first: SendStat,
    /// For a sandbox's slow gateway: when it is accepted (ms).
    pub accepted_at: Option<i64>,
    /// For a sandbox's failure: what the gateway said.
    pub refusal: Option<&'static str>,
}

impl Service {
    /// How an SMS of the request's institution to `phone` goes at `now`.
    pub(super) fn sms_route(
        &self,
        ctx: &Context,
        phone: &PhoneNum,
        now: DateTime<Utc>,
    ) -> Result<SmsRoute, storage::Error> {
        let sandbox = self
            .is_sandbox(self.institution(ctx))
            .map_err(|e| storage::Error::Db(format!("reading the institution: {e}")))?;
        if !sandbox {
            let provider = self.oob.policy.provider;
            return Ok(SmsRoute {
                provider,
                first: initial_send_stat(provider),
                accepted_at: None,
                refusal: None,
            });
        }
        let line = phone.as_str().get(3..).unwrap_or_default();
        let sandboxed = |first, accepted_at, refusal| SmsRoute {
            provider: ProviderKind::Outbox,
            first,
            accepted_at,
            refusal,
        };
        Ok(match line {
            REFUSED_LINE => sandboxed(
                SendStat::Failed,
                None,
                Some("sandbox: the gateway refused the message"),
            ),
            UNREACHABLE_LINE => sandboxed(
                SendStat::Failed,
                None,
                Some("sandbox: the number is unreachable"),
            ),
            SLOW_LINE => sandboxed(SendStat::Pending, Some(to_ms(now) + SLOW_SECS * 1000), None),
            _ => sandboxed(SendStat::Sent, None, None),
        })
    }

    /// Records what the sandbox gateway did with the just-inserted message `id`.
    pub(super) fn record_sandbox_outcome(
        c: &mut Conn,
        id: i32,
        route: &SmsRoute,
        now: DateTime<Utc>,
    ) -> Result<(), storage::Error> {
        if let Some(why) = route.refusal {
            let outcome = AttemptOutcome {
                id,
                state: SendStat::Failed,
                attempts: 1,
                next_attempt_at: to_ms(now),
                detail: why,
                now_ms: to_ms(now),
            };
            messages::update_message_attempt(c, &outcome)?;
        }
        Ok(())
    }

    /// The slow gateway of sandbox `inst` accepts what it was holding up to `now` (its
    /// clock just moved there); their sessions say Sent.
    pub(crate) fn accept_slow_sandbox_sms(
        c: &mut Conn,
        inst: &str,
        now_ms: i64,
    ) -> Result<(), storage::Error> {
        for (id, session_pk) in messages::find_held_outbox(c, inst, now_ms)? {
            messages::update_outbox_sent(c, id, now_ms)?;
            if let Some(pk) = session_pk {
                sessions::update_session_send_stat(c, pk, SendStat::Sent)?;
            }
        }
        Ok(())
    }
}
