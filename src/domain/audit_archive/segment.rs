//! The archive's files (format in docs/audit-archive.md): a segment is gzip-compressed
//! JSON lines, one audit row per line in chain order, named for the chain positions it
//! holds (`audit-000000000001-000000004096.jsonl.gz`); beside it a manifest
//! (`….manifest.json`) gives the row count, the first and last positions, ids and links,
//! the link before the first row, the file's SHA-256 and the previous manifest's SHA-256.
//!
//! Every file is written to a temporary name, fsynced, renamed, and the directory fsynced,
//! the manifest last: a manifest on disk means its segment is whole, which is what a
//! resumed archive run and the verifiers rely on.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead as _, BufReader, BufWriter, Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::Path;

use crate::storage::audit::AuditEvent;

/// The manifest's `format`: bumped if the layout of a line or a manifest ever changes.
pub const FORMAT: &str = "tokend-audit-segment/1";

/// One audit row as a segment line: every column, the link and the chain position too,
/// with absent values as JSON `null` (so `None` and `""` stay apart, as in the link).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub id: i32,
    pub at: i64,
    pub actor: String,
    pub audit_usr_id: Option<String>,
    pub audit_ws_id: Option<String>,
    pub tracking_id: Option<String>,
    pub bus_correl_id: Option<String>,
    pub action: String,
    pub token_id: Option<String>,
    pub usr_name: Option<String>,
    pub result: String,
    pub detail: Option<String>,
    pub inst_rt_id: Option<String>,
    pub audit_usr_src: Option<String>,
    pub chain_pos: Option<i64>,
    pub link: Option<String>,
}

impl From<&AuditEvent> for Line {
    fn from(e: &AuditEvent) -> Line {
        let e = e.clone();
        Line {
            id: e.id,
            at: e.at,
            actor: e.actor,
            audit_usr_id: e.audit_usr_id,
            audit_ws_id: e.audit_ws_id,
            tracking_id: e.tracking_id,
            bus_correl_id: e.bus_correl_id,
            action: e.action,
            token_id: e.token_id,
            usr_name: e.usr_name,
            result: e.result,
            detail: e.detail,
            inst_rt_id: e.inst_rt_id,
            audit_usr_src: e.audit_usr_src,
            chain_pos: e.chain_pos,
            link: e.link,
        }
    }
}

impl From<Line> for AuditEvent {
    fn from(l: Line) -> AuditEvent {
        AuditEvent {
            id: l.id,
            at: l.at,
            actor: l.actor,
            audit_usr_id: l.audit_usr_id,
            audit_ws_id: l.audit_ws_id,
            tracking_id: l.tracking_id,
            bus_correl_id: l.bus_correl_id,
            action: l.action,
            token_id: l.token_id,
            usr_name: l.usr_name,
            result: l.result,
            detail: l.detail,
            link: l.link,
            inst_rt_id: l.inst_rt_id,
            chain_pos: l.chain_pos,
            audit_usr_src: l.audit_usr_src,
        }
    }
}

/// What a segment holds, written beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// The segment's file name (in the same directory).
    pub file: String,
    /// Lines in the segment.
    pub rows: u64,
    /// Chain position of the first and last row.
    pub first_pos: i64,
    pub last_pos: i64,
    /// Row ids of the first and last row.
    pub first_id: i32,
    pub last_id: i32,
    /// Oldest and newest `at` in the segment, ms (a search picks segments by them).
    pub min_at: i64,
    pub max_at: i64,
    /// The link of the row before the first (the previous segment's `last_link`; empty
    /// at the chain's beginning).
    pub prev_link: String,
    /// The first and last row's links.
    pub first_link: String,
    pub last_link: String,
    /// SHA-256 (hex) of the segment file's bytes, as compressed.
    pub sha256: String,
    /// SHA-256 (hex) of the previous segment's manifest file; empty for the first.
    pub prev_manifest_sha256: String,
    /// When the segment was written (RFC 3339).
    pub created_at: String,
}

/// The file names of the segment holding positions `first..=last`.
pub fn names(first: i64, last: i64) -> (String, String) {
    let stem = format!("audit-{first:012}-{last:012}");
    (format!("{stem}.jsonl.gz"), format!("{stem}.manifest.json"))
}

/// SHA-256 (hex) of a file's bytes.
pub fn file_sha256(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

/// Creates the archive directory (0700) if it is not there yet.
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    if !dir.is_dir() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    Ok(())
}

/// Holds `dir`'s archive lock (an advisory `flock(2)` on `.tokend-archive.lock`, dropped
/// by the kernel with the process): on SQLite the CLI and the service's daily run may
/// start together, and two runs must never write the same segment's temporary file.
pub fn lock_dir(dir: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(dir.join(".tokend-archive.lock"))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)?;
    Ok(file)
}

/// Writes `bytes_of` into `dir/name` through a temporary file: 0600, fsynced, renamed,
/// then the directory fsynced, so the name never shows a partial file.
fn write_durably(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let _ = fs::remove_file(&tmp);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let mut out = BufWriter::new(file);
    write(&mut out)?;
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, dir.join(name))?;
    File::open(dir)?.sync_all()
}

/// Writes the segment of `rows` (chain order, all linked) and then its manifest;
/// answers the manifest and its SHA-256.
pub fn write(
    dir: &Path,
    rows: &[AuditEvent],
    prev_link: &str,
    prev_manifest_sha256: &str,
    created_at: &str,
) -> io::Result<(Manifest, String)> {
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Err(io::Error::other("an empty segment"));
    };
    let first_pos = first.chain_pos.unwrap_or_default();
    let last_pos = last.chain_pos.unwrap_or_default();
    let (file, manifest_name) = names(first_pos, last_pos);
    write_durably(dir, &file, |out| {
        let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
        for row in rows {
            serde_json::to_writer(&mut gz, &Line::from(row))?;
            gz.write_all(b"\n")?;
        }
        gz.finish()?.flush()
    })?;
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        sha256: file_sha256(&dir.join(&file))?,
        file,
        rows: rows.len() as u64,
        first_pos,
        last_pos,
        first_id: first.id,
        last_id: last.id,
        min_at: rows.iter().map(|r| r.at).min().unwrap_or_default(),
        max_at: rows.iter().map(|r| r.at).max().unwrap_or_default(),
        prev_link: prev_link.to_owned(),
        first_link: first.link.clone().unwrap_or_default(),
        last_link: last.link.clone().unwrap_or_default(),
        prev_manifest_sha256: prev_manifest_sha256.to_owned(),
        created_at: created_at.to_owned(),
    };
    let mut text = serde_json::to_vec_pretty(&manifest)?;
    text.push(b'\n');
    write_durably(dir, &manifest_name, |out| out.write_all(&text))?;
    Ok((manifest, hex::encode(Sha256::digest(&text))))
}

/// A manifest found in the archive directory, with its file name and SHA-256.
#[derive(Debug, Clone)]
pub struct Found {
    /// The manifest's file name.
    pub name: String,
    /// SHA-256 (hex) of the manifest file.
    pub sha256: String,
    /// What it says; `Err` when it is not a readable manifest.
    pub manifest: Result<Manifest, String>,
}

/// Every manifest in `dir` (`*.manifest.json`), in file-name order.
pub fn list(dir: &Path) -> io::Result<Vec<Found>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".manifest.json") || name.starts_with('.') {
            continue;
        }
        let bytes = fs::read(entry.path())?;
        let manifest = serde_json::from_slice::<Manifest>(&bytes)
            .map_err(|e| format!("not a readable manifest: {e}"));
        found.push(Found {
            name,
            sha256: hex::encode(Sha256::digest(&bytes)),
            manifest,
        });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// Reads a segment's lines. `Err` says what is wrong in words naming the damage:
/// missing, truncated (the gzip stream or the lines end early) or altered.
pub fn read(dir: &Path, manifest: &Manifest) -> Result<Vec<Line>, String> {
    let path = dir.join(&manifest.file);
    if !path.is_file() {
        return Err(format!("segment file {} is missing", manifest.file));
    }
    let digest = file_sha256(&path).map_err(|e| format!("cannot read {}: {e}", manifest.file))?;
    let lines = decode(&path);
    let same = digest == manifest.sha256;
    match lines {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(format!(
            "segment {} is truncated (its compressed stream ends early)",
            manifest.file
        )),
        Err(e) => Err(format!("segment {} is altered: {e}", manifest.file)),
        Ok(lines) if (lines.len() as u64) < manifest.rows => Err(format!(
            "segment {} is truncated: {} of {} rows",
            manifest.file,
            lines.len(),
            manifest.rows
        )),
        Ok(_) if !same => Err(format!(
            "segment {} is altered: its SHA-256 is not the manifest's",
            manifest.file
        )),
        Ok(lines) => Ok(lines),
    }
}

/// Decompresses and parses every line of a segment file.
fn decode(path: &Path) -> io::Result<Vec<Line>> {
    let gz = flate2::read::GzDecoder::new(File::open(path)?);
    let mut lines = Vec::new();
    for line in BufReader::new(gz).lines() {
        let line = line?;
        lines.push(
            serde_json::from_str(&line)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?,
        );
    }
    Ok(lines)
}
