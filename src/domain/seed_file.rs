//! A vendor's seed file of either kind, PSKC (XML, RFC 6030) or CSV, told apart by its
//! content and read into the rows `import` stores. Above both readers, so neither
//! imports the other's module.

use chrono::{DateTime, Utc};

use super::import::{parse_csv, FileRefused, ImportReport, ImportRow};
use super::pskc::{is_pskc, parse_pskc, PskcKeys};

/// Reads a seed file of either kind: PSKC (XML, RFC 6030) or CSV. `Err` refuses the
/// whole file (a PSKC file that is incomplete, cannot be opened, or whose MACs do not
/// verify). `now` judges PSKC keys' validity dates. The CLI and the console both call
/// this, so a file gets the same outcome through either.
pub fn parse_file(
    bytes: &[u8],
    keys: &PskcKeys,
    now: DateTime<Utc>,
) -> Result<(Vec<ImportRow>, ImportReport), FileRefused> {
    if is_pskc(bytes) {
        parse_pskc(bytes, keys, now)
    } else {
        Ok(parse_csv(bytes))
    }
}
