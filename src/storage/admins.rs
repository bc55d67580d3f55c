//! Admin accounts of the web console: argon2id password hashes (never a password) and
//! the sign-in back-off counters.

use diesel::prelude::*;

use super::schema::admins;
use super::{Conn, Error};
use crate::types::Role;

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
    /// What the account may do in the console.
    pub role: Role,
    /// The one institution it acts within; `None`: every institution.
    pub inst_rt_id: Option<String>,
    /// When the account was disabled (ms): it signs in no more.
    pub disabled_at: Option<i64>,
}

/// A new account.
#[derive(Debug, Clone, Copy)]
pub struct NewAdmin<'a> {
    /// Sign-in name, unique.
    pub username: &'a str,
    /// argon2id PHC string.
    pub password_hash: &'a str,
    /// A new password is required at the first sign-in.
    pub must_change: bool,
    /// Its role.
    pub role: Role,
    /// Its institution; `None`: every institution.
    pub inst_rt_id: Option<&'a str>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Admin({}, {})", self.id, self.username)
    }
}

/// Stores a new account; a duplicate username is [`Error::Conflict`].
pub fn insert_admin(conn: &mut Conn, new: &NewAdmin<'_>, now_ms: i64) -> Result<i32, Error> {
    super::refusable(conn, |c| {
        diesel::insert_into(admins::table)
            .values((
                admins::username.eq(new.username),
                admins::password_hash.eq(new.password_hash),
                admins::must_change.eq(new.must_change),
                admins::role.eq(new.role),
                admins::inst_rt_id.eq(new.inst_rt_id),
                admins::failure_count.eq(0),
                admins::created_at.eq(now_ms),
                admins::updated_at.eq(now_ms),
            ))
            .returning(admins::id)
            .get_result(c)
    })
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

/// Claims one sign-in attempt before its password is checked: counts it as a failure at
/// once (a success takes it back) unless the account is in a back-off. Answers the count
/// including this attempt, or `None` while the back-off runs. One conditional UPDATE, so
/// of any number of concurrent attempts only as many as the free failures are checked.
pub fn update_admin_claim_attempt(
    conn: &mut Conn,
    id: i32,
    now_ms: i64,
) -> Result<Option<i32>, Error> {
    Ok(diesel::update(
        admins::table.find(id).filter(
            admins::locked_until
                .is_null()
                .or(admins::locked_until.le(now_ms)),
        ),
    )
    .set(admins::failure_count.eq(admins::failure_count + 1))
    .returning(admins::failure_count)
    .get_result(conn)
    .optional()?)
}

/// Starts a back-off that ends at `until` (ms).
pub fn update_admin_backoff(conn: &mut Conn, id: i32, until: i64) -> Result<(), Error> {
    diesel::update(admins::table.find(id))
        .set(admins::locked_until.eq(until))
        .execute(conn)?;
    Ok(())
}

/// Records a successful sign-in of the attempt that claimed `claimed` and clears the
/// back-off — unless a back-off started after that claim (attempts claimed later locked
/// the account meanwhile): then nothing changes and the answer is false.
pub fn update_admin_signed_in(
    conn: &mut Conn,
    id: i32,
    claimed: i32,
    now_ms: i64,
) -> Result<bool, Error> {
    let not_locked = admins::locked_until
        .is_null()
        .or(admins::locked_until.le(now_ms));
    let rows = diesel::update(
        admins::table
            .find(id)
            .filter(not_locked.or(admins::failure_count.eq(claimed))),
    )
    .set((
        admins::failure_count.eq(0),
        admins::locked_until.eq(None::<i64>),
        admins::last_sign_in_at.eq(Some(now_ms)),
    ))
    .execute(conn)?;
    Ok(rows == 1)
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

/// Every account, by username.
pub fn find_admins(conn: &mut Conn) -> Result<Vec<Admin>, Error> {
    Ok(admins::table
        .order(admins::username.asc())
        .select(Admin::as_select())
        .load(conn)?)
}

/// Changes an account's role, only while it is still `from` (a compare-and-swap, so a
/// role change approved after another one changed it is refused). Answers whether it
/// changed.
pub fn update_admin_role(
    conn: &mut Conn,
    id: i32,
    from: Role,
    to: Role,
    now_ms: i64,
) -> Result<bool, Error> {
    // `updated_at` stays: it is when the password was set, and a role change must not
    // sign the account out (it takes effect at its next request anyway).
    let _ = now_ms;
    let rows = diesel::update(admins::table.find(id).filter(admins::role.eq(from)))
        .set(admins::role.eq(to))
        .execute(conn)?;
    Ok(rows == 1)
}

/// Disables an account (its sessions are deleted by the caller in the same
/// transaction). Answers whether it was enabled.
pub fn update_admin_disabled(conn: &mut Conn, id: i32, now_ms: i64) -> Result<bool, Error> {
    let rows = diesel::update(admins::table.find(id).filter(admins::disabled_at.is_null()))
        .set(admins::disabled_at.eq(Some(now_ms)))
        .execute(conn)?;
    Ok(rows == 1)
}

/// Makes the one-time password of `username` unusable (`unusable` becomes its hash) when
/// it must still be changed and was set (`updated_at`) before `set_before_ms`; whether
/// it did. One conditional UPDATE, so a password changed meanwhile is left alone.
pub fn update_admin_expire_one_time(
    conn: &mut Conn,
    username: &str,
    unusable: &str,
    set_before_ms: i64,
    now_ms: i64,
) -> Result<bool, Error> {
    let rows = diesel::update(
        admins::table
            .filter(admins::username.eq(username))
            .filter(admins::must_change.eq(true))
            .filter(admins::updated_at.lt(set_before_ms))
            .filter(admins::password_hash.ne(unusable)),
    )
    .set((
        admins::password_hash.eq(unusable),
        admins::updated_at.eq(now_ms),
    ))
    .execute(conn)?;
    Ok(rows == 1)
}

/// Sets an account's role and institution as its identity provider says at sign-in, and
/// records the sign-in.
pub fn update_admin_external(
    conn: &mut Conn,
    id: i32,
    role: Role,
    inst_rt_id: Option<&str>,
    now_ms: i64,
) -> Result<(), Error> {
    diesel::update(admins::table.find(id))
        .set((
            admins::role.eq(role),
            admins::inst_rt_id.eq(inst_rt_id),
            admins::last_sign_in_at.eq(Some(now_ms)),
        ))
        .execute(conn)?;
    Ok(())
}
