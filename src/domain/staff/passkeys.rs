//! Staff passkeys (WebAuthn): phishing-resistant second factors beside tokend's TOTP. A
//! staff member registers one or more on their own page; at sign-in the factor page
//! offers them. The ceremonies are webauthn-rs's (user verification required, signature
//! counters kept); between a ceremony's two requests its state waits on the console
//! session in the database — any node may serve the second request, and it is used once.
//!
//! The relying party is the console's origin: `webauthn_origin` when set (production:
//! the URL staff type), else the origin of the request (development and tests).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

use super::super::audit::{self, Entry};
use super::super::{from_ms, to_ms, Context, Error, Fault, Service};
use super::Staff;
use crate::crypto::digest;
use crate::storage::staff_passkeys as store;
use crate::types::{AuditAction, AuditResult};

/// A passkey as its owner's page lists it.
#[derive(Debug, Clone)]
pub struct PasskeyInfo {
    /// Row id (names it in forms).
    pub id: i32,
    /// Its name.
    pub name: String,
    /// Registered.
    pub created_at: Option<DateTime<Utc>>,
    /// Last used to sign in.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A ceremony waiting for its second request.
#[derive(Serialize, Deserialize)]
enum Ceremony {
    Register(PasskeyRegistration),
    SignIn(PasskeyAuthentication),
}

fn webauthn(origin: &Url) -> Result<Webauthn, Error> {
    let rp_id = origin
        .domain()
        .ok_or_else(|| {
            Error::at(Fault::InvalidValue, "origin").with_detail(
                "(passkeys need the console under a domain name, not an IP address: set webauthn_origin)",
            )
        })?
        .to_owned();
    WebauthnBuilder::new(&rp_id, origin)
        .and_then(|b| b.rp_name("tokend console").build())
        .map_err(|e| Error::Internal(format!("webauthn: {e}")))
}

fn refused(what: &str, e: impl std::fmt::Display) -> Error {
    Error::at(Fault::InvalidValue, "credential").with_detail(format!("({what}: {e})"))
}

fn json<T: Serialize>(v: &T) -> Result<String, Error> {
    serde_json::to_string(v).map_err(|e| Error::Internal(e.to_string()))
}

fn entry<'a>(result: AuditResult, detail: &'a str) -> Entry<'a> {
    Entry {
        action: AuditAction::AdminFactor,
        token_id: None,
        usr_name: None,
        result,
        detail: Some(detail),
    }
}

impl Service {
    /// An account's passkeys.
    pub fn passkeys_of(&self, admin_id: i32) -> Result<Vec<PasskeyInfo>, Error> {
        Ok(self
            .storage
            .read(|c| store::find_passkeys(c, admin_id))?
            .into_iter()
            .map(|p| PasskeyInfo {
                id: p.id,
                name: p.name,
                created_at: from_ms(p.created_at),
                last_used_at: p.last_used_at.and_then(from_ms),
            })
            .collect())
    }

    fn stored_passkeys(&self, admin_id: i32) -> Result<Vec<(i32, Passkey)>, Error> {
        self.storage
            .read(|c| store::find_passkeys(c, admin_id))?
            .into_iter()
            .map(|p| {
                serde_json::from_str::<Passkey>(&p.credential)
                    .map(|k| (p.id, k))
                    .map_err(|e| Error::Internal(format!("stored passkey {}: {e}", p.id)))
            })
            .collect()
    }

    fn keep_ceremony(&self, sid: &str, ceremony: &Ceremony) -> Result<(), Error> {
        let (hash, state) = (digest::sha256_hex(sid.as_bytes()), json(ceremony)?);
        self.storage
            .write(|c| Ok::<_, Error>(store::update_session_ceremony(c, &hash, &state)?))
    }

    fn take_ceremony(&self, sid: &str) -> Result<Ceremony, Error> {
        let hash = digest::sha256_hex(sid.as_bytes());
        let state = self
            .storage
            .write(|c| Ok::<_, Error>(store::take_session_ceremony(c, &hash)?))?
            .ok_or_else(|| refused("no ceremony in progress", "start again"))?;
        serde_json::from_str(&state).map_err(|e| Error::Internal(e.to_string()))
    }

    /// Starts registering a passkey: the options for `navigator.credentials.create`.
    pub fn start_passkey_registration(
        &self,
        sid: &str,
        staff: &Staff,
        origin: &Url,
    ) -> Result<String, Error> {
        let existing = self.stored_passkeys(staff.admin_id)?;
        let exclude = existing.iter().map(|(_, k)| k.cred_id().clone()).collect();
        let user = Uuid::from_u128(u128::from(staff.admin_id.unsigned_abs()));
        let (options, state) = webauthn(origin)?
            .start_passkey_registration(user, &staff.username, &staff.username, Some(exclude))
            .map_err(|e| Error::Internal(format!("webauthn: {e}")))?;
        self.keep_ceremony(sid, &Ceremony::Register(state))?;
        json(&options)
    }

    /// Finishes a registration with the browser's answer (audited).
    pub fn finish_passkey_registration(
        &self,
        ctx: &Context,
        (sid, staff, origin): (&str, &Staff, &Url),
        name: &str,
        answer: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let Ceremony::Register(state) = self.take_ceremony(sid)? else {
            return Err(refused("no registration in progress", "start again"));
        };
        let answer: RegisterPublicKeyCredential =
            serde_json::from_str(answer).map_err(|e| refused("not a WebAuthn answer", e))?;
        let key = webauthn(origin)?
            .finish_passkey_registration(&answer, &state)
            .map_err(|e| refused("the authenticator's answer was refused", e))?;
        let name: String = name.trim().chars().take(64).collect();
        let name = if name.is_empty() {
            "passkey".to_owned()
        } else {
            name
        };
        let (credential, detail) = (json(&key)?, format!("passkey {name:?} registered"));
        self.storage.write(|c| {
            store::insert_passkey(c, staff.admin_id, &name, &credential, to_ms(now))?;
            Ok::<_, Error>(audit::record(
                c,
                ctx,
                now,
                entry(AuditResult::Success, &detail),
            )?)
        })
    }

    /// Starts a sign-in with a passkey: the options for `navigator.credentials.get`.
    pub fn start_passkey_sign_in(
        &self,
        sid: &str,
        admin_id: i32,
        origin: &Url,
    ) -> Result<String, Error> {
        let keys: Vec<Passkey> = self
            .stored_passkeys(admin_id)?
            .into_iter()
            .map(|(_, k)| k)
            .collect();
        if keys.is_empty() {
            return Err(refused("no passkey", "register one first"));
        }
        let (options, state) = webauthn(origin)?
            .start_passkey_authentication(&keys)
            .map_err(|e| Error::Internal(format!("webauthn: {e}")))?;
        self.keep_ceremony(sid, &Ceremony::SignIn(state))?;
        json(&options)
    }

    /// Finishes a sign-in with the browser's answer: true when it passed (its counter
    /// kept, audited either way).
    pub fn finish_passkey_sign_in(
        &self,
        ctx: &Context,
        (sid, admin_id, origin): (&str, i32, &Url),
        answer: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let Ceremony::SignIn(state) = self.take_ceremony(sid)? else {
            return Err(refused("no sign-in in progress", "start again"));
        };
        let answer: PublicKeyCredential =
            serde_json::from_str(answer).map_err(|e| refused("not a WebAuthn answer", e))?;
        let checked = webauthn(origin)?.finish_passkey_authentication(&answer, &state);
        let Ok(result) = checked else {
            let detail = "passkey sign-in refused";
            self.storage.write(|c| {
                Ok::<_, Error>(audit::record(
                    c,
                    ctx,
                    now,
                    entry(AuditResult::Failed, detail),
                )?)
            })?;
            return Ok(false);
        };
        for (id, mut key) in self.stored_passkeys(admin_id)? {
            if key.update_credential(&result).is_some() {
                let credential = json(&key)?;
                self.storage.write(|c| {
                    store::update_passkey_used(c, id, &credential, to_ms(now))?;
                    let e = entry(AuditResult::Success, "signed in with a passkey");
                    Ok::<_, Error>(audit::record(c, ctx, now, e)?)
                })?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Removes one of the staff member's own passkeys (audited).
    pub fn remove_passkey(
        &self,
        ctx: &Context,
        admin_id: i32,
        id: i32,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.storage.write(|c| {
            if !store::delete_passkey(c, admin_id, id)? {
                return Err(refused("no such passkey of yours", id));
            }
            Ok(audit::record(
                c,
                ctx,
                now,
                entry(AuditResult::Success, "passkey removed"),
            )?)
        })
    }

    /// Removes every passkey of an account (a second-factor reset); answers how many.
    pub(super) fn remove_passkeys_of(&self, admin_id: i32) -> Result<usize, Error> {
        self.storage
            .write(|c| Ok::<_, Error>(store::delete_passkeys_of(c, admin_id)?))
    }
}
