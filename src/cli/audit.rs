//! `tokend audit verify | archive | search`: the audit trail's chain, its archive (segment
//! files, docs/audit-archive.md) and searching that archive. Verdicts on stdout, exit 1
//! when something is broken.

use anyhow::{bail, Context as _};
use chrono::{DateTime, NaiveDate, Utc};
use clap::Subcommand;
use std::path::{Path, PathBuf};

use crate::bootstrap::{self, Install};
use crate::config::Settings;
use crate::domain::audit::AuditFilter;
use crate::domain::audit_archive::search::search_archive;

#[derive(Debug, Subcommand)]
pub(super) enum AuditCommand {
    /// Check every link of the audit chain from its anchor (the last archived row); exit
    /// 1 naming the first broken row. Read-only, safe while the service runs.
    Verify {
        /// Also check every archive segment in DIR, their manifests, and that the
        /// segments and the table join into one chain; names each damaged segment.
        #[arg(long, value_name = "DIR")]
        archive: Option<PathBuf>,
    },
    /// Move the rows older than DATE into segment files in DIR (gzip JSON lines with a
    /// manifest each, 0600) and delete them from the database, moving the chain's
    /// anchor in the same transaction. Safe while the service runs and with several
    /// nodes (one archives at a time); run it again after an interruption. Never
    /// deletes a segment.
    Archive {
        /// Rows before this moment go: a date (YYYY-MM-DD, midnight UTC) or RFC 3339.
        #[arg(long, value_name = "DATE")]
        before: String,
        /// The archive directory (created 0700 if missing).
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        /// Most rows per segment (a segment also ends with its UTC day).
        #[arg(long, default_value_t = crate::domain::audit_archive::DEFAULT_SEGMENT_ROWS,
              value_parser = clap::value_parser!(i64).range(1..=10_000_000))]
        segment_rows: i64,
    },
    /// Search the archive's segments (no database needed): one JSON line per row, as the
    /// segment holds it (docs/audit-archive.md), plus `at_utc`.
    Search {
        /// The archive directory.
        #[arg(long, value_name = "DIR")]
        archive: PathBuf,
        /// Only this user.
        #[arg(long)]
        usr_name: Option<String>,
        /// Only this token.
        #[arg(long)]
        token_id: Option<String>,
        /// Only this action.
        #[arg(long)]
        action: Option<String>,
        /// Not before (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// Before (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        to: Option<String>,
        /// Most rows printed.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
}

/// Runs an `audit` subcommand.
pub(super) fn run(settings: &Settings, action: AuditCommand) -> anyhow::Result<()> {
    match action {
        AuditCommand::Verify { archive } => verify(settings, archive.as_deref()),
        AuditCommand::Archive {
            before,
            to,
            segment_rows,
        } => archive(settings, &moment("--before", &before)?, &to, segment_rows),
        AuditCommand::Search {
            archive,
            usr_name,
            token_id,
            action,
            from,
            to,
            limit,
        } => {
            let filter = AuditFilter {
                usr_name,
                token_id,
                action,
                from_ms: from.map(|f| moment("--from", &f)).transpose()?.map(ms),
                to_ms: to.map(|t| moment("--to", &t)).transpose()?.map(ms),
                ..AuditFilter::default()
            };
            search(&archive, &filter, limit)
        }
    }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A date (midnight UTC) or an RFC 3339 moment.
fn moment(flag: &str, text: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(day.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| format!("{flag} {text:?}: a date (YYYY-MM-DD) or an RFC 3339 time"))
}

/// Archives and prunes; says what moved and where the chain now starts.
fn archive(
    settings: &Settings,
    before: &DateTime<Utc>,
    dir: &Path,
    segment_rows: i64,
) -> anyhow::Result<()> {
    let now = Utc::now();
    if *before > now {
        bail!("--before is in the future: only past rows can be archived");
    }
    let service = bootstrap::service(settings, Install::Existing)?;
    // On PostgreSQL rows are linked shortly after their commit: rows written just before
    // --before are archived too, not left for the next run.
    service
        .settle_audit_links_before(ms(*before), std::time::Duration::from_secs(5))
        .context("cannot link the newest audit rows")?;
    let report = service
        .archive_audit(dir, *before, now, segment_rows)
        .context("the audit archive stopped")?;
    println!(
        "archived {} rows in {} segment(s) ({} finished from an interrupted run) to {}; the \
         table's chain now starts after position {}; last manifest sha256 {}",
        report.rows,
        report.segments,
        report.resumed,
        dir.display(),
        report.anchor.pos,
        if report.anchor.manifest_sha256.is_empty() {
            "none"
        } else {
            &report.anchor.manifest_sha256
        }
    );
    Ok(())
}

/// Verifies the archive (when asked) and then the table from its anchor.
fn verify(settings: &Settings, archive: Option<&Path>) -> anyhow::Result<()> {
    let service = bootstrap::service(settings, Install::Existing)?;
    let mut broken = false;
    if let Some(dir) = archive {
        let check = service.verify_audit_archive(dir)?;
        for problem in &check.problems {
            println!("audit archive BROKEN: {problem}");
        }
        broken = !check.problems.is_empty();
        if !broken {
            println!(
                "audit archive whole: {} segments, {} rows verified, joined to the table at \
                 position {}",
                check.segments, check.rows, check.anchor.pos
            );
        }
    }
    service
        .settle_audit_links(std::time::Duration::from_secs(5))
        .context("cannot link the newest audit rows")?;
    let report = service
        .verify_audit_chain()
        .context("cannot read the audit trail")?;
    if let Some((row, why)) = report.broken {
        println!(
            "audit chain BROKEN at row {row}: {why} ({} rows before it verified)",
            report.linked
        );
        bail!("the audit chain is broken at row {row}");
    }
    let head = report.head.map_or_else(
        || "none".to_owned(),
        |(id, link)| format!("row {id} {link}"),
    );
    println!(
        "audit chain whole: {} rows verified from position {}, {} not linked yet; head: {head}",
        report.linked, report.anchor_pos, report.unlinked_tail
    );
    if broken {
        bail!("the audit archive is broken");
    }
    Ok(())
}

/// Prints the archived rows matching the filter as JSON lines; unreadable segments on
/// stderr (exit 1: the answer may be incomplete).
fn search(dir: &Path, filter: &AuditFilter, limit: usize) -> anyhow::Result<()> {
    let hits = search_archive(dir, filter, limit)?;
    for row in &hits.rows {
        // The segment's own line, with the time also in words.
        let mut line = serde_json::to_value(row)?;
        line["at_utc"] = crate::domain::from_ms(row.at)
            .map(|t| t.to_rfc3339())
            .into();
        println!("{line}");
    }
    eprintln!(
        "{} row(s) from {} segment(s) searched",
        hits.rows.len(),
        hits.segments_read
    );
    for why in &hits.unreadable {
        eprintln!("not searched: {why}");
    }
    if !hits.unreadable.is_empty() {
        bail!("{} segment(s) could not be read", hits.unreadable.len());
    }
    Ok(())
}
