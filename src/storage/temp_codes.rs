//! Temporary codes for users whose token is lost: keyed hashes, expiry, one-time use.

use diesel::prelude::*;

use super::schema::temp_codes;
use super::{Conn, Error};

/// A stored temporary code (its keyed hash, never the code).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = temp_codes)]
pub struct TempCode {
    /// Row id.
    pub id: i32,
    /// The user's row id.
    pub user_pk: i32,
    /// Keyed hash of the code.
    pub code_hash: String,
    /// Ends at its first use.
    pub one_time: bool,
    /// Wrong codes presented while it was active.
    pub failure_count: i32,
    /// Expiry, ms.
    pub expires_at: i64,
    /// Issue time, ms.
    pub created_at: i64,
    /// First use, ms.
    pub used_at: Option<i64>,
    /// When it was ended early (the real token was used, too many wrong codes), ms.
    pub ended_at: Option<i64>,
}

/// Stores a new temporary code.
pub fn insert_temp_code(
    conn: &mut Conn,
    user_pk: i32,
    code_hash: &str,
    one_time: bool,
    expires_at: i64,
    now_ms: i64,
) -> Result<(), Error> {
    diesel::insert_into(temp_codes::table)
        .values((
            temp_codes::user_pk.eq(user_pk),
            temp_codes::code_hash.eq(code_hash),
            temp_codes::one_time.eq(one_time),
            temp_codes::failure_count.eq(0),
            temp_codes::expires_at.eq(expires_at),
            temp_codes::created_at.eq(now_ms),
        ))
        .execute(conn)?;
    Ok(())
}

/// The user's codes that are still usable at `now_ms`.
pub fn find_active_temp_codes(
    conn: &mut Conn,
    user_pk: i32,
    now_ms: i64,
) -> Result<Vec<TempCode>, Error> {
    Ok(temp_codes::table
        .filter(temp_codes::user_pk.eq(user_pk))
        .filter(temp_codes::ended_at.is_null())
        .filter(temp_codes::expires_at.gt(now_ms))
        .filter(
            temp_codes::one_time
                .eq(false)
                .or(temp_codes::used_at.is_null()),
        )
        .select(TempCode::as_select())
        .load(conn)?)
}

/// Records a use; for a one-time code only the first concurrent use wins (answers false
/// for the others).
pub fn update_temp_code_used(conn: &mut Conn, id: i32, now_ms: i64) -> Result<bool, Error> {
    let target = temp_codes::table
        .find(id)
        .filter(temp_codes::ended_at.is_null());
    let rows = diesel::update(
        target.filter(
            temp_codes::one_time
                .eq(false)
                .or(temp_codes::used_at.is_null()),
        ),
    )
    .set(temp_codes::used_at.eq(now_ms))
    .execute(conn)?;
    Ok(rows == 1)
}

/// Counts a wrong code against a user's active temporary codes and ends those reaching
/// `limit`.
pub fn update_temp_codes_failure(
    conn: &mut Conn,
    user_pk: i32,
    limit: i32,
    now_ms: i64,
) -> Result<(), Error> {
    let active = temp_codes::table
        .filter(temp_codes::user_pk.eq(user_pk))
        .filter(temp_codes::ended_at.is_null());
    diesel::update(active)
        .set(temp_codes::failure_count.eq(temp_codes::failure_count + 1))
        .execute(conn)?;
    diesel::update(active.filter(temp_codes::failure_count.ge(limit)))
        .set(temp_codes::ended_at.eq(now_ms))
        .execute(conn)?;
    Ok(())
}

/// Ends every temporary code of a user (the real token is in use again).
pub fn update_temp_codes_end(conn: &mut Conn, user_pk: i32, now_ms: i64) -> Result<usize, Error> {
    // Every success calls this and almost no user has a temporary code: a cached SELECT
    // answers that case without preparing an UPDATE.
    let open = super::on_engine!(conn, |c| diesel::select(diesel::dsl::exists(
        temp_codes::table
            .filter(temp_codes::user_pk.eq(user_pk))
            .filter(temp_codes::ended_at.is_null()),
    ))
    .get_result::<bool>(c))?;
    if !open {
        return Ok(0);
    }
    Ok(diesel::update(
        temp_codes::table
            .filter(temp_codes::user_pk.eq(user_pk))
            .filter(temp_codes::ended_at.is_null()),
    )
    .set(temp_codes::ended_at.eq(now_ms))
    .execute(conn)?)
}
