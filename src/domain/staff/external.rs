//! Staff who sign in through the bank's OpenID provider. Each gets an account named
//! `oidc:<username claim>` (a prefix no local account can have), created at the first
//! sign-in with an unusable password, so it can never sign in locally; its role and
//! institution are the provider's at every sign-in (the provider is the source of truth).
//! An admin may still disable it, and a disabled account is refused here too.

use chrono::{DateTime, Utc};

use super::super::admins::{generate_password, hash, SignedIn};
use super::super::api_keys::KeyReach;
use super::super::audit::{self, Entry};
use super::super::{to_ms, Context, Error, Fault, Service};
use crate::storage::admins;
use crate::types::{AuditAction, AuditResult, Role};

/// The prefix of every account an identity provider vouches for.
pub const EXTERNAL_PREFIX: &str = "oidc:";

fn entry<'a>(result: AuditResult, detail: &'a str) -> Entry<'a> {
    Entry {
        action: AuditAction::AdminSignin,
        token_id: None,
        usr_name: None,
        result,
        detail: Some(detail),
    }
}

impl Service {
    /// Signs in a staff member the provider vouched for, with the role and reach its
    /// claims give; their account is made or brought up to date.
    pub fn sign_in_external(
        &self,
        ctx: &Context,
        (username, role, reach): (&str, Role, &KeyReach),
        now: DateTime<Utc>,
    ) -> Result<SignedIn, Error> {
        let name = format!("{EXTERNAL_PREFIX}{username}");
        let ctx = Context {
            actor: format!("admin:{name}"),
            ..ctx.clone()
        };
        // An unusable password for a new account, hashed outside the write (it costs tens
        // of ms) and only for an account not made yet; never told to anyone.
        let known = self
            .storage
            .read(|c| admins::find_admin(c, &name))?
            .is_some();
        let unusable = if known {
            String::new()
        } else {
            hash(&generate_password()?)?
        };
        let detail = format!(
            "via the OpenID provider as {role} of {}",
            super::accounts::describe_reach(reach)
        );
        let id = self.storage.write(|c| {
            let id = match admins::find_admin(c, &name)? {
                Some(a) if a.disabled_at.is_some() => return Ok(None),
                Some(a) => a.id,
                None if unusable.is_empty() => {
                    return Err(Error::fault(Fault::Busy)
                        .with_detail("(the account was removed meanwhile: sign in again)"))
                }
                None => {
                    let new = admins::NewAdmin {
                        username: &name,
                        password_hash: &unusable,
                        must_change: false,
                        role,
                        inst_rt_id: reach.stored(),
                    };
                    admins::insert_admin(c, &new, to_ms(now))?
                }
            };
            admins::update_admin_external(c, id, role, reach.stored(), to_ms(now))?;
            audit::record(c, &ctx, now, entry(AuditResult::Success, &detail))?;
            Ok::<_, Error>(Some(id))
        })?;
        let refused = || {
            Error::at(Fault::ScopeDenied, "username")
                .with_detail("(this account is disabled in tokend)")
        };
        let id = id.ok_or_else(refused)?;
        self.find_admin(id)?.ok_or_else(refused)
    }

    /// Records a refused sign-in through the provider (no role, a bad token, …).
    pub fn record_external_refusal(
        &self,
        ctx: &Context,
        why: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let ctx = Context {
            actor: "oidc".into(),
            ..ctx.clone()
        };
        self.storage.write(|c| {
            Ok::<_, Error>(audit::record(
                c,
                &ctx,
                now,
                entry(AuditResult::Failed, why),
            )?)
        })
    }
}
