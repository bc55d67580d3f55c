//! Staff accounts: creation with a role and an institution, the list, role changes and
//! disabling. The console's staff page and the CLI (`tokend admin …`) both come here;
//! each change is audited, and disabling an account deletes its sessions in the same
//! transaction, so it is signed out at once on every node.

use chrono::{DateTime, Utc};
use zeroize::Zeroizing;

use super::super::admins::{check_password, check_username, generate_password, hash};
use super::super::api_keys::{is_inst_rt_id, KeyReach};
use super::super::audit::{self, Entry};
use super::super::{from_ms, to_ms, Context, Error, Fault, Service};
use crate::storage::{self, admin_sessions, admins};
use crate::types::{AuditAction, AuditResult, Role};

/// A staff account as listed.
#[derive(Debug, Clone)]
pub struct StaffInfo {
    /// Username.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Institution, or every one.
    pub reach: KeyReach,
    /// Created.
    pub created_at: Option<DateTime<Utc>>,
    /// Last successful sign-in.
    pub last_sign_in_at: Option<DateTime<Utc>>,
    /// Disabled, since when.
    pub disabled_at: Option<DateTime<Utc>>,
}

fn entry<'a>(action: AuditAction, detail: &'a str) -> Entry<'a> {
    Entry {
        action,
        token_id: None,
        usr_name: None,
        result: AuditResult::Success,
        detail: Some(detail),
    }
}

fn no_such_account(username: &str) -> Error {
    Error::at(Fault::InvalidValue, "username")
        .with_value(username)
        .with_detail("(no staff account has this username)")
}

fn check_reach(reach: &KeyReach) -> Result<(), Error> {
    match reach {
        KeyReach::Institution(inst) if !is_inst_rt_id(inst) => {
            Err(Error::at(Fault::InvalidValue, "InstRtId").with_value(inst.as_str()))
        }
        _ => Ok(()),
    }
}

impl Service {
    /// Creates a staff account. With `password` None a one-time password is generated,
    /// answered (shown once) and must be changed at the first sign-in.
    pub fn create_staff(
        &self,
        ctx: &Context,
        username: &str,
        password: Option<&str>,
        role: Role,
        reach: &KeyReach,
        now: DateTime<Utc>,
    ) -> Result<Option<Zeroizing<String>>, Error> {
        check_username(username)?;
        check_reach(reach)?;
        let generated = match password {
            Some(p) => {
                check_password(p, username)?;
                None
            }
            None => Some(generate_password()?),
        };
        let secret = password.or(generated.as_deref().map(String::as_str));
        let phc = hash(secret.unwrap_or_default())?;
        let new = admins::NewAdmin {
            username,
            password_hash: &phc,
            must_change: generated.is_some(),
            role,
            inst_rt_id: reach.stored(),
        };
        let detail = format!("{username} as {role} of {}", describe_reach(reach));
        self.storage.write(|c| {
            admins::insert_admin(c, &new, to_ms(now)).map_err(|e| match e {
                storage::Error::Conflict(_) => Error::at(Fault::InvalidValue, "username")
                    .with_value(username)
                    .with_detail("(a staff account with this username exists)"),
                other => Error::from(other),
            })?;
            Ok::<_, Error>(audit::record(
                c,
                ctx,
                now,
                entry(AuditAction::AdminCreate, &detail),
            )?)
        })?;
        Ok(generated)
    }

    /// The staff accounts that `reach` covers (every account for every institution's
    /// staff; one institution's for the others), by username.
    pub fn list_staff(&self, reach: &KeyReach) -> Result<Vec<StaffInfo>, Error> {
        let all = self.storage.read(admins::find_admins)?;
        Ok(all
            .into_iter()
            .filter(|a| match reach {
                KeyReach::All => true,
                KeyReach::Institution(own) => a.inst_rt_id.as_deref() == Some(own.as_str()),
            })
            .map(|a| StaffInfo {
                username: a.username,
                role: a.role,
                reach: KeyReach::from_stored(a.inst_rt_id),
                created_at: from_ms(a.created_at),
                last_sign_in_at: a.last_sign_in_at.and_then(from_ms),
                disabled_at: a.disabled_at.and_then(from_ms),
            })
            .collect())
    }

    /// One account as listed, if `reach` covers it.
    pub fn find_staff(&self, reach: &KeyReach, username: &str) -> Result<StaffInfo, Error> {
        self.list_staff(reach)?
            .into_iter()
            .find(|a| a.username == username)
            .ok_or_else(|| no_such_account(username))
    }

    /// Changes an account's role; with `from`, only while it still has that role (an
    /// approved request made when it had another is refused).
    pub fn set_staff_role(
        &self,
        ctx: &Context,
        username: &str,
        from: Option<Role>,
        to: Role,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let detail = format!("{username}: {} to {to}", from.map_or("any", Role::as_str));
        self.storage.write(|c| {
            let admin =
                admins::find_admin(c, username)?.ok_or_else(|| no_such_account(username))?;
            let from = from.unwrap_or(admin.role);
            if !admins::update_admin_role(c, admin.id, from, to, to_ms(now))? {
                return Err(
                    Error::at(Fault::StaleIntentKey, "role").with_detail(format!(
                        "({username} is {} now, not {from}: the account changed since the request)",
                        admin.role
                    )),
                );
            }
            Ok(audit::record(
                c,
                ctx,
                now,
                entry(AuditAction::AdminRole, &detail),
            )?)
        })
    }

    /// Disables an account and ends its sessions everywhere.
    pub fn disable_staff(
        &self,
        ctx: &Context,
        username: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.storage.write(|c| {
            let admin =
                admins::find_admin(c, username)?.ok_or_else(|| no_such_account(username))?;
            if !admins::update_admin_disabled(c, admin.id, to_ms(now))? {
                return Err(Error::at(Fault::InvalidValue, "username")
                    .with_value(username)
                    .with_detail("(the account is already disabled)"));
            }
            admin_sessions::delete_admin_sessions_of(c, admin.id)?;
            Ok::<_, Error>(audit::record(
                c,
                ctx,
                now,
                entry(AuditAction::AdminDisable, username),
            )?)
        })
    }
}

/// A reach in words: the `InstRtId`, or "every institution".
pub fn describe_reach(reach: &KeyReach) -> String {
    match reach {
        KeyReach::All => "every institution".to_owned(),
        KeyReach::Institution(inst) => inst.clone(),
    }
}
