//! Console sessions held server-side: the cookie carries a random id, the database its
//! SHA-256. Sign-out deletes the row, so the cookie is worthless at once in every process
//! on the database; idle and absolute expiry are judged from the row, not the cookie.

use chrono::{DateTime, Utc};

use super::admins::SignedIn;
use super::{to_ms, Error, Service};
use crate::crypto::digest;
use crate::storage::admin_sessions as store;

/// A session ends this long after sign-in, however active.
pub const ABSOLUTE_SECS: i64 = 12 * 3600;
/// The last-seen time is slid at most this often (a console page is several requests).
const SLIDE_EVERY_MS: i64 = 15_000;

/// A session's id (the cookie's secret part). Redacted in `Debug`.
pub struct SessionId(pub String);

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId(…)")
    }
}

fn id_hash(id: &str) -> String {
    digest::sha256_hex(id.as_bytes())
}

impl Service {
    /// Starts a session for a signed-in admin (and drops the expired ones of anybody).
    pub fn start_admin_session(
        &self,
        admin_id: i32,
        idle_secs: i64,
        now: DateTime<Utc>,
    ) -> Result<SessionId, Error> {
        let id = super::random_token()?;
        let hash = id_hash(&id);
        let (idle_cutoff, issued_cutoff) = cutoffs(idle_secs, now);
        self.storage.write(|c| {
            store::delete_expired_admin_sessions(c, idle_cutoff, issued_cutoff)?;
            store::insert_admin_session(c, &hash, admin_id, to_ms(now))?;
            Ok::<_, Error>(())
        })?;
        Ok(SessionId(id))
    }

    /// The admin behind a session id, if the session still exists, is neither idle past
    /// `idle_secs` nor older than [`ABSOLUTE_SECS`], and was issued after the account's
    /// password was last set. An expired session is deleted.
    pub fn admin_session(
        &self,
        id: &str,
        idle_secs: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<SignedIn>, Error> {
        let hash = id_hash(id);
        let Some(row) = self.storage.read(|c| store::find_admin_session(c, &hash))? else {
            return Ok(None);
        };
        let (idle_cutoff, issued_cutoff) = cutoffs(idle_secs, now);
        let admin = self.find_admin(row.admin_id)?;
        let live = row.last_seen_at >= idle_cutoff
            && row.issued_at >= issued_cutoff
            && admin
                .as_ref()
                .is_some_and(|a| row.issued_at >= a.password_set_ms);
        if !live {
            self.storage
                .write(|c| store::delete_admin_session(c, &hash))?;
            return Ok(None);
        }
        if to_ms(now) - row.last_seen_at >= SLIDE_EVERY_MS {
            self.storage
                .write(|c| store::update_admin_session_seen(c, &hash, to_ms(now)))?;
        }
        Ok(admin)
    }

    /// Ends a session (sign-out); unknown ids change nothing.
    pub fn end_admin_session(&self, id: &str) -> Result<(), Error> {
        let hash = id_hash(id);
        self.storage
            .write(|c| store::delete_admin_session(c, &hash))?;
        Ok(())
    }
}

/// The idle and absolute cut-offs (ms) at `now`.
fn cutoffs(idle_secs: i64, now: DateTime<Utc>) -> (i64, i64) {
    let now_ms = to_ms(now);
    (
        now_ms.saturating_sub(idle_secs.saturating_mul(1000)),
        now_ms.saturating_sub(ABSOLUTE_SECS * 1000),
    )
}
