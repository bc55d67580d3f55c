//! HTTP and TOTP.

use anyhow::{anyhow, Result};
use ring::rand::{SecureRandom as _, SystemRandom};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use testkit::Hotp;

use crate::{PERIOD_SECS, WINDOW_STEPS};

/// Where requests go and with which key.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) base: String,
    pub(crate) key: String,
}

/// One request: a GET without body, or a POST of JSON.
pub(crate) struct Call {
    pub(crate) path: String,
    pub(crate) body: Option<String>,
}

impl Call {
    pub(crate) fn get(path: &str) -> Call {
        Call {
            path: path.to_owned(),
            body: None,
        }
    }

    pub(crate) fn post(path: impl Into<String>, body: &Value) -> Call {
        Call {
            path: path.into(),
            body: Some(body.to_string()),
        }
    }
}

/// A client with one keep-alive connection: one per worker thread, like one consumer
/// system's connection.
pub(crate) fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .max_idle_connections_per_host(1)
        .build()
}

/// Sends a call and reads the whole answer (so the connection is reused), whatever its
/// status; `Err` only when no HTTP answer came.
pub(crate) fn send(agent: &ureq::Agent, target: &Target, call: &Call) -> Result<(u16, String)> {
    let url = format!("{}{}", target.base, call.path);
    let result = match &call.body {
        None => agent.get(&url).call(),
        Some(body) => agent
            .post(&url)
            .set("Authorization", &format!("Bearer {}", target.key))
            .set("Content-Type", "application/json")
            .send_string(body),
    };
    let response = match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return Err(e.into()),
    };
    let status = response.status();
    Ok((status, response.into_string()?))
}

/// The current RFC 6238 step of the bench's clock (the server reads the same clock).
pub(crate) fn now_step() -> i64 {
    i64::try_from(unix_secs() / PERIOD_SECS).unwrap_or(i64::MAX)
}

pub(crate) fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A 6-digit code as typed.
pub(crate) fn code_text(code: u32) -> String {
    testkit::otp::text(code, 6)
}

/// A token's codes over the steps a scenario can reach, computed before the clock starts
/// so the load generator spends its share of the CPU on requests, not on HMACs.
pub(crate) struct Codes {
    pub(crate) key: Hotp,
    pub(crate) base: i64,
    pub(crate) table: Vec<u32>,
}

impl Codes {
    /// Steps from a few windows before now to far enough after it for a run of `seconds`
    /// (few, since 100,000 tokens each get a table).
    pub(crate) fn new(seed: &[u8], seconds: u64) -> Codes {
        let key = Hotp::sha1(seed);
        let margin = 2 * WINDOW_STEPS + 5;
        let base = now_step() - margin;
        let len = 2 * margin.unsigned_abs() + 2 * (seconds / PERIOD_SECS) + 2;
        let table = (0..len)
            .map(|i| key.value(base + i64::try_from(i).unwrap_or(0), 6))
            .collect();
        Codes { key, base, table }
    }

    pub(crate) fn at(&self, step: i64) -> u32 {
        usize::try_from(step - self.base)
            .ok()
            .and_then(|i| self.table.get(i).copied())
            .unwrap_or_else(|| self.key.value(step, 6))
    }

    /// Whether a later step within the server's reach shows the same code. The server takes
    /// the newest matching step, so it would accept that later step and turn our later use
    /// of it into a replay (a wrong answer that would be the bench's fault).
    pub(crate) fn shadowed(&self, step: i64) -> bool {
        let code = self.at(step);
        (step + 1..=step + 2 * WINDOW_STEPS + 1).any(|s| self.at(s) == code)
    }
}

/// 20 random bytes: a 160-bit SHA1 seed, as a hardware token vendor would ship.
pub(crate) fn random_seed(rng: &SystemRandom) -> Result<Vec<u8>> {
    let mut seed = vec![0u8; 20];
    rng.fill(&mut seed)
        .map_err(|_| anyhow!("system random generator failed"))?;
    Ok(seed)
}

/// The enrollment (MFATokenAdd) of a hardware token with a seed of ours.
pub(crate) fn enroll_call(usr: &str, token_id: &str, seed: &[u8]) -> Call {
    let seed = base32::encode(base32::Alphabet::Rfc4648 { padding: false }, seed);
    Call::post(
        "/api/v1/tokens",
        &json!({"UsrName": usr, "TokenType": "Hardware", "TokenId": token_id, "Seed": seed}),
    )
}
