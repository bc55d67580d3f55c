//! Out-of-band validation (jXchange OOBValidate), one folder along its seams: the types
//! and policy here (with session inquiry), `start` (OOBValidate, the lock fallback,
//! resends, the send cap), `verify` (a code or an SMS reply ends a session), `sweep`
//! (expiry and purge), `delivery` (SMS and "90040" events leave through their queues) and
//! `text` (message texts and their codes).
//!
//! Rules (DESIGN, issue 4):
//! - the OTP is stored as a keyed hash and compared in constant time;
//! - one attempt: a wrong code fails the session at once, a new one must be started;
//! - a session ends exactly once — Success, Failed or Expired — by a conditional UPDATE in
//!   the same transaction as its "90040" event, so every ended session has one event;
//! - sends (first SMS and resends) are capped per user and per phone in a sliding window;
//! - the session and its SMS are recorded in one transaction; the http provider delivers
//!   later from a background thread, so no request waits on a provider.

pub mod delivery;
mod event_push;
pub mod guard;
pub mod recipient;
pub mod sandbox_sms;
mod signal;
mod start;
mod sweep;
pub mod text;
mod verify;

use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

use super::audit::Entry;
use super::{from_ms, Context, Error, Fault, Service};
use crate::sms::http::HttpTarget;
use crate::sms::{ProviderKind, SmsProvider};
use crate::storage::oob_sessions::{self as sessions, OobSession};
use crate::storage::users;
use crate::types::{
    AuditAction, AuditResult, OobModeType, OobStat, PhoneNum, SendStat, SessionOrigin, UsrName,
};
pub(crate) use event_push::http_status;
pub use recipient::RecipientRq;
pub use signal::Signal;
use text::SmsTemplate;

/// `OOBRsn` when a user's SMS fallback stopped after `oob_max_failed_sessions`.
pub const FALLBACK_SUSPENDED: &str = "SMS fallback suspended: too many SMS sessions failed or expired in a row; an admin must unlock the token (or the user authenticates otherwise)";

/// Shortest session life (jXchange 3160).
pub const MIN_EXP_SECS: u64 = 15;
/// Longest session life (jXchange 3160).
pub const MAX_EXP_SECS: u64 = 1800;
/// Default session life (jXchange: 300 s).
pub const DEFAULT_EXP_SECS: u64 = 300;

/// The OOB knobs (a slice of the configuration).
#[derive(Debug, Clone)]
pub struct OobPolicy {
    /// Who delivers SMS.
    pub provider: ProviderKind,
    /// Sends (first SMS and resends) allowed per user and per phone in the window.
    pub send_cap: u32,
    /// The window of the send cap, seconds.
    pub send_window_secs: u64,
    /// Resends allowed per session.
    pub max_resends: u32,
    /// Lock-fallback sessions of a user that may end Failed or Expired in a row before
    /// the fallback stops for that user (until a success or an admin's unlock).
    pub max_failed_sessions: u32,
    /// Attempts per SMS with the http provider (1 = no retry).
    pub http_attempts: u32,
    /// First retry delay; doubles on each further retry.
    pub http_backoff_ms: u64,
    /// Timeout of one http attempt.
    pub http_timeout_ms: u64,
    /// How long a request waits for the http provider's first answer before it answers
    /// `SendStat: Pending` (the web edge waits, never the domain).
    pub answer_wait_ms: u64,
    /// How long sessions, SMS and events are kept after expiry, seconds (0: forever).
    pub retention_secs: u64,
    /// Where SMS may go and how many may leave (issue 26).
    pub guard: guard::SmsGuard,
}

impl Default for OobPolicy {
    fn default() -> Self {
        OobPolicy {
            provider: ProviderKind::Outbox,
            send_cap: 5,
            send_window_secs: 600,
            max_resends: 3,
            max_failed_sessions: 3,
            http_attempts: 3,
            http_backoff_ms: 500,
            http_timeout_ms: 5000,
            answer_wait_ms: 2000,
            retention_secs: 90 * 24 * 3600,
            guard: guard::SmsGuard::default(),
        }
    }
}

/// The OOB parts of the service: policy, providers, and the signal that wakes the
/// background threads.
#[derive(Clone, Default)]
pub struct OobRuntime {
    /// The knobs.
    pub policy: OobPolicy,
    /// The provider of the `http` kind (absent with `outbox`).
    pub http: Option<Arc<dyn SmsProvider>>,
    /// Where "90040" events are pushed, if anywhere.
    pub webhook: Option<HttpTarget>,
    /// Makes the clients of tokend's webhook endpoints (`domain::webhooks`).
    pub endpoints: Option<crate::sms::http::TargetMaker>,
    /// Wakes the sender and webhook threads when there is work, and stops them.
    pub signal: Arc<Signal>,
    /// Sends refused by the guard, by kind (`/metrics`).
    pub refused: Arc<guard::Refusals>,
}

/// An OOBValidate request: explicit, or in recipient mode (`recipient`).
#[derive(Debug, Clone)]
pub struct OobRequest {
    /// jXchange `PhoneNum`.
    pub phone: Option<PhoneNum>,
    /// The user (tokend): their phone on file when `PhoneNum` is absent; counts towards
    /// the user's send cap.
    pub usr_name: Option<UsrName>,
    /// jXchange `OOBModeType`.
    pub mode: OobModeType,
    /// jXchange `SMSText`, checked.
    pub template: Option<SmsTemplate>,
    /// jXchange `ExpSec`.
    pub exp_secs: u64,
    /// jXchange `ConsmRecipId`, `AlrtName`, `PubVer` (recipient mode; never mixed with
    /// `PhoneNum`, `SMSText` or `UsrName`).
    pub recipient: Option<RecipientRq>,
}

/// A one-time code shown to the caller once. Redacted in `Debug`; never log it.
pub struct Otp(pub Zeroizing<String>);

impl std::fmt::Debug for Otp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Otp(<redacted>)")
    }
}

/// A started (or, for the lock fallback, reused or resent) session, with its code.
#[derive(Debug)]
pub struct Started {
    /// The session.
    pub session: SessionView,
    /// The code (returned by OOBValidate and its resends, never by the lock fallback:
    /// then empty).
    pub otp: Otp,
}

/// What the lock fallback did.
#[derive(Debug)]
pub enum Fallback {
    /// The validation was not Locked.
    NotNeeded,
    /// A TwoWay session was started (or a pending one reused).
    Started(Started),
    /// No session: why, in words for the consumer.
    Unavailable(&'static str),
    /// No session: the SIM-swap guard holds the fallback until this time (the phone on
    /// file changed recently).
    Held(DateTime<Utc>),
}

/// The answer to a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// jXchange `AlrtPkgId`.
    pub alrt_pkg_id: String,
    /// Success, Failed or Expired.
    pub rs_stat: OobStat,
    /// The user, when known.
    pub usr_name: Option<String>,
    /// Sent to a number that is not the user's phone on file (`oob_explicit_phone`).
    pub off_file: bool,
}

/// THE view of an OOB session, wherever the domain shows one: to the caller that started
/// it (in `Started`), to an inquiry, and to the admin console. Never the code or its hash.
#[derive(Debug, Clone)]
pub struct SessionView {
    /// Row id (the console pages with it).
    pub id: i32,
    /// jXchange `AlrtPkgId`.
    pub alrt_pkg_id: String,
    /// OneWay or TwoWay.
    pub mode: OobModeType,
    /// A lock fallback or an explicit OOBValidate.
    pub origin: SessionOrigin,
    /// Pending, Success, Failed, Expired.
    pub state: OobStat,
    /// Delivery state of its last SMS.
    pub send_stat: SendStat,
    /// Last four digits.
    pub phone_masked: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Resends made.
    pub resends: u32,
    /// Resends left.
    pub resends_left: u32,
    /// The user, when known.
    pub usr_name: Option<String>,
}

pub(super) fn otp_message(alrt_pkg_id: &str, otp: &str) -> Vec<u8> {
    format!("oob\n{alrt_pkg_id}\n{otp}").into_bytes()
}

impl Service {
    /// The OOB runtime (policy, providers, signal).
    pub fn oob(&self) -> &OobRuntime {
        &self.oob
    }

    pub(super) fn started_view(
        &self,
        s: &OobSession,
        usr_name: Option<String>,
        otp: Otp,
    ) -> Result<Started, Error> {
        let session = self.view_of(s, usr_name)?;
        Ok(Started { session, otp })
    }

    /// Sessions, newest first, before row id `before` (the admin console's list).
    pub fn oob_sessions(
        &self,
        inst_rt_id: &str,
        before: Option<i32>,
        limit: i64,
    ) -> Result<Vec<SessionView>, Error> {
        self.storage
            .read(|c| sessions::find_sessions_page(c, inst_rt_id, before, limit))?
            .into_iter()
            .map(|(s, usr_name)| self.view_of(&s, usr_name))
            .collect()
    }

    /// A session as an inquiry shows it (`GET /oob/{AlrtPkgId}`).
    pub fn oob_session(&self, ctx: &Context, alrt_pkg_id: &str) -> Result<SessionView, Error> {
        let s = self.session(ctx, alrt_pkg_id)?;
        let usr_name = self.usr_name_of(s.user_pk)?;
        self.view_of(&s, usr_name)
    }

    /// Blocks until the session's SMS leaves `SendStat: Pending` (the http provider's
    /// first answer) or `wait` has passed, woken by the signal every recorded attempt
    /// gives; answers the `SendStat` then. The web edge calls it on the blocking pool, so
    /// a consumer learns at once when a send failed, without polling the database.
    pub fn await_send_stat(
        &self,
        ctx: &Context,
        alrt_pkg_id: &str,
        wait: Duration,
    ) -> Result<SendStat, Error> {
        let deadline = Instant::now() + wait;
        loop {
            let mut seen = self.oob.signal.seen();
            let stat = self.session(ctx, alrt_pkg_id)?.send_stat;
            let left = deadline.saturating_duration_since(Instant::now());
            if stat != SendStat::Pending || left.is_zero() {
                return Ok(stat);
            }
            if !self.oob.signal.wait(&mut seen, left) {
                return Ok(stat);
            }
        }
    }

    fn view_of(&self, s: &OobSession, usr_name: Option<String>) -> Result<SessionView, Error> {
        let phone = PhoneNum::parse(&s.phone_num)
            .ok_or_else(|| Error::Internal("stored phone is malformed".into()))?;
        let time = |ms| from_ms(ms).ok_or_else(|| Error::Internal("stored session time".into()));
        let max = self.oob.policy.max_resends;
        let resends = u32::try_from(s.resend_count).unwrap_or(max);
        Ok(SessionView {
            id: s.id,
            alrt_pkg_id: s.alrt_pkg_id.clone(),
            mode: s.mode,
            origin: s.origin,
            state: s.state,
            send_stat: s.send_stat,
            phone_masked: phone.masked(),
            created_at: time(s.created_at)?,
            expires_at: time(s.expires_at)?,
            resends,
            resends_left: max.saturating_sub(resends),
            usr_name,
        })
    }

    /// One of the request's institution's sessions (another's is fault 7020 too).
    fn session(&self, ctx: &Context, alrt_pkg_id: &str) -> Result<OobSession, Error> {
        let inst = self.institution(ctx);
        self.storage
            .read(|c| sessions::find_session(c, inst, alrt_pkg_id))?
            .ok_or_else(|| Error::at(Fault::OobNotFound, "AlrtPkgId").with_value(alrt_pkg_id))
    }

    pub(super) fn two_way_session(
        &self,
        ctx: &Context,
        alrt_pkg_id: &str,
    ) -> Result<OobSession, Error> {
        let s = self.session(ctx, alrt_pkg_id)?;
        if s.mode != OobModeType::TwoWay {
            return Err(Error::at(Fault::OobWrongState, "AlrtPkgId")
                .with_value(alrt_pkg_id)
                .with_detail("(a OneWay notification has no session to verify)"));
        }
        Ok(s)
    }

    pub(super) fn usr_name_of(&self, user_pk: Option<i32>) -> Result<Option<String>, Error> {
        let Some(pk) = user_pk else {
            return Ok(None);
        };
        Ok(self
            .storage
            .read(|c| users::find_user_by_pk(c, pk))?
            .map(|u| u.usr_name))
    }
}

/// Delivery state of a message when it is recorded.
pub(super) fn initial_send_stat(provider: ProviderKind) -> SendStat {
    match provider {
        ProviderKind::Outbox => SendStat::Sent,
        ProviderKind::Http => SendStat::Pending,
    }
}

pub(super) fn oob_entry<'a>(
    action: AuditAction,
    usr_name: Option<&'a str>,
    result: AuditResult,
    detail: &'a str,
) -> Entry<'a> {
    Entry {
        action,
        token_id: None,
        usr_name,
        result,
        detail: Some(detail),
    }
}

/// The audit result of a session's end. A session is audited when it ends, never while
/// Pending; a Pending here would be a bug, recorded as the failure it would be.
pub(super) fn ended(state: OobStat) -> AuditResult {
    match state {
        OobStat::Success => AuditResult::Success,
        OobStat::Expired => AuditResult::Expired,
        OobStat::Failed | OobStat::Pending => AuditResult::Failed,
    }
}

/// The fixed-time service and requests the OOB tests share.
#[cfg(test)]
mod test_kit {
    use super::OobRequest;
    use crate::crypto::{Keyring, MasterKey};
    use crate::domain::{Context, Policy, Service};
    use crate::storage::test_support::temp_storage;
    use crate::types::{OobModeType, PhoneNum};
    use chrono::TimeZone as _;
    use chrono::{DateTime, Duration, Utc};

    pub(super) fn service() -> (tempfile::TempDir, Service) {
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

    pub(super) fn ctx() -> Context {
        Context {
            actor: "test".into(),
            ..Context::default()
        }
    }

    pub(super) fn t0() -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000, 0).unwrap()
    }

    pub(super) fn at(ms: i64) -> DateTime<Utc> {
        t0() + Duration::milliseconds(ms)
    }

    pub(super) fn two_way(phone: &str, exp_secs: u64) -> OobRequest {
        OobRequest {
            phone: PhoneNum::parse(phone),
            usr_name: None,
            mode: OobModeType::TwoWay,
            template: None,
            exp_secs,
            recipient: None,
        }
    }

    pub(super) fn other_code(otp: &str) -> &'static str {
        if otp == "000000" {
            "111111"
        } else {
            "000000"
        }
    }
}
