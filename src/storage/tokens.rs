//! Tokens: parameters, the sealed seed, status, replay guard, drift and version.

use diesel::prelude::*;

use super::schema::tokens;
use super::{Bind, Conn, Error, Fixed};
use crate::types::{Algorithm, TokenType, UsrTokenStat};

/// A stored token row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tokens)]
pub struct Token {
    /// Row id.
    pub id: i32,
    /// jXchange `TokenId` (serial).
    pub token_id: String,
    /// Software | Hardware.
    pub token_type: TokenType,
    /// SHA1 | SHA256 | SHA512.
    pub algorithm: Algorithm,
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
    pub status: UsrTokenStat,
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
    /// The binding (row id) whose success was the token's last: its `LastAuthenTimeDt`
    /// and `LastTrnRcptId` are the two columns below, not the binding's own (a success
    /// writes this one row; see `storage::success`).
    pub success_binding_pk: Option<i32>,
    /// `LastAuthenTimeDt` of that binding, ms.
    pub success_at: Option<i64>,
    /// `LastTrnRcptId` of that binding.
    pub success_receipt_id: Option<String>,
}

/// A token to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = tokens)]
pub struct NewToken<'a> {
    /// Serial.
    pub token_id: &'a str,
    /// Software | Hardware.
    pub token_type: TokenType,
    /// Algorithm name.
    pub algorithm: Algorithm,
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
    pub status: UsrTokenStat,
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
    super::refusable(conn, |c| {
        diesel::insert_into(tokens::table)
            .values(token)
            .returning(tokens::id)
            .get_result(c)
    })
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

/// The status of a token by row id (read inside a write to tell why a guard refused).
pub fn find_token_status(conn: &mut Conn, token_pk: i32) -> Result<Option<UsrTokenStat>, Error> {
    Ok(tokens::table
        .find(token_pk)
        .select(tokens::status)
        .first(conn)
        .optional()?)
}

/// THE REPLAY GUARD. Records `step` as accepted only if it is newer than the last accepted
/// step and the token is still in `required_status`; answers whether this call won. One
/// conditional UPDATE, so of any number of concurrent calls with one code exactly one wins.
pub fn update_token_accept_step(
    conn: &mut Conn,
    token_pk: i32,
    required_status: UsrTokenStat,
    new_status: UsrTokenStat,
    step: i64,
    drift: i32,
    now_ms: i64,
) -> Result<bool, Error> {
    let rows = Fixed::new(
        "UPDATE tokens SET last_step = ?, drift = ?, status = ?, version = version + 1, \
         updated_at = ? WHERE id = ? AND last_step < ? AND status = ?",
        &[
            Bind::BigInt(step),
            Bind::Int(drift),
            Bind::Text(new_status.as_str()),
            Bind::BigInt(now_ms),
            Bind::Int(token_pk),
            Bind::BigInt(step),
            Bind::Text(required_status.as_str()),
        ],
    )
    .execute(conn)?;
    Ok(rows == 1)
}

/// Marks the token changed (a binding of it changed), so outstanding ActIntentKeys expire.
pub fn update_token_version(conn: &mut Conn, token_pk: i32, now_ms: i64) -> Result<(), Error> {
    // Every wrong code runs this: fixed SQL, prepared once (see `Fixed`).
    Fixed::new(
        "UPDATE tokens SET version = version + 1, updated_at = ? WHERE id = ?",
        &[Bind::BigInt(now_ms), Bind::Int(token_pk)],
    )
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
    status: Option<UsrTokenStat>,
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

/// The `seed_key_id` of a token whose seed was destroyed (deleted token): nothing to open
/// and nothing to re-encrypt.
pub const DESTROYED: &str = "destroyed";

/// Destroys a token's seed: the sealed bytes are replaced by an empty value (with
/// `secure_delete` on, SQLite zeroes the old bytes on the page) and the key id says so.
pub fn update_token_destroy_seed(conn: &mut Conn, token_pk: i32) -> Result<(), Error> {
    diesel::update(tokens::table.find(token_pk))
        .set((
            tokens::seed_key_id.eq(DESTROYED),
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
        .filter(tokens::status.ne(UsrTokenStat::Del))
        .filter(tokens::inst_rt_id.eq(inst_rt_id))
        .filter(tokens::token_id.gt(after))
        .order(tokens::token_id)
        .limit(limit)
        .select(Token::as_select())
        .load(conn)?)
}

/// A token's sealed seed and nothing else: what `rekey` reads and rewrites.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tokens)]
pub struct SealedRow {
    /// Row id.
    pub id: i32,
    /// Serial (the seal's associated data).
    pub token_id: String,
    /// Id of the sealing key.
    pub seed_key_id: String,
    /// GCM nonce.
    pub seed_nonce: Vec<u8>,
    /// Sealed seed.
    pub seed_ciphertext: Vec<u8>,
}

/// Sealed seeds (destroyed ones left out) in row order after `after_pk`, `limit` at
/// most; only those under another key than `except_key_id` when it is given.
pub fn find_sealed(
    conn: &mut Conn,
    except_key_id: Option<&str>,
    after_pk: i32,
    limit: i64,
) -> Result<Vec<SealedRow>, Error> {
    let mut query = tokens::table
        .filter(tokens::id.gt(after_pk))
        .filter(tokens::seed_key_id.ne(DESTROYED))
        .order(tokens::id)
        .limit(limit)
        .select(SealedRow::as_select())
        .into_boxed();
    if let Some(key_id) = except_key_id {
        query = query.filter(tokens::seed_key_id.ne(key_id.to_owned()));
    }
    Ok(query.load(conn)?)
}

/// How many seeds (destroyed ones left out) are under another key than `key_id`.
pub fn count_sealed_not_under(conn: &mut Conn, key_id: &str) -> Result<i64, Error> {
    Ok(tokens::table
        .filter(tokens::seed_key_id.ne(DESTROYED))
        .filter(tokens::seed_key_id.ne(key_id))
        .count()
        .get_result(conn)?)
}

/// REKEY'S COMPARE-AND-SWAP. Replaces the sealed seed of `old` by `new_*` only if the row
/// still holds exactly `old`'s seal (key id, nonce and ciphertext); answers whether it
/// did. Only the three seed columns are written: the replay guard, counts, status and
/// `version` are left as they are (a re-encryption is not a change of the token, so
/// outstanding ActIntentKeys stay valid), and a concurrent validation is never undone.
/// A row whose seal changed meanwhile (deleted, destroyed) is left alone.
pub fn update_token_reseal(
    conn: &mut Conn,
    old: &SealedRow,
    new_key_id: &str,
    new_nonce: &[u8],
    new_ciphertext: &[u8],
) -> Result<bool, Error> {
    let rows = diesel::update(
        tokens::table
            .find(old.id)
            .filter(tokens::seed_key_id.eq(&old.seed_key_id))
            .filter(tokens::seed_nonce.eq(&old.seed_nonce))
            .filter(tokens::seed_ciphertext.eq(&old.seed_ciphertext)),
    )
    .set((
        tokens::seed_key_id.eq(new_key_id),
        tokens::seed_nonce.eq(new_nonce),
        tokens::seed_ciphertext.eq(new_ciphertext),
    ))
    .execute(conn)?;
    Ok(rows == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_support::{new_token, temp_storage};

    fn token<'a>(serial: &'a str, key_id: &'a str) -> NewToken<'a> {
        new_token(serial, key_id, UsrTokenStat::Act, "inst")
    }

    #[test]
    fn reseal_swaps_only_an_unchanged_seal_and_keeps_every_other_column() {
        let (_dir, storage) = temp_storage();
        storage
            .write(|c| {
                let a = insert_token(c, &token("A", "old"))?;
                let b = insert_token(c, &token("B", "old"))?;
                let c_pk = insert_token(c, &token("C", "new"))?;
                update_token_destroy_seed(c, c_pk)?;
                let rows = find_sealed(c, Some("new"), 0, 10)?;
                assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), vec![a, b]);
                assert_eq!(count_sealed_not_under(c, "new")?, 2);
                // A validation lands between rekey's read and its write.
                assert!(update_token_accept_step(
                    c,
                    a,
                    UsrTokenStat::Act,
                    UsrTokenStat::Act,
                    7,
                    1,
                    5
                )?);
                assert!(update_token_reseal(c, &rows[0], "new", b"n2", b"c2")?);
                let after = find_token(c, "inst", "A")?.unwrap();
                assert_eq!((after.last_step, after.drift, after.version), (7, 1, 2));
                assert_eq!(after.seed_key_id, "new");
                // The seal of B changed meanwhile: the stale swap does nothing.
                update_token_destroy_seed(c, b)?;
                assert!(!update_token_reseal(c, &rows[1], "new", b"n3", b"c3")?);
                assert_eq!(find_token(c, "inst", "B")?.unwrap().seed_key_id, DESTROYED);
                assert_eq!(count_sealed_not_under(c, "new")?, 0);
                assert_eq!(find_sealed(c, None, 0, 10)?.len(), 1);
                Ok::<_, Error>(())
            })
            .unwrap();
    }
}
