//! Admin accounts of the web console: argon2id password hashes (never a password) and
//! the sign-in back-off counters.

use diesel::prelude::*;

use super::schema::admins;
use super::{Conn, Error};

/// A stored admin account.
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = admins)]
pub struct Admin {
    /// Row id.
    pub id: i32,
    /// Sign-in name, unique.
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// A new password is required at the next sign-in.
    pub must_change: bool,
    /// Consecutive failed sign-ins.
    pub failure_count: i32,
    /// No sign-in is checked before this time (ms).
    pub locked_until: Option<i64>,
    /// Last successful sign-in (ms).
    pub last_sign_in_at: Option<i64>,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Admin({}, {})", self.id, self.username)
    }
}

/// Stores a new account; a duplicate username is [`Error::Conflict`].
pub fn insert_admin(
    conn: &mut Conn,
    username: &str,
    password_hash: &str,
    must_change: bool,
    now_ms: i64,
) -> Result<i32, Error> {
    Ok(diesel::insert_into(admins::table)
        .values((
            admins::username.eq(username),
            admins::password_hash.eq(password_hash),
            admins::must_change.eq(must_change),
            admins::failure_count.eq(0),
            admins::created_at.eq(now_ms),
            admins::updated_at.eq(now_ms),
        ))
        .returning(admins::id)
        .get_result(conn)?)
}

/// How many accounts exist.
pub fn count_admins(conn: &mut Conn) -> Result<i64, Error> {
    Ok(admins::table.count().get_result(conn)?)
}

/// Finds an account by username.
pub fn find_admin(conn: &mut Conn, username: &str) -> Result<Option<Admin>, Error> {
    Ok(admins::table
        .filter(admins::username.eq(username))
        .select(Admin::as_select())
        .first(conn)
        .optional()?)
}

/// Finds an account by row id.
pub fn find_admin_by_pk(conn: &mut Conn, id: i32) -> Result<Option<Admin>, Error> {
    Ok(admins::table
        .find(id)
        .select(Admin::as_select())
        .first(conn)
        .optional()?)
}

/// Records a failed sign-in: the new count and the back-off end.
pub fn update_admin_failure(
    conn: &mut Conn,
    id: i32,
    failure_count: i32,
    locked_until: Option<i64>,
) -> Result<(), Error> {
    diesel::update(admins::table.find(id))
        .set((
            admins::failure_count.eq(failure_count),
            admins::locked_until.eq(locked_until),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records a successful sign-in: clears the back-off.
pub fn update_admin_signed_in(conn: &mut Conn, id: i32, now_ms: i64) -> Result<(), Error> {
    diesel::update(admins::table.find(id))
        .set((
            admins::failure_count.eq(0),
            admins::locked_until.eq(None::<i64>),
            admins::last_sign_in_at.eq(Some(now_ms)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Replaces the password hash.
pub fn update_admin_password(
    conn: &mut Conn,
    id: i32,
    password_hash: &str,
    must_change: bool,
    now_ms: i64,
) -> Result<(), Error> {
    diesel::update(admins::table.find(id))
        .set((
            admins::password_hash.eq(password_hash),
            admins::must_change.eq(must_change),
            admins::updated_at.eq(now_ms),
        ))
        .execute(conn)?;
    Ok(())
}
