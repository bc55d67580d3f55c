//! The rules of tokend: enrollment, activation, validation, inquiry, API keys, audit, and
//! out-of-band (SMS) validation.
//!
//! Built once as a [`Service`] and shared by the web edge and the CLI. Every operation is
//! synchronous (the web edge runs it on a blocking thread) and takes `now` as an argument:
//! the domain never reads the clock. Imports: types, storage, crypto, otp, sms. Never rocket.

pub mod admin_sessions;
pub mod admins;
pub mod alerts;
pub mod api_key_admin;
pub mod api_key_digest;
pub mod api_keys;
pub mod audit;
pub mod audit_archive;
pub mod copy_to;
pub mod drift;
pub mod enroll;
pub mod error;
mod fault_text;
pub mod first_admin;
pub mod hsm_keys;
pub mod idempotency;
pub mod import;
pub mod inquiry;
pub mod inventory;
pub mod key_watch;
pub mod keys;
pub mod lifecycle;
pub mod nonces;
pub mod oob;
pub mod overview;
pub mod phones;
pub mod pskc;
pub mod qr;
pub mod ready;
pub mod rekey;
pub mod restore;
pub mod sandbox;
pub mod seed_file;
pub mod staff;
pub mod start;
pub mod temp_code;
#[cfg(test)]
pub(crate) mod test_support;
pub mod users;
pub mod validate;
pub mod webhooks;

/// A serving node's presence (see [`Service::announce_presence`]).
pub use crate::storage::leader::Presence;
pub use error::{Error, Fault};

use chrono::{DateTime, TimeZone as _, Utc};
use std::sync::Arc;

use crate::crypto::{Keyring, SealedSeed, Seed};
use crate::otp::OtpParams;
use crate::storage::{self, tokens::Token, Storage};
use crate::types::{Digits, Period, TokenId};

/// The policy knobs the domain reads (a slice of the configuration).
#[derive(Debug, Clone)]
pub struct Policy {
    /// Issuer shown in authenticator apps (otpauth `issuer`).
    pub issuer: String,
    /// Steps accepted either side of the expected one (DESIGN: ±1).
    pub window_steps: u32,
    /// Consecutive failures that lock a binding (1–100, default 5).
    pub lock_after_failures: u32,
    /// Institution used when a request names none.
    pub default_inst_rt_id: String,
    /// Steps searched either side of now by resync (default 100); also bounds the drift.
    pub resync_window_steps: u32,
    /// Seconds after which a binding locked by failures unlocks itself (0 = never).
    pub auto_unlock_after_secs: u64,
}

/// Who is acting and the jXchange correlation ids of the request, written to the audit.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// API key name (`apikey:NAME`) or admin (`admin:NAME`).
    pub actor: String,
    /// jXchange `AuditUsrId`.
    pub audit_usr_id: Option<String>,
    /// Where the consumer asserted `audit_usr_id` (`AuditUsrId`, or `AuthenUsrCred`,
    /// which tokend does not verify): the audit row records it (issue 26).
    pub audit_usr_src: Option<&'static str>,
    /// jXchange `AuditWsId`.
    pub audit_ws_id: Option<String>,
    /// jXchange `jXLogTrackingId`.
    pub tracking_id: Option<String>,
    /// jXchange `BusCorrelId`.
    pub bus_correl_id: Option<String>,
    /// jXchange `InstRtId` the request acts within.
    pub inst_rt_id: Option<String>,
}

/// What `/health` reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Health {
    /// The database answered.
    pub database: bool,
    /// Every migration is applied.
    pub migrations_current: bool,
    /// The clock is not behind what the trail already recorded.
    pub clock_sane: bool,
}

impl Health {
    /// All checks passed.
    pub fn ok(self) -> bool {
        self.database && self.migrations_current && self.clock_sane
    }
}

/// The service: storage, keys and policy, built once at start-up.
pub struct Service {
    /// OOB policy, SMS providers and the background threads' signal.
    oob: oob::OobRuntime,
    storage: Storage,
    keyring: Arc<Keyring>,
    policy: Policy,
    key_cache: api_keys::KeyCache,
    /// Where key files not held yet are looked for (see `keys`).
    key_dir: Option<std::path::PathBuf>,
    /// Phone lifecycle, SIM-swap hold and explain knobs (see `phones`).
    phones: phones::PhonePolicy,
    /// Dual-control settings (see `staff`).
    staff: staff::StaffPolicy,
    /// Which institutions are sandboxes, remembered (see `sandbox`).
    sandboxes: sandbox::SandboxCache,
    /// The HSM that wraps the data keys, when the master key source is pkcs11.
    hsm: Option<Arc<hsm_keys::HsmKeys>>,
}

impl Service {
    /// Assembles the service from its parts, and has every commit link the audit rows it
    /// wrote with the keyring's audit key (see `audit`).
    pub fn new(storage: Storage, keyring: Keyring, policy: Policy) -> Service {
        let keyring = Arc::new(keyring);
        let linker = Arc::clone(&keyring);
        storage.set_audit_linker(Arc::new(move |previous: &str, row: &[u8]| {
            linker.audit_link(previous, row)
        }));
        Service {
            oob: oob::OobRuntime::default(),
            storage,
            keyring,
            policy,
            key_cache: api_keys::KeyCache::default(),
            key_dir: None,
            phones: phones::PhonePolicy::default(),
            staff: staff::StaffPolicy::default(),
            sandboxes: sandbox::SandboxCache::default(),
            hsm: None,
        }
    }

    /// Whether the database is PostgreSQL, which several nodes may share.
    pub fn is_clustered(&self) -> bool {
        self.storage.is_postgres()
    }

    /// Counts this serving node among the live ones until the value is dropped
    /// (PostgreSQL; see `storage::leader::Presence`).
    pub fn announce_presence(&self) -> Presence {
        storage::leader::Presence::announce(&self.storage)
    }

    /// How many nodes serve the database now (`None` on SQLite, one process per file).
    pub fn live_nodes(&self) -> Result<Option<i64>, Error> {
        Ok(storage::leader::live_nodes(&self.storage)?)
    }

    /// This node's claim on linking the audit chain (PostgreSQL; see `storage::leader`).
    pub fn audit_linker(&self) -> storage::leader::Leader {
        storage::leader::Leader::new(&self.storage, storage::leader::Duty::AuditLinker)
    }

    /// Sets the OOB policy and providers (default: the outbox, no event webhook).
    pub fn with_oob(mut self, oob: oob::OobRuntime) -> Service {
        self.oob = oob;
        self
    }

    /// What the metrics endpoint reports from the database, and the reading pool's
    /// (open, idle) connections.
    pub fn stats(&self) -> Result<(storage::stats::Snapshot, (u32, u32)), Error> {
        let snapshot = self.storage.read(storage::stats::snapshot)?;
        Ok((snapshot, self.storage.pool_state()))
    }

    /// Whether the database answers, has every migration applied, and the clock is sane:
    /// not before the newest audit row by more than a minute (a clock set back would
    /// shift every TOTP window and make the replay guard refuse good codes) and not
    /// before 2024.
    pub fn health(&self, now: DateTime<Utc>) -> Health {
        let read = self.storage.read(|c| {
            Ok((
                storage::migrate::is_current(c)?,
                storage::audit::latest_audit_at(c)?,
            ))
        });
        let Ok((migrations_current, latest)) = read else {
            return Health::default();
        };
        let now_ms = to_ms(now);
        let clock_sane = now_ms >= 1_704_067_200_000 // 2024-01-01
            && latest.is_none_or(|at| now_ms >= at - 60_000);
        Health {
            database: true,
            migrations_current,
            clock_sane,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Whether the database's reads are in this process and its writes can be awaited
    /// (`Storage::in_process`), and a reading connection is free now
    /// (`Storage::reader_free`): then an edge may run a read-only operation, or a
    /// validation's first half ([`validate::Decided`]), on an async thread instead of
    /// handing it to the blocking pool.
    pub fn reads_in_process(&self) -> bool {
        self.storage.in_process() && self.storage.reader_free()
    }

    /// The institution a request acts within: the one its context names, else the
    /// configured default (the console and the CLI act within the default).
    pub fn institution<'a>(&'a self, ctx: &'a Context) -> &'a str {
        ctx.inst_rt_id
            .as_deref()
            .unwrap_or(&self.policy.default_inst_rt_id)
    }

    /// The bindings of one of the request's institution's tokens, with it; a token without
    /// any, or another institution's, is fault 7020. Never empty.
    fn bound_to_token(
        &self,
        ctx: &Context,
        token_id: &TokenId,
    ) -> Result<Vec<storage::bindings::BoundToken>, Error> {
        let inst = self.institution(ctx);
        let bound = self
            .storage
            .read(|c| storage::bindings::find_bound_by_token(c, inst, token_id.as_str()))?;
        if bound.is_empty() {
            return Err(Error::at(Fault::TokenNotFound, "TokenId").with_value(token_id.as_str()));
        }
        Ok(bound)
    }

    /// Decrypts a stored token's seed. A seed under a key this process does not hold yet
    /// (a rotation running in another process) makes it reload its keys and try again.
    fn open_seed(&self, token: &Token) -> Result<Seed, Error> {
        let token_id = TokenId::parse(&token.token_id).ok_or_else(|| {
            Error::Internal(format!("stored TokenId {:?} is malformed", token.token_id))
        })?;
        let sealed = SealedSeed {
            key_id: token.seed_key_id.clone(),
            nonce: token.seed_nonce.clone(),
            ciphertext: token.seed_ciphertext.clone(),
        };
        match self.keyring.open(&token_id, &sealed) {
            Err(crate::crypto::Error::UnknownKeyId(_)) => {
                self.reload_keys()?;
                Ok(self.keyring.open(&token_id, &sealed)?)
            }
            opened => Ok(opened?),
        }
    }
}

/// The OTP parameters of a stored token.
fn params_of(token: &Token) -> Result<OtpParams, Error> {
    let corrupt =
        |what: &str| Error::Internal(format!("stored {what} of {} is invalid", token.token_id));
    Ok(OtpParams {
        algorithm: token.algorithm,
        digits: u8::try_from(token.digits)
            .ok()
            .and_then(|d| Digits::try_from(d).ok())
            .ok_or_else(|| corrupt("digits"))?,
        period: u16::try_from(token.period)
            .ok()
            .and_then(|p| Period::try_from(p).ok())
            .ok_or_else(|| corrupt("period"))?,
    })
}

/// Milliseconds since the epoch, as the database stores times.
fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A stored time back to a timestamp.
pub fn from_ms(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

/// A random URL-safe token of 256 bits: the web edge's CSRF tokens (the web never
/// touches `crypto` itself).
pub fn random_token() -> Result<String, Error> {
    Ok(crate::crypto::digest::random_token(32)?)
}
