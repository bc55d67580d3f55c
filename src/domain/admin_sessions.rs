//! Console sessions held server-side: the cookie carries a random id, the database its
//! SHA-256. Sign-out deletes the row, so the cookie is worthless at once in every process
//! on the database; idle and absolute expiry are judged from the row, not the cookie.
//! A session remembers whether it passed its second factor (`factor_at`), so a password
//! alone opens no page while the console requires one.

use chrono::{DateTime, Utc};

use super::admins::SignedIn;
use super::audit::{self, Entry};
use super::{from_ms, to_ms, Context, Error, Fault, Service};
use crate::crypto::digest;
use crate::storage::{admin_sessions as store, admins};
use crate::types::{AuditAction, AuditResult};

/// The last-seen time is slid at most this often (a console page is several requests).
const SLIDE_EVERY_MS: i64 = 15_000;
/// Characters of a session's id hash that name it on the sessions page (a handle, not a
/// secret: the hash of the cookie's id, never the id).
const HANDLE_CHARS: usize = 16;

/// How long sessions live (`console_idle_secs`, `console_session_secs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Inactivity after which a session ends.
    pub idle_secs: i64,
    /// Time after sign-in at which a session ends, however active.
    pub absolute_secs: i64,
}

impl Default for SessionLimits {
    fn default() -> SessionLimits {
        SessionLimits {
            idle_secs: 900,
            absolute_secs: 28_800,
        }
    }
}

/// A session's id (the cookie's secret part). Redacted in `Debug`.
pub struct SessionId(pub String);

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId(…)")
    }
}

/// A live session: who, and whether it passed its second factor.
#[derive(Debug, Clone)]
pub struct LiveSession {
    /// The account.
    pub admin: SignedIn,
    /// The second factor was passed (or the identity provider vouched for it).
    pub factor_passed: bool,
    /// This session's handle (see [`SessionInfo::handle`]).
    pub handle: String,
}

/// A session as its owner's page lists it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// Names it in forms: the start of its id's hash.
    pub handle: String,
    /// Signed in.
    pub issued_at: Option<DateTime<Utc>>,
    /// Last request.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// `password` or `oidc`.
    pub via: String,
    /// Passed its second factor.
    pub factor_passed: bool,
}

fn id_hash(id: &str) -> String {
    digest::sha256_hex(id.as_bytes())
}

fn handle_of(hash: &str) -> String {
    hash.chars().take(HANDLE_CHARS).collect()
}

impl Service {
    /// Starts a session for a signed-in admin (and drops the expired ones of anybody).
    /// `via` says how (`password`, `oidc`); `factor_passed` is true when the sign-in
    /// already carried a second factor (an identity provider's).
    pub fn start_admin_session(
        &self,
        admin_id: i32,
        limits: SessionLimits,
        (via, factor_passed): (&str, bool),
        now: DateTime<Utc>,
    ) -> Result<SessionId, Error> {
        let id = super::random_token()?;
        let hash = id_hash(&id);
        let (idle_cutoff, issued_cutoff) = cutoffs(limits, now);
        let factor_at = factor_passed.then_some(to_ms(now));
        self.storage.write(|c| {
            store::delete_expired_admin_sessions(c, idle_cutoff, issued_cutoff)?;
            store::insert_admin_session_via(c, &hash, admin_id, to_ms(now), via, factor_at)?;
            Ok::<_, Error>(())
        })?;
        Ok(SessionId(id))
    }

    /// The session behind an id, if it still exists, is neither idle past the limit nor
    /// older than the absolute one, and was issued after the account's password was last
    /// set (a disabled account has no live session). An expired session is deleted.
    pub fn admin_session(
        &self,
        id: &str,
        limits: SessionLimits,
        now: DateTime<Utc>,
    ) -> Result<Option<LiveSession>, Error> {
        let hash = id_hash(id);
        let Some(row) = self.storage.read(|c| store::find_admin_session(c, &hash))? else {
            return Ok(None);
        };
        let (idle_cutoff, issued_cutoff) = cutoffs(limits, now);
        let admin = self.find_admin(row.admin_id)?;
        let live = row.last_seen_at >= idle_cutoff
            && row.issued_at >= issued_cutoff
            && admin
                .as_ref()
                .is_some_and(|a| row.issued_at >= a.password_set_ms);
        let Some(admin) = admin.filter(|_| live) else {
            self.storage
                .write(|c| store::delete_admin_session(c, &hash))?;
            return Ok(None);
        };
        // Slid at most every 15 s, and more often under a short idle timeout.
        let slide_every = SLIDE_EVERY_MS.min(limits.idle_secs.max(1).saturating_mul(250));
        if to_ms(now) - row.last_seen_at >= slide_every {
            self.storage
                .write(|c| store::update_admin_session_seen(c, &hash, to_ms(now)))?;
        }
        Ok(Some(LiveSession {
            admin,
            factor_passed: row.factor_at.is_some(),
            handle: handle_of(&hash),
        }))
    }

    /// Records that a session passed its second factor.
    pub fn pass_session_factor(&self, id: &str, now: DateTime<Utc>) -> Result<(), Error> {
        let hash = id_hash(id);
        self.storage
            .write(|c| store::update_admin_session_factor(c, &hash, to_ms(now)))?;
        Ok(())
    }

    /// Ends a session (sign-out); unknown ids change nothing.
    pub fn end_admin_session(&self, id: &str) -> Result<(), Error> {
        let hash = id_hash(id);
        self.storage
            .write(|c| store::delete_admin_session(c, &hash))?;
        Ok(())
    }

    /// An account's live sessions, newest first.
    pub fn sessions_of(&self, admin_id: i32) -> Result<Vec<SessionInfo>, Error> {
        let rows = self
            .storage
            .read(|c| store::find_admin_sessions_of(c, admin_id))?;
        Ok(rows
            .into_iter()
            .map(|r| SessionInfo {
                handle: handle_of(&r.id_hash),
                issued_at: from_ms(r.issued_at),
                last_seen_at: from_ms(r.last_seen_at),
                via: r.via,
                factor_passed: r.factor_at.is_some(),
            })
            .collect())
    }

    /// Ends one of an account's own sessions by its handle (audited).
    pub fn end_own_session(
        &self,
        ctx: &Context,
        admin_id: i32,
        handle: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.storage.write(|c| {
            let mine = store::find_admin_sessions_of(c, admin_id)?;
            let found = mine
                .iter()
                .find(|r| handle.len() == HANDLE_CHARS && r.id_hash.starts_with(handle))
                .ok_or_else(|| {
                    Error::at(Fault::InvalidValue, "session")
                        .with_detail("(no such session of yours)")
                })?;
            store::delete_admin_session(c, &found.id_hash)?;
            let detail = format!("own session {handle}");
            Ok(audit::record(c, ctx, now, sessions_entry(&detail))?)
        })
    }

    /// Ends every session of an account (an admin's action, audited): signed out at
    /// once on every node.
    pub fn end_sessions_of(
        &self,
        ctx: &Context,
        username: &str,
        now: DateTime<Utc>,
    ) -> Result<usize, Error> {
        self.storage.write(|c| {
            let admin = admins::find_admin(c, username)?
                .ok_or_else(|| Error::at(Fault::InvalidValue, "username").with_value(username))?;
            let n = store::delete_admin_sessions_of(c, admin.id)?;
            let detail = format!("{n} session(s) of {username}");
            audit::record(c, ctx, now, sessions_entry(&detail))?;
            Ok::<_, Error>(n)
        })
    }
}

fn sessions_entry(detail: &str) -> Entry<'_> {
    Entry {
        action: AuditAction::AdminSessionsEnd,
        token_id: None,
        usr_name: None,
        result: AuditResult::Success,
        detail: Some(detail),
    }
}

/// The idle and absolute cut-offs (ms) at `now`.
fn cutoffs(limits: SessionLimits, now: DateTime<Utc>) -> (i64, i64) {
    let now_ms = to_ms(now);
    (
        now_ms.saturating_sub(limits.idle_secs.max(1).saturating_mul(1000)),
        now_ms.saturating_sub(limits.absolute_secs.max(1).saturating_mul(1000)),
    )
}
