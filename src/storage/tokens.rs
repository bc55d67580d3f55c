//! Tokens: parameters, the sealed seed, status, replay guard, drift and version.

use diesel::prelude::*;

use super::schema::tokens;
use super::{Cached, Conn, Error};

/// A stored token row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tokens)]
pub struct Token {
    /// Row id.
    pub id: i32,
    /// jXchange `TokenId` (serial).
    pub token_id: String,
    /// Software | Hardware.
    pub token_type: String,
    /// SHA1 | SHA256 | SHA512.
    pub algorithm: String,
    /// 6 | 8.
    pub digits: i32,
    /// 30 | 60.
    pub period: i32,
    /// Id of the master key that sealed the seed.
    pub seed_key_id: String,
    /// GCM nonce.
    pub seed_nonce: Vec<u8>,
    /// Sealed seed (ciphertext + tag).
    pub seed_ciphertext: Vec<u8>,
    /// jXchange `UsrTokenStat`.
    pub status: String,
    /// Last accepted time step (-1 before the first).
    pub last_step: i64,
    /// Learned clock drift in steps.
    pub drift: i32,
    /// Changes on every write to the token or its bindings.
    pub version: i64,
    /// Creation time, ms.
    pub created_at: i64,
    /// Last change, ms.
    pub updated_at: i64,
    /// jXchange `InstRtId`: the institution that owns the token.
    pub inst_rt_id: String,
}

/// A token to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = tokens)]
pub struct NewToken<'a> {
    /// Serial.
    pub token_id: &'a str,
    /// Software | Hardware.
    pub token_type: &'a str,
    /// Algorithm name.
    pub algorithm: &'a str,
    /// Code length.
    pub digits: i32,
    /// Step length in seconds.
    pub period: i32,
    /// Sealing key id.
    pub seed_key_id: &'a str,
    /// GCM nonce.
    pub seed_nonce: &'a [u8],
    /// Sealed seed.
    pub seed_ciphertext: &'a [u8],
    /// Initial status.
    pub status: &'a str,
    /// -1: no step accepted yet.
    pub last_step: i64,
    /// 0 at enrollment.
    pub drift: i32,
    /// 1 at enrollment.
    pub version: i64,
    /// Now, ms.
    pub created_at: i64,
    /// Now, ms.
    pub updated_at: i64,
    /// The owning institution.
    pub inst_rt_id: &'a str,
}

/// Inserts a token; a duplicate serial is [`Error::Conflict`].
pub fn insert_token(conn: &mut Conn, token: &NewToken<'_>) -> Result<i32, Error> {
    Ok(diesel::insert_into(tokens::table)
        .values(token)
        .returning(tokens::id)
        .get_result(conn)?)
}

/// Finds an institution's token by serial (another institution's is not found).
pub fn find_token(
    conn: &mut Conn,
    inst_rt_id: &str,
    token_id: &str,
) -> Result<Option<Token>, Error> {
    Ok(tokens::table
        .filter(tokens::token_id.eq(token_id))
        .filter(tokens::inst_rt_id.eq(inst_rt_id))
        .select(Token::as_select())
        .first(conn)
        .optional()?)
}

/// THE REPLAY GUARD. Records `step` as accepted only if it is newer than the last accepted
/// step and the token is still in `required_status`; answers whether this call won. One
/// conditional UPDATE, so of any number of concurrent calls with one code exactly one wins.
pub fn update_token_accept_step(
    conn: &mut Conn,
    token_pk: i32,
    required_status: &str,
    new_status: &str,
    step: i64,
    drift: i32,
    now_ms: i64,
) -> Result<bool, Error> {
    let rows = Cached(
        diesel::update(
            tokens::table
                .find(token_pk)
                .filter(tokens::last_step.lt(step))
                .filter(tokens::status.eq(required_status)),
        )
        .set((
            tokens::last_step.eq(step),
            tokens::drift.eq(drift),
            tokens::status.eq(new_status),
            tokens::version.eq(tokens::version + 1),
            tokens::updated_at.eq(now_ms),
        )),
    )
    .execute(conn)?;
    Ok(rows == 1)
}

/// Marks the token changed (a binding of it changed), so outstanding ActIntentKeys expire.
pub fn update_token_version(conn: &mut Conn, token_pk: i32, now_ms: i64) -> Result<(), Error> {
    diesel::update(tokens::table.find(token_pk))
        .set((
            tokens::version.eq(tokens::version + 1),
            tokens::updated_at.eq(now_ms),
        ))
        .execute(conn)?;
    Ok(())
}

/// OPTIMISTIC CONCURRENCY. Marks the token changed only if it is still at `version` (the
/// version the caller's ActIntentKey was issued for), optionally setting its status;
/// answers whether the record was unchanged and is now claimed by this write.
pub fn update_token_if_version(
    conn: &mut Conn,
    token_pk: i32,
    version: i64,
    status: Option<&str>,
    now_ms: i64,
) -> Result<bool, Error> {
    let target = tokens::table
        .find(token_pk)
        .filter(tokens::version.eq(version));
    let rows = match status {
        Some(status) => diesel::update(target)
            .set((
                tokens::status.eq(status),
                tokens::version.eq(tokens::version + 1),
                tokens::updated_at.eq(now_ms),
            ))
            .execute(conn)?,
        None => diesel::update(target)
            .set((
                tokens::version.eq(tokens::version + 1),
                tokens::updated_at.eq(now_ms),
            ))
            .execute(conn)?,
    };
    Ok(rows == 1)
}

/// Destroys a token's seed: the sealed bytes are replaced by an empty value (with
/// `secure_delete` on, SQLite zeroes the old bytes on the page) and the key id says so.
pub fn update_token_destroy_seed(conn: &mut Conn, token_pk: i32) -> Result<(), Error> {
    diesel::update(tokens::table.find(token_pk))
        .set((
            tokens::seed_key_id.eq("destroyed"),
            tokens::seed_nonce.eq(Vec::<u8>::new()),
            tokens::seed_ciphertext.eq(Vec::<u8>::new()),
        ))
        .execute(conn)?;
    Ok(())
}

/// An institution's tokens bound to nobody and not deleted (the hardware inventory), in
/// serial order, after `after`, `limit` at most.
pub fn find_unbound_tokens(
    conn: &mut Conn,
    inst_rt_id: &str,
    after: &str,
    limit: i64,
) -> Result<Vec<Token>, Error> {
    use super::schema::bindings;
    use diesel::dsl::{exists, not};
    Ok(tokens::table
        .filter(not(exists(
            bindings::table.filter(bindings::token_pk.eq(tokens::id)),
        )))
        .filter(tokens::status.ne("Del"))
        .filter(tokens::inst_rt_id.eq(inst_rt_id))
        .filter(tokens::token_id.gt(after))
        .order(tokens::token_id)
        .limit(limit)
        .select(Token::as_select())
        .load(conn)?)
}
