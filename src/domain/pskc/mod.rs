//! PSKC (RFC 6030) seed files, as vendors really write them.
//!
//! The file is decoded (UTF-8, or UTF-16 and any other encoding its byte-order mark or
//! XML declaration names), read whole (`read`: a truncated or pre-RFC file is refused),
//! opened (`open`: every encrypted value is decrypted and its own `ValueMAC` verified;
//! one failure refuses the whole file, since a file altered in transit is not partly
//! trusted), then each key is decided (`policy`): skipped by design when it is not TOTP,
//! refused with its reason, or imported. A serial that appears twice refuses both keys:
//! which seed is the device's cannot be known. Reports name keys by `KeyPackage` number
//! and serial, never by a secret.

mod open;
mod policy;
mod read;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use std::borrow::Cow;
use std::collections::HashMap;
use zeroize::Zeroizing;

use super::import::{FileRefused, ImportReport, ImportRow, Unit};
use policy::Decision;

/// What the importer knows to open encrypted files with. Never logged.
#[derive(Default)]
pub struct PskcKeys {
    /// The pre-shared AES key (16, 24 or 32 bytes), for `<ds:KeyName>` containers.
    pub psk: Option<Zeroizing<Vec<u8>>>,
    /// The passphrase, for `<DerivedKey>` (PBKDF2) containers.
    pub passphrase: Option<Zeroizing<String>>,
}

/// Reads a PSKC document. `Err` refuses the whole file (not a complete RFC 6030
/// document, no key to open it, unsupported encryption, a MAC that does not verify);
/// per-key outcomes go to the report. `now` judges the keys' validity dates.
pub fn parse_pskc(
    bytes: &[u8],
    keys: &PskcKeys,
    now: DateTime<Utc>,
) -> Result<(Vec<ImportRow>, ImportReport), FileRefused> {
    let text = decode(bytes).map_err(FileRefused)?;
    let raw = read::read_xml(&text).map_err(FileRefused)?;
    let mut opened = open::open_all(&raw, keys).map_err(FileRefused)?;
    let encrypted = open::is_encrypted(&raw);
    let mut decisions = Vec::with_capacity(raw.keys.len());
    for (i, (k, values)) in raw.keys.iter().zip(opened.iter_mut()).enumerate() {
        let n = u64::try_from(i + 1).unwrap_or(u64::MAX);
        let serial = policy::serial(k).map(str::to_owned);
        decisions.push((n, serial, policy::decide(k, values, encrypted, now, n)));
    }
    refuse_repeated_serials(&mut decisions);
    Ok(report(decisions))
}

/// Turns the decisions into rows and a report; reasons are prefixed with the serial.
fn report(decisions: Vec<(u64, Option<String>, Decision)>) -> (Vec<ImportRow>, ImportReport) {
    let mut rows = Vec::new();
    let mut report = ImportReport {
        unit: Unit::KeyPackage,
        ..ImportReport::default()
    };
    let named = |serial: &Option<String>, why: String| match serial {
        Some(s) => format!("serial {s:?}: {why}"),
        None => why,
    };
    for (n, serial, decision) in decisions {
        match decision {
            Decision::Import(row) => rows.push(row),
            Decision::Skip(why) => report.skipped.push((n, named(&serial, why))),
            Decision::Refuse(why) => report.refused.push((n, named(&serial, why))),
        }
    }
    (rows, report)
}

/// A serial on two keys that tokend would otherwise use (imported or refused, not
/// skipped) refuses every one of them: two seeds for one device cannot both be right.
fn refuse_repeated_serials(decisions: &mut [(u64, Option<String>, Decision)]) {
    let mut seen: HashMap<String, Vec<u64>> = HashMap::new();
    for (n, serial, d) in decisions.iter() {
        if let (Some(s), Decision::Import(_) | Decision::Refuse(_)) = (serial, d) {
            seen.entry(s.clone()).or_default().push(*n);
        }
    }
    for (_, serial, d) in decisions.iter_mut() {
        let Some(ns) = serial
            .as_ref()
            .and_then(|s| seen.get(s))
            .filter(|ns| ns.len() > 1)
        else {
            continue;
        };
        if matches!(d, Decision::Import(_)) {
            let list: Vec<String> = ns.iter().map(u64::to_string).collect();
            *d = Decision::Refuse(format!(
                "the serial appears in KeyPackages {} of this file: all refused (which \
                 seed is the device's cannot be known)",
                list.join(", ")
            ));
        }
    }
}

/// The document as text: a byte-order mark (UTF-8, UTF-16) decides, else UTF-16
/// without one (`<` next to a zero byte), else the XML declaration's `encoding`, else
/// UTF-8.
fn decode(bytes: &[u8]) -> Result<Cow<'_, str>, String> {
    let encoding = match encoding_rs::Encoding::for_bom(bytes) {
        Some((enc, _)) => enc,
        None if bytes.starts_with(b"<\0") => encoding_rs::UTF_16LE,
        None if bytes.starts_with(b"\0<") => encoding_rs::UTF_16BE,
        None => declared(bytes)?,
    };
    let (text, _, errors) = encoding.decode(bytes);
    if errors {
        return Err(format!("the file is not valid {}", encoding.name()));
    }
    Ok(text)
}

/// The encoding an ASCII-compatible XML declaration names (UTF-8 when none).
fn declared(bytes: &[u8]) -> Result<&'static encoding_rs::Encoding, String> {
    let head = &bytes[..bytes.len().min(200)];
    let head = String::from_utf8_lossy(head);
    let Some(decl) = head
        .trim_start()
        .strip_prefix("<?xml")
        .and_then(|d| d.split("?>").next())
    else {
        return Ok(encoding_rs::UTF_8);
    };
    let Some(label) = decl.split("encoding=").nth(1).and_then(|v| {
        let quote = v.chars().next()?;
        v.get(1..)?.split(quote).next()
    }) else {
        return Ok(encoding_rs::UTF_8);
    };
    encoding_rs::Encoding::for_label(label.trim().as_bytes())
        .filter(|e| *e != encoding_rs::UTF_16LE && *e != encoding_rs::UTF_16BE)
        .ok_or_else(|| {
            format!("the XML declaration names encoding {label:?}, which tokend cannot read here")
        })
}

/// Whether a file looks like XML (PSKC) rather than CSV, in any encoding [`decode`]
/// reads.
pub fn is_pskc(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(256)];
    let text = match encoding_rs::Encoding::for_bom(head) {
        Some((enc, _)) => enc.decode_with_bom_removal(head).0,
        None if head.starts_with(b"<\0") || head.starts_with(b"\0<") => return true,
        None => String::from_utf8_lossy(head),
    };
    text.trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with('<')
}
