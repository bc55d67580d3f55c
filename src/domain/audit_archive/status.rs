//! The archive's state for `/metrics` and the console: how many rows the hot table holds,
//! the oldest one's age, and the last archive run's outcome. The outcome is kept in the
//! database (`meta`), so every node reports the run whichever node made it, and a
//! restart does not forget a failure.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::ArchiveReport;
use crate::domain::{to_ms, Error, Service};
use crate::storage::audit_archive::{find_anchor, find_hot_stats, find_last_run, set_last_run};

/// The last archive run, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRun {
    /// When it ended, ms.
    pub at: i64,
    /// Whether it succeeded.
    pub ok: bool,
    /// Rows it archived.
    pub rows: u64,
    /// Segments it wrote.
    pub segments: u64,
    /// Why it failed (an operator's message; never a row's content).
    pub error: Option<String>,
}

/// The audit trail's size and the archive's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveStatus {
    /// Rows in the hot table.
    pub hot_rows: i64,
    /// The oldest hot row's time, ms.
    pub oldest_at: Option<i64>,
    /// Chain position of the last archived row (0: nothing archived).
    pub anchor_pos: i64,
    /// The newest archived row's time, ms (0: nothing archived).
    pub archived_max_at: i64,
    /// The last archive run, if any.
    pub last_run: Option<LastRun>,
}

impl Service {
    /// The trail's size and the last archive run (read from indexes: cheap enough for
    /// every scrape).
    pub fn audit_archive_status(&self) -> Result<ArchiveStatus, Error> {
        let (hot_rows, oldest_at, anchor, last) = self.storage.read(|c| {
            let (rows, oldest) = find_hot_stats(c)?;
            Ok((rows, oldest, find_anchor(c)?, find_last_run(c)?))
        })?;
        Ok(ArchiveStatus {
            hot_rows,
            oldest_at,
            anchor_pos: anchor.pos,
            archived_max_at: anchor.archived_max_at,
            last_run: last.and_then(|t| serde_json::from_str(&t).ok()),
        })
    }

    /// When a listing from `from_ms` (or from the beginning) reaches into the archive:
    /// the newest archived row's time, ms, so the edges can say that older rows are in
    /// the segments (`tokend audit search --archive`), not in the answer.
    pub fn audit_archive_reach(&self, from_ms: Option<i64>) -> Result<Option<i64>, Error> {
        let anchor = self.storage.read(find_anchor)?;
        let reaches = anchor.pos > 0 && from_ms.is_none_or(|from| from <= anchor.archived_max_at);
        Ok(reaches.then_some(anchor.archived_max_at))
    }

    /// Records a run's outcome; a failure to record is logged, not raised (the run's own
    /// outcome is what the caller reports).
    pub(super) fn record_archive_run(
        &self,
        now: DateTime<Utc>,
        outcome: &Result<ArchiveReport, Error>,
    ) {
        let run = match outcome {
            Ok(r) => LastRun {
                at: to_ms(now),
                ok: true,
                rows: r.rows,
                segments: r.segments,
                error: None,
            },
            Err(e) => LastRun {
                at: to_ms(now),
                ok: false,
                rows: 0,
                segments: 0,
                error: Some(e.to_string()),
            },
        };
        let Ok(text) = serde_json::to_string(&run) else {
            return;
        };
        if let Err(e) = self.storage.write(|c| set_last_run(c, &text)) {
            tracing::warn!(
                "cannot record the audit archive run of {}: {e}",
                now.to_rfc3339_opts(SecondsFormat::Secs, true)
            );
        }
    }
}
