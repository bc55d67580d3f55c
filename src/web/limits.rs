//! Rate limits on the calls that test a secret (validate and the OOB calls), kept in
//! memory per process with `governor`'s keyed GCRA limiters.
//!
//! - per API key: requests per second on validate and OOB calls (off by default: a bank's
//!   core system may legitimately send thousands);
//! - per user: validations per minute for one `UsrName` (or `TokenId`), whatever the key —
//!   no person types codes that fast, a script retrying does;
//! - guess spraying: failed validations per minute per API key, across all users. A
//!   sprayer tries one or two codes on each of many users and never trips a per-user lock;
//!   past the budget the key's validations get 429 until it refills.
//!
//! Past a limit: 429, fault 7060, and `Retry-After` in seconds. A limit of 0 is off.

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::{Error, Fault};

/// The configured limits (0 = off).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitConfig {
    /// Validate and OOB requests per second per API key.
    pub key_per_sec: u32,
    /// Validations per minute per user.
    pub user_per_min: u32,
    /// Failed validations per minute per API key.
    pub key_failures_per_min: u32,
}

/// A limit was reached: how long until the next request may pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// Whole seconds to wait (at least 1), for `Retry-After`.
    pub retry_after_secs: u64,
    /// Which limit.
    pub what: &'static str,
}

impl Limited {
    fn after(wait: Duration, what: &'static str) -> Limited {
        Limited {
            retry_after_secs: (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1),
            what,
        }
    }

    /// The fault to answer.
    pub fn error(self) -> Error {
        Error::fault(Fault::RateLimited).with_detail(format!(
            "({}; retry in {} s)",
            self.what, self.retry_after_secs
        ))
    }
}

type Keyed = DefaultKeyedRateLimiter<String>;

/// The limiters of one process.
pub struct Limits {
    per_key: Option<Keyed>,
    per_user: Option<Keyed>,
    failures: Option<Keyed>,
    /// API keys whose failure budget ran out, and until when they are refused.
    sprayers: Mutex<HashMap<String, Instant>>,
    clock: DefaultClock,
    /// Checks since the last purge of idle keys.
    checks: AtomicU64,
}

/// Idle keys are forgotten every this many checks, so per-user state stays bounded.
const PURGE_EVERY: u64 = 16_384;

fn keyed(per: u32, quota: fn(NonZeroU32) -> Quota) -> Option<Keyed> {
    NonZeroU32::new(per).map(|n| RateLimiter::keyed(quota(n)))
}

impl Limits {
    /// Limiters for `config`.
    pub fn new(config: LimitConfig) -> Limits {
        Limits {
            per_key: keyed(config.key_per_sec, Quota::per_second),
            per_user: keyed(config.user_per_min, Quota::per_minute),
            failures: keyed(config.key_failures_per_min, Quota::per_minute),
            sprayers: Mutex::new(HashMap::new()),
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        }
    }

    fn take(&self, limiter: Option<&Keyed>, key: &str, what: &'static str) -> Result<(), Limited> {
        let Some(limiter) = limiter else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1 {
            for l in [&self.per_key, &self.per_user, &self.failures]
                .into_iter()
                .flatten()
            {
                l.retain_recent();
            }
        }
        limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| Limited::after(not_until.wait_time_from(self.clock.now()), what))
    }

    /// One validate or OOB request of the key `key_name`.
    pub fn request(&self, key_name: &str) -> Result<(), Limited> {
        self.take(self.per_key.as_ref(), key_name, "requests of this API key")
    }

    /// One validation for the user (or token) `who`, and whether the key still has a
    /// failure budget: a key out of budget is refused before its code is even checked.
    pub fn validation(&self, key_name: &str, who: &str) -> Result<(), Limited> {
        let blocked = self
            .failures
            .as_ref()
            .and_then(|_| self.sprayers.lock().ok())
            .and_then(|s| s.get(key_name).copied());
        if let Some(until) = blocked {
            let now = Instant::now();
            if until > now {
                return Err(Limited::after(
                    until - now,
                    "failed validations of this API key",
                ));
            }
        }
        self.take(self.per_user.as_ref(), who, "validations of this user")
    }

    /// Records a failed validation against the key's failure budget; the failure that
    /// exhausts it is still answered, the next validation is refused.
    pub fn failed(&self, key_name: &str) {
        let what = "failed validations of this API key";
        if let Err(limited) = self.take(self.failures.as_ref(), key_name, what) {
            let until = Instant::now() + Duration::from_secs(limited.retry_after_secs);
            if let Ok(mut sprayers) = self.sprayers.lock() {
                sprayers.retain(|_, t| *t > Instant::now());
                sprayers.insert(key_name.to_owned(), until);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_limit_refuses_past_its_budget_and_zero_is_off() {
        let limits = Limits::new(LimitConfig {
            key_per_sec: 3,
            user_per_min: 2,
            key_failures_per_min: 2,
        });
        for _ in 0..3 {
            assert!(limits.request("core").is_ok());
        }
        let refused = limits.request("core").unwrap_err();
        assert!(refused.retry_after_secs >= 1);
        assert!(limits.request("other").is_ok(), "per key");

        assert!(limits.validation("core", "ann").is_ok());
        assert!(limits.validation("core", "ann").is_ok());
        assert!(limits.validation("core", "ann").is_err(), "per user");
        assert!(limits.validation("core", "bob").is_ok());

        limits.failed("core");
        limits.failed("core");
        assert!(limits.validation("core", "cid").is_ok(), "the budget is 2");
        limits.failed("core");
        let sprayer = limits.validation("core", "dan").unwrap_err();
        assert_eq!(sprayer.what, "failed validations of this API key");
        assert!(limits.validation("other", "dan").is_ok(), "only that key");

        let off = Limits::new(LimitConfig::default());
        for _ in 0..1000 {
            assert!(off.request("k").is_ok() && off.validation("k", "u").is_ok());
            off.failed("k");
        }
    }
}
