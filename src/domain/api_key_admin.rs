//! API keys as the admin console manages them: the list (never a key, only its name,
//! scopes and dates) and revocation, audited, effective at once in this process.

use chrono::{DateTime, Utc};

use super::api_keys::{KeyConsumer, KeyReach};
use super::audit::{self, Entry};
use super::{from_ms, to_ms, Context, Error, Fault, Service};
use crate::storage::api_keys;
use crate::types::{AuditAction, AuditResult};

/// A key as listed.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    /// Name (the audit actor is `apikey:NAME`).
    pub name: String,
    /// Comma-separated scopes.
    pub scopes: String,
    /// Created.
    pub created_at: Option<DateTime<Utc>>,
    /// Revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it last authenticated a request (to the minute); never, if `None`.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Where it may act.
    pub reach: KeyReach,
    /// The jXchange consumer it is registered for.
    pub consumer: KeyConsumer,
    /// Whether it is kept sealed for WS-Security `PasswordDigest` (`--soap-digest`).
    pub soap_digest: bool,
}

impl Service {
    /// Every API key, revoked ones included.
    pub fn list_api_keys(&self) -> Result<Vec<KeyInfo>, Error> {
        Ok(self
            .storage
            .read(api_keys::find_api_keys)?
            .into_iter()
            .map(|(k, soap_digest)| KeyInfo {
                name: k.name,
                scopes: k.scopes,
                created_at: from_ms(k.created_at),
                revoked_at: k.revoked_at.and_then(from_ms),
                last_used_at: k.last_used_at.and_then(from_ms),
                reach: KeyReach::from_stored(k.inst_rt_id),
                consumer: KeyConsumer {
                    name: k.consumer_name,
                    prod: k.consumer_prod,
                },
                soap_digest,
            })
            .collect())
    }

    /// Revokes a key by name. The key stops working at once in this process (its cached
    /// authentication is dropped) and within `KEY_CACHE_SECS` in any other process.
    pub fn revoke_api_key(
        &self,
        ctx: &Context,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.storage.write(|c| {
            if !api_keys::update_api_key_revoked(c, name, to_ms(now))? {
                return Err(Error::at(Fault::InvalidValue, "name")
                    .with_value(name)
                    .with_detail("(no such key, or it is revoked already)"));
            }
            let entry = Entry {
                action: AuditAction::ApikeyRevoke,
                token_id: None,
                usr_name: None,
                result: AuditResult::Success,
                detail: Some(name),
            };
            Ok::<_, Error>(audit::record(c, ctx, now, entry)?)
        })?;
        if let Ok(mut cache) = self.key_cache.write() {
            cache.retain(|_, (caller, _)| caller.name != name);
        }
        Ok(())
    }
}
