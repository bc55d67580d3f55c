//! Whether each serving process holds the database's active master key, published in
//! the database for `tokend rekey`.
//!
//! Before, rekey said "the running tokend already uses key …" without knowing: a key
//! file the service could not read (written by root, mode 0600) left every enrollment
//! and validation failing while the command claimed success. Now every serving process
//! runs a watch (a thread of `worker`) that follows the register of master keys each
//! second, loads a new key as soon as it is registered, and publishes what it holds —
//! or why it cannot ("permission denied", and whose file it is) — as a `meta` entry of
//! its own (`node_keys:<node>`), refreshed every minute. `rekey` waits for every serving
//! process to report the new key before it moves a single seed, and says what they
//! reported.

use chrono::{DateTime, Utc};

use super::{to_ms, Error, Service};
use crate::storage::{master_keys, meta};

/// The `meta` names of the published states start with this.
const PREFIX: &str = "node_keys:";
/// A state is refreshed this often even when nothing changed, ms.
const REFRESH_MS: i64 = 60_000;
/// States older than this are left by processes that ended without a word; removed.
const STALE_MS: i64 = 10 * 60_000;

/// What one serving process published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyState {
    /// The process (random per start).
    pub node: String,
    /// When it published this, ms since the epoch.
    pub at_ms: i64,
    /// The register's active key id it saw.
    pub key_id: String,
    /// Why it does not hold that key; `None` when it does.
    pub missing: Option<String>,
}

impl KeyState {
    fn encode(&self) -> String {
        match &self.missing {
            None => format!("{} {} ok", self.at_ms, self.key_id),
            Some(why) => format!("{} {} missing {why}", self.at_ms, self.key_id),
        }
    }

    fn decode(name: &str, value: &str) -> Option<KeyState> {
        let node = name.strip_prefix(PREFIX)?.to_owned();
        let mut parts = value.splitn(4, ' ');
        let at_ms = parts.next()?.parse().ok()?;
        let key_id = parts.next()?.to_owned();
        let missing = match parts.next()? {
            "ok" => None,
            _ => Some(parts.next().unwrap_or_default().to_owned()),
        };
        Some(KeyState {
            node,
            at_ms,
            key_id,
            missing,
        })
    }
}

/// This process as an operator finds it: `host:pid` (the host from the kernel; a rekey
/// that must wait for a node names it so).
fn node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty() && !h.contains(char::is_whitespace))
        .unwrap_or_else(|| "node".to_owned());
    format!("{host}:{}", std::process::id())
}

/// A serving process's watch over the register; see the module documentation.
#[derive(Debug)]
pub struct KeyWatch {
    node: String,
    last: Option<(String, Option<String>)>,
    written_ms: i64,
}

impl Default for KeyWatch {
    fn default() -> KeyWatch {
        KeyWatch {
            node: node_name(),
            last: None,
            written_ms: 0,
        }
    }
}

impl KeyWatch {
    /// Loads the registered keys this process lacks, logs a change (an error naming the
    /// cause when the active key cannot be had), and publishes the state when it changed
    /// or is a minute old.
    pub fn tick(&mut self, service: &Service, now: DateTime<Utc>) -> Result<(), Error> {
        if let Some(hsm) = service.hsm() {
            // Logs when the HSM is lost or back; `/ready` reports it.
            let _ = hsm.probe();
        }
        service.reload_keys_quietly()?;
        let Some(active) = service.storage.read(master_keys::find_active_key_id)? else {
            return Ok(());
        };
        let missing = (!service.keyring.has_key(&active)).then(|| service.why_missing(&active));
        let state = (active, missing);
        let changed = self.last.as_ref() != Some(&state);
        if changed {
            match &state.1 {
                Some(why) => tracing::error!(
                    key_id = %state.0,
                    "the database's active master key is not available to this process: {why}"
                ),
                None if self.last.is_some() => {
                    tracing::info!(key_id = %state.0, "now sealing under master key {}", state.0);
                }
                None => {}
            }
        }
        let now_ms = to_ms(now);
        if changed || now_ms - self.written_ms >= REFRESH_MS {
            let published = KeyState {
                node: self.node.clone(),
                at_ms: now_ms,
                key_id: state.0.clone(),
                missing: state.1.clone(),
            };
            service.storage.write(|c| {
                meta::set_value(c, &format!("{PREFIX}{}", self.node), &published.encode())?;
                for (name, value) in meta::find_values_prefixed(c, PREFIX)? {
                    let stale =
                        KeyState::decode(&name, &value).is_none_or(|s| s.at_ms < now_ms - STALE_MS);
                    if stale {
                        meta::delete_value(c, &name)?;
                    }
                }
                Ok::<_, Error>(())
            })?;
            self.written_ms = now_ms;
        }
        self.last = Some(state);
        Ok(())
    }

    /// Removes this process's state (when it stops serving).
    pub fn leave(&self, service: &Service) {
        let name = format!("{PREFIX}{}", self.node);
        let _ = service.storage.write(|c| meta::delete_value(c, &name));
    }
}

impl Service {
    /// What the serving processes published since `since` (see the module documentation).
    pub fn key_states(&self, since: DateTime<Utc>) -> Result<Vec<KeyState>, Error> {
        let since = to_ms(since);
        let rows = self
            .storage
            .read(|c| meta::find_values_prefixed(c, PREFIX))?;
        Ok(rows
            .iter()
            .filter_map(|(name, value)| KeyState::decode(name, value))
            .filter(|s| s.at_ms >= since)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_reads_back_as_it_was_written() {
        for missing in [
            None,
            Some("/k/master.x.key cannot be read: Permission denied".to_owned()),
        ] {
            let state = KeyState {
                node: "n1".into(),
                at_ms: 1_700_000_000_000,
                key_id: "abcd".into(),
                missing,
            };
            let back = KeyState::decode("node_keys:n1", &state.encode()).unwrap();
            assert_eq!(back, state);
        }
        assert!(KeyState::decode("other", "1 a ok").is_none());
    }
}
