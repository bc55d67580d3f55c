//! Keyed hashes of wrong codes, kept for a short time so the help desk can ask "explain
//! this failure" (issue 17). Never the code: the domain stores an HMAC under a key derived
//! from the master key, bound to the token and the attempt's time. Diesel DSL only.

use diesel::prelude::*;

use super::schema::failed_codes;
use super::{Conn, Error};

/// One kept failed code.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = failed_codes)]
pub struct FailedCode {
    /// Row id.
    pub id: i32,
    /// The token the code was tried against.
    pub token_pk: i32,
    /// When it was tried, ms (also part of the hashed message).
    pub at: i64,
    /// HMAC of the code (see `domain::explain`).
    pub code_hash: String,
    /// When the row is swept, ms.
    pub expires_at: i64,
}

/// Keeps one failed code's hash.
pub fn insert_failed_code(
    conn: &mut Conn,
    token_pk: i32,
    at: i64,
    code_hash: &str,
    expires_at: i64,
) -> Result<(), Error> {
    // Every wrong code runs this: on the engine's connection (`on_engine`).
    super::on_engine!(conn, |c| diesel::insert_into(failed_codes::table)
        .values((
            failed_codes::token_pk.eq(token_pk),
            failed_codes::at.eq(at),
            failed_codes::code_hash.eq(code_hash),
            failed_codes::expires_at.eq(expires_at),
        ))
        .execute(c))?;
    Ok(())
}

/// The kept (unexpired at `now`) failed codes of the tokens, newest first.
pub fn find_failed_codes(
    conn: &mut Conn,
    token_pks: &[i32],
    now: i64,
) -> Result<Vec<FailedCode>, Error> {
    Ok(failed_codes::table
        .filter(failed_codes::token_pk.eq_any(token_pks))
        .filter(failed_codes::expires_at.gt(now))
        .order(failed_codes::at.desc())
        .select(FailedCode::as_select())
        .load(conn)?)
}

/// Whether any row is expired at `now` (the sweeper looks before it writes).
pub fn has_expired_failed_codes(conn: &mut Conn, now: i64) -> Result<bool, Error> {
    Ok(diesel::select(diesel::dsl::exists(
        failed_codes::table.filter(failed_codes::expires_at.le(now)),
    ))
    .get_result(conn)?)
}

/// Deletes the rows expired at `now`; answers how many.
pub fn delete_expired_failed_codes(conn: &mut Conn, now: i64) -> Result<usize, Error> {
    // Every wrong code runs this: on the engine's connection (`on_engine`).
    Ok(super::on_engine!(conn, |c| diesel::delete(
        failed_codes::table.filter(failed_codes::expires_at.le(now))
    )
    .execute(c))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_support::temp_storage;

    #[test]
    fn expired_rows_are_neither_found_nor_kept() {
        let (_dir, storage) = temp_storage();
        storage
            .write(|c| {
                insert_failed_code(c, 1, 100, "a", 200)?;
                insert_failed_code(c, 1, 150, "b", 300)?;
                insert_failed_code(c, 2, 150, "c", 300)?;
                let found = find_failed_codes(c, &[1], 250)?;
                assert_eq!(found.len(), 1);
                assert_eq!(found[0].code_hash, "b");
                assert_eq!(delete_expired_failed_codes(c, 250)?, 1);
                assert_eq!(find_failed_codes(c, &[1, 2], 0)?.len(), 2);
                Ok::<_, Error>(())
            })
            .unwrap();
    }
}
