//! Out-of-band validation (jXchange OOBValidate): sessions started explicitly or by the
//! lock fallback, the send cap, and session inquiry. Verification, SMS replies, resends
//! and expiry are in `oob_verify`; delivery in `oob_delivery`.
//!
//! Rules (DESIGN, issue 4):
//! - the OTP is stored as a keyed hash and compared in constant time;
//! - one attempt: a wrong code fails the session at once, a new one must be started;
//! - a session ends exactly once — Success, Failed or Expired — by a conditional UPDATE in
//!   the same transaction as its "90040" event, so every ended session has one event;
//! - sends (first SMS and resends) are capped per user and per phone in a sliding window;
//! - the session and its SMS are recorded in one transaction; the http provider delivers
//!   later from a background thread, so no request waits on a provider.

use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;
use zeroize::Zeroizing;

use super::audit::{self, Entry};
use super::oob_delivery::Signal;
use super::sms_text::{self, OtpKind, SmsTemplate};
use super::validate::{ValidateRequest, Validation};
use super::{from_ms, to_ms, Context, Error, Fault, Service};
use crate::sms::http::HttpTarget;
use crate::sms::{ProviderKind, SmsProvider};
use crate::storage::{self, users, Conn};
use crate::storage::{oob_sessions as sessions, sms_messages as messages};
use crate::storage::{
    oob_sessions::NewSession, oob_sessions::OobSession, sms_messages::NewMessage,
};
use crate::types::{OobModeType, OobStat, PhoneNum, RsStat, SendStat, SessionOrigin, UsrName};

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
    /// Wakes the sender and webhook threads when there is work, and stops them.
    pub signal: Arc<Signal>,
}

/// An explicit OOBValidate request.
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
}

/// A one-time code shown to the caller once. Redacted in `Debug`; never log it.
pub struct Otp(pub Zeroizing<String>);

impl std::fmt::Debug for Otp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Otp(<redacted>)")
    }
}

/// A started (or, for the lock fallback, reused) session.
#[derive(Debug)]
pub struct Started {
    /// jXchange `AlrtPkgId`.
    pub alrt_pkg_id: String,
    /// The code (returned by OOBValidate, never by the lock fallback).
    pub otp: Otp,
    /// OneWay or TwoWay.
    pub mode: OobModeType,
    /// The phone, last four digits only.
    pub phone_masked: String,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Delivery state when recorded.
    pub send_stat: SendStat,
    /// Resends left.
    pub resends_left: u32,
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
}

/// A session as an inquiry shows it.
#[derive(Debug, Clone)]
pub struct SessionView {
    /// jXchange `AlrtPkgId`.
    pub alrt_pkg_id: String,
    /// OneWay or TwoWay.
    pub mode: OobModeType,
    /// Pending, Success, Failed, Expired.
    pub state: OobStat,
    /// Delivery state of its last SMS.
    pub send_stat: SendStat,
    /// Last four digits.
    pub phone_masked: String,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Resends left.
    pub resends_left: u32,
    /// The user, when known.
    pub usr_name: Option<String>,
}

/// Everything needed to record a new session.
struct Spec<'a> {
    user: Option<&'a users::User>,
    phone: &'a PhoneNum,
    mode: OobModeType,
    origin: SessionOrigin,
    template: &'a SmsTemplate,
    exp_secs: u64,
}

/// What the send-recording transaction did.
enum Recorded {
    New,
    Reused(Box<OobSession>),
}

pub(super) fn otp_message(alrt_pkg_id: &str, otp: &str) -> Vec<u8> {
    format!("oob\n{alrt_pkg_id}\n{otp}").into_bytes()
}

impl Service {
    /// The OOB runtime (policy, providers, signal).
    pub fn oob(&self) -> &OobRuntime {
        &self.oob
    }

    /// Starts an explicit OOBValidate session (OneWay: the notification only).
    pub fn start_oob(
        &self,
        ctx: &Context,
        rq: &OobRequest,
        now: DateTime<Utc>,
    ) -> Result<Started, Error> {
        if !(MIN_EXP_SECS..=MAX_EXP_SECS).contains(&rq.exp_secs) {
            return Err(Error::at(Fault::ExpSecRange, "ExpSec").with_value(rq.exp_secs.to_string()));
        }
        let template = rq
            .template
            .clone()
            .unwrap_or_else(|| sms_text::default_template(&self.policy.issuer, rq.exp_secs));
        if rq.mode == OobModeType::TwoWay && template.kind.is_none() {
            return Err(Error::at(Fault::NoVerificationValue, "SMSText")
                .with_detail("(TwoWay needs <%$otp%> or <%$otpa%> in SMSText)"));
        }
        let inst = self.institution(ctx).to_owned();
        let user = match &rq.usr_name {
            Some(name) => Some(
                self.storage
                    .read(|c| users::find_user(c, &inst, name.as_str()))?
                    .ok_or_else(|| {
                        Error::at(Fault::UserNotFound, "UsrName").with_value(name.as_str())
                    })?,
            ),
            None => None,
        };
        let on_file = user
            .as_ref()
            .and_then(|u| u.phone_num.as_deref())
            .and_then(PhoneNum::parse);
        let phone = rq.phone.clone().or(on_file).ok_or_else(|| {
            Error::at(Fault::PhoneRequired, "PhoneNum")
                .with_detail("(or a UsrName with a phone on file)")
        })?;
        let spec = Spec {
            user: user.as_ref(),
            phone: &phone,
            mode: rq.mode,
            origin: SessionOrigin::Explicit,
            template: &template,
            exp_secs: rq.exp_secs,
        };
        self.record_send(ctx, &spec, now)
    }

    /// Validates a code and, when the answer is Locked, starts the SMS fallback for the
    /// user (or reuses their pending fallback session, sending nothing new).
    pub fn validate_with_fallback(
        &self,
        ctx: &Context,
        rq: &ValidateRequest,
        now: DateTime<Utc>,
    ) -> Result<(Validation, Fallback), Error> {
        let v = self.validate(ctx, rq, now)?;
        if v.rs_stat != RsStat::Locked {
            return Ok((v, Fallback::NotNeeded));
        }
        let Some(user) = self.locked_user(ctx, rq, &v)? else {
            return Ok((
                v,
                Fallback::Unavailable("several users: name one in UsrName"),
            ));
        };
        let Some(phone) = user.phone_num.as_deref().and_then(PhoneNum::parse) else {
            return Ok((
                v,
                Fallback::Unavailable("no PhoneNum on file for the user: SMS fallback unavailable"),
            ));
        };
        let max_failed = self.oob.policy.max_failed_sessions;
        if u32::try_from(user.oob_failed_sessions).unwrap_or(0) >= max_failed {
            let detail = format!(
                "fallback suspended: {} SMS sessions failed or expired in a row",
                user.oob_failed_sessions
            );
            let entry = oob_entry("oob.start", Some(&user.usr_name), "Failed", &detail);
            self.storage.write(|c| audit::record(c, ctx, now, entry))?;
            return Ok((v, Fallback::Unavailable(FALLBACK_SUSPENDED)));
        }
        let template = sms_text::default_template(&self.policy.issuer, DEFAULT_EXP_SECS);
        let spec = Spec {
            user: Some(&user),
            phone: &phone,
            mode: OobModeType::TwoWay,
            origin: SessionOrigin::Lock,
            template: &template,
            exp_secs: DEFAULT_EXP_SECS,
        };
        let started = self.record_send(ctx, &spec, now).map_err(|e| match e {
            Error::Fault {
                fault: Fault::SendCapReached,
                elem,
                value,
                ..
            } => Error::Fault {
                fault: Fault::SendCapReached,
                elem,
                value,
                detail: Some("The token is locked and no SMS fallback was sent.".into()),
            },
            other => other,
        })?;
        Ok((v, Fallback::Started(started)))
    }

    /// The one user a Locked validation was about.
    fn locked_user(
        &self,
        ctx: &Context,
        rq: &ValidateRequest,
        v: &Validation,
    ) -> Result<Option<users::User>, Error> {
        if let Some(token_id) = &rq.token_id {
            let mut bound = self.bound_to_token(ctx, token_id)?;
            if let Some(name) = rq.usr_name.as_ref().map(UsrName::as_str) {
                bound.retain(|b| b.usr_name == name);
            }
            let [only] = bound.as_slice() else {
                return Ok(None);
            };
            let pk = only.binding.user_pk;
            return Ok(self.storage.read(|c| users::find_user_by_pk(c, pk))?);
        }
        let name = rq
            .usr_name
            .as_ref()
            .map(|n| n.as_str().to_owned())
            .or_else(|| v.usr_name.clone());
        let Some(name) = name else {
            return Ok(None);
        };
        let inst = self.institution(ctx).to_owned();
        Ok(self.storage.read(|c| users::find_user(c, &inst, &name))?)
    }

    /// Records a session and its first SMS in one transaction (after the send cap check),
    /// then wakes the sender. A lock fallback reuses the user's pending session instead.
    fn record_send(
        &self,
        ctx: &Context,
        spec: &Spec<'_>,
        now: DateTime<Utc>,
    ) -> Result<Started, Error> {
        let kind = spec.template.kind.unwrap_or(OtpKind::Digits);
        let alrt = uuid::Uuid::new_v4().to_string();
        let otp = sms_text::generate(kind)?;
        let hash = self.keyring.code_hash(&otp_message(&alrt, &otp));
        let body = sms_text::render(&spec.template.text, &otp);
        let expires_at = now + Duration::seconds(i64::try_from(spec.exp_secs).unwrap_or(300));
        let provider = self.oob.policy.provider;
        let first_stat = initial_send_stat(provider);
        let user_pk = spec.user.map(|u| u.id);
        let usr_name = spec.user.map(|u| u.usr_name.as_str());
        let recorded = self.storage.write(|c| {
            if spec.origin == SessionOrigin::Lock {
                if let Some(pk) = user_pk {
                    if let Some(s) = sessions::find_pending_lock_session(c, pk, to_ms(now))? {
                        return Ok(Recorded::Reused(Box::new(s)));
                    }
                }
            }
            self.check_send_cap(c, spec.phone, user_pk, now)?;
            let session_pk = sessions::insert_session(
                c,
                &NewSession {
                    alrt_pkg_id: &alrt,
                    user_pk,
                    phone_num: spec.phone.as_str(),
                    mode: spec.mode,
                    origin: spec.origin,
                    otp_kind: kind,
                    otp_hash: &hash,
                    sms_template: &spec.template.text,
                    state: OobStat::Pending,
                    send_stat: first_stat,
                    resend_count: 0,
                    expires_at: to_ms(expires_at),
                    created_at: to_ms(now),
                    inst_rt_id: self.institution(ctx),
                },
            )?;
            self.queue_sms(c, session_pk, user_pk, spec.phone, &body, now)?;
            let detail = format!(
                "{} {}, {}, AlrtPkgId {alrt}, {} s",
                spec.origin,
                spec.mode,
                spec.phone.masked(),
                spec.exp_secs
            );
            audit::record(
                c,
                ctx,
                now,
                oob_entry("oob.start", usr_name, "Success", &detail),
            )?;
            Ok::<_, Error>(Recorded::New)
        });
        match self.audit_refusal(ctx, spec, now, recorded)? {
            Recorded::Reused(s) => self.started_view(&s, Otp(Zeroizing::new(String::new()))),
            Recorded::New => {
                self.oob.signal.notify();
                Ok(Started {
                    alrt_pkg_id: alrt,
                    otp: Otp(otp),
                    mode: spec.mode,
                    phone_masked: spec.phone.masked(),
                    expires_at,
                    send_stat: first_stat,
                    resends_left: self.oob.policy.max_resends,
                })
            }
        }
    }

    /// Audits a send the cap refused (its transaction rolled back) and hands the result on.
    fn audit_refusal<T>(
        &self,
        ctx: &Context,
        spec: &Spec<'_>,
        now: DateTime<Utc>,
        result: Result<T, Error>,
    ) -> Result<T, Error> {
        match result {
            Err(e) if e.kind() == Fault::SendCapReached => {
                let detail = format!("send cap reached, {}", spec.phone.masked());
                let usr_name = spec.user.map(|u| u.usr_name.as_str());
                let entry = oob_entry("oob.start", usr_name, "Failed", &detail);
                self.storage.write(|c| audit::record(c, ctx, now, entry))?;
                Err(e)
            }
            other => other,
        }
    }

    pub(super) fn started_view(&self, s: &OobSession, otp: Otp) -> Result<Started, Error> {
        let view = self.view_of(s, None)?;
        Ok(Started {
            alrt_pkg_id: view.alrt_pkg_id,
            otp,
            mode: view.mode,
            phone_masked: view.phone_masked,
            expires_at: view.expires_at,
            send_stat: view.send_stat,
            resends_left: view.resends_left,
        })
    }

    /// Refuses a send past the cap for the phone or the user.
    pub(super) fn check_send_cap(
        &self,
        c: &mut Conn,
        phone: &PhoneNum,
        user_pk: Option<i32>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let policy = &self.oob.policy;
        let window = i64::try_from(policy.send_window_secs.saturating_mul(1000)).unwrap_or(0);
        let since = to_ms(now).saturating_sub(window);
        let (to_phone, to_user) =
            messages::count_messages_since(c, phone.as_str(), user_pk, since)?;
        let cap = i64::from(policy.send_cap);
        if to_phone >= cap || to_user >= cap {
            return Err(Error::fault(Fault::SendCapReached).with_detail(format!(
                "(at most {cap} SMS per user and per phone in {} s)",
                policy.send_window_secs
            )));
        }
        Ok(())
    }

    /// Stores one SMS: delivered at once for the outbox, queued for the http sender.
    pub(super) fn queue_sms(
        &self,
        c: &mut Conn,
        session_pk: i32,
        user_pk: Option<i32>,
        phone: &PhoneNum,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<(), storage::Error> {
        let provider = self.oob.policy.provider;
        let stat = initial_send_stat(provider);
        let sent = stat == SendStat::Sent;
        let id = messages::insert_message(
            c,
            &NewMessage {
                session_pk: Some(session_pk),
                user_pk,
                phone_num: phone.as_str(),
                body: Some(body),
                provider,
                state: stat,
                attempts: i32::from(sent),
                next_attempt_at: to_ms(now),
                created_at: to_ms(now),
                sent_at: sent.then(|| to_ms(now)),
            },
        )?;
        if sent {
            messages::insert_outbox_attempt(c, id, to_ms(now))?;
        }
        Ok(())
    }

    /// A session as an inquiry shows it (`GET /oob/{AlrtPkgId}`).
    pub fn oob_session(&self, ctx: &Context, alrt_pkg_id: &str) -> Result<SessionView, Error> {
        let s = self.session(ctx, alrt_pkg_id)?;
        let usr_name = self.usr_name_of(s.user_pk)?;
        self.view_of(&s, usr_name)
    }

    fn view_of(&self, s: &OobSession, usr_name: Option<String>) -> Result<SessionView, Error> {
        let phone = PhoneNum::parse(&s.phone_num)
            .ok_or_else(|| Error::Internal("stored phone is malformed".into()))?;
        let max = self.oob.policy.max_resends;
        Ok(SessionView {
            alrt_pkg_id: s.alrt_pkg_id.clone(),
            mode: s.mode,
            state: s.state,
            send_stat: s.send_stat,
            phone_masked: phone.masked(),
            expires_at: from_ms(s.expires_at)
                .ok_or_else(|| Error::Internal("stored expiry".into()))?,
            resends_left: max.saturating_sub(u32::try_from(s.resend_count).unwrap_or(max)),
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
    action: &'a str,
    usr_name: Option<&'a str>,
    result: &'a str,
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
