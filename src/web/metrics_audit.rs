//! The audit trail's size and its archive's health (issue 33), read from the database at
//! scrape time so every node reports the same run: rows in the hot table, the oldest
//! row's age, and the last archive run (when, whether it failed, what it moved). The
//! alerts in docs/operations.md ("Audit retention") fire on a failed run and on rows
//! older than `audit_hot_days` plus two days (the archive is not running at all).

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::domain::Service;

/// The audit gauges.
pub struct AuditMetrics {
    rows: Gauge,
    oldest_age: Gauge<f64, AtomicU64>,
    archived_pos: Gauge,
    last_run: Gauge,
    last_failed: Gauge,
    last_rows: Gauge,
}

impl AuditMetrics {
    /// Registers the gauges in `registry` (prefix `tokend`).
    pub fn register(registry: &mut Registry) -> AuditMetrics {
        let m = AuditMetrics {
            rows: Gauge::default(),
            oldest_age: Gauge::default(),
            archived_pos: Gauge::default(),
            last_run: Gauge::default(),
            last_failed: Gauge::default(),
            last_rows: Gauge::default(),
        };
        registry.register(
            "audit_rows",
            "Audit rows in the database (the hot table)",
            m.rows.clone(),
        );
        registry.register(
            "audit_oldest_row_age_seconds",
            "Age of the oldest audit row in the database (0 when none)",
            m.oldest_age.clone(),
        );
        registry.register(
            "audit_archived_chain_position",
            "Chain position of the last archived audit row (0: nothing archived)",
            m.archived_pos.clone(),
        );
        registry.register(
            "audit_archive_last_run_timestamp_seconds",
            "When the last audit archive run ended (0: never)",
            m.last_run.clone(),
        );
        registry.register(
            "audit_archive_last_run_failed",
            "1 when the last audit archive run failed (alert AuditArchiveFailed in docs/operations.md)",
            m.last_failed.clone(),
        );
        registry.register(
            "audit_archive_last_run_rows",
            "Rows the last audit archive run moved to the archive",
            m.last_rows.clone(),
        );
        m
    }

    /// Reads the archive's status from the database.
    pub fn refresh(&self, service: &Service, now_ms: i64) -> Result<(), String> {
        let status = service.audit_archive_status().map_err(|e| e.to_string())?;
        self.rows.set(status.hot_rows);
        let age = status
            .oldest_at
            .map_or(0, |at| now_ms.saturating_sub(at).max(0));
        self.oldest_age.set(age as f64 / 1000.0);
        self.archived_pos.set(status.anchor_pos);
        let run = status.last_run;
        self.last_run.set(run.as_ref().map_or(0, |r| r.at / 1000));
        self.last_failed
            .set(i64::from(run.as_ref().is_some_and(|r| !r.ok)));
        let rows = run.map_or(0, |r| r.rows);
        self.last_rows.set(i64::try_from(rows).unwrap_or(i64::MAX));
        Ok(())
    }
}
