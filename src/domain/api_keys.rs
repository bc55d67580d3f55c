//! API keys: creation (the key is shown once), authentication and scopes.
//!
//! A key is `tkd_` followed by 256 random bits in base64url; only its SHA-256 is stored, so
//! the database never holds a usable key. A key bound to a sandbox institution starts
//! `tk_test_` instead (issue 29), so whoever holds one sees it cannot touch production.

use chrono::{DateTime, Utc};
use std::fmt;
use std::str::FromStr;
use zeroize::Zeroizing;

use super::audit::{self, Entry};
use super::{to_ms, Context, Error, Fault, Service};
use crate::crypto::digest;
use crate::storage::{self, api_keys};
use crate::types::{AuditAction, AuditResult};

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

/// The institutions an API key may act within.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyReach {
    /// One institution: a request naming another `InstRtId` is fault 2505, and nothing of
    /// another institution is ever found. What keys are by default (least privilege).
    Institution(String),
    /// Every institution (a bank's own middleware serving several): a request acts within
    /// the `InstRtId` it names, else the default; its feeds cover every institution.
    All,
}

impl KeyReach {
    /// The stored form: the `InstRtId`, or NULL for every institution.
    pub fn stored(&self) -> Option<&str> {
        match self {
            KeyReach::Institution(inst) => Some(inst),
            KeyReach::All => None,
        }
    }

    /// From the stored form.
    pub fn from_stored(inst_rt_id: Option<String>) -> KeyReach {
        inst_rt_id.map_or(KeyReach::All, KeyReach::Institution)
    }
}

impl fmt::Display for KeyReach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyReach::Institution(inst) => f.write_str(inst),
            KeyReach::All => f.write_str("all institutions"),
        }
    }
}

/// Whether `s` is an `InstRtId` tokend accepts: 1-64 characters of A-Z a-z 0-9 . _ -
/// (a routing number, or a name such as the default `tokend`).
pub fn is_inst_rt_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// An authenticated caller of the JSON API.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiCaller {
    /// The key's name; the audit's actor is `apikey:NAME`.
    pub name: String,
    /// What it may call.
    pub scopes: Vec<Scope>,
    /// Where it may act.
    pub reach: KeyReach,
    /// The jXchange consumer it is registered for (checked against the header).
    pub consumer: KeyConsumer,
}

/// The jXchange consumer an API key is registered for (`apikey create --consumer-name
/// --consumer-prod`): a request whose header names another `ValidConsmName` or
/// `ValidConsmProd` is fault 2505 (the published rule). `None`: not checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyConsumer {
    /// `ValidConsmName`.
    pub name: Option<String>,
    /// `ValidConsmProd`.
    pub prod: Option<String>,
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

    /// Fault 2505 when the header names a `ValidConsmName` or `ValidConsmProd` other than
    /// the one the key is registered for. A header that names none passes here: whether
    /// it must name one is a header rule (2401), strict on SOAP, optional on JSON.
    pub fn check_consumer(&self, name: Option<&str>, prod: Option<&str>) -> Result<(), Error> {
        let pairs = [
            ("ValidConsmName", &self.consumer.name, name),
            ("ValidConsmProd", &self.consumer.prod, prod),
        ];
        for (elem, registered, sent) in pairs {
            if let (Some(registered), Some(sent)) = (registered, sent.filter(|s| !s.is_empty())) {
                if registered != sent {
                    return Err(Error::at(
                        Fault::InstitutionDenied,
                        format!("MsgRqHdr.jXchangeHdr.{elem}"),
                    )
                    .with_value(sent.chars().take(64).collect::<String>())
                    .with_detail(format!("(the API key is not registered for this {elem})")));
                }
            }
        }
        Ok(())
    }

    /// The audit actor name.
    pub fn actor(&self) -> String {
        format!("apikey:{}", self.name)
    }

    /// The institution a request acts within, given the `InstRtId` it names (an empty one
    /// names none): the key's own, or for a cross-institution key the one named. `None`:
    /// a cross-institution key that named none (operations act within the default, feeds
    /// cover every institution). A bound key naming another institution is fault 2505.
    pub fn institution(&self, requested: Option<&str>) -> Result<Option<String>, Error> {
        const ELEM: &str = "MsgRqHdr.jXchangeHdr.InstRtId";
        let requested = requested.filter(|r| !r.is_empty());
        if let Some(r) = requested.filter(|r| !is_inst_rt_id(r)) {
            return Err(Error::at(Fault::InvalidValue, ELEM)
                .with_value(r.chars().take(64).collect::<String>())
                .with_detail("(1-64 characters of A-Z a-z 0-9 . _ -)"));
        }
        match (&self.reach, requested) {
            (KeyReach::Institution(own), Some(r)) if own != r => {
                Err(Error::at(Fault::InstitutionDenied, ELEM).with_value(r))
            }
            (KeyReach::Institution(own), _) => Ok(Some(own.clone())),
            (KeyReach::All, r) => Ok(r.map(str::to_owned)),
        }
    }
}

const KEY_PREFIX: &str = "tkd_";

/// The start of a sandbox institution's key.
pub const TEST_KEY_PREFIX: &str = "tk_test_";

impl Service {
    /// Creates a key and answers it in clear — the only time it exists outside the caller.
    pub fn create_api_key(
        &self,
        ctx: &Context,
        name: &str,
        scopes: &[Scope],
        reach: &KeyReach,
        now: DateTime<Utc>,
    ) -> Result<Zeroizing<String>, Error> {
        let consumer = KeyConsumer::default();
        self.create_api_key_for(ctx, (name, &consumer), scopes, reach, now)
    }

    /// [`Service::create_api_key`] registered for a jXchange consumer (`ValidConsmName`,
    /// `ValidConsmProd`), in the same transaction.
    pub fn create_api_key_for(
        &self,
        ctx: &Context,
        key: (&str, &KeyConsumer),
        scopes: &[Scope],
        reach: &KeyReach,
        now: DateTime<Utc>,
    ) -> Result<Zeroizing<String>, Error> {
        self.insert_key(ctx, key, scopes, reach, false, now)
    }

    /// Creates a key; with `soap_digest` it is also kept sealed (see `api_key_digest`).
    pub(super) fn insert_key(
        &self,
        ctx: &Context,
        (name, consumer): (&str, &KeyConsumer),
        scopes: &[Scope],
        reach: &KeyReach,
        soap_digest: bool,
        now: DateTime<Utc>,
    ) -> Result<Zeroizing<String>, Error> {
        for (elem, v) in [
            ("consumer-name", &consumer.name),
            ("consumer-prod", &consumer.prod),
        ] {
            if v.as_ref().is_some_and(|v| v.is_empty() || v.len() > 128) {
                return Err(Error::at(Fault::InvalidValue, elem).with_detail("(1-128 characters)"));
            }
        }
        if let KeyReach::Institution(inst) = reach {
            if !is_inst_rt_id(inst) {
                return Err(Error::at(Fault::InvalidValue, "InstRtId")
                    .with_detail("(1-64 characters of A-Z a-z 0-9 . _ -)"));
            }
        }
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            return Err(Error::at(Fault::InvalidValue, "name"));
        }
        if scopes.is_empty() {
            return Err(Error::at(Fault::FieldRequired, "scope"));
        }
        let prefix = match reach {
            KeyReach::Institution(inst) if self.is_sandbox(inst)? => TEST_KEY_PREFIX,
            _ => KEY_PREFIX,
        };
        let key = Zeroizing::new(format!("{prefix}{}", digest::random_token(32)?));
        let hash = digest::sha256_hex(key.as_bytes());
        let sealed = soap_digest
            .then(|| self.seal_digest_secret(name, &key))
            .transpose()?;
        let scope_list: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
        self.storage.write(|c| {
            let scope_list = scope_list.join(",");
            api_keys::insert_api_key(c, name, &hash, &scope_list, reach.stored(), to_ms(now))
                .map_err(|e| match e {
                    storage::Error::Conflict(_) => Error::at(Fault::InvalidValue, "name")
                        .with_value(name)
                        .with_detail("an API key with this name exists"),
                    other => Error::from(other),
                })?;
            if let Some(sealed) = &sealed {
                api_keys::update_api_key_digest_secret(c, name, sealed)?;
            }
            if consumer != &KeyConsumer::default() {
                api_keys::update_api_key_consumer(
                    c,
                    name,
                    consumer.name.as_deref(),
                    consumer.prod.as_deref(),
                )?;
            }
            let entry = Entry {
                action: AuditAction::ApikeyCreate,
                token_id: None,
                usr_name: None,
                result: AuditResult::Success,
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
        let known = presented.starts_with(KEY_PREFIX) || presented.starts_with(TEST_KEY_PREFIX);
        if !known || presented.len() > 128 {
            return Err(unauthenticated());
        }
        let hash = digest::sha256_hex(presented.as_bytes());
        let row = self
            .storage
            .read(|c| api_keys::find_active_api_key(c, &hash))?
            .ok_or_else(unauthenticated)?;
        note_used(self, &row, now);
        let caller = caller_of_row(row)?;
        if let Ok(mut cache) = self.key_cache.write() {
            let until = now + chrono::Duration::seconds(KEY_CACHE_SECS);
            cache.retain(|_, (_, t)| now < *t);
            cache.insert(hash, (caller.clone(), until));
        }
        Ok(caller)
    }
}

/// The caller a stored key row stands for.
pub(super) fn caller_of_row(row: api_keys::ApiKey) -> Result<ApiCaller, Error> {
    Ok(ApiCaller {
        scopes: parse_scopes(&row.scopes).map_err(Error::Internal)?,
        name: row.name,
        reach: KeyReach::from_stored(row.inst_rt_id),
        consumer: KeyConsumer {
            name: row.consumer_name,
            prod: row.consumer_prod,
        },
    })
}

/// How stale a key's "last used" may get: it is written at most this often per process.
const LAST_USED_EVERY_MS: i64 = 60_000;

/// Records that `row`'s key was used, when the stored time is a minute old (a failed
/// write only costs the console a less recent time: the request goes on).
pub(super) fn note_used(service: &Service, row: &api_keys::ApiKey, now: DateTime<Utc>) {
    let now_ms = super::to_ms(now);
    if row
        .last_used_at
        .is_some_and(|at| at >= now_ms - LAST_USED_EVERY_MS)
    {
        return;
    }
    let id = row.id;
    if let Err(e) = service
        .storage
        .write(|c| api_keys::update_api_key_used(c, id, now_ms, LAST_USED_EVERY_MS))
    {
        tracing::warn!("cannot record when API key {} was last used: {e}", row.name);
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
    fn a_bound_key_acts_only_within_its_institution() {
        let bound = ApiCaller {
            name: "a".into(),
            scopes: vec![Scope::Validate],
            reach: KeyReach::Institution("011000015".into()),
            consumer: KeyConsumer::default(),
        };
        let own = Some("011000015".to_owned());
        assert_eq!(bound.institution(None).unwrap(), own);
        assert_eq!(bound.institution(Some("")).unwrap(), own);
        assert_eq!(bound.institution(Some("011000015")).unwrap(), own);
        let denied = bound.institution(Some("021000021")).unwrap_err();
        assert_eq!(denied.kind(), Fault::InstitutionDenied);
        assert_eq!(denied.kind().code(), 2505);
        let all = ApiCaller {
            reach: KeyReach::All,
            ..bound
        };
        assert_eq!(all.institution(None).unwrap(), None);
        assert_eq!(
            all.institution(Some("021000021")).unwrap().as_deref(),
            Some("021000021")
        );
        for bad in ["a b", "x/y", &"9".repeat(65)] {
            assert_eq!(
                all.institution(Some(bad)).unwrap_err().kind(),
                Fault::InvalidValue
            );
        }
    }

    #[test]
    fn a_registered_consumer_is_checked_against_the_header() {
        let caller = ApiCaller {
            name: "mw".into(),
            scopes: vec![Scope::Validate],
            reach: KeyReach::All,
            consumer: KeyConsumer {
                name: Some("Bank".into()),
                prod: Some("Teller".into()),
            },
        };
        assert!(caller.check_consumer(Some("Bank"), Some("Teller")).is_ok());
        assert!(caller.check_consumer(None, None).is_ok());
        let e = caller.check_consumer(Some("Other"), None).unwrap_err();
        assert_eq!(e.kind().code(), 2505);
        let e = caller
            .check_consumer(Some("Bank"), Some("Other"))
            .unwrap_err();
        assert_eq!(e.kind().code(), 2505);
    }

    #[test]
    fn require_refuses_a_missing_scope() {
        let caller = ApiCaller {
            name: "core".into(),
            scopes: vec![Scope::Validate],
            reach: KeyReach::All,
            consumer: KeyConsumer::default(),
        };
        assert!(caller.require(Scope::Validate).is_ok());
        assert_eq!(
            caller.require(Scope::Manage).unwrap_err().kind(),
            Fault::ScopeDenied
        );
    }
}
