//! Token lifecycle under the jXchange concurrency model: the status transition table,
//! modify (MFATokenMod), delete, and resync.
//!
//! Every change presents the `ActIntentKey` of an inquiry. The change is committed by a
//! conditional write on the token's version (`… WHERE version = :v`), so a key issued
//! before any other change — another admin's, a validation's — gets a 409 and changes
//! nothing, and a key works once.
//!
//! Token status transitions (`UsrTokenStat`), anything else is fault 7032:
//!
//! | from \ to | Act | InAct | Disable | Lock |
//! |---|---|---|---|---|
//! | Init    | (activation only) | yes | yes | — |
//! | Act     | — | yes | yes | yes |
//! | InAct   | yes¹ | — | yes | — |
//! | Disable | yes¹ | yes | — | — |
//! | Lock    | yes (unlock) | yes | yes | — |
//! | Del     | — | — | — | — |
//!
//! ¹ only for a token that was activated once; otherwise it goes back through activation.
//! Del is reached only through delete (a Dlt key) and nothing leaves it. Binding statuses
//! (`MFATokenUsrStat` Act, Disable, Lock) may change freely; leaving Lock clears the
//! failure count.

use chrono::{DateTime, Utc};

use super::audit;
use super::inquiry::{Inquiry, InquiryRequest};
use super::validate::{entry_for, AcceptError};
use super::{params_of, to_ms, Context, Error, Fault, Service};
use crate::storage::bindings::{self, BoundToken};
use crate::storage::tokens::Token;
use crate::storage::{tokens, users};
use crate::types::{ActIntent, Code, MfaTokenUsrStat, RsStat, TokenId, UsrName, UsrTokenStat};
use crate::types::{AuditAction, AuditResult};

/// Whether an admin or consumer may move a token from `from` to `to` (see the table above).
pub fn can_change_token(from: UsrTokenStat, to: UsrTokenStat, was_activated: bool) -> bool {
    use UsrTokenStat::{Act, Del, Disable, InAct, Init, Lock};
    match (from, to) {
        (Del, _) | (_, Del) | (_, Init) => false,
        (a, b) if a == b => true,
        (Init, InAct | Disable) => true,
        (Act, InAct | Disable | Lock) => true,
        (InAct | Disable, Act) => was_activated,
        (InAct, Disable) | (Disable, InAct) => true,
        (Lock, Act | InAct | Disable) => true,
        _ => false,
    }
}

/// jXchange MFATokenMod: what to change. Binding fields act on `usr_name`'s binding.
#[derive(Debug, Clone, Default)]
pub struct ModifyRequest {
    /// The key from an inquiry with ActIntent Upd.
    pub intent_key: String,
    /// New token status.
    pub token_status: Option<UsrTokenStat>,
    /// The binding the binding fields apply to.
    pub usr_name: Option<UsrName>,
    /// New binding status.
    pub binding_status: Option<MfaTokenUsrStat>,
    /// New binding description.
    pub description: Option<String>,
    /// Remove `usr_name`'s binding.
    pub unbind: bool,
    /// Bind the token to this user as well.
    pub add_usr_name: Option<UsrName>,
}

impl ModifyRequest {
    fn touches_binding(&self) -> bool {
        self.binding_status.is_some() || self.description.is_some() || self.unbind
    }
}

/// The result of a resynchronisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resync {
    /// Success or Failed.
    pub rs_stat: RsStat,
    /// The drift now stored, in steps.
    pub drift: i32,
}

fn stale() -> Error {
    Error::at(Fault::StaleIntentKey, "ActIntentKey").with_detail(
        "(the record changed since the inquiry, or the key is not this token's: inquire again)",
    )
}

impl Service {
    /// Reads the token and its bindings and checks the key against the token's version.
    fn claim(
        &self,
        ctx: &Context,
        token_id: &TokenId,
        intent: ActIntent,
        key: &str,
    ) -> Result<(Vec<BoundToken>, Token), Error> {
        let inst = self.institution(ctx);
        let (token, bound) = self.storage.read(|c| {
            Ok((
                tokens::find_token(c, inst, token_id.as_str())?,
                bindings::find_bound_by_token(c, inst, token_id.as_str())?,
            ))
        })?;
        let token = token.ok_or_else(|| {
            Error::at(Fault::TokenNotFound, "TokenId").with_value(token_id.as_str())
        })?;
        if !self.is_current_intent_key(token_id, token.version, intent, key) {
            return Err(stale());
        }
        Ok((bound, token))
    }

    /// Applies a modification (jXchange MFATokenMod) and answers the new state.
    pub fn modify(
        &self,
        ctx: &Context,
        token_id: &TokenId,
        rq: &ModifyRequest,
        now: DateTime<Utc>,
    ) -> Result<Inquiry, Error> {
        let (bound, token) = self.claim(ctx, token_id, ActIntent::Upd, &rq.intent_key)?;
        let (version, token_pk) = (token.version, token.id);
        let token_status: UsrTokenStat = token.status;
        if let Some(to) = rq.token_status {
            if !can_change_token(token_status, to, token.last_step >= 0) {
                return Err(Error::at(Fault::WrongTokenState, "UsrTokenStat")
                    .with_value(to.as_str())
                    .with_detail(format!("(not allowed from {token_status})")));
            }
        }
        let target = self.binding_target(&bound, rq)?;
        if let Some(add) = &rq.add_usr_name {
            if bindings::find_named(&bound, add.as_str()).is_some() {
                return Err(Error::at(Fault::AlreadyBound, "AddUsrName").with_value(add.as_str()));
            }
        }
        let inst = self.institution(ctx).to_owned();
        let now_ms = to_ms(now);
        let status = rq.token_status;
        self.storage.write(|c| {
            if !tokens::update_token_if_version(c, token_pk, version, status, now_ms)? {
                return Err(stale());
            }
            if rq.token_status == Some(UsrTokenStat::Act) {
                for b in &bound {
                    users::update_user_oob_failures(c, b.binding.user_pk, 0)?;
                }
            }
            if let Some(b) = target {
                if rq.binding_status == Some(MfaTokenUsrStat::Act) {
                    // An admin's unlock also restores a suspended SMS fallback.
                    users::update_user_oob_failures(c, b.binding.user_pk, 0)?;
                }
                if let Some(s) = rq.binding_status {
                    let reason = format!("locked by {}", ctx.actor);
                    bindings::update_binding_status(c, b.binding.id, s, Some(&reason), now_ms)?;
                }
                if let Some(d) = &rq.description {
                    bindings::update_binding_description(c, b.binding.id, Some(d))?;
                }
                if rq.unbind {
                    bindings::delete_binding(c, b.binding.id)?;
                }
            }
            if let Some(add) = &rq.add_usr_name {
                let user = users::upsert_user(c, &inst, add.as_str(), None, now_ms)?;
                bindings::insert_binding(c, token_pk, user, MfaTokenUsrStat::Act, None, now_ms)?;
            }
            let detail = describe(rq);
            let entry = audit::Entry {
                action: AuditAction::Modify,
                token_id: Some(token_id.as_str()),
                usr_name: rq.usr_name.as_ref().map(UsrName::as_str),
                result: AuditResult::Success,
                detail: Some(&detail),
            };
            Ok::<_, Error>(audit::record(c, ctx, now, entry)?)
        })?;
        self.inquire(
            ctx,
            InquiryRequest {
                token_id: token_id.clone(),
                usr_name: None,
                intent: ActIntent::ReadOnly,
            },
        )
    }

    /// The binding a modification's binding fields name, checked to exist.
    fn binding_target<'a>(
        &self,
        bound: &'a [BoundToken],
        rq: &ModifyRequest,
    ) -> Result<Option<&'a BoundToken>, Error> {
        if !rq.touches_binding() {
            return Ok(None);
        }
        let name = rq
            .usr_name
            .as_ref()
            .ok_or_else(|| Error::at(Fault::FieldRequired, "UsrName"))?;
        bindings::find_named(bound, name.as_str())
            .map(Some)
            .ok_or_else(|| Error::at(Fault::UserNotFound, "UsrName").with_value(name.as_str()))
    }

    /// Deletes a token (key from an inquiry with ActIntent Dlt): status Del, the sealed
    /// seed destroyed, history and receipts kept. Nothing ever validates it again.
    pub fn delete(
        &self,
        ctx: &Context,
        token_id: &TokenId,
        intent_key: &str,
        now: DateTime<Utc>,
    ) -> Result<UsrTokenStat, Error> {
        let (_, token) = self.claim(ctx, token_id, ActIntent::Dlt, intent_key)?;
        let (version, token_pk) = (token.version, token.id);
        self.storage.write(|c| {
            let del = Some(UsrTokenStat::Del);
            if !tokens::update_token_if_version(c, token_pk, version, del, to_ms(now))? {
                return Err(stale());
            }
            tokens::update_token_destroy_seed(c, token_pk)?;
            let entry = audit::Entry {
                action: AuditAction::Delete,
                token_id: Some(token_id.as_str()),
                usr_name: None,
                result: AuditResult::Success,
                detail: Some("seed destroyed"),
            };
            Ok::<_, Error>(audit::record(c, ctx, now, entry)?)
        })?;
        if let Err(e) = self.storage.checkpoint() {
            tracing::warn!(
                token_id = token_id.as_str(),
                "WAL checkpoint after delete failed: {e}"
            );
        }
        Ok(UsrTokenStat::Del)
    }

    /// Resynchronises a drifting token from two consecutive codes found within
    /// ±`resync_window_steps`; the drift is stored and later windows centre on it.
    ///
    /// A resync is a wider guess than a validation, so it is held to the same rules: only
    /// an Act token on an Act binding is searched, and a failed resync counts one failure
    /// towards the lock (and locks at the threshold, answering Locked).
    pub fn resync(
        &self,
        ctx: &Context,
        token_id: &TokenId,
        first: &Code,
        second: &Code,
        now: DateTime<Utc>,
    ) -> Result<Resync, Error> {
        let bound = self.bound_to_token(ctx, token_id)?;
        let b = &bound[0];
        if b.token.status != UsrTokenStat::Act {
            return Err(Error::at(Fault::WrongTokenState, "TokenId")
                .with_detail(format!("(the token is {})", b.token.status)));
        }
        let open: Vec<&BoundToken> = bound
            .iter()
            .filter(|b| b.binding.status == MfaTokenUsrStat::Act)
            .collect();
        if open.is_empty() {
            return Err(
                Error::at(Fault::WrongTokenState, "TokenId").with_detail(format!(
                    "(the binding is {}: unlock it before a resync)",
                    b.binding.status
                )),
            );
        }
        let params = params_of(&b.token)?;
        let seed = self.open_seed(&b.token)?;
        let now_step = params.step_at(now.timestamp());
        let window = self.policy.resync_window_steps;
        let found = params.find_pair(seed.expose(), first, second, now_step, window);
        if let Some(step) = found.filter(|s| *s > b.token.last_step) {
            let drift = i32::try_from(step - now_step).unwrap_or(0);
            if self.commit_resync(ctx, &open, step, drift, now)? {
                return Ok(Resync {
                    rs_stat: RsStat::Success,
                    drift,
                });
            }
        }
        let counted = self.count_failure(ctx, &open, now, AuditAction::Resync, None)?;
        Ok(Resync {
            rs_stat: counted.rs_stat(),
            drift: b.token.drift,
        })
    }

    /// Stores a resync's step and drift and clears the failure counts, only while the token
    /// and every binding searched are still Act; answers whether it committed.
    fn commit_resync(
        &self,
        ctx: &Context,
        open: &[&BoundToken],
        step: i64,
        drift: i32,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let b = open[0];
        let act = UsrTokenStat::Act;
        let detail = format!("drift {drift} steps");
        let result = self.storage.write(|c| {
            if !tokens::update_token_accept_step(c, b.token.id, act, act, step, drift, to_ms(now))?
            {
                return Err(AcceptError::Replayed);
            }
            for o in open {
                if !bindings::update_binding_clear_failures(c, o.binding.id)? {
                    return Err(AcceptError::StatusChanged);
                }
            }
            audit::record(
                c,
                ctx,
                now,
                entry_for(b, AuditAction::Resync, AuditResult::Success, Some(&detail)),
            )?;
            Ok(())
        });
        match result {
            Ok(()) => Ok(true),
            Err(AcceptError::Domain(e)) => Err(e),
            Err(_) => Ok(false),
        }
    }
}

/// The audit's words for a modification (names and statuses, never secrets).
fn describe(rq: &ModifyRequest) -> String {
    let mut parts = Vec::new();
    if let Some(s) = rq.token_status {
        parts.push(format!("UsrTokenStat={s}"));
    }
    if let Some(s) = rq.binding_status {
        parts.push(format!("MFATokenUsrStat={s}"));
    }
    if rq.description.is_some() {
        parts.push("UsrTokenDesc".to_owned());
    }
    if rq.unbind {
        parts.push("unbind".to_owned());
    }
    if let Some(a) = &rq.add_usr_name {
        parts.push(format!("bind {a}"));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use UsrTokenStat::{Act, Del, Disable, InAct, Init, Lock};

    #[test]
    fn transition_table() {
        assert!(can_change_token(Lock, Act, true), "unlock");
        assert!(can_change_token(Act, Disable, true));
        assert!(can_change_token(Disable, Act, true));
        assert!(
            !can_change_token(Disable, Act, false),
            "never activated: activate instead"
        );
        assert!(
            !can_change_token(Init, Act, false),
            "only activation makes Init Act"
        );
        for to in UsrTokenStat::ALL {
            assert!(!can_change_token(Del, *to, true), "nothing leaves Del");
            assert!(!can_change_token(*to, Del, true), "Del only through delete");
        }
        assert!(!can_change_token(InAct, Lock, true));
        assert!(can_change_token(Init, InAct, false));
    }
}
