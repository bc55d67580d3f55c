//! Staff members' own second factor: a TOTP token, enrolled and checked by tokend
//! itself with exactly the rules of customers' tokens — replay guard, window, failure
//! count and lock, audit — because it IS such a token: a software token bound to the
//! staff member's username in the reserved institution [`STAFF_INST`]. That name holds a
//! `~`, which no `InstRtId` may (`api_keys::is_inst_rt_id`), so no API key, SOAP call or
//! console switch can ever name it: staff factors are reachable only through here.
//!
//! Life: no token → the next sign-in enrolls one (QR and secret on the page, confirmed by
//! a first code, which activates it); an Init token (enrolled but never confirmed, e.g.
//! by `tokend admin create --enroll-totp`) → the next sign-in asks for its first code;
//! an Act token → every sign-in asks for a code. Reset (an admin, or the CLI) deletes
//! them: the member enrolls again.

use chrono::{DateTime, Utc};

use super::super::audit::{self, Entry};
use super::super::enroll::{otp_params, EnrollRequest, Enrolled};
use super::super::validate::ValidateRequest;
use super::super::{to_ms, Context, Error, Fault, Service};
use crate::storage::{bindings, tokens};
use crate::types::{
    Algorithm, AuditAction, AuditResult, Code, Digits, Period, RsStat, RsStatRsn, TokenId,
    TokenType, UsrName, UsrTokenStat,
};

/// The reserved institution of staff members' own factors (never an `InstRtId`).
pub const STAFF_INST: &str = "~staff";

/// Where a staff member's second factor stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactorState {
    /// None: enroll one.
    None,
    /// Enrolled, never confirmed: its first code activates it.
    Pending(TokenId),
    /// Active: each sign-in asks for a code.
    Active,
}

/// What checking a code came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorCheck {
    /// The code passed.
    Passed,
    /// A wrong or replayed code.
    Refused(Option<RsStatRsn>),
    /// Too many wrong codes: locked until an admin resets it (or auto-unlock).
    Locked,
}

/// The context of a staff member's factor: their actor, the reserved institution.
fn factor_ctx(ctx: &Context, username: &str) -> Context {
    Context {
        actor: format!("admin:{username}"),
        inst_rt_id: Some(STAFF_INST.to_owned()),
        ..ctx.clone()
    }
}

fn usr(username: &str) -> Result<UsrName, Error> {
    UsrName::parse(username).ok_or_else(|| Error::at(Fault::InvalidValue, "username"))
}

impl Service {
    /// Where `username`'s second factor stands.
    pub fn staff_factor(&self, username: &str) -> Result<FactorState, Error> {
        let bound = self
            .storage
            .read(|c| bindings::find_bound_by_user(c, STAFF_INST, username))?;
        let live: Vec<_> = bound
            .iter()
            .filter(|b| b.token.status != UsrTokenStat::Del)
            .collect();
        if live.iter().any(|b| b.token.status != UsrTokenStat::Init) {
            return Ok(FactorState::Active);
        }
        Ok(match live.first() {
            Some(b) => FactorState::Pending(
                TokenId::parse(&b.token.token_id)
                    .ok_or_else(|| Error::Internal("stored TokenId is malformed".into()))?,
            ),
            None => FactorState::None,
        })
    }

    /// Enrolls a new authenticator for a staff member who has no active one (an earlier
    /// unconfirmed enrollment is replaced). Answers the secret and `otpauth://` URI, once.
    pub fn enroll_staff_factor(
        &self,
        ctx: &Context,
        username: &str,
        now: DateTime<Utc>,
    ) -> Result<Enrolled, Error> {
        if self.staff_factor(username)? == FactorState::Active {
            return Err(Error::at(Fault::WrongTokenState, "factor")
                .with_detail("(a second factor is active: an admin resets it first)"));
        }
        self.delete_staff_factors(username, now)?;
        let rq = EnrollRequest {
            usr_name: usr(username)?,
            token_type: TokenType::Software,
            token_id: None,
            description: Some("console second factor".into()),
            params: otp_params(Algorithm::SHA1, Digits::SIX, Period::THIRTY),
            seed_base32: None,
            phone: None,
        };
        self.enroll(&factor_ctx(ctx, username), rq, now)
    }

    /// Checks a code of a staff member's second factor: the first code of a pending one
    /// activates it; an active one validates it, replay guard and lock included.
    pub fn check_staff_factor(
        &self,
        ctx: &Context,
        username: &str,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<FactorCheck, Error> {
        let Some(code) = Code::parse(code.trim()) else {
            return Ok(FactorCheck::Refused(Some(RsStatRsn::WrongCode)));
        };
        let fctx = factor_ctx(ctx, username);
        let (rs_stat, reason) = match self.staff_factor(username)? {
            FactorState::None => {
                return Err(Error::at(Fault::UserNotFound, "factor")
                    .with_detail("(no second factor is enrolled)"))
            }
            FactorState::Pending(token_id) => {
                let a = self.activate(&fctx, &token_id, &code, now)?;
                (a.rs_stat, a.reason)
            }
            FactorState::Active => {
                let rq = ValidateRequest {
                    usr_name: Some(usr(username)?),
                    token_id: None,
                    code,
                };
                let v = self.validate(&fctx, &rq, now)?;
                (v.rs_stat, v.reason)
            }
        };
        Ok(match rs_stat {
            RsStat::Success => FactorCheck::Passed,
            RsStat::Locked => FactorCheck::Locked,
            RsStat::Failed => FactorCheck::Refused(reason),
        })
    }

    /// Resets a staff member's second factor (audited): their factors are deleted, their
    /// sessions end, and they enroll a new one at their next sign-in.
    pub fn reset_staff_factor(
        &self,
        ctx: &Context,
        username: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.find_staff(&super::super::api_keys::KeyReach::All, username)?;
        let mut n = self.delete_staff_factors(username, now)?;
        if let Some(a) = self
            .storage
            .read(|c| crate::storage::admins::find_admin(c, username))?
        {
            n += self.remove_passkeys_of(a.id)?;
        }
        self.end_sessions_of(ctx, username, now)?;
        let detail =
            format!("{username}: {n} factor(s) deleted; enrolls again at the next sign-in");
        let entry = Entry {
            action: AuditAction::AdminFactorReset,
            token_id: None,
            usr_name: None,
            result: AuditResult::Success,
            detail: Some(&detail),
        };
        self.storage
            .write(|c| Ok::<_, Error>(audit::record(c, ctx, now, entry)?))
    }

    /// Deletes every factor of `username` (status Del, seed destroyed); answers how many.
    fn delete_staff_factors(&self, username: &str, now: DateTime<Utc>) -> Result<usize, Error> {
        self.storage.write(|c| {
            let bound = bindings::find_bound_by_user(c, STAFF_INST, username)?;
            let mut n = 0;
            for b in bound.iter().filter(|b| b.token.status != UsrTokenStat::Del) {
                let del = Some(UsrTokenStat::Del);
                tokens::update_token_if_version(c, b.token.id, b.token.version, del, to_ms(now))?;
                tokens::update_token_destroy_seed(c, b.token.id)?;
                n += 1;
            }
            Ok::<_, Error>(n)
        })
    }
}
