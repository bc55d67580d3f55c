//! Where an OOB SMS may go and how many may leave: the rules every send passes before
//! its session and SMS are recorded (issues 17 and 26).
//!
//! - A user's code goes to the user's phone on file. An explicit OOBValidate that names
//!   the user and another `PhoneNum` is fault 7035 (`oob_explicit_phone = "refuse"`, the
//!   default) or, with `"allow"`, is sent and marked: its origin is `OffFile`, which its
//!   answer, its "90040" event and its audit show.
//! - The SIM-swap hold belongs to the user whose phone changed: it holds every send for
//!   that user, whatever number is named. A request naming only a number is held when
//!   every user with that number on file is held — a number another user kept on file
//!   is theirs, and giving it to a second user must not hold the first one's fallback.
//! - A number that cannot receive a code is refused (fault 7056): North American
//!   numbering with area or exchange codes starting 0 or 1, N11 service codes,
//!   premium-rate 900 and 976, toll-free 8XX (`sms_blocked_prefixes` adjusts the list).
//! - Caps: per user and per phone in the send window, and per institution and per API
//!   key per hour (what Twilio's Fraud Guard gives), all fault 7052. They are counted in
//!   the database inside the send's transaction, so they hold across nodes.

use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicU64, Ordering};

use super::oob_entry;
use crate::domain::audit;
use crate::domain::{to_ms, Context, Error, Fault, Service};
use crate::storage::{phones, sms_messages as messages, users, Conn};
use crate::types::{AuditAction, AuditResult, PhoneNum, SessionOrigin};

/// What the "90040" event of an `OffFile` session says (and its audit rows).
pub const OFF_FILE: &str = "sent to a number that is not the user's phone on file";

/// The default of `sms_blocked_prefixes`: patterns over the 10 digits of a North American
/// number, from its first digit; a digit matches itself, `N` matches 2–9, `X` any digit.
pub const DEFAULT_BLOCKED_PREFIXES: &[&str] = &[
    // Area and exchange codes never start with 0 or 1.
    "0", "1", "XXX0", "XXX1", // N11 service codes (411, 911…) are neither.
    "N11", "XXXN11", // Premium rate.
    "900", "XXX976", // Toll-free.
    "800", "822", "833", "844", "855", "866", "877", "888",
];

/// What an explicit OOBValidate naming a user does with another `PhoneNum`
/// (`oob_explicit_phone`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExplicitPhone {
    /// Fault 7035 (the default).
    Refuse,
    /// Sent, and marked as not on file in the answer, the event and the audit.
    Allow,
}

/// The SMS fraud knobs (a slice of the configuration).
#[derive(Debug, Clone)]
pub struct SmsGuard {
    /// `oob_explicit_phone`.
    pub explicit_phone: ExplicitPhone,
    /// SMS per institution per hour (`sms_max_per_institution_hour`).
    pub max_per_institution_hour: u32,
    /// SMS per API key (or console account) per hour (`sms_max_per_key_hour`).
    pub max_per_key_hour: u32,
    /// Numbers refused (`sms_blocked_prefixes`, patterns as [`DEFAULT_BLOCKED_PREFIXES`]).
    pub blocked_prefixes: Vec<String>,
    /// Whether a consumer's `SMSText` may carry a URL (`sms_text_allow_urls`).
    pub allow_urls: bool,
}

impl Default for SmsGuard {
    fn default() -> Self {
        SmsGuard {
            explicit_phone: ExplicitPhone::Refuse,
            max_per_institution_hour: 1000,
            max_per_key_hour: 200,
            blocked_prefixes: DEFAULT_BLOCKED_PREFIXES.iter().map(|&p| p.into()).collect(),
            allow_urls: false,
        }
    }
}

/// Whether `pattern` (digits, `N` for 2–9, `X` for any digit) matches the start of `digits`.
pub fn is_prefix_match(pattern: &str, digits: &str) -> bool {
    pattern.len() <= digits.len()
        && pattern.bytes().zip(digits.bytes()).all(|(p, d)| match p {
            b'X' => d.is_ascii_digit(),
            b'N' => (b'2'..=b'9').contains(&d),
            _ => p == d,
        })
}

/// Why sends were refused, since start, for `/metrics` (`tokend_sms_refused_total`).
#[derive(Debug, Default)]
pub struct Refusals {
    counts: [AtomicU64; 4],
}

/// A kind of refusal, as `/metrics` labels it.
#[derive(Debug, Clone, Copy)]
pub enum Refusal {
    /// The hourly cap of the institution.
    Institution,
    /// The hourly cap of the API key.
    ApiKey,
    /// The windowed cap of the user or the phone.
    UserOrPhone,
    /// A number that cannot receive a code.
    BlockedNumber,
}

impl Refusals {
    const LABELS: [&'static str; 4] = ["institution", "api_key", "user_or_phone", "blocked_number"];

    fn count(&self, why: Refusal) {
        self.counts[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Every kind with its count.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        Self::LABELS
            .iter()
            .zip(&self.counts)
            .map(|(l, c)| (*l, c.load(Ordering::Relaxed)))
            .collect()
    }
}

impl Service {
    /// The number an explicit OOBValidate sends to and its origin, after the hold of the
    /// named user (or of every owner of the named number) and the phone-on-file rule.
    pub(super) fn explicit_target(
        &self,
        ctx: &Context,
        user: Option<&users::User>,
        named: Option<PhoneNum>,
        now: DateTime<Utc>,
    ) -> Result<(PhoneNum, SessionOrigin), Error> {
        let on_file = user
            .and_then(|u| u.phone_num.as_deref())
            .and_then(PhoneNum::parse);
        if let Some(u) = user {
            self.refuse_held(ctx, std::slice::from_ref(u), "UsrName", now)?;
        }
        let (phone, origin) = match (named, on_file) {
            (None, None) => {
                return Err(Error::at(Fault::PhoneRequired, "PhoneNum")
                    .with_detail("(or a UsrName with a phone on file)"))
            }
            (None, Some(f)) => (f, SessionOrigin::Explicit),
            (Some(n), Some(f)) if n == f => (f, SessionOrigin::Explicit),
            (Some(n), None) if user.is_none() => (n, SessionOrigin::Explicit),
            // A user without a phone on file: allowed, and marked, in both modes.
            (Some(n), None) => (n, SessionOrigin::OffFile),
            (Some(n), Some(_)) => match self.oob.policy.guard.explicit_phone {
                ExplicitPhone::Allow => (n, SessionOrigin::OffFile),
                ExplicitPhone::Refuse => {
                    let detail = format!("refused: {} is not the user's phone on file", n.masked());
                    self.audit_start_refused(ctx, user.map(|u| u.usr_name.as_str()), &detail, now)?;
                    return Err(Error::at(Fault::PhoneMismatch, "PhoneNum").with_detail(
                        "(a user's code goes to the phone on file: leave PhoneNum out)",
                    ));
                }
            },
        };
        if user.is_none() {
            let inst = self.institution(ctx).to_owned();
            let owners = self
                .storage
                .read(|c| phones::find_users_with_phone(c, &inst, phone.as_str()))?;
            if owners.iter().all(|u| self.hold_until(u, now).is_some()) {
                self.refuse_held(ctx, &owners, "PhoneNum", now)?;
            }
        }
        self.refuse_blocked(&phone)?;
        Ok((phone, origin))
    }

    /// Refuses a send for a held user (SIM-swap guard, fault 7055), audited: the first of
    /// `users` whose hold holds at `now`.
    fn refuse_held(
        &self,
        ctx: &Context,
        users: &[users::User],
        elem: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let Some((user, until)) = users
            .iter()
            .find_map(|u| self.hold_until(u, now).map(|t| (u, t)))
        else {
            return Ok(());
        };
        let detail = format!("held (SIM-swap guard) until {}", until.to_rfc3339());
        self.audit_start_refused(ctx, Some(&user.usr_name), &detail, now)?;
        Err(Error::at(Fault::SimSwapHold, elem)
            .with_detail(format!("(the hold ends at {})", until.to_rfc3339())))
    }

    /// Fault 7056 for a number that matches `sms_blocked_prefixes`, counted.
    pub(super) fn refuse_blocked(&self, phone: &PhoneNum) -> Result<(), Error> {
        let guard = &self.oob.policy.guard;
        if let Some(p) = guard
            .blocked_prefixes
            .iter()
            .find(|p| is_prefix_match(p, phone.as_str()))
        {
            self.oob.refused.count(Refusal::BlockedNumber);
            return Err(Error::at(Fault::PhoneBlocked, "PhoneNum")
                .with_detail(format!("(it matches the blocked pattern {p})")));
        }
        Ok(())
    }

    /// Audits an OOB start that a rule refused (a fallback or an explicit one).
    pub(super) fn audit_start_refused(
        &self,
        ctx: &Context,
        usr_name: Option<&str>,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let entry = oob_entry(AuditAction::OobStart, usr_name, AuditResult::Failed, detail);
        self.storage.write(|c| audit::record(c, ctx, now, entry))?;
        Ok(())
    }

    /// Refuses a send past a cap: the phone's or the user's in the send window, the
    /// institution's or the sender's (API key) in the last hour. Runs inside the send's
    /// transaction, so concurrent sends on any node count each other.
    pub(super) fn check_send_cap(
        &self,
        c: &mut Conn,
        ctx: &Context,
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
            self.oob.refused.count(Refusal::UserOrPhone);
            return Err(Error::fault(Fault::SendCapReached).with_detail(format!(
                "(at most {cap} SMS per user and per phone in {} s)",
                policy.send_window_secs
            )));
        }
        let hour_ago = to_ms(now).saturating_sub(3_600_000);
        let inst = self.institution(ctx);
        let (for_inst, by_sender) = messages::count_sent_since(c, inst, &ctx.actor, hour_ago)?;
        let guard = &policy.guard;
        if for_inst >= i64::from(guard.max_per_institution_hour) {
            self.oob.refused.count(Refusal::Institution);
            return Err(Error::fault(Fault::SendCapReached).with_detail(format!(
                "(at most {} SMS per institution per hour: sms_max_per_institution_hour)",
                guard.max_per_institution_hour
            )));
        }
        if by_sender >= i64::from(guard.max_per_key_hour) {
            self.oob.refused.count(Refusal::ApiKey);
            return Err(Error::fault(Fault::SendCapReached).with_detail(format!(
                "(at most {} SMS per API key per hour: sms_max_per_key_hour)",
                guard.max_per_key_hour
            )));
        }
        Ok(())
    }

    /// Audits a send a cap refused (its transaction rolled back) and hands the result on.
    pub(super) fn audit_refusal<T>(
        &self,
        ctx: &Context,
        usr_name: Option<&str>,
        phone: &PhoneNum,
        now: DateTime<Utc>,
        result: Result<T, Error>,
    ) -> Result<T, Error> {
        match result {
            Err(e) if e.kind() == Fault::SendCapReached => {
                let why = match &e {
                    Error::Fault {
                        detail: Some(d), ..
                    } => d.as_str(),
                    _ => "",
                };
                let detail = format!("send cap reached {why}, {}", phone.masked());
                self.audit_start_refused(ctx, usr_name, &detail, now)?;
                Err(e)
            }
            other => other,
        }
    }
}

/// Whether a consumer's text carries a URL: a scheme (`://`), `www.`, or a word that ends
/// in a dot and letters, as a host name does (`evil.example`, `bit.ly/x`).
pub fn has_url(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("://")
        || lower.contains("www.")
        || lower.split_whitespace().any(|word| {
            let host = word
                .trim_end_matches(|c: char| !c.is_ascii_alphanumeric() && c != '/')
                .split('/')
                .next()
                .unwrap_or("");
            host.rsplit_once('.').is_some_and(|(name, tld)| {
                !name.is_empty() && tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic())
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_prefixes_refuse_what_cannot_receive_a_code() {
        let blocked = |n: &str| {
            DEFAULT_BLOCKED_PREFIXES
                .iter()
                .any(|p| is_prefix_match(p, n))
        };
        for bad in [
            "0175556652",
            "1175556652",
            "4170556652",
            "4171556652",
            "9115556652",
            "4174115555",
            "9005556652",
            "4179765555",
            "8005556652",
            "8885556652",
        ] {
            assert!(blocked(bad), "{bad}");
        }
        for good in ["4175556652", "2125550142", "8105556652", "5555550142"] {
            assert!(!blocked(good), "{good}");
        }
    }

    #[test]
    fn urls_are_found_in_any_spelling() {
        for url in [
            "verify at http://evil.example/x",
            "go to WWW.evil.example",
            "see evil.example/login now",
            "bit.ly/abc",
        ] {
            assert!(has_url(url), "{url}");
        }
        for plain in [
            "Your code is <%$otp%>.",
            "Bank Inc. code <%$otp%>",
            "e.g. 123",
        ] {
            assert!(!has_url(plain), "{plain}");
        }
    }
}
