//! Idempotency keys of the JSON API (`idempotency_keys`, issue 29): who claimed a key,
//! for which request, and the sealed answer once there is one, so a retry reaching any
//! node, or a restarted one, gets the first answer instead of a second piece of work.
//! Imports: diesel.

use diesel::prelude::*;

use super::schema::idempotency_keys as ik;
use super::{Conn, Error};

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// The key was free (or its holder's lease ran out): this request runs.
    Fresh,
    /// The key belongs to another request (another fingerprint).
    Mismatch,
    /// The same request holds it and has not answered yet.
    Running,
    /// The same request has answered: its status and sealed answer.
    Answered(i32, Vec<u8>),
}

/// The key a claim is made under: the API key's name and the caller's idempotency key.
#[derive(Debug, Clone, Copy)]
pub struct KeyOf<'a> {
    /// The API key's name.
    pub api_key: &'a str,
    /// The `Idempotency-Key` header's value.
    pub idem_key: &'a str,
}

/// The times a claim is judged by, ms.
#[derive(Debug, Clone, Copy)]
pub struct ClaimTimes {
    /// Now.
    pub now: i64,
    /// When a new claim's row may go.
    pub expires_at: i64,
    /// A running claim made before this is taken over (its node died mid-request).
    pub lease_before: i64,
}

/// A claimed row: its fingerprint, claim time, and answer (status, sealed body) if any.
type ClaimRow = (String, i64, Option<i32>, Option<Vec<u8>>);

/// Claims `key` for the request `fingerprint`, dropping expired rows first, in one
/// transaction. Two nodes racing with one new key: the loser's INSERT is a unique
/// violation (`Error::Conflict`), which the caller reads as [`Claimed::Running`].
pub fn claim_key(
    conn: &mut Conn,
    key: KeyOf<'_>,
    fingerprint: &str,
    at: ClaimTimes,
) -> Result<Claimed, Error> {
    diesel::delete(ik::table.filter(ik::expires_at.lt(at.now))).execute(conn)?;
    let mine = ik::table
        .filter(ik::api_key.eq(key.api_key))
        .filter(ik::idem_key.eq(key.idem_key));
    let found: Option<ClaimRow> = mine
        .select((
            ik::fingerprint,
            ik::claimed_at,
            ik::answer_status,
            ik::answer_sealed,
        ))
        .first(conn)
        .optional()?;
    match found {
        None => {
            diesel::insert_into(ik::table)
                .values((
                    ik::api_key.eq(key.api_key),
                    ik::idem_key.eq(key.idem_key),
                    ik::fingerprint.eq(fingerprint),
                    ik::claimed_at.eq(at.now),
                    ik::expires_at.eq(at.expires_at),
                ))
                .execute(conn)?;
            Ok(Claimed::Fresh)
        }
        Some((f, _, _, _)) if f != fingerprint => Ok(Claimed::Mismatch),
        Some((_, _, Some(status), Some(sealed))) => Ok(Claimed::Answered(status, sealed)),
        Some((_, claimed_at, _, _)) if claimed_at >= at.lease_before => Ok(Claimed::Running),
        Some(_) => {
            diesel::update(mine)
                .set((ik::claimed_at.eq(at.now), ik::expires_at.eq(at.expires_at)))
                .execute(conn)?;
            Ok(Claimed::Fresh)
        }
    }
}

/// Stores the answer of the request holding `key`.
pub fn update_answer(
    conn: &mut Conn,
    key: KeyOf<'_>,
    status: i32,
    sealed: &[u8],
) -> Result<(), Error> {
    diesel::update(
        ik::table
            .filter(ik::api_key.eq(key.api_key))
            .filter(ik::idem_key.eq(key.idem_key)),
    )
    .set((ik::answer_status.eq(status), ik::answer_sealed.eq(sealed)))
    .execute(conn)?;
    Ok(())
}

/// Frees `key` while it has no answer (the request failed in a way a retry may not): the
/// next request with it runs.
pub fn delete_claim(conn: &mut Conn, key: KeyOf<'_>) -> Result<(), Error> {
    diesel::delete(
        ik::table
            .filter(ik::api_key.eq(key.api_key))
            .filter(ik::idem_key.eq(key.idem_key))
            .filter(ik::answer_status.is_null()),
    )
    .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_support::temp_storage;

    const K: KeyOf<'static> = KeyOf {
        api_key: "bank",
        idem_key: "k-1",
    };

    fn at(now: i64) -> ClaimTimes {
        ClaimTimes {
            now,
            expires_at: now + 1_000,
            lease_before: now - 100,
        }
    }

    #[test]
    fn a_key_is_fresh_once_then_running_then_answered_and_expires() {
        let (_dir, storage) = temp_storage();
        let claim = |f: &str, now: i64| storage.write(|c| claim_key(c, K, f, at(now))).unwrap();
        assert_eq!(claim("f", 0), Claimed::Fresh);
        assert_eq!(claim("f", 10), Claimed::Running);
        assert_eq!(claim("g", 10), Claimed::Mismatch);
        storage
            .write(|c| update_answer(c, K, 200, b"sealed"))
            .unwrap();
        assert_eq!(claim("f", 20), Claimed::Answered(200, b"sealed".to_vec()));
        let other = KeyOf {
            api_key: "other",
            idem_key: "k-1",
        };
        let theirs = storage.write(|c| claim_key(c, other, "g", at(20))).unwrap();
        assert_eq!(theirs, Claimed::Fresh, "keys are per API key");
        assert_eq!(
            claim("g", 1_001),
            Claimed::Fresh,
            "expired rows are dropped"
        );
    }

    #[test]
    fn a_running_claim_past_its_lease_is_taken_over_and_a_freed_one_is_fresh() {
        let (_dir, storage) = temp_storage();
        let claim = |now: i64| storage.write(|c| claim_key(c, K, "f", at(now))).unwrap();
        assert_eq!(claim(0), Claimed::Fresh);
        assert_eq!(claim(50), Claimed::Running);
        assert_eq!(claim(150), Claimed::Fresh, "its holder's lease ran out");
        storage.write(|c| delete_claim(c, K)).unwrap();
        assert_eq!(claim(160), Claimed::Fresh);
        storage.write(|c| update_answer(c, K, 201, b"x")).unwrap();
        storage.write(|c| delete_claim(c, K)).unwrap();
        assert_eq!(
            claim(170),
            Claimed::Answered(201, b"x".to_vec()),
            "answers stay"
        );
    }
}
