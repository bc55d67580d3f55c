//! API keys: creation (the key is shown once), authentication and scopes.
//!
//! A key is `tkd_` followed by 256 random bits in base64url; only its SHA-256 is stored, so
//! the database never holds a usable key.

use chrono::{DateTime, Utc};
use std::fmt;
use std::str::FromStr;
use zeroize::Zeroizing;

use super::audit::{self, Entry};
use super::{to_ms, Context, Error, Fault, Service};
use crate::crypto::digest;
use crate::storage::{self, api_keys};

/// What a key may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Enroll, activate, inquire, modify tokens.
    Manage,
    /// Validate codes.
    Validate,
    /// Deliver two-way SMS replies (`POST /sms/inbound`): the key an SMS provider holds, so
    /// it can answer OOB challenges and nothing else.
    Sms,
}

impl Scope {
    /// The name used on the command line and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Manage => "manage",
            Scope::Validate => "validate",
            Scope::Sms => "sms",
        }
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Scope, String> {
        match s.trim() {
            "manage" => Ok(Scope::Manage),
            "validate" => Ok(Scope::Validate),
            "sms" => Ok(Scope::Sms),
            other => Err(format!(
                "unknown scope {other:?} (expected manage, validate or sms)"
            )),
        }
    }
}

/// Parses `manage,validate`.
pub fn parse_scopes(list: &str) -> Result<Vec<Scope>, String> {
    list.split(',').map(Scope::from_str).collect()
}

/// An authenticated caller of the JSON API.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiCaller {
    /// The key's name; the audit's actor is `apikey:NAME`.
    pub name: String,
    /// What it may call.
    pub scopes: Vec<Scope>,
}

impl fmt::Debug for ApiCaller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiCaller({})", self.name)
    }
}

impl ApiCaller {
    /// Fails with a 403 fault unless the key has `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), Error> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(Error::fault(Fault::ScopeDenied)
                .with_detail(format!("needs scope {}", scope.as_str())))
        }
    }

    /// The audit actor name.
    pub fn actor(&self) -> String {
        format!("apikey:{}", self.name)
    }
}

const KEY_PREFIX: &str = "tkd_";

impl Service {
    /// Creates a key and answers it in clear — the only time it exists outside the caller.
    pub fn create_api_key(
        &self,
        ctx: &Context,
        name: &str,
        scopes: &[Scope],
        now: DateTime<Utc>,
    ) -> Result<Zeroizing<String>, Error> {
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            return Err(Error::at(Fault::InvalidValue, "name"));
        }
        if scopes.is_empty() {
            return Err(Error::at(Fault::FieldRequired, "scope"));
        }
        let key = Zeroizing::new(format!("{KEY_PREFIX}{}", digest::random_token(32)?));
        let hash = digest::sha256_hex(key.as_bytes());
        let scope_list: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
        self.storage.write(|c| {
            api_keys::insert_api_key(c, name, &hash, &scope_list.join(","), to_ms(now)).map_err(
                |e| match e {
                    storage::Error::Conflict(_) => Error::at(Fault::InvalidValue, "name")
                        .with_value(name)
                        .with_detail("an API key with this name exists"),
                    other => Error::from(other),
                },
            )?;
            let entry = Entry {
                action: "apikey.create",
                token_id: None,
                usr_name: None,
                result: "Success",
                detail: Some(name),
            };
            Ok::<_, Error>(audit::record(c, ctx, now, entry)?)
        })?;
        Ok(key)
    }

    /// The caller behind a presented key if it was authenticated in the last
    /// [`KEY_CACHE_SECS`]: the common case answers without a database read or a hop to a
    /// blocking thread.
    pub fn cached_caller(&self, presented: &str, now: DateTime<Utc>) -> Option<ApiCaller> {
        let hash = digest::sha256_hex(presented.as_bytes());
        let cache = self.key_cache.read().ok()?;
        let (caller, until) = cache.get(&hash)?;
        (now < *until).then(|| caller.clone())
    }

    /// Finds the caller behind a presented key; unknown, revoked or malformed keys are all
    /// the same 401 fault. A found key is remembered for [`KEY_CACHE_SECS`], so a key
    /// revoked by another process stops working within that time.
    pub fn authenticate(&self, presented: &str, now: DateTime<Utc>) -> Result<ApiCaller, Error> {
        let unauthenticated = || Error::fault(Fault::Unauthenticated);
        if !presented.starts_with(KEY_PREFIX) || presented.len() > 128 {
            return Err(unauthenticated());
        }
        let hash = digest::sha256_hex(presented.as_bytes());
        let row = self
            .storage
            .read(|c| api_keys::find_active_api_key(c, &hash))?
            .ok_or_else(unauthenticated)?;
        let scopes = parse_scopes(&row.scopes).map_err(Error::Internal)?;
        let caller = ApiCaller {
            name: row.name,
            scopes,
        };
        if let Ok(mut cache) = self.key_cache.write() {
            let until = now + chrono::Duration::seconds(KEY_CACHE_SECS);
            cache.retain(|_, (_, t)| now < *t);
            cache.insert(hash, (caller.clone(), until));
        }
        Ok(caller)
    }
}

/// How long an authenticated key is trusted without reading the database again.
pub const KEY_CACHE_SECS: i64 = 5;

/// Authenticated keys by their SHA-256, with the time they must be checked again.
pub(super) type KeyCache =
    std::sync::RwLock<std::collections::HashMap<String, (ApiCaller, DateTime<Utc>)>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_lists_parse_and_refuse_unknown_names() {
        assert_eq!(
            parse_scopes("manage,validate").unwrap(),
            vec![Scope::Manage, Scope::Validate]
        );
        assert!(parse_scopes("manage,admin").is_err());
    }

    #[test]
    fn require_refuses_a_missing_scope() {
        let caller = ApiCaller {
            name: "core".into(),
            scopes: vec![Scope::Validate],
        };
        assert!(caller.require(Scope::Validate).is_ok());
        assert_eq!(
            caller.require(Scope::Manage).unwrap_err().kind(),
            Fault::ScopeDenied
        );
    }
}
