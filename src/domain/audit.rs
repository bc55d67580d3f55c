//! Audit records: who did what to which token, with the jXchange correlation ids.
//!
//! Written in the same transaction as the change they describe, so a change without its
//! record (or the reverse) cannot exist. NEVER pass a seed or a code in `detail`.

use chrono::{DateTime, Utc};

use super::{to_ms, Context, Error, Service};
use crate::storage::audit::{
    self as rows, canonical_bytes, count_unlinked, find_audit, find_audit_for_token,
    find_chain_page, insert_audit_event, NewAuditEvent,
};
use crate::storage::audit_archive::{find_anchor, AuditAnchor};
use crate::storage::{self, Conn};
use crate::types::{AuditAction, AuditResult};

/// One audit record as the edges show it: the row without its chain link's value (the
/// domain's view, so the edges never hold a storage row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Record id (ascending in time).
    pub id: i32,
    /// When, ms since the epoch.
    pub at: i64,
    /// Who (`apikey:NAME`, `admin:NAME`, `cli`).
    pub actor: String,
    /// jXchange `AuditUsrId`.
    pub audit_usr_id: Option<String>,
    /// Which element the consumer asserted it in (`AuditUsrId` or `AuthenUsrCred`).
    pub audit_usr_src: Option<String>,
    /// jXchange `AuditWsId`.
    pub audit_ws_id: Option<String>,
    /// jXchange `jXLogTrackingId`.
    pub tracking_id: Option<String>,
    /// jXchange `BusCorrelId`.
    pub bus_correl_id: Option<String>,
    /// What.
    pub action: String,
    /// Token.
    pub token_id: Option<String>,
    /// User.
    pub usr_name: Option<String>,
    /// Outcome.
    pub result: String,
    /// Why.
    pub detail: Option<String>,
    /// Whether the record is linked into the chain yet.
    pub linked: bool,
    /// Institution; `None`: the default one.
    pub inst_rt_id: Option<String>,
}

impl From<rows::AuditEvent> for AuditEvent {
    fn from(e: rows::AuditEvent) -> AuditEvent {
        AuditEvent {
            id: e.id,
            at: e.at,
            actor: e.actor,
            audit_usr_id: e.audit_usr_id,
            audit_usr_src: e.audit_usr_src,
            audit_ws_id: e.audit_ws_id,
            tracking_id: e.tracking_id,
            bus_correl_id: e.bus_correl_id,
            action: e.action,
            token_id: e.token_id,
            usr_name: e.usr_name,
            result: e.result,
            detail: e.detail,
            linked: e.link.is_some(),
            inst_rt_id: e.inst_rt_id,
        }
    }
}

/// Which audit records a listing shows (every field optional; all must match).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Records about this user.
    pub usr_name: Option<String>,
    /// Records about this token.
    pub token_id: Option<String>,
    /// Records of this action.
    pub action: Option<String>,
    /// Records at or after this time, ms.
    pub from_ms: Option<i64>,
    /// Records before this time, ms.
    pub to_ms: Option<i64>,
    /// Records with ids below this one (the previous page's last id).
    pub before_id: Option<i32>,
    /// Records of this institution only (an institution-bound key's view).
    pub inst_rt_id: Option<String>,
}

/// What one audit row says, apart from who and when.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// The operation: `enroll`, `activate`, `validate`, `apikey.create`, ...
    pub action: AuditAction,
    /// Token concerned.
    pub token_id: Option<&'a str>,
    /// User concerned.
    pub usr_name: Option<&'a str>,
    /// Outcome: `Success`, `Failed`, `Locked`, ...
    pub result: AuditResult,
    /// Why, for a help desk (e.g. "replayed code", "wrong code, 2 of 5").
    pub detail: Option<&'a str>,
}

/// Appends one audit row inside the caller's transaction.
pub fn record(
    conn: &mut Conn,
    ctx: &Context,
    now: DateTime<Utc>,
    entry: Entry<'_>,
) -> Result<(), storage::Error> {
    insert_audit_event(conn, &row(ctx, now, entry))
}

/// The row [`record`] inserts, for a storage function that inserts it itself (the
/// one-statement success on PostgreSQL, `tokens::accept_success_pg`).
pub fn row<'a>(ctx: &'a Context, now: DateTime<Utc>, entry: Entry<'a>) -> NewAuditEvent<'a> {
    NewAuditEvent {
        at: to_ms(now),
        actor: &ctx.actor,
        audit_usr_id: ctx.audit_usr_id.as_deref(),
        audit_ws_id: ctx.audit_ws_id.as_deref(),
        tracking_id: ctx.tracking_id.as_deref(),
        bus_correl_id: ctx.bus_correl_id.as_deref(),
        action: entry.action,
        token_id: entry.token_id,
        usr_name: entry.usr_name,
        result: entry.result,
        detail: entry.detail,
        inst_rt_id: ctx.inst_rt_id.as_deref(),
        audit_usr_src: ctx.audit_usr_src,
    }
}

/// What `tokend audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Rows whose link verified.
    pub linked: u64,
    /// Rows at the end not linked yet (written by a commit still in flight, or by a
    /// process without the key); they are linked by the next commit.
    pub unlinked_tail: u64,
    /// The first row that breaks the chain, and why.
    pub broken: Option<(i32, &'static str)>,
    /// The last verified link: keep it outside the database to detect a truncated trail.
    pub head: Option<(i32, String)>,
    /// Chain position the table starts after (the archive's anchor; 0: nothing archived).
    pub anchor_pos: i64,
}

/// How often a verification restarts because an archive run pruned rows under it.
const RESTARTS: usize = 3;

/// Rows read per page while verifying.
const VERIFY_PAGE: i64 = 10_000;

/// Longest page of `GET /api/v1/audit`.
pub const MAX_AUDIT_PAGE: i64 = 500;

impl Service {
    /// Walks the whole chain in its order and checks every link: a changed, inserted or
    /// removed row breaks the chain at that row. Rows not linked yet are counted, not
    /// checked (on PostgreSQL the elected linker links them within a second or so).
    pub fn verify_audit_chain(&self) -> Result<ChainReport, Error> {
        self.verify_audit_chain_in(&self.storage)
    }

    /// Links the rows written but not linked yet (on PostgreSQL the elected linker links
    /// them shortly after their commit: this takes the duty if no node holds it, else
    /// waits up to `wait` for that node), so a verification right after a burst of writes
    /// checks them too. SQLite's commits link their own rows: nothing waits there.
    pub fn settle_audit_links(&self, wait: std::time::Duration) -> Result<(), Error> {
        self.settle_audit_links_before(i64::MAX, wait)
    }

    /// [`Service::settle_audit_links`] for the rows written before `before_ms` only: an
    /// archive run under load need not wait for the rows still arriving.
    pub fn settle_audit_links_before(
        &self,
        before_ms: i64,
        wait: std::time::Duration,
    ) -> Result<(), Error> {
        let deadline = std::time::Instant::now() + wait;
        let mut leader = self.audit_linker();
        let pending = |c: &mut Conn| rows::count_unlinked_before(c, before_ms);
        while self.storage.read(pending)? > 0 && std::time::Instant::now() < deadline {
            let linked = if leader.holds() {
                leader.link_audit()?
            } else {
                0
            };
            if linked == 0 {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        Ok(())
    }

    /// [`Service::verify_audit_chain`] on another database (a copy) with this keyring.
    pub(super) fn verify_audit_chain_in(
        &self,
        storage: &storage::Storage,
    ) -> Result<ChainReport, Error> {
        // An archive run may prune the rows being read; when the anchor moved meanwhile,
        // the walk starts again from the new anchor (a few times at most).
        for _ in 0..RESTARTS {
            let anchor = storage.read(find_anchor)?;
            let report = self.verify_from(storage, &anchor)?;
            if report.broken.is_none() || storage.read(find_anchor)? == anchor {
                return Ok(report);
            }
        }
        let anchor = storage.read(find_anchor)?;
        self.verify_from(storage, &anchor)
    }

    /// Verifies the table's chain from an anchor (the last archived row's link).
    fn verify_from(
        &self,
        storage: &storage::Storage,
        anchor: &AuditAnchor,
    ) -> Result<ChainReport, Error> {
        let mut report = ChainReport {
            linked: 0,
            unlinked_tail: 0,
            broken: None,
            head: None,
            anchor_pos: anchor.pos,
        };
        let mut previous = anchor.link.clone();
        let mut after = anchor.pos;
        loop {
            let page = storage.read(|c| find_chain_page(c, after, VERIFY_PAGE))?;
            let Some(last) = page.last() else {
                report.unlinked_tail = storage.read(count_unlinked)?.unsigned_abs();
                return Ok(report);
            };
            after = last.chain_pos.unwrap_or(i64::MAX);
            for row in &page {
                if let Some(why) = self.check_link(&mut report, &previous, row) {
                    report.broken = Some((row.id, why));
                    return Ok(report);
                }
                if let Some(link) = &row.link {
                    previous.clone_from(link);
                    report.head = Some((row.id, link.clone()));
                }
            }
        }
    }

    /// Checks one row against the previous link; the reason it breaks the chain, if so.
    fn check_link(
        &self,
        report: &mut ChainReport,
        previous: &str,
        row: &rows::AuditEvent,
    ) -> Option<&'static str> {
        match &row.link {
            None => Some("a row has a place in the chain but no link: rows were changed"),
            Some(link)
                if self
                    .keyring
                    .verify_audit_link(previous, &canonical_bytes(row), link) =>
            {
                report.linked += 1;
                None
            }
            Some(_) => Some("the link does not match the row and the previous link"),
        }
    }

    /// Audit rows matching `filter`, newest first, at most `limit` (capped). Rows without
    /// an institution belong to the default one, so its filter takes them too.
    pub fn audit_log(&self, filter: &AuditFilter, limit: i64) -> Result<Vec<AuditEvent>, Error> {
        let limit = limit.clamp(1, MAX_AUDIT_PAGE);
        let filter = rows::AuditFilter {
            usr_name: filter.usr_name.clone(),
            token_id: filter.token_id.clone(),
            action: filter.action.clone(),
            from_ms: filter.from_ms,
            to_ms: filter.to_ms,
            before_id: filter.before_id,
            with_unplaced: filter.inst_rt_id.as_deref()
                == Some(self.policy.default_inst_rt_id.as_str()),
            inst_rt_id: filter.inst_rt_id.clone(),
        };
        let found = self.storage.read(|c| find_audit(c, &filter, limit))?;
        Ok(found.into_iter().map(AuditEvent::from).collect())
    }

    /// The newest audit rows about a token, newest first.
    pub fn token_history(&self, token_id: &str, limit: i64) -> Result<Vec<AuditEvent>, Error> {
        let found = self
            .storage
            .read(|c| find_audit_for_token(c, token_id, limit))?;
        Ok(found.into_iter().map(AuditEvent::from).collect())
    }
}
