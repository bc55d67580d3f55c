//! API keys, stored as SHA-256 hashes with their scopes.

use diesel::prelude::*;

use super::schema::api_keys;
use super::{Conn, Error};

/// A stored API key (its hash, never the key).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys)]
pub struct ApiKey {
    /// Row id.
    pub id: i32,
    /// Human name, shown in the audit trail as the actor.
    pub name: String,
    /// Hex SHA-256 of the key.
    pub key_hash: String,
    /// Comma-separated scopes.
    pub scopes: String,
    /// Creation time, ms.
    pub created_at: i64,
    /// Revocation time, ms.
    pub revoked_at: Option<i64>,
    /// The one institution it may act within; NULL: every institution.
    pub inst_rt_id: Option<String>,
    /// The jXchange `ValidConsmName` it is registered for; NULL: not checked.
    pub consumer_name: Option<String>,
    /// The jXchange `ValidConsmProd` it is registered for; NULL: not checked.
    pub consumer_prod: Option<String>,
    /// When it last authenticated a request, ms (to the minute: see
    /// [`update_api_key_used`]).
    pub last_used_at: Option<i64>,
}

/// Stores a new key; a duplicate name is [`Error::Conflict`].
pub fn insert_api_key(
    conn: &mut Conn,
    name: &str,
    key_hash: &str,
    scopes: &str,
    inst_rt_id: Option<&str>,
    now_ms: i64,
) -> Result<(), Error> {
    super::refusable(conn, |c| {
        diesel::insert_into(api_keys::table)
            .values((
                api_keys::name.eq(name),
                api_keys::key_hash.eq(key_hash),
                api_keys::scopes.eq(scopes),
                api_keys::inst_rt_id.eq(inst_rt_id),
                api_keys::created_at.eq(now_ms),
            ))
            .execute(c)
    })?;
    Ok(())
}

/// Registers the jXchange consumer (`ValidConsmName`, `ValidConsmProd`) of the key named
/// `name`; answers whether the key was found.
pub fn update_api_key_consumer(
    conn: &mut Conn,
    name: &str,
    consumer_name: Option<&str>,
    consumer_prod: Option<&str>,
) -> Result<bool, Error> {
    Ok(
        diesel::update(api_keys::table.filter(api_keys::name.eq(name)))
            .set((
                api_keys::consumer_name.eq(consumer_name),
                api_keys::consumer_prod.eq(consumer_prod),
            ))
            .execute(conn)?
            == 1,
    )
}

/// Finds a key that is not revoked by its hash.
pub fn find_active_api_key(conn: &mut Conn, key_hash: &str) -> Result<Option<ApiKey>, Error> {
    Ok(api_keys::table
        .filter(api_keys::key_hash.eq(key_hash))
        .filter(api_keys::revoked_at.is_null())
        .select(ApiKey::as_select())
        .first(conn)
        .optional()?)
}

/// Stores the sealed key of the key named `name` (a `--soap-digest` key); answers whether
/// the key was found.
pub fn update_api_key_digest_secret(
    conn: &mut Conn,
    name: &str,
    sealed: &[u8],
) -> Result<bool, Error> {
    Ok(
        diesel::update(api_keys::table.filter(api_keys::name.eq(name)))
            .set(api_keys::digest_secret.eq(Some(sealed)))
            .execute(conn)?
            == 1,
    )
}

/// A stored key with its sealed key when it has one (`SealedSeed` bytes).
pub type KeyWithSecret = (ApiKey, Option<Vec<u8>>);

/// A key that is not revoked by its name, with its sealed key when it has one (a
/// `--soap-digest` key): the `UsernameToken` of a `PasswordDigest` names its key.
pub fn find_active_api_key_by_name(
    conn: &mut Conn,
    name: &str,
) -> Result<Option<KeyWithSecret>, Error> {
    Ok(api_keys::table
        .filter(api_keys::name.eq(name))
        .filter(api_keys::revoked_at.is_null())
        .select((ApiKey::as_select(), api_keys::digest_secret))
        .first(conn)
        .optional()?)
}

/// Every sealed key (`--soap-digest` keys, revoked ones included) with its row id, for
/// `rekey`.
pub fn find_digest_secrets(conn: &mut Conn) -> Result<Vec<(i32, String, Vec<u8>)>, Error> {
    let rows: Vec<(i32, String, Option<Vec<u8>>)> = api_keys::table
        .filter(api_keys::digest_secret.is_not_null())
        .order(api_keys::id)
        .select((api_keys::id, api_keys::name, api_keys::digest_secret))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, name, s)| s.map(|s| (id, name, s)))
        .collect())
}

/// Replaces key `id`'s sealed key if it is still `old` (a compare-and-swap, as seeds are
/// resealed); answers whether it was replaced.
pub fn update_api_key_reseal(
    conn: &mut Conn,
    id: i32,
    old: &[u8],
    new: &[u8],
) -> Result<bool, Error> {
    Ok(diesel::update(
        api_keys::table
            .find(id)
            .filter(api_keys::digest_secret.eq(Some(old))),
    )
    .set(api_keys::digest_secret.eq(Some(new)))
    .execute(conn)?
        == 1)
}

/// Every key, revoked ones included, in name order (the admin console's list), each with
/// whether it is a `--soap-digest` key (its sealed copy itself is not read).
pub fn find_api_keys(conn: &mut Conn) -> Result<Vec<(ApiKey, bool)>, Error> {
    Ok(api_keys::table
        .order(api_keys::name)
        .select((ApiKey::as_select(), api_keys::digest_secret.is_not_null()))
        .load(conn)?)
}

/// Revokes a key by name; answers whether a key that was not revoked yet was found.
pub fn update_api_key_revoked(conn: &mut Conn, name: &str, now_ms: i64) -> Result<bool, Error> {
    Ok(diesel::update(
        api_keys::table
            .filter(api_keys::name.eq(name))
            .filter(api_keys::revoked_at.is_null()),
    )
    .set(api_keys::revoked_at.eq(Some(now_ms)))
    .execute(conn)?
        == 1)
}

/// Records that key `id` authenticated a request at `now_ms`, unless it was recorded less
/// than `every_ms` before: one conditional UPDATE, which callers issue only when the
/// stored time they read is that old, so a busy key costs a write a minute, not one per
/// request.
pub fn update_api_key_used(
    conn: &mut Conn,
    id: i32,
    now_ms: i64,
    every_ms: i64,
) -> Result<(), Error> {
    diesel::update(
        api_keys::table.find(id).filter(
            api_keys::last_used_at
                .is_null()
                .or(api_keys::last_used_at.lt(now_ms - every_ms)),
        ),
    )
    .set(api_keys::last_used_at.eq(now_ms))
    .execute(conn)?;
    Ok(())
}
