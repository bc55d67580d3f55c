//! Admin accounts of the web console: creation (the bootstrap admin and `tokend admin
//! create`), sign-in with a back-off after repeated failures, and password changes.
//!
//! Passwords are hashed with argon2id (`crypto::password`) OUTSIDE the write transaction
//! (a hash costs tens of milliseconds and the writer is shared). NEVER log a password:
//! the audit records the username and the outcome only.

use chrono::{DateTime, Duration, Utc};
use zeroize::Zeroizing;

use super::api_keys::KeyReach;
use super::audit::{self, Entry};
use super::staff::Staff;
use super::{to_ms, Context, Error, Fault, Service};
use crate::crypto::{digest, password};
use crate::storage::{admin_sessions, admins};
use crate::types::{AuditAction, AuditResult, Role};

/// The username of the account created on first start.
pub const BOOTSTRAP_ADMIN: &str = "admin";
/// Shortest accepted password.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest accepted password (argon2 takes any length; this bounds the work per request).
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Failed sign-ins allowed before the back-off starts.
pub const FREE_FAILURES: i32 = 5;
/// The first back-off; each further failure doubles it, up to [`MAX_BACKOFF_SECS`].
pub const FIRST_BACKOFF_SECS: i64 = 30;
/// The longest back-off.
pub const MAX_BACKOFF_SECS: i64 = 900;

/// A signed-in admin, as the session remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    /// Row id.
    pub admin_id: i32,
    /// Username; the audit actor is `admin:USERNAME`.
    pub username: String,
    /// The password must be changed before anything else.
    pub must_change: bool,
    /// When the password was last set, ms: a session issued before it is over, so a
    /// password change signs the account out everywhere else.
    pub password_set_ms: i64,
    /// What the account may do.
    pub role: Role,
    /// Where it may act.
    pub reach: KeyReach,
}

impl SignedIn {
    fn of(a: admins::Admin) -> SignedIn {
        SignedIn {
            admin_id: a.id,
            username: a.username,
            must_change: a.must_change,
            password_set_ms: a.updated_at,
            role: a.role,
            reach: KeyReach::from_stored(a.inst_rt_id),
        }
    }

    /// The staff member, for the rules of `staff`.
    pub fn staff(&self) -> Staff {
        Staff {
            admin_id: self.admin_id,
            username: self.username.clone(),
            role: self.role,
            reach: self.reach.clone(),
        }
    }
}

/// What a sign-in attempt yields (internal errors aside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    /// Right username and password.
    Success(SignedIn),
    /// Wrong username or password (the two are not told apart).
    Refused,
    /// Too many failures: no password is checked until this time.
    Throttled(DateTime<Utc>),
}

/// The back-off after `failures` consecutive failures, if any.
pub fn backoff_after(failures: i32) -> Option<Duration> {
    if failures < FREE_FAILURES {
        return None;
    }
    let doublings = u32::try_from(failures - FREE_FAILURES).unwrap_or(0).min(16);
    let secs = FIRST_BACKOFF_SECS
        .saturating_mul(1_i64 << doublings)
        .min(MAX_BACKOFF_SECS);
    Some(Duration::seconds(secs))
}

pub(super) fn check_username(username: &str) -> Result<(), Error> {
    let ok = !username.is_empty()
        && username.len() <= 64
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(Error::at(Fault::InvalidValue, "username")
            .with_detail("(1-64 letters, digits, '.', '_', '-' or '@')"))
    }
}

/// The zxcvbn score (0–4) a password must reach: 3 is "safely unguessable" (about 10^10
/// guesses), the level zxcvbn's authors recommend for an account of value.
const MIN_STRENGTH: zxcvbn::Score = zxcvbn::Score::Three;

/// Refuses passwords too short or too long to be a reasonable secret, and (NIST SP
/// 800-63B §5.1.1.2) those that are commonly used, guessable or built from the account's
/// own name: zxcvbn checks them against its lists of common passwords, names and words,
/// keyboard patterns, repeats and sequences, and says why.
pub fn check_password(password: &str, username: &str) -> Result<(), Error> {
    let n = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) {
        return Err(
            Error::at(Fault::InvalidValue, "password").with_detail(format!(
                "(a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters)"
            )),
        );
    }
    let estimate = zxcvbn::zxcvbn(password, &[username, "tokend", "admin"]);
    if estimate.score() >= MIN_STRENGTH {
        return Ok(());
    }
    let why = estimate
        .feedback()
        .and_then(|f| f.warning())
        .map_or_else(|| "it is too easy to guess".to_owned(), |w| w.to_string());
    Err(Error::at(Fault::InvalidValue, "password").with_detail(format!(
        "(this password is too common or too easy to guess: {why}. A few unrelated words make a strong one)"
    )))
}

/// A random one-time password: 120 bits, URL-safe characters.
pub(super) fn generate_password() -> Result<Zeroizing<String>, Error> {
    Ok(Zeroizing::new(digest::random_token(15)?))
}

pub(super) fn hash(password: &str) -> Result<String, Error> {
    password::hash_password(password).map_err(|e| Error::Internal(e.to_string()))
}

fn entry<'a>(action: AuditAction, result: AuditResult, detail: Option<&'a str>) -> Entry<'a> {
    Entry {
        action,
        token_id: None,
        usr_name: None,
        result,
        detail,
    }
}

impl Service {
    /// On first start: when no admin exists, creates [`BOOTSTRAP_ADMIN`] with a one-time
    /// password and answers it (to be printed once). Checked and inserted in one
    /// transaction, so two servers starting at once create one.
    pub fn ensure_first_admin(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<Zeroizing<String>>, Error> {
        if self.storage.read(admins::count_admins)? > 0 {
            return Ok(None);
        }
        let one_time = generate_password()?;
        let phc = hash(&one_time)?;
        let ctx = Context {
            actor: "bootstrap".into(),
            ..Context::default()
        };
        let created = self.storage.write(|c| {
            if admins::count_admins(c)? > 0 {
                return Ok::<_, Error>(false);
            }
            let new = admins::NewAdmin {
                username: BOOTSTRAP_ADMIN,
                password_hash: &phc,
                must_change: true,
                role: Role::Admin,
                inst_rt_id: None,
            };
            admins::insert_admin(c, &new, to_ms(now))?;
            audit::record(
                c,
                &ctx,
                now,
                entry(
                    AuditAction::AdminCreate,
                    AuditResult::Success,
                    Some(BOOTSTRAP_ADMIN),
                ),
            )?;
            Ok(true)
        })?;
        Ok(created.then_some(one_time))
    }

    /// Checks a sign-in. Failures count per account; from the [`FREE_FAILURES`]th on, the
    /// account refuses every attempt (right or wrong) for a doubling back-off. An unknown
    /// username costs a hash too, so timing does not tell which names exist.
    ///
    /// Check and count are one decision: each attempt claims its place in the count
    /// BEFORE its password is hashed (one conditional UPDATE), so a burst of parallel
    /// guesses gets no more checks than the free failures; a right password whose account
    /// was locked by later claims meanwhile is refused like a wrong one.
    pub fn sign_in(
        &self,
        ctx: &Context,
        username: &str,
        password: &str,
        now: DateTime<Utc>,
    ) -> Result<SignIn, Error> {
        let found = if username.len() <= 64 {
            self.storage.read(|c| admins::find_admin(c, username))?
        } else {
            None
        };
        // An unknown or disabled account costs a hash too, so timing does not tell it.
        let Some(admin) = found.filter(|a| a.disabled_at.is_none()) else {
            let _ = password::verify_password(password, password::DUMMY_HASH);
            return Ok(SignIn::Refused);
        };
        let ctx = Context {
            actor: format!("admin:{}", admin.username),
            ..ctx.clone()
        };
        let claimed = match self.claim_attempt(&admin, now)? {
            Ok(claimed) => claimed,
            Err(throttled) => {
                // As long as a checked attempt, so a throttled account is not told apart.
                let _ = password::verify_password(password, password::DUMMY_HASH);
                return Ok(throttled);
            }
        };
        let ok = password.chars().count() <= MAX_PASSWORD_CHARS
            && password::verify_password(password, &admin.password_hash);
        self.storage.write(|c| {
            if ok && admins::update_admin_signed_in(c, admin.id, claimed, to_ms(now))? {
                audit::record(
                    c,
                    &ctx,
                    now,
                    entry(AuditAction::AdminSignin, AuditResult::Success, None),
                )?;
                return Ok::<_, Error>(SignIn::Success(SignedIn::of(admin.clone())));
            }
            let detail = if ok {
                format!("failure {claimed}; right password refused: locked meanwhile")
            } else {
                format!("failure {claimed}")
            };
            audit::record(
                c,
                &ctx,
                now,
                entry(AuditAction::AdminSignin, AuditResult::Failed, Some(&detail)),
            )?;
            let locked = admins::find_admin_by_pk(c, admin.id)?
                .and_then(|a| a.locked_until)
                .and_then(super::from_ms)
                .filter(|until| now < *until);
            Ok(locked.map_or(SignIn::Refused, SignIn::Throttled))
        })
    }

    /// Claims one attempt (counted as a failure until it succeeds) and starts the back-off
    /// when this claim reaches it. `Err(Throttled)` while a back-off runs: nothing is
    /// checked then.
    fn claim_attempt(
        &self,
        admin: &admins::Admin,
        now: DateTime<Utc>,
    ) -> Result<Result<i32, SignIn>, Error> {
        self.storage.write(|c| {
            let Some(claimed) = admins::update_admin_claim_attempt(c, admin.id, to_ms(now))? else {
                let until = admins::find_admin_by_pk(c, admin.id)?
                    .and_then(|a| a.locked_until)
                    .and_then(super::from_ms)
                    .unwrap_or(now);
                return Ok::<_, Error>(Err(SignIn::Throttled(until)));
            };
            if let Some(backoff) = backoff_after(claimed) {
                admins::update_admin_backoff(c, admin.id, to_ms(now + backoff))?;
            }
            Ok(Ok(claimed))
        })
    }

    /// The account behind a session, if it still exists and is not disabled (a deleted
    /// or disabled account's session ends at its next request). Read on every request,
    /// so a role change takes effect at once.
    pub fn find_admin(&self, admin_id: i32) -> Result<Option<SignedIn>, Error> {
        Ok(self
            .storage
            .read(|c| admins::find_admin_by_pk(c, admin_id))?
            .filter(|a| a.disabled_at.is_none())
            .map(SignedIn::of))
    }

    /// Changes a password after checking the current one; the new one must differ.
    pub fn change_admin_password(
        &self,
        ctx: &Context,
        admin_id: i32,
        current: &str,
        new: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let admin = self
            .storage
            .read(|c| admins::find_admin_by_pk(c, admin_id))?
            .ok_or_else(|| Error::at(Fault::UserNotFound, "username"))?;
        if !password::verify_password(current, &admin.password_hash) {
            return Err(Error::at(Fault::InvalidValue, "current_password")
                .with_detail("(the current password is wrong)"));
        }
        check_password(new, &admin.username)?;
        if new == current {
            return Err(Error::at(Fault::InvalidValue, "new_password")
                .with_detail("(the new password must differ from the current one)"));
        }
        let phc = hash(new)?;
        self.storage.write(|c| {
            admins::update_admin_password(c, admin.id, &phc, false, to_ms(now))?;
            // Signed out everywhere: the web edge starts the changing session anew.
            admin_sessions::delete_admin_sessions_of(c, admin.id)?;
            Ok::<_, Error>(audit::record(
                c,
                ctx,
                now,
                entry(AuditAction::AdminPassword, AuditResult::Success, None),
            )?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_at_the_fifth_failure_doubles_and_is_capped() {
        assert_eq!(backoff_after(4), None);
        assert_eq!(backoff_after(5), Some(Duration::seconds(30)));
        assert_eq!(backoff_after(6), Some(Duration::seconds(60)));
        assert_eq!(backoff_after(9), Some(Duration::seconds(480)));
        assert_eq!(backoff_after(10), Some(Duration::seconds(900)));
        assert_eq!(backoff_after(1000), Some(Duration::seconds(900)));
    }

    #[test]
    fn usernames_and_passwords_are_checked() {
        assert!(check_username("ola.nordmann@bank").is_ok());
        assert!(check_username("").is_err());
        assert!(check_username("a b").is_err());
        assert!(check_password("short", "ola").is_err());
        assert!(check_password("quietly ferns outlast granite", "ola").is_ok());
        assert!(check_password(&"x".repeat(257), "ola").is_err());
    }

    #[test]
    fn common_and_guessable_passwords_are_refused_with_a_reason() {
        for weak in [
            "aaaaaaaaaaaa",
            "password1234",
            "123456789012",
            "qwertyuiopas",
            "ola.nordmann1",
        ] {
            let e = check_password(weak, "ola.nordmann").expect_err(weak);
            assert!(e.to_string().contains("too common"), "{weak}: {e}");
        }
    }
}
