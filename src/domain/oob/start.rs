//! Starting OOB sessions: an explicit OOBValidate, the SMS fallback of a Locked
//! validation (which reuses the user's pending fallback session), and resends. Each
//! records the session and its SMS in one transaction after the send cap check, then
//! wakes the sender; no request waits on a provider here.

use chrono::{DateTime, Duration, Utc};
use zeroize::Zeroizing;

use super::delivery::Outgoing;
use super::guard::{self, OFF_FILE};
use super::text::{self, OtpKind, SmsTemplate};
use super::{
    oob_entry, otp_message, Fallback, OobRequest, Otp, Started, DEFAULT_EXP_SECS,
    FALLBACK_SUSPENDED, MAX_EXP_SECS, MIN_EXP_SECS,
};
use crate::domain::audit;
use crate::domain::validate::{ValidateRequest, Validation};
use crate::domain::{to_ms, Context, Error, Fault, Service};
use crate::storage::oob_sessions::{NewSession, OobSession};
use crate::storage::{oob_sessions as sessions, users};
use crate::types::{AuditAction, AuditResult};
use crate::types::{OobModeType, OobStat, PhoneNum, RsStat, SendStat, SessionOrigin, UsrName};

/// Everything needed to record a new session.
struct Spec<'a> {
    user: Option<&'a users::User>,
    phone: &'a PhoneNum,
    mode: OobModeType,
    origin: SessionOrigin,
    template: &'a SmsTemplate,
    exp_secs: u64,
    /// What a recipient-mode request named (its alert and version), for the audit.
    recipient: Option<&'a str>,
}

impl Spec<'_> {
    /// What the audit says of a started session (the number masked; an `OffFile` one says
    /// it was not the user's phone on file).
    fn audit_detail(&self, alrt: &str) -> String {
        let detail = format!(
            "{} {}, {}, AlrtPkgId {alrt}, {} s",
            self.origin,
            self.mode,
            self.phone.masked(),
            self.exp_secs
        );
        let detail = match self.recipient {
            Some(named) => format!("{detail}; {named}"),
            None => detail,
        };
        if self.origin == SessionOrigin::OffFile {
            format!("{detail}; {OFF_FILE}")
        } else {
            detail
        }
    }
}

/// What the send-recording transaction did.
enum Recorded {
    New(i32),
    Reused(Box<OobSession>),
}

impl Service {
    /// Starts an OOBValidate session (OneWay: the notification only); a recipient-mode
    /// request is resolved into the explicit one for its user first (`recipient`).
    pub fn start_oob(
        &self,
        ctx: &Context,
        rq: &OobRequest,
        now: DateTime<Utc>,
    ) -> Result<Started, Error> {
        match self.resolve_recipient(ctx, rq)? {
            Some((explicit, named)) => self.start_explicit(ctx, &explicit, Some(&named), now),
            None => self.start_explicit(ctx, rq, None, now),
        }
    }

    /// Starts an explicit OOBValidate session; `recipient` says what a recipient-mode
    /// request named, for the audit.
    fn start_explicit(
        &self,
        ctx: &Context,
        rq: &OobRequest,
        recipient: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Started, Error> {
        if !(MIN_EXP_SECS..=MAX_EXP_SECS).contains(&rq.exp_secs) {
            return Err(Error::at(Fault::ExpSecRange, "ExpSec").with_value(rq.exp_secs.to_string()));
        }
        let template = rq
            .template
            .clone()
            .unwrap_or_else(|| text::default_template(&self.policy.issuer, rq.exp_secs));
        if let Some(own) = rq
            .template
            .as_ref()
            .filter(|_| !self.oob.policy.guard.allow_urls)
        {
            if guard::has_url(&own.text) {
                return Err(Error::at(Fault::InvalidValue, "SMSText")
                    .with_detail("(no URL in an SMS text unless sms_text_allow_urls)"));
            }
        }
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
        let (phone, origin) = self.explicit_target(ctx, user.as_ref(), rq.phone.clone(), now)?;
        let spec = Spec {
            user: user.as_ref(),
            phone: &phone,
            mode: rq.mode,
            origin,
            template: &template,
            exp_secs: rq.exp_secs,
            recipient,
        };
        self.record_send(ctx, &spec, now)
    }

    /// The second half of [`Service::validate_with_fallback`], for a validation answered
    /// apart from it (`validate::Decided`): when `v` is Locked, starts the SMS fallback.
    pub fn with_fallback(
        &self,
        ctx: &Context,
        rq: &ValidateRequest,
        v: Validation,
        now: DateTime<Utc>,
    ) -> Result<(Validation, Fallback), Error> {
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
        if let Some(until) = self.hold_until(&user, now) {
            let detail = format!(
                "fallback held (SIM-swap guard) until {}",
                until.to_rfc3339()
            );
            self.audit_start_refused(ctx, Some(&user.usr_name), &detail, now)?;
            return Ok((v, Fallback::Held(until)));
        }
        if self.refuse_blocked(&phone).is_err() {
            return Ok((
                v,
                Fallback::Unavailable("the phone on file cannot receive SMS (a blocked number)"),
            ));
        }
        let max_failed = self.oob.policy.max_failed_sessions;
        if u32::try_from(user.oob_failed_sessions).unwrap_or(0) >= max_failed {
            let detail = format!(
                "fallback suspended: {} SMS sessions failed or expired in a row",
                user.oob_failed_sessions
            );
            self.audit_start_refused(ctx, Some(&user.usr_name), &detail, now)?;
            return Ok((v, Fallback::Unavailable(FALLBACK_SUSPENDED)));
        }
        let template = text::default_template(&self.policy.issuer, DEFAULT_EXP_SECS);
        let spec = Spec {
            user: Some(&user),
            phone: &phone,
            mode: OobModeType::TwoWay,
            origin: SessionOrigin::Lock,
            template: &template,
            exp_secs: DEFAULT_EXP_SECS,
            recipient: None,
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
                crate::storage::bindings::retain_named(&mut bound, name);
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
        let otp = text::generate(kind)?;
        let hash = self.keyring.code_hash(&otp_message(&alrt, &otp));
        let body = text::render(&spec.template.text, &otp);
        let masked = text::render(&spec.template.text, text::MASK);
        let expires_at = now + Duration::seconds(i64::try_from(spec.exp_secs).unwrap_or(300));
        let first_stat = self.sms_route(ctx, spec.phone, now)?.first;
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
            self.check_send_cap(c, ctx, spec.phone, user_pk, now)?;
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
            self.queue_sms(
                c,
                ctx,
                &Outgoing {
                    session_pk,
                    user_pk,
                    phone: spec.phone,
                    body: &body,
                    masked: &masked,
                },
                now,
            )?;
            let detail = spec.audit_detail(&alrt);
            let entry = oob_entry(
                AuditAction::OobStart,
                usr_name,
                AuditResult::Success,
                &detail,
            );
            audit::record(c, ctx, now, entry)?;
            Ok::<_, Error>(Recorded::New(session_pk))
        });
        let recorded = self.audit_refusal(ctx, usr_name, spec.phone, now, recorded)?;
        let usr_name = usr_name.map(str::to_owned);
        match recorded {
            Recorded::Reused(s) => {
                self.started_view(&s, usr_name, Otp(Zeroizing::new(String::new())))
            }
            Recorded::New(pk) => {
                self.oob.signal.notify();
                let s = self
                    .storage
                    .read(|c| sessions::find_session_by_pk(c, pk))?
                    .ok_or_else(|| Error::Internal("started session vanished".into()))?;
                self.started_view(&s, usr_name, Otp(otp))
            }
        }
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
        let otp = text::generate(kind)?;
        let hash = self.keyring.code_hash(&otp_message(&s.alrt_pkg_id, &otp));
        let body = text::render(&s.sms_template, &otp);
        let masked = text::render(&s.sms_template, text::MASK);
        let phone = PhoneNum::parse(&s.phone_num)
            .ok_or_else(|| Error::Internal("stored phone is malformed".into()))?;
        let usr_name = self.usr_name_of(s.user_pk)?;
        self.storage.write(|c| {
            self.check_send_cap(c, ctx, &phone, s.user_pk, now)?;
            if !sessions::update_session_resend(c, s.id, &hash, max, to_ms(now))? {
                return Err(Error::at(Fault::ResendLimit, "AlrtPkgId")
                    .with_value(s.alrt_pkg_id.as_str())
                    .with_detail("(or the session ended meanwhile)"));
            }
            let first = self.sms_route(ctx, &phone, now)?.first;
            if first != SendStat::Pending {
                sessions::update_session_send_stat(c, s.id, first)?;
            }
            let out = Outgoing {
                session_pk: s.id,
                user_pk: s.user_pk,
                phone: &phone,
                body: &body,
                masked: &masked,
            };
            self.queue_sms(c, ctx, &out, now)?;
            let detail = format!("AlrtPkgId {}, resend {}", s.alrt_pkg_id, s.resend_count + 1);
            let entry = oob_entry(
                AuditAction::OobResend,
                usr_name.as_deref(),
                AuditResult::Success,
                &detail,
            );
            Ok::<_, Error>(audit::record(c, ctx, now, entry)?)
        })?;
        self.oob.signal.notify();
        let fresh = self
            .storage
            .read(|c| sessions::find_session_by_pk(c, s.id))?
            .ok_or_else(|| Error::Internal("resent session vanished".into()))?;
        let shown = if s.origin != SessionOrigin::Lock {
            otp
        } else {
            Zeroizing::new(String::new())
        };
        self.started_view(&fresh, usr_name, Otp(shown))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_kit::{at, ctx, service, t0, two_way};
    use crate::domain::Fault;
    use crate::storage::oob_sessions as sessions;

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
            .read(|c| sessions::find_session(c, "t", &started.session.alrt_pkg_id))
            .unwrap()
            .unwrap();
        assert_ne!(stored.otp_hash, started.otp.0.as_str());
        assert!(!stored.otp_hash.contains(started.otp.0.as_str()));
        assert!(!stored.sms_template.contains(started.otp.0.as_str()));
    }
}
