//! WS-Security nonces seen on the SOAP binding (`soap_nonces`), so a replayed envelope is
//! refused on every node (issue 26). Imports: diesel.

use diesel::prelude::*;

use super::schema::soap_nonces;
use super::{Conn, Error};

/// Records `key` until `expires_at` (ms) unless it is already recorded and unexpired;
/// answers whether it was new. Drops the expired rows first, in the same transaction.
/// Two nodes racing with one key: the loser's INSERT is a unique violation
/// (`Error::Conflict`), which rolls its transaction back.
pub fn insert_nonce(conn: &mut Conn, key: &str, expires_at: i64, now: i64) -> Result<bool, Error> {
    diesel::delete(soap_nonces::table.filter(soap_nonces::expires_at.lt(now))).execute(conn)?;
    let seen: bool = diesel::select(diesel::dsl::exists(
        soap_nonces::table.filter(soap_nonces::nonce_key.eq(key)),
    ))
    .get_result(conn)?;
    if seen {
        return Ok(false);
    }
    diesel::insert_into(soap_nonces::table)
        .values((
            soap_nonces::nonce_key.eq(key),
            soap_nonces::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_support::temp_storage;

    #[test]
    fn a_nonce_is_new_once_until_it_expires() {
        let (_dir, storage) = temp_storage();
        let put = |exp: i64, now: i64| {
            storage
                .write(|c| insert_nonce(c, "k\nn", exp, now))
                .unwrap()
        };
        assert!(put(100, 0));
        assert!(!put(100, 50), "seen within its window");
        assert!(put(300, 101), "expired rows are dropped");
    }
}
