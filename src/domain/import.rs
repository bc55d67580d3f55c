//! Bulk import of hardware tokens from a vendor's seed file (`tokend import FILE`).
//!
//! CSV, one token per line: `serial,seed,algorithm,digits,period[,usr_name]`. The seed is
//! hex, as vendors' seed files and privacyIDEA's CSV import write it. A line may start
//! with `#` (a comment); a first line whose seed column reads `seed` is a header.
//! Without `usr_name` the token joins the inventory of unassigned tokens (no binding);
//! with one, it is bound to that user exactly as `POST /api/v1/tokens` would bind it.
//! Every token is stored by the same code as an enrollment (`enroll::store_token`), in
//! Init, with an `import` audit row.
//!
//! Rows are checked first; a bad row is reported with its line and skipped, the good ones
//! are imported. A serial already present is reported as such and left untouched, so
//! importing the same file twice adds nothing. A serial that appears twice in one file
//! refuses every line that has it: which seed is the device's cannot be known.

use chrono::{DateTime, Utc};
use std::io::Read;
use zeroize::Zeroizing;

use super::enroll::{store_token, Owner, StoredToken};
use super::{Context, Error, Fault, Service};
use crate::crypto::Seed;
use crate::otp::OtpParams;
use crate::types::{Algorithm, Digits, Period, TokenId, TokenType, UsrName, MIN_SEED_BYTES};

/// Tokens stored per write transaction: large enough that commits are rare, small enough
/// that other writers wait only milliseconds for the writer.
const CHUNK: usize = 500;

/// One checked line of the file.
pub struct ImportRow {
    /// 1-based line number in the file.
    pub line: u64,
    token_id: TokenId,
    seed: Seed,
    params: OtpParams,
    usr_name: Option<UsrName>,
}

impl ImportRow {
    /// A checked row (PSKC reader).
    pub(super) fn new(
        line: u64,
        token_id: TokenId,
        seed: Seed,
        params: OtpParams,
        usr_name: Option<UsrName>,
    ) -> ImportRow {
        ImportRow {
            line,
            token_id,
            seed,
            params,
            usr_name,
        }
    }
}

#[cfg(test)]
impl ImportRow {
    pub(super) fn token_id(&self) -> &TokenId {
        &self.token_id
    }
    pub(super) fn seed(&self) -> &Seed {
        &self.seed
    }
    pub(super) fn params(&self) -> &OtpParams {
        &self.params
    }
}

/// Why a whole file is refused, in words for an operator: no fault code, no key
/// material, no secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FileRefused(pub String);

/// What a report's numbers count.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// CSV lines.
    #[default]
    Line,
    /// PSKC `KeyPackage`s, 1-based in document order.
    KeyPackage,
}

impl Unit {
    /// The word reports print before a number.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Line => "line",
            Unit::KeyPackage => "KeyPackage",
        }
    }
}

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// What the numbers below count.
    pub unit: Unit,
    /// Tokens stored.
    pub imported: usize,
    /// Lines whose serial was already present (left untouched).
    pub already_present: Vec<u64>,
    /// Keys skipped by design (not TOTP: HOTP, OCRA, device PINs), with the reason.
    /// Not an error: a vendor file may carry keys for other servers.
    pub skipped: Vec<(u64, String)>,
    /// Lines refused, with the reason (never the seed): a key that should have
    /// imported and did not.
    pub refused: Vec<(u64, String)>,
}

/// Reads and checks every line; bad lines go to the report's `refused`.
pub fn parse_csv(input: impl Read) -> (Vec<ImportRow>, ImportReport) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let mut rows = Vec::new();
    let mut report = ImportReport::default();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                report.refused.push((line, "unreadable CSV".into()));
                continue;
            }
        };
        let line = record.position().map_or(0, csv::Position::line);
        // Comments are skipped here rather than by the reader, whose line numbers would
        // then stop counting them.
        if record.get(0).is_some_and(|s| s.starts_with('#')) {
            continue;
        }
        if line == 1
            && record
                .get(1)
                .is_some_and(|s| s.eq_ignore_ascii_case("seed"))
        {
            continue;
        }
        match parse_row(&record) {
            Ok((token_id, seed, params, usr_name)) => rows.push(ImportRow {
                line,
                token_id,
                seed,
                params,
                usr_name,
            }),
            Err(reason) => report.refused.push((line, reason)),
        }
    }
    let rows = refuse_repeated_serials(rows, &mut report);
    (rows, report)
}

/// Moves every row whose serial appears on another row to the refused list.
fn refuse_repeated_serials(rows: Vec<ImportRow>, report: &mut ImportReport) -> Vec<ImportRow> {
    let mut lines: std::collections::HashMap<String, Vec<u64>> = Default::default();
    for r in &rows {
        lines
            .entry(r.token_id.to_string())
            .or_default()
            .push(r.line);
    }
    let (keep, repeated): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .partition(|r| lines.get(r.token_id.as_str()).is_none_or(|l| l.len() < 2));
    for r in repeated {
        let all: Vec<String> = lines[r.token_id.as_str()]
            .iter()
            .map(u64::to_string)
            .collect();
        report.refused.push((
            r.line,
            format!(
                "serial {:?} appears on lines {}: all refused",
                r.token_id.as_str(),
                all.join(", ")
            ),
        ));
    }
    report.refused.sort_by_key(|(line, _)| *line);
    keep
}

type Parsed = (TokenId, Seed, OtpParams, Option<UsrName>);

fn parse_row(record: &csv::StringRecord) -> Result<Parsed, String> {
    if !(5..=6).contains(&record.len()) {
        return Err(format!(
            "{} columns; expected serial,seed,algorithm,digits,period[,usr_name]",
            record.len()
        ));
    }
    let field = |i: usize| record.get(i).unwrap_or_default();
    let token_id =
        TokenId::parse(field(0)).ok_or("serial: 1-64 characters of A-Z a-z 0-9 . _ - expected")?;
    let hex = Zeroizing::new(field(1).to_owned());
    let bytes = hex::decode(hex.as_str()).map_err(|_| "seed: hex expected".to_owned())?;
    if bytes.len() < MIN_SEED_BYTES {
        return Err(format!(
            "seed: {} bits; at least 128 required",
            bytes.len() * 8
        ));
    }
    let seed = Seed::new(bytes);
    let algorithm: Algorithm = field(2)
        .to_ascii_uppercase()
        .parse()
        .map_err(|_| "algorithm: SHA1, SHA256 or SHA512 expected".to_owned())?;
    let digits = field(3)
        .parse::<u8>()
        .map_err(|e| e.to_string())
        .and_then(Digits::try_from)
        .map_err(|_| "digits: 6 or 8 expected".to_owned())?;
    let period = field(4)
        .parse::<u16>()
        .map_err(|e| e.to_string())
        .and_then(Period::try_from)
        .map_err(|_| "period: 30 or 60 expected".to_owned())?;
    let usr_name = match record.get(5).filter(|s| !s.is_empty()) {
        None => None,
        Some(name) => Some(UsrName::parse(name).ok_or("usr_name: not a valid UsrName")?),
    };
    let params = OtpParams {
        algorithm,
        digits,
        period,
    };
    Ok((token_id, seed, params, usr_name))
}

impl Service {
    /// Stores checked rows, `CHUNK` per transaction; serials already present are
    /// reported and skipped.
    pub fn import_tokens(
        &self,
        ctx: &Context,
        rows: &[ImportRow],
        now: DateTime<Utc>,
        report: &mut ImportReport,
    ) -> Result<(), Error> {
        let inst = self.institution(ctx).to_owned();
        for chunk in rows.chunks(CHUNK) {
            let present = self.store_sealed(|| self.store_chunk(ctx, &inst, chunk, now))?;
            report.imported += chunk.len() - present.len();
            report.already_present.extend(present);
        }
        Ok(())
    }

    /// Seals and stores one chunk in one transaction; `None` (nothing stored) if the
    /// active key changed under it (see `keys`). Answers the lines already present.
    fn store_chunk(
        &self,
        ctx: &Context,
        inst: &str,
        chunk: &[ImportRow],
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<u64>>, Error> {
        let sealed = chunk
            .iter()
            .map(|r| self.keyring.seal(&r.token_id, &r.seed))
            .collect::<Result<Vec<_>, _>>()?;
        self.storage.write(|c| {
            if let Some(first) = sealed.first() {
                if !super::keys::is_sealing_key(c, &first.key_id)? {
                    return Ok(None);
                }
            }
            let mut present = Vec::new();
            for (row, sealed) in chunk.iter().zip(&sealed) {
                let stored = StoredToken {
                    token_id: &row.token_id,
                    token_type: TokenType::Hardware,
                    params: &row.params,
                    sealed,
                    owner: row.usr_name.as_ref().map(|usr_name| Owner {
                        usr_name,
                        phone: None,
                        description: None,
                    }),
                };
                // The token row is the first statement of store_token, and a refused
                // insert is undone alone (`storage::refusable`): a duplicate leaves
                // nothing behind, and the chunk goes on.
                match store_token(
                    c,
                    ctx,
                    inst,
                    now,
                    crate::types::AuditAction::Import,
                    &stored,
                ) {
                    Ok(()) => {}
                    Err(e) if e.kind() == Fault::DuplicateTokenId => present.push(row.line),
                    Err(e) => return Err(e),
                }
            }
            Ok::<_, Error>(Some(present))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_HEX: &str = "3132333435363738393031323334353637383930";

    #[test]
    fn good_lines_parse_and_bad_ones_are_named_by_line() {
        let file = format!(
            "serial,seed,algorithm,digits,period,usr_name\n\
             # a comment\n\
             HW1,{SEED_HEX},sha1,6,30\n\
             HW2,{SEED_HEX},SHA256,8,60,alice\n\
             HW3,zz,SHA1,6,30\n\
             HW4,{SEED_HEX},MD5,6,30\n\
             HW5,{SEED_HEX},SHA1,7,30\n\
             HW6,{SEED_HEX},SHA1,6,45\n\
             HW7,3132,SHA1,6,30\n\
             bad serial,{SEED_HEX},SHA1,6,30\n\
             HW9,{SEED_HEX}\n"
        );
        let (rows, report) = parse_csv(file.as_bytes());
        let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 4]);
        assert_eq!(
            rows[1].usr_name.as_ref().map(UsrName::as_str),
            Some("alice")
        );
        assert_eq!(rows[1].params.digits.get(), 8);
        let refused: Vec<u64> = report.refused.iter().map(|(l, _)| *l).collect();
        assert_eq!(refused, vec![5, 6, 7, 8, 9, 10, 11]);
        assert!(report
            .refused
            .iter()
            .all(|(_, why)| !why.contains(SEED_HEX)));
    }

    #[test]
    fn a_serial_repeated_in_a_csv_file_refuses_every_line_with_it() {
        let file = format!(
            "HW1,{SEED_HEX},SHA1,6,30\n\
             HW2,{SEED_HEX},SHA1,6,30\n\
             HW1,4142434445464748494a4b4c4d4e4f5051525354,SHA1,6,30\n"
        );
        let (rows, report) = parse_csv(file.as_bytes());
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [2]);
        assert_eq!(
            report.refused.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
            [1, 3]
        );
        assert!(report.refused[0].1.contains("lines 1, 3"), "{report:?}");
    }
}
