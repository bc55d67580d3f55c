//! `tokend audit verify --archive DIR`: every segment against its manifest, every row's
//! link under the key, the manifests chained one to the next, and the last segment
//! joined to the database's anchor, so archive and table are one unbroken chain. Each
//! problem names the segment (missing, altered, reordered or truncated) and the check
//! goes on, so one run lists every damaged segment.
//!
//! Without the key, `tools/verify_audit_archive.py` runs the same checks but the links'
//! MACs (docs/audit-archive.md says what each proves).

use std::path::Path;

use super::segment::{self, Found, Line, Manifest};
use crate::domain::{Error, Service};
use crate::storage::audit::{canonical_bytes, AuditEvent};
use crate::storage::audit_archive::{find_anchor, AuditAnchor};

/// What the archive check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveCheck {
    /// Segments read.
    pub segments: u64,
    /// Rows whose link verified.
    pub rows: u64,
    /// Every problem found, each naming its segment; empty when the archive is whole
    /// and joins the table.
    pub problems: Vec<String>,
    /// The database's anchor the archive was joined to.
    pub anchor: AuditAnchor,
}

/// Where the walk through the segments is: the last position, link and manifest digest.
struct Cursor {
    pos: i64,
    link: String,
    manifest_sha256: String,
}

impl Service {
    /// Checks every segment in `dir` and that they end where the table's chain begins.
    pub fn verify_audit_archive(&self, dir: &Path) -> Result<ArchiveCheck, Error> {
        let found = segment::list(dir)
            .map_err(|e| Error::Internal(format!("cannot read {}: {e}", dir.display())))?;
        let mut check = ArchiveCheck {
            anchor: self.storage.read(find_anchor)?,
            ..ArchiveCheck::default()
        };
        let mut manifests: Vec<(Found, Manifest)> = Vec::new();
        for f in found {
            match f.manifest.clone() {
                Ok(m) => manifests.push((f, m)),
                Err(why) => check.problems.push(format!("manifest {}: {why}", f.name)),
            }
        }
        manifests.sort_by_key(|(_, m)| m.first_pos);
        let mut at = Cursor {
            pos: 0,
            link: String::new(),
            manifest_sha256: String::new(),
        };
        for (found, manifest) in &manifests {
            self.check_segment(dir, found, manifest, &mut at, &mut check);
        }
        join_anchor(&at, &check.anchor.clone(), &mut check.problems);
        Ok(check)
    }

    /// One segment: its place after the previous one, its file, every row's link.
    fn check_segment(
        &self,
        dir: &Path,
        found: &Found,
        m: &Manifest,
        at: &mut Cursor,
        check: &mut ArchiveCheck,
    ) {
        let name = &found.name;
        check.segments += 1;
        if m.first_pos > at.pos + 1 {
            check.problems.push(format!(
                "segment(s) missing before {name}: chain positions {}..{} are in no segment",
                at.pos + 1,
                m.first_pos - 1
            ));
        } else if m.first_pos <= at.pos {
            check.problems.push(format!(
                "segment {name} is out of order: it starts at position {} but the previous \
                 segment ends at {}",
                m.first_pos, at.pos
            ));
        } else if m.prev_link != at.link || m.prev_manifest_sha256 != at.manifest_sha256 {
            check.problems.push(format!(
                "segment {name} does not follow the previous segment (its manifest names \
                 another predecessor): segments were replaced or reordered"
            ));
        }
        if segment::names(m.first_pos, m.last_pos).1 != *name {
            check.problems.push(format!(
                "manifest {name} describes positions {}..{}: it was renamed or reordered",
                m.first_pos, m.last_pos
            ));
        }
        // Whatever the damage, the next segment is checked against this one's manifest.
        *at = Cursor {
            pos: m.last_pos,
            link: m.last_link.clone(),
            manifest_sha256: found.sha256.clone(),
        };
        let lines = match segment::read(dir, m) {
            Ok(lines) => lines,
            Err(why) => return check.problems.push(why),
        };
        if let Some(why) = self.check_lines(m, lines, &mut check.rows) {
            check.problems.push(format!("segment {}: {why}", m.file));
        }
    }

    /// The rows of one segment against its manifest and the key; the first problem.
    fn check_lines(&self, m: &Manifest, lines: Vec<Line>, verified: &mut u64) -> Option<String> {
        if lines.len() as u64 != m.rows {
            return Some(format!(
                "holds {} rows, its manifest says {}: altered",
                lines.len(),
                m.rows
            ));
        }
        let mut previous = m.prev_link.clone();
        for (i, line) in lines.into_iter().enumerate() {
            let row = AuditEvent::from(line);
            let expected = m.first_pos + i as i64;
            if row.chain_pos != Some(expected) {
                return Some(format!(
                    "row {} is at chain position {:?} where {expected} belongs: rows reordered \
                     or removed",
                    row.id, row.chain_pos
                ));
            }
            let link = row.link.clone().unwrap_or_default();
            if !self
                .keyring
                .verify_audit_link(&previous, &canonical_bytes(&row), &link)
            {
                return Some(format!(
                    "row {} (position {expected}) does not match its link: altered",
                    row.id
                ));
            }
            *verified += 1;
            previous = link;
        }
        (previous != m.last_link)
            .then(|| "its last row's link is not the manifest's last_link: altered".to_owned())
    }
}

/// The archive must end exactly where the table's chain begins.
fn join_anchor(at: &Cursor, anchor: &AuditAnchor, problems: &mut Vec<String>) {
    if at.pos < anchor.pos {
        problems.push(format!(
            "segment(s) missing at the end: chain positions {}..{} were archived (the \
             database's anchor is at {}) but are in no segment",
            at.pos + 1,
            anchor.pos,
            anchor.pos
        ));
    } else if at.pos > anchor.pos {
        problems.push(format!(
            "the archive goes on to position {} past the database's anchor at {}: it does not \
             belong to this database, or the database was restored from an older backup",
            at.pos, anchor.pos
        ));
    } else if at.link != anchor.link || at.manifest_sha256 != anchor.manifest_sha256 {
        problems.push(format!(
            "the last segment (ending at position {}) is not the one the database archived: \
             replaced",
            at.pos
        ));
    }
}
