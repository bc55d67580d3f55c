//! The audit chain's *anchor*: where the hot table's chain starts once rows have been
//! archived (the last archived row's place and link, kept in `meta`). Read by the linker
//! and the verifier (`audit`) and moved by the archive (`audit_archive`); apart from both
//! so neither imports the other.

use serde::{Deserialize, Serialize};

use super::{meta, Conn, Error};

/// The `meta` name of the anchor.
pub(super) const ANCHOR: &str = "audit_anchor";

/// Where the hot table's chain starts: everything at or before `pos` is in the archive.
/// The default (no archive yet) is the chain's beginning: position 0, empty link.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditAnchor {
    /// Chain position of the last archived row.
    pub pos: i64,
    /// Its link: the hot table's first row links to it.
    pub link: String,
    /// SHA-256 (hex) of the last segment's manifest, so the next manifest chains to it.
    pub manifest_sha256: String,
    /// The newest `at` (ms) among archived rows: a search from before it reaches the
    /// archive.
    pub archived_max_at: i64,
}

/// The anchor now (the chain's beginning when nothing was archived yet).
pub fn find_anchor(conn: &mut Conn) -> Result<AuditAnchor, Error> {
    match meta::find_value(conn, ANCHOR)? {
        None => Ok(AuditAnchor::default()),
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| Error::Db(format!("unreadable audit anchor in meta: {e}"))),
    }
}
