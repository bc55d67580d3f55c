//! Data keys wrapped by an HSM (`master_key_source = "pkcs11"`): each registered master
//! key that lives in the HSM has a row here holding it only as the HSM wrapped it. No key
//! material in clear; unwrapping needs the HSM (see `crypto::hsm`).

use diesel::prelude::*;

use super::schema::hsm_data_keys;
use super::{Conn, Error};

/// One wrapped data key.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = hsm_data_keys)]
pub struct HsmDataKeyRow {
    /// The key id, as in the register of master keys.
    pub key_id: String,
    /// Its fingerprint, checked after unwrapping.
    pub fingerprint: String,
    /// The label of the HSM key that wrapped it.
    pub hsm_key_label: String,
    /// `iv || ciphertext || tag`, made by the HSM.
    pub wrapped: Vec<u8>,
    /// When it was stored, ms.
    pub added_at: i64,
}

/// Every wrapped data key, oldest first.
pub fn find_hsm_data_keys(conn: &mut Conn) -> Result<Vec<HsmDataKeyRow>, Error> {
    Ok(hsm_data_keys::table
        .order((hsm_data_keys::added_at, hsm_data_keys::key_id))
        .select(HsmDataKeyRow::as_select())
        .load(conn)?)
}

/// Stores a wrapped data key; a key id already stored is [`Error::Conflict`].
pub fn insert_hsm_data_key(
    conn: &mut Conn,
    key_id: &str,
    fingerprint: &str,
    hsm_key_label: &str,
    wrapped: &[u8],
    now_ms: i64,
) -> Result<(), Error> {
    super::refusable(conn, |c| {
        diesel::insert_into(hsm_data_keys::table)
            .values((
                hsm_data_keys::key_id.eq(key_id),
                hsm_data_keys::fingerprint.eq(fingerprint),
                hsm_data_keys::hsm_key_label.eq(hsm_key_label),
                hsm_data_keys::wrapped.eq(wrapped),
                hsm_data_keys::added_at.eq(now_ms),
            ))
            .execute(c)
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_support::temp_storage;

    #[test]
    fn wrapped_keys_are_stored_once_and_read_back_in_order() {
        let (_dir, storage) = temp_storage();
        storage
            .write(|c| {
                assert!(find_hsm_data_keys(c)?.is_empty());
                insert_hsm_data_key(c, "bbbb", "bbbb-fp", "k1", b"blob-b", 2)?;
                insert_hsm_data_key(c, "aaaa", "aaaa-fp", "k2", b"blob-a", 1)?;
                assert!(matches!(
                    insert_hsm_data_key(c, "aaaa", "other", "k1", b"x", 3),
                    Err(Error::Conflict(_))
                ));
                let rows = find_hsm_data_keys(c)?;
                let ids: Vec<_> = rows.iter().map(|r| r.key_id.as_str()).collect();
                assert_eq!(ids, ["aaaa", "bbbb"]);
                assert_eq!(rows[0].hsm_key_label, "k2");
                assert_eq!(rows[1].wrapped, b"blob-b");
                Ok::<_, Error>(())
            })
            .unwrap();
    }
}
