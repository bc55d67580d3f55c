//! Users and their phones with a lifecycle (issue 17): the "MFA user" view, changing or
//! removing the phone on file under an ActIntentKey, and the SIM-swap guard that holds the
//! SMS fallback after a change.
//!
//! Decisions (issue 17 is silent on these):
//! - a phone given when a user is CREATED (`POST /users`, or the enrollment that creates
//!   the user) starts no hold; every later set, change or removal does — adding a phone
//!   to a user who had none is the same takeover path as replacing one;
//! - enrollment never changes an existing user's phone: naming another number (or one
//!   when none is on file) is fault 7035, naming the number on file is fine;
//! - the user's ActIntentKey is an HMAC over the phone on file and its change time, so
//!   any committed change makes an older key stale (fault 7031), like MFATokenMod;
//! - an admin's lift covers the changes made before it; a later change holds again.
//!
//! Imports: storage, crypto (through the keyring), types.

mod change;
pub mod explain;
pub(in crate::domain) mod kept_codes;

pub use change::PhoneChange;

use chrono::{DateTime, Duration, Utc};

use super::{from_ms, Context, Error, Fault, Service};
use crate::storage::{bindings, users};
use crate::types::{MfaTokenUsrStat, PhoneNum, TokenType, UsrName, UsrTokenStat};

/// The phone knobs (a slice of the configuration).
#[derive(Debug, Clone)]
pub struct PhonePolicy {
    /// How long the SMS fallback is held after a phone change, seconds (0: never).
    pub sim_swap_hold_secs: u64,
    /// Send a OneWay SMS to the OLD number when the phone changes.
    pub phone_change_notice: bool,
    /// How long the keyed hash of a failed code is kept for "explain", seconds.
    pub explain_retention_secs: u64,
}

impl Default for PhonePolicy {
    fn default() -> Self {
        PhonePolicy {
            sim_swap_hold_secs: 7 * 24 * 3600,
            phone_change_notice: false,
            explain_retention_secs: 3600,
        }
    }
}

/// One of the user's tokens as the user view shows it.
#[derive(Debug, Clone)]
pub struct UserTokenView {
    /// jXchange `TokenId`.
    pub token_id: String,
    /// Software or Hardware.
    pub token_type: TokenType,
    /// jXchange `UsrTokenStat`.
    pub token_status: UsrTokenStat,
    /// jXchange `MFATokenUsrStat` of this user's binding.
    pub binding_status: MfaTokenUsrStat,
    /// jXchange `UsrTokenDesc`.
    pub description: Option<String>,
    /// Learned clock drift, steps.
    pub drift: i32,
}

/// The "MFA user" view: the phone (masked), its change, the hold, the tokens.
#[derive(Debug, Clone)]
pub struct UserView {
    /// jXchange `UsrName`.
    pub usr_name: String,
    /// The phone on file, masked.
    pub phone_masked: Option<String>,
    /// When the phone last changed (tokend `PhoneChgDt`).
    pub phone_changed_at: Option<DateTime<Utc>>,
    /// When the SIM-swap hold ends, while it holds.
    pub hold_until: Option<DateTime<Utc>>,
    /// The ActIntentKey a phone change must carry.
    pub intent_key: String,
    /// Every bound token, oldest binding first.
    pub tokens: Vec<UserTokenView>,
}

/// What the user's ActIntentKey signs: the phone state (5 lines, so never the message of
/// a token's key, which has 3).
fn phone_message(inst: &str, user: &users::User) -> Vec<u8> {
    format!(
        "user-phone\n{inst}\n{}\n{}\n{}",
        user.usr_name,
        user.phone_num.as_deref().unwrap_or("-"),
        user.phone_changed_at.unwrap_or(-1)
    )
    .into_bytes()
}

impl Service {
    /// The phone policy in force.
    pub fn phone_policy(&self) -> &PhonePolicy {
        &self.phones
    }

    /// Sets the phone policy (default: 7-day hold, no notice, 1-hour explain retention).
    pub fn with_phones(mut self, phones: PhonePolicy) -> Service {
        self.phones = phones;
        self
    }

    /// When the SIM-swap hold of `user` ends, if it holds at `now`.
    pub fn hold_until(&self, user: &users::User, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let secs = i64::try_from(self.phones.sim_swap_hold_secs).ok()?;
        let changed = user.phone_changed_at?;
        if secs == 0 || user.hold_lifted_at.is_some_and(|l| l >= changed) {
            return None;
        }
        let until = from_ms(changed)? + Duration::seconds(secs);
        (now < until).then_some(until)
    }

    /// The stored user, or fault 7021.
    pub(crate) fn find_user(
        &self,
        ctx: &Context,
        usr_name: &UsrName,
    ) -> Result<users::User, Error> {
        let inst = self.institution(ctx).to_owned();
        self.storage
            .read(|c| users::find_user(c, &inst, usr_name.as_str()))?
            .ok_or_else(|| Error::at(Fault::UserNotFound, "UsrName").with_value(usr_name.as_str()))
    }

    /// The "MFA user" view of a user (fault 7021 when unknown).
    pub fn user_view(
        &self,
        ctx: &Context,
        usr_name: &UsrName,
        now: DateTime<Utc>,
    ) -> Result<UserView, Error> {
        let user = self.find_user(ctx, usr_name)?;
        let inst = self.institution(ctx).to_owned();
        let bound = self
            .storage
            .read(|c| bindings::find_bound_by_user(c, &inst, usr_name.as_str()))?;
        Ok(UserView {
            phone_masked: user
                .phone_num
                .as_deref()
                .and_then(PhoneNum::parse)
                .map(|p| p.masked()),
            phone_changed_at: user.phone_changed_at.and_then(from_ms),
            hold_until: self.hold_until(&user, now),
            intent_key: self.keyring.intent_tag(&phone_message(&inst, &user)),
            tokens: bound
                .into_iter()
                .map(|b| UserTokenView {
                    token_id: b.token.token_id,
                    token_type: b.token.token_type,
                    token_status: b.token.status,
                    binding_status: b.binding.status,
                    description: b.binding.description,
                    drift: b.token.drift,
                })
                .collect(),
            usr_name: user.usr_name,
        })
    }

    /// Whether `key` is the user's current ActIntentKey.
    fn is_user_intent_key(&self, inst: &str, user: &users::User, key: &str) -> bool {
        self.keyring
            .verify_intent_tag(&phone_message(inst, user), key)
    }
}

#[cfg(test)]
mod tests;
