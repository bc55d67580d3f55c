//! How long audit rows stay in the database (issue 33): rows older than `audit_hot_days`
//! are moved by the service itself into segment files under `audit_archive_dir`, once a
//! day. How long the archive is kept is the bank's decision, not a setting: tokend never
//! deletes a segment. Flattened into [`super::Settings`] (root keys). Data only.

use anyhow::bail;
use serde::Deserialize;
use std::path::PathBuf;

/// The audit retention settings.
#[derive(Debug, Clone, Deserialize)]
pub struct AuditRetention {
    /// Days an audit row stays in the database before the daily archive moves it
    /// (default 90; 0 archives every linked row, for tests).
    #[serde(default = "default_hot_days")]
    pub audit_hot_days: u32,
    /// Where the daily archive writes its segments. Unset: no automatic archive (the
    /// trail grows until `tokend audit archive` is run). With several nodes, a directory
    /// every node reaches (the node holding the archive duty writes).
    #[serde(default)]
    pub audit_archive_dir: Option<PathBuf>,
    /// Seconds between automatic archive runs (default 86,400: daily; at least 1).
    #[serde(default = "default_every_secs")]
    pub audit_archive_every_secs: u64,
    /// Most rows per segment file (default 100,000; a segment also ends with its day).
    #[serde(default = "default_segment_rows")]
    pub audit_segment_rows: u32,
}

/// Their names, for the unknown-key warning.
pub const KEYS: &[&str] = &[
    "audit_hot_days",
    "audit_archive_dir",
    "audit_archive_every_secs",
    "audit_segment_rows",
];

fn default_hot_days() -> u32 {
    90
}
fn default_every_secs() -> u64 {
    86_400
}
fn default_segment_rows() -> u32 {
    100_000
}

impl AuditRetention {
    /// Refuses values that cannot be meant.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.audit_hot_days > 36_500 {
            bail!("audit_hot_days must be 0 to 36500");
        }
        if self.audit_archive_every_secs == 0 {
            bail!("audit_archive_every_secs must be at least 1");
        }
        if !(1..=10_000_000).contains(&self.audit_segment_rows) {
            bail!("audit_segment_rows must be 1 to 10000000");
        }
        Ok(())
    }
}
