//! The audit trail's archive (issue 33): rows older than a date leave the database as
//! segment files an examiner can verify, and the chain still verifies across both.
//!
//! An archive run takes the chain's oldest rows, a prefix in chain order, segment by
//! segment: write the segment and its manifest durably (`segment`), then in ONE
//! transaction delete exactly those rows and move the anchor (`storage::audit_archive`)
//! to the last archived row's link. A crash between the two leaves a segment whose rows
//! are still in the table: the next run finds its manifest, checks it against the rows
//! and finishes the delete. Runs are one at a time across nodes (`Duty::AuditArchive`),
//! and the anchor's compare-and-set refuses a run that lost a race anyway. A segment is
//! never deleted or rewritten by tokend: how long the archive is kept is the bank's
//! decision (docs/operations.md, "Audit retention").
//!
//! Imports: storage, `segment`'s file format; the caller passes the clock.

use chrono::{DateTime, SecondsFormat, Utc};
use std::path::Path;

use super::{to_ms, Error, Service};
use crate::storage::audit::AuditEvent;
use crate::storage::audit_archive::{
    delete_archived, find_anchor, find_archive_cut, find_chain_range, AuditAnchor,
};
use crate::storage::leader::{self, Duty};

pub mod check;
pub mod search;
pub mod segment;
mod status;

pub use status::{ArchiveStatus, LastRun};

/// Rows per segment unless told otherwise (a segment also ends at a UTC day's end).
pub const DEFAULT_SEGMENT_ROWS: i64 = 100_000;

/// What one archive run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveReport {
    /// Segments written (or found written by an interrupted run and finished).
    pub segments: u64,
    /// Of them, segments an interrupted run had written: this run only pruned their rows.
    pub resumed: u64,
    /// Rows moved from the table to the archive.
    pub rows: u64,
    /// The anchor after the run: the hot table verifies from here.
    pub anchor: AuditAnchor,
}

const MS_PER_DAY: i64 = 86_400_000;

impl Service {
    /// Archives every row linked before `before` into `dir` and prunes them from the
    /// table (see the module doc); records the outcome for `/metrics`. `now` stamps the
    /// manifests.
    pub fn archive_audit(
        &self,
        dir: &Path,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
        segment_rows: i64,
    ) -> Result<ArchiveReport, Error> {
        let outcome = leader::exclusively(&self.storage, Duty::AuditArchive, || {
            self.archive_locked(dir, to_ms(before), now, segment_rows.max(1))
        });
        self.record_archive_run(now, &outcome);
        outcome
    }

    fn archive_locked(
        &self,
        dir: &Path,
        before_ms: i64,
        now: DateTime<Utc>,
        segment_rows: i64,
    ) -> Result<ArchiveReport, Error> {
        segment::ensure_dir(dir).map_err(|e| io_refused(dir, &e))?;
        let _lock = segment::lock_dir(dir).map_err(|e| io_refused(dir, &e))?;
        let mut report = ArchiveReport {
            anchor: self.storage.read(find_anchor)?,
            ..ArchiveReport::default()
        };
        let Some(cut) = self.storage.read(|c| find_archive_cut(c, before_ms))? else {
            return Ok(report);
        };
        let created_at = now.to_rfc3339_opts(SecondsFormat::Secs, true);
        while report.anchor.pos < cut {
            let from = report.anchor.clone();
            let mut rows = self
                .storage
                .read(|c| find_chain_range(c, from.pos, cut, segment_rows))?;
            check_contiguous(&rows, from.pos)?;
            end_at_day(&mut rows);
            let (rows, to, resumed) = self.segment_for(dir, &from, rows, &created_at)?;
            let count = rows.len();
            self.storage
                .write(|c| delete_archived(c, &from, &to, count))?;
            report.segments += 1;
            report.resumed += u64::from(resumed);
            report.rows += count as u64;
            report.anchor = to;
        }
        Ok(report)
    }

    /// The segment that continues the archive from `from`: the one an interrupted run
    /// left (its manifest names the next position), checked against the table, or a new
    /// one of `rows`. Answers its rows, the anchor after it, and whether it was resumed.
    fn segment_for(
        &self,
        dir: &Path,
        from: &AuditAnchor,
        rows: Vec<AuditEvent>,
        created_at: &str,
    ) -> Result<(Vec<AuditEvent>, AuditAnchor, bool), Error> {
        let next = from.pos + 1;
        let existing = segment::list(dir)
            .map_err(|e| io_refused(dir, &e))?
            .into_iter()
            .find(|f| f.manifest.as_ref().is_ok_and(|m| m.first_pos == next));
        if let Some(found) = existing {
            let Ok(manifest) = found.manifest else {
                return Err(Error::Internal(
                    "unreachable: an unreadable manifest".into(),
                ));
            };
            let rows = self
                .storage
                .read(|c| find_chain_range(c, from.pos, manifest.last_pos, i64::MAX))?;
            let lines = segment::read(dir, &manifest).map_err(Error::Internal)?;
            let same = lines.len() == rows.len()
                && lines
                    .iter()
                    .zip(&rows)
                    .all(|(l, r)| *l == segment::Line::from(r))
                && manifest.prev_link == from.link
                && manifest.prev_manifest_sha256 == from.manifest_sha256;
            if !same {
                return Err(Error::Internal(format!(
                    "{} in {} continues the chain at position {next} but does not match the \
                     rows in the database: nothing was pruned; move it aside and run again",
                    found.name,
                    dir.display()
                )));
            }
            let to = anchor_after(&rows, &manifest.last_link, &found.sha256, from);
            return Ok((rows, to, true));
        }
        let (manifest, sha) =
            segment::write(dir, &rows, &from.link, &from.manifest_sha256, created_at)
                .map_err(|e| io_refused(dir, &e))?;
        let to = anchor_after(&rows, &manifest.last_link, &sha, from);
        Ok((rows, to, false))
    }
}

/// The anchor once `rows` are archived.
fn anchor_after(rows: &[AuditEvent], link: &str, sha: &str, from: &AuditAnchor) -> AuditAnchor {
    AuditAnchor {
        pos: rows.last().and_then(|r| r.chain_pos).unwrap_or(from.pos),
        link: link.to_owned(),
        manifest_sha256: sha.to_owned(),
        archived_max_at: rows
            .iter()
            .map(|r| r.at)
            .max()
            .unwrap_or(0)
            .max(from.archived_max_at),
    }
}

/// Refuses to archive rows whose chain positions leave a gap or lack a link: the chain
/// is already damaged there, and `tokend audit verify` says where.
fn check_contiguous(rows: &[AuditEvent], after: i64) -> Result<(), Error> {
    for (i, row) in rows.iter().enumerate() {
        let expected = after + 1 + i as i64;
        if row.chain_pos != Some(expected) || row.link.is_none() {
            return Err(Error::Internal(format!(
                "the audit chain has no row at position {expected} (row {} follows): \
                 nothing archived past it; run tokend audit verify",
                row.id
            )));
        }
    }
    if rows.is_empty() {
        return Err(Error::Internal(format!(
            "the audit chain has no row at position {}: run tokend audit verify",
            after + 1
        )));
    }
    Ok(())
}

/// Ends a segment at the first row of a later UTC day than its first row's, so segments
/// are at most a day each (the examiner's unit), besides the row limit.
fn end_at_day(rows: &mut Vec<AuditEvent>) {
    let Some(day) = rows.first().map(|r| r.at.div_euclid(MS_PER_DAY)) else {
        return;
    };
    if let Some(end) = rows.iter().position(|r| r.at.div_euclid(MS_PER_DAY) > day) {
        rows.truncate(end);
    }
}

/// An archive directory that cannot be written: nothing is pruned.
fn io_refused(dir: &Path, e: &std::io::Error) -> Error {
    Error::Internal(format!(
        "cannot write the audit archive in {}: {e}; nothing was pruned",
        dir.display()
    ))
}
