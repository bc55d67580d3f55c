//! The hardware inventory: imported tokens bound to nobody, and binding one to a user by
//! its serial (the admin console's "bind a hardware token").

use chrono::{DateTime, Utc};

use super::audit::{self, Entry};
use super::{from_ms, to_ms, Context, Error, Fault, Service};
use crate::storage::{bindings, tokens, users};
use crate::types::{AuditAction, AuditResult};
use crate::types::{MfaTokenUsrStat, TokenId, TokenType, UsrName, UsrTokenStat};

/// One unassigned token.
#[derive(Debug, Clone)]
pub struct Unassigned {
    /// Serial.
    pub token_id: String,
    /// Hardware (or a software token whose user was unbound).
    pub token_type: TokenType,
    /// `UsrTokenStat`.
    pub status: UsrTokenStat,
    /// "SHA1, 6 digits, 30 s".
    pub params: String,
    /// When it was imported.
    pub created_at: Option<DateTime<Utc>>,
}

impl Service {
    /// Unbound, undeleted tokens in serial order after `after`, `limit` at most.
    pub fn unassigned_tokens(
        &self,
        ctx: &Context,
        after: &str,
        limit: i64,
    ) -> Result<Vec<Unassigned>, Error> {
        let inst = self.institution(ctx);
        let rows = self
            .storage
            .read(|c| tokens::find_unbound_tokens(c, inst, after, limit))?;
        Ok(rows
            .into_iter()
            .map(|t| Unassigned {
                params: format!("{}, {} digits, {} s", t.algorithm, t.digits, t.period),
                created_at: from_ms(t.created_at),
                token_id: t.token_id,
                token_type: t.token_type,
                status: t.status,
            })
            .collect())
    }

    /// Binds an unassigned hardware token to a user (created if new). Only a token bound
    /// to nobody can be bound this way, checked inside the write: of two admins binding
    /// one serial at once, exactly one wins; the other gets fault 7034.
    pub fn bind_hardware(
        &self,
        ctx: &Context,
        token_id: &TokenId,
        usr_name: &UsrName,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let inst = self.institution(ctx).to_owned();
        let now_ms = to_ms(now);
        self.storage.write(|c| {
            let token = tokens::find_token(c, &inst, token_id.as_str())?.ok_or_else(|| {
                Error::at(Fault::TokenNotFound, "TokenId").with_value(token_id.as_str())
            })?;
            if token.token_type != TokenType::Hardware || token.status == UsrTokenStat::Del {
                return Err(Error::at(Fault::WrongTokenState, "TokenId")
                    .with_value(token_id.as_str())
                    .with_detail("(only an undeleted hardware token can be bound by serial)"));
            }
            if !bindings::find_bound_by_token(c, &inst, token_id.as_str())?.is_empty() {
                return Err(Error::at(Fault::AlreadyBound, "TokenId")
                    .with_value(token_id.as_str())
                    .with_detail("(the token is already bound to a user)"));
            }
            let user = users::upsert_user(c, &inst, usr_name.as_str(), None, now_ms)?;
            bindings::insert_binding(c, token.id, user, MfaTokenUsrStat::Act, None, now_ms)?;
            tokens::update_token_version(c, token.id, now_ms)?;
            let entry = Entry {
                action: AuditAction::Bind,
                token_id: Some(token_id.as_str()),
                usr_name: Some(usr_name.as_str()),
                result: AuditResult::Success,
                detail: None,
            };
            Ok::<_, Error>(audit::record(c, ctx, now, entry)?)
        })
    }
}
