//! The register of master keys: which key is active, which one a rotation is retiring,
//! which are retired (with their wrapped verification keys). No key material in clear.

use diesel::prelude::*;

use super::schema::master_keys;
use super::{Conn, Error};

/// The key new seals use.
pub const ACTIVE: &str = "active";
/// The outgoing key of a rotation in progress.
pub const RETIRING: &str = "retiring";
/// A key no seed is under any more.
pub const RETIRED: &str = "retired";

/// The meta row that follows the active key's fingerprint (read by older tokends).
const FINGERPRINT: &str = "master_key_fingerprint";

/// One registered key.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = master_keys)]
pub struct MasterKeyRow {
    /// The key id (first 16 hex digits of the fingerprint).
    pub key_id: String,
    /// The full fingerprint.
    pub fingerprint: String,
    /// `active`, `retiring` or `retired`.
    pub state: String,
    /// When it was registered, ms (0: before the register existed).
    pub added_at: i64,
    /// When its rotation finished, ms.
    pub retired_at: Option<i64>,
    /// Id of the key its verification keys are wrapped under.
    pub wrapped_by: Option<String>,
    /// Its verification keys, wrapped.
    pub wrapped_keys: Option<Vec<u8>>,
}

/// Every registered key, oldest first.
pub fn find_master_keys(conn: &mut Conn) -> Result<Vec<MasterKeyRow>, Error> {
    Ok(master_keys::table
        .order((master_keys::added_at, master_keys::key_id))
        .select(MasterKeyRow::as_select())
        .load(conn)?)
}

/// The id of the active key, if any key is registered.
pub fn find_active_key_id(conn: &mut Conn) -> Result<Option<String>, Error> {
    Ok(master_keys::table
        .filter(master_keys::state.eq(ACTIVE))
        .select(master_keys::key_id)
        .first(conn)
        .optional()?)
}

/// Registers a key in `state`; an id already registered is [`Error::Conflict`].
pub fn insert_master_key(
    conn: &mut Conn,
    key_id: &str,
    fingerprint: &str,
    state: &str,
    now_ms: i64,
) -> Result<(), Error> {
    super::refusable(conn, |c| {
        diesel::insert_into(master_keys::table)
            .values((
                master_keys::key_id.eq(key_id),
                master_keys::fingerprint.eq(fingerprint),
                master_keys::state.eq(state),
                master_keys::added_at.eq(now_ms),
            ))
            .execute(c)
    })?;
    if state == ACTIVE {
        super::meta::set_value(conn, FINGERPRINT, fingerprint)?;
    }
    Ok(())
}

/// Moves the key `key_id` from state `from` to `to`; answers whether it was in `from`.
pub fn update_master_key_state(
    conn: &mut Conn,
    key_id: &str,
    from: &str,
    to: &str,
) -> Result<bool, Error> {
    let rows = diesel::update(
        master_keys::table
            .find(key_id)
            .filter(master_keys::state.eq(from)),
    )
    .set(master_keys::state.eq(to))
    .execute(conn)?;
    Ok(rows == 1)
}

/// Marks a key retired at `now_ms`, storing its verification keys wrapped under
/// `wrapped_by`.
pub fn update_master_key_retired(
    conn: &mut Conn,
    key_id: &str,
    wrapped_by: &str,
    wrapped: &[u8],
    now_ms: i64,
) -> Result<(), Error> {
    diesel::update(master_keys::table.find(key_id))
        .set((
            master_keys::state.eq(RETIRED),
            master_keys::retired_at.eq(now_ms),
            master_keys::wrapped_by.eq(wrapped_by),
            master_keys::wrapped_keys.eq(wrapped),
        ))
        .execute(conn)?;
    Ok(())
}

/// Re-wraps an already retired key's verification keys under a later key.
pub fn update_master_key_wrapping(
    conn: &mut Conn,
    key_id: &str,
    wrapped_by: &str,
    wrapped: &[u8],
) -> Result<(), Error> {
    diesel::update(master_keys::table.find(key_id))
        .set((
            master_keys::wrapped_by.eq(wrapped_by),
            master_keys::wrapped_keys.eq(wrapped),
        ))
        .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::meta::find_value;
    use crate::storage::test_support::temp_storage;

    #[test]
    fn the_register_moves_keys_through_their_states_and_meta_follows_the_active_key() {
        let (_dir, storage) = temp_storage();
        storage
            .write(|c| {
                assert_eq!(find_active_key_id(c)?, None);
                insert_master_key(c, "aaaa", "aaaa-fp", ACTIVE, 1)?;
                assert!(matches!(
                    insert_master_key(c, "aaaa", "other", RETIRING, 2),
                    Err(Error::Conflict(_))
                ));
                assert!(update_master_key_state(c, "aaaa", ACTIVE, RETIRING)?);
                assert!(!update_master_key_state(c, "aaaa", ACTIVE, RETIRING)?);
                insert_master_key(c, "bbbb", "bbbb-fp", ACTIVE, 2)?;
                assert_eq!(find_active_key_id(c)?.as_deref(), Some("bbbb"));
                assert_eq!(find_value(c, FINGERPRINT)?.as_deref(), Some("bbbb-fp"));
                update_master_key_retired(c, "aaaa", "bbbb", b"blob", 3)?;
                let rows = find_master_keys(c)?;
                assert_eq!(rows.len(), 2);
                assert_eq!(rows[0].state, RETIRED);
                assert_eq!(rows[0].retired_at, Some(3));
                assert_eq!(rows[0].wrapped_keys.as_deref(), Some(b"blob".as_slice()));
                Ok::<_, Error>(())
            })
            .unwrap();
    }
}
