//! `tokend audit search --archive DIR`: the archived rows matching a filter, read from
//! the segments alone (no database, no key: searching is not verifying). Segments whose
//! time span misses the asked range are not opened.

use std::path::Path;

use super::segment;
use crate::domain::audit::AuditFilter;
use crate::domain::Error;

/// What a search of the archive found.
#[derive(Debug, Clone, Default)]
pub struct ArchiveHits {
    /// Matching rows, in chain order, as the segments hold them (chain position and
    /// link included, so a hit can be checked against the chain).
    pub rows: Vec<segment::Line>,
    /// Segments opened.
    pub segments_read: u64,
    /// Segments that could not be read (named, with why): their rows were not searched.
    pub unreadable: Vec<String>,
}

/// Searches every segment in `dir` for rows matching `filter` (its institution and
/// `before_id` are ignored: the archive is the operator's), up to `limit` rows.
pub fn search_archive(
    dir: &Path,
    filter: &AuditFilter,
    limit: usize,
) -> Result<ArchiveHits, Error> {
    let found = segment::list(dir)
        .map_err(|e| Error::Internal(format!("cannot read {}: {e}", dir.display())))?;
    let mut hits = ArchiveHits::default();
    let mut manifests: Vec<segment::Manifest> = Vec::new();
    for f in found {
        match f.manifest {
            Ok(m) => manifests.push(m),
            Err(why) => hits.unreadable.push(format!("{}: {why}", f.name)),
        }
    }
    manifests.sort_by_key(|m| m.first_pos);
    for m in manifests {
        let after_range = filter.to_ms.is_some_and(|to| m.min_at >= to);
        let before_range = filter.from_ms.is_some_and(|from| m.max_at < from);
        if after_range || before_range {
            continue;
        }
        hits.segments_read += 1;
        match segment::read(dir, &m) {
            Err(why) => hits.unreadable.push(why),
            Ok(lines) => {
                hits.rows
                    .extend(lines.into_iter().filter(|l| matches(filter, l)));
            }
        }
        if hits.rows.len() >= limit {
            hits.rows.truncate(limit);
            break;
        }
    }
    Ok(hits)
}

/// Whether a row passes every filter that is set.
fn matches(f: &AuditFilter, r: &segment::Line) -> bool {
    let same = |want: &Option<String>, have: &Option<String>| {
        want.as_ref().is_none_or(|w| have.as_ref() == Some(w))
    };
    same(&f.usr_name, &r.usr_name)
        && same(&f.token_id, &r.token_id)
        && f.action.as_ref().is_none_or(|a| *a == r.action)
        && f.from_ms.is_none_or(|from| r.at >= from)
        && f.to_ms.is_none_or(|to| r.at < to)
}
