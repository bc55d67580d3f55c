//! The first admin's one-time password expires.
//!
//! The first start prints it once, and under systemd that line stays in the journal
//! (where the docs tell the operator to find it): anyone who can read the journal later
//! could sign in with it while nobody has. So it works for `first_admin_otp_secs`
//! (default a day) and is then made unusable (its hash replaced by a marker no password
//! matches), audited; every later start says so and how to make an account with the CLI.

use chrono::{DateTime, Duration, Utc};

use super::admins::BOOTSTRAP_ADMIN;
use super::audit::{self, Entry};
use super::{to_ms, Context, Error, Service};
use crate::storage::admins;
use crate::types::{AuditAction, AuditResult};

/// What to say about an expired one-time password, at expiry and at every later start.
pub const EXPIRED_SAY: &str = "the first admin's one-time password expired unused \
    (first_admin_otp_secs): nobody can sign in with it any more. Make a staff account with \
    the command line, as the service's user: sudo -u tokend tokend admin create --username \
    NAME (it prints a new one-time password once, on your terminal)";

/// The hash of an expired one-time password: not a PHC string, so no password matches.
const EXPIRED: &str = "!expired-one-time-password";

/// Where the first admin's one-time password stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OneTime {
    /// Usable until this instant.
    Live(DateTime<Utc>),
    /// Expired unused: nobody can sign in with it.
    Expired,
    /// Replaced by a password of the admin's own (or the account is gone).
    Replaced,
}

impl Service {
    /// Expires the first admin's one-time password when it was set more than `max_age`
    /// before `now` and was not replaced; whether it did now.
    pub fn expire_first_admin_password(
        &self,
        now: DateTime<Utc>,
        max_age: Duration,
    ) -> Result<bool, Error> {
        let ctx = Context {
            actor: "system".into(),
            ..Context::default()
        };
        self.storage.write(|c| {
            let expired = admins::update_admin_expire_one_time(
                c,
                BOOTSTRAP_ADMIN,
                EXPIRED,
                to_ms(now - max_age),
                to_ms(now),
            )?;
            if expired {
                audit::record(
                    c,
                    &ctx,
                    now,
                    Entry {
                        action: AuditAction::AdminPassword,
                        token_id: None,
                        usr_name: None,
                        result: AuditResult::Success,
                        detail: Some("the first admin's one-time password expired unused"),
                    },
                )?;
            }
            Ok::<_, Error>(expired)
        })
    }

    /// Where the first admin's one-time password stands.
    pub fn first_admin_password(&self, max_age: Duration) -> Result<OneTime, Error> {
        let Some(admin) = self
            .storage
            .read(|c| admins::find_admin(c, BOOTSTRAP_ADMIN))?
        else {
            return Ok(OneTime::Replaced);
        };
        Ok(match (admin.must_change, admin.password_hash == EXPIRED) {
            (false, _) => OneTime::Replaced,
            (true, true) => OneTime::Expired,
            (true, false) => {
                OneTime::Live(super::from_ms(admin.updated_at).unwrap_or_default() + max_age)
            }
        })
    }
}
