//! Console sessions: the SHA-256 of each session's random id (never the id itself), its
//! admin, when it was issued and last seen. A session exists while its row does, so
//! sign-out and expiry hold for every process on the database.

use diesel::prelude::*;

use super::schema::admin_sessions;
use super::{Conn, Error};

/// A stored console session.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = admin_sessions)]
pub struct AdminSessionRow {
    /// SHA-256 (hex) of the cookie's session id.
    pub id_hash: String,
    /// The admin signed in.
    pub admin_id: i32,
    /// Sign-in time, ms.
    pub issued_at: i64,
    /// Last request, ms (slid at most every few seconds).
    pub last_seen_at: i64,
    /// When it passed its second factor, ms (none: the password only).
    pub factor_at: Option<i64>,
    /// How it signed in: `password` or `oidc`.
    pub via: String,
}

/// Stores a new session.
pub fn insert_admin_session(
    conn: &mut Conn,
    id_hash: &str,
    admin_id: i32,
    now_ms: i64,
) -> Result<(), Error> {
    insert_admin_session_via(conn, id_hash, admin_id, now_ms, "password", None)
}

/// Stores a new session signed in `via` a way (`password`, `oidc`), with the time its
/// second factor was passed if it was (an identity provider's sign-in carries its own).
pub fn insert_admin_session_via(
    conn: &mut Conn,
    id_hash: &str,
    admin_id: i32,
    now_ms: i64,
    via: &str,
    factor_at: Option<i64>,
) -> Result<(), Error> {
    diesel::insert_into(admin_sessions::table)
        .values((
            admin_sessions::id_hash.eq(id_hash),
            admin_sessions::admin_id.eq(admin_id),
            admin_sessions::issued_at.eq(now_ms),
            admin_sessions::last_seen_at.eq(now_ms),
            admin_sessions::via.eq(via),
            admin_sessions::factor_at.eq(factor_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Finds a session by the hash of its id.
pub fn find_admin_session(
    conn: &mut Conn,
    id_hash: &str,
) -> Result<Option<AdminSessionRow>, Error> {
    Ok(admin_sessions::table
        .find(id_hash)
        .select(AdminSessionRow::as_select())
        .first(conn)
        .optional()?)
}

/// Slides a session's last-seen time.
pub fn update_admin_session_seen(conn: &mut Conn, id_hash: &str, now_ms: i64) -> Result<(), Error> {
    diesel::update(admin_sessions::table.find(id_hash))
        .set(admin_sessions::last_seen_at.eq(now_ms))
        .execute(conn)?;
    Ok(())
}

/// Records that a session passed its second factor.
pub fn update_admin_session_factor(
    conn: &mut Conn,
    id_hash: &str,
    now_ms: i64,
) -> Result<(), Error> {
    diesel::update(admin_sessions::table.find(id_hash))
        .set(admin_sessions::factor_at.eq(Some(now_ms)))
        .execute(conn)?;
    Ok(())
}

/// The sessions of one account, newest first.
pub fn find_admin_sessions_of(
    conn: &mut Conn,
    admin_id: i32,
) -> Result<Vec<AdminSessionRow>, Error> {
    Ok(admin_sessions::table
        .filter(admin_sessions::admin_id.eq(admin_id))
        .order(admin_sessions::issued_at.desc())
        .select(AdminSessionRow::as_select())
        .load(conn)?)
}

/// Ends one session; answers whether it existed.
pub fn delete_admin_session(conn: &mut Conn, id_hash: &str) -> Result<bool, Error> {
    Ok(diesel::delete(admin_sessions::table.find(id_hash)).execute(conn)? == 1)
}

/// Ends every session of an admin (a password change signs the account out everywhere).
pub fn delete_admin_sessions_of(conn: &mut Conn, admin_id: i32) -> Result<usize, Error> {
    Ok(
        diesel::delete(admin_sessions::table.filter(admin_sessions::admin_id.eq(admin_id)))
            .execute(conn)?,
    )
}

/// Deletes the sessions idle since before `idle_cutoff` or issued before `issued_cutoff`.
pub fn delete_expired_admin_sessions(
    conn: &mut Conn,
    idle_cutoff: i64,
    issued_cutoff: i64,
) -> Result<usize, Error> {
    Ok(diesel::delete(
        admin_sessions::table.filter(
            admin_sessions::last_seen_at
                .lt(idle_cutoff)
                .or(admin_sessions::issued_at.lt(issued_cutoff)),
        ),
    )
    .execute(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::admins::insert_admin;
    use crate::storage::test_support::temp_storage;

    #[test]
    fn a_session_lives_until_deleted_or_expired() {
        let (_dir, storage) = temp_storage();
        storage
            .write(|c| {
                let new = crate::storage::admins::NewAdmin {
                    username: "ola",
                    password_hash: "$argon2id$x",
                    must_change: false,
                    role: crate::types::Role::Admin,
                    inst_rt_id: None,
                };
                let admin = insert_admin(c, &new, 0)?;
                insert_admin_session(c, "h1", admin, 1_000)?;
                insert_admin_session(c, "h2", admin, 1_000)?;
                update_admin_session_seen(c, "h2", 50_000)?;
                assert_eq!(find_admin_session(c, "h1")?.unwrap().admin_id, admin);
                // h1 idle since 1 000, h2 seen at 50 000: the idle cutoff 10 000 ends h1.
                assert_eq!(delete_expired_admin_sessions(c, 10_000, 0)?, 1);
                assert!(find_admin_session(c, "h1")?.is_none());
                assert!(delete_admin_session(c, "h2")?);
                assert!(!delete_admin_session(c, "h2")?);
                insert_admin_session(c, "h3", admin, 1_000)?;
                assert_eq!(delete_admin_sessions_of(c, admin)?, 1);
                Ok::<_, Error>(())
            })
            .unwrap();
    }
}
