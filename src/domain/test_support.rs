//! Domain unit tests at fixed times: a [`Service`] on a temporary SQLite file, tokens
//! enrolled and activated through domain calls, and codes computed with [`crate::otp`].
//! Time is a parameter of every domain call, so nothing here reads the wall clock.

use chrono::{DateTime, TimeZone as _, Utc};
use zeroize::Zeroizing;

use super::enroll::EnrollRequest;
use super::validate::{ValidateRequest, Validation};
use super::{Context, Policy, Service};
use crate::crypto::{Keyring, MasterKey};
use crate::otp::OtpParams;
use crate::storage::bindings::{self, BoundToken};
use crate::storage::test_support::temp_storage;
use crate::types::{Algorithm, Code, Digits, Period, RsStat, TokenId, TokenType, UsrName};

/// A fixed instant on a step boundary (1 800 000 000 s is step 60 000 000 of 30 s).
pub const T0: i64 = 1_800_000_000;

/// The RFC 6238 SHA1 seed ("12345678901234567890").
pub const RFC_SEED: &[u8] = b"12345678901234567890";

/// The institution every fixture request acts within.
pub const INST: &str = "t";

/// The policy of the fixtures: window ±1, lock at 5, resync range 100, no auto-unlock.
pub fn policy() -> Policy {
    Policy {
        issuer: "Bank".into(),
        window_steps: 1,
        lock_after_failures: 5,
        default_inst_rt_id: INST.into(),
        resync_window_steps: 100,
        auto_unlock_after_secs: 0,
    }
}

/// A service with [`policy`] on a fresh temporary database (kept while the dir lives).
pub fn service() -> (tempfile::TempDir, Service) {
    service_with(policy())
}

/// A service with `policy` on a fresh temporary database (kept while the dir lives).
pub fn service_with(policy: Policy) -> (tempfile::TempDir, Service) {
    let (dir, storage) = temp_storage();
    let keyring = Keyring::new(&MasterKey::generate().unwrap()).unwrap();
    (dir, Service::new(storage, keyring, policy))
}

/// The acting caller of the fixtures.
pub fn ctx() -> Context {
    Context {
        actor: "test".into(),
        ..Context::default()
    }
}

/// [`T0`] plus `secs`.
pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(T0 + secs, 0).unwrap()
}

/// SHA1, 6 digits, 30 s.
pub fn params() -> OtpParams {
    OtpParams {
        algorithm: Algorithm::SHA1,
        digits: Digits::SIX,
        period: Period::THIRTY,
    }
}

/// The SHA1/6/30 code of `seed` at `step`.
pub fn code(seed: &[u8], step: i64) -> Code {
    Code::parse(&params().code_at_step(seed, step).unwrap()).unwrap()
}

/// The step of `now` for SHA1/6/30.
pub fn step_of(now: DateTime<Utc>) -> i64 {
    params().step_at(now.timestamp())
}

/// A 6-digit code equal to none of the codes of `seed` at `step - 3 ..= step + 3`.
pub fn wrong_code(seed: &[u8], step: i64) -> Code {
    let near: Vec<Code> = (-3..=3).map(|d| code(seed, step + d)).collect();
    (0..)
        .map(|i| Code::parse(&format!("{:06}", (123_456 + i * 7919) % 1_000_000)).unwrap())
        .find(|c| !near.contains(c))
        .unwrap()
}

/// Enrolls a hardware SHA1/6/30 token `serial` with `seed` for `usr` at `now` (Init).
pub fn enroll(s: &Service, usr: &str, serial: &str, seed: &[u8], now: DateTime<Utc>) -> TokenId {
    let rq = EnrollRequest {
        usr_name: UsrName::parse(usr).unwrap(),
        token_type: TokenType::Hardware,
        token_id: Some(TokenId::parse(serial).unwrap()),
        description: None,
        params: params(),
        seed_base32: Some(Zeroizing::new(base32::encode(
            base32::Alphabet::Rfc4648 { padding: false },
            seed,
        ))),
        phone: None,
    };
    s.enroll(&ctx(), rq, now).unwrap().token_id
}

/// Enrolls and activates a token with its code of `now`'s step; the activation succeeds.
pub fn enroll_active(
    s: &Service,
    usr: &str,
    serial: &str,
    seed: &[u8],
    now: DateTime<Utc>,
) -> TokenId {
    let token = enroll(s, usr, serial, seed, now);
    let done = s
        .activate(&ctx(), &token, &code(seed, step_of(now)), now)
        .unwrap();
    assert_eq!(done.rs_stat, RsStat::Success, "{done:?}");
    token
}

/// Validates `code` for user `usr` at `now`.
pub fn validate(s: &Service, usr: &str, code: &Code, now: DateTime<Utc>) -> Validation {
    let rq = ValidateRequest {
        usr_name: Some(UsrName::parse(usr).unwrap()),
        token_id: None,
        code: code.clone(),
    };
    s.validate(&ctx(), &rq, now).unwrap()
}

/// The bindings of `usr` with their tokens, as stored now.
pub fn bound(s: &Service, usr: &str) -> Vec<BoundToken> {
    s.storage
        .read(|c| bindings::find_bound_by_user(c, INST, usr))
        .unwrap()
}
