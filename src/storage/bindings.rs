//! Bindings of users to tokens, and the joined view validation works from.

use diesel::prelude::*;

use super::schema::{bindings, tokens, users};
use super::tokens::Token;
use super::{Bind, Conn, Error, Fixed};
use crate::types::MfaTokenUsrStat;

/// A stored binding with its user's name.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = bindings)]
pub struct Binding {
    /// Row id.
    pub id: i32,
    /// The token's row id.
    pub token_pk: i32,
    /// The user's row id.
    pub user_pk: i32,
    /// jXchange `MFATokenUsrStat`.
    pub status: MfaTokenUsrStat,
    /// jXchange `UsrTokenDesc`.
    pub description: Option<String>,
    /// Consecutive failed validations.
    pub failure_count: i32,
    /// jXchange `LastAuthenTimeDt`, ms.
    pub last_authen_at: Option<i64>,
    /// jXchange `LastTrnRcptId`.
    pub last_receipt_id: Option<String>,
    /// When the binding was locked, ms.
    pub locked_at: Option<i64>,
    /// Why it was locked.
    pub lock_reason: Option<String>,
    /// Creation time, ms.
    pub created_at: i64,
}

/// A binding together with its token and user name: everything one validation needs,
/// read in one query.
#[derive(Debug, Clone)]
pub struct BoundToken {
    /// The binding.
    pub binding: Binding,
    /// The token.
    pub token: Token,
    /// The user's `UsrName`.
    pub usr_name: String,
}

/// Inserts a binding in status `status`.
pub fn insert_binding(
    conn: &mut Conn,
    token_pk: i32,
    user_pk: i32,
    status: MfaTokenUsrStat,
    description: Option<&str>,
    now_ms: i64,
) -> Result<i32, Error> {
    Ok(diesel::insert_into(bindings::table)
        .values((
            bindings::token_pk.eq(token_pk),
            bindings::user_pk.eq(user_pk),
            bindings::status.eq(status),
            bindings::description.eq(description),
            bindings::failure_count.eq(0),
            bindings::created_at.eq(now_ms),
        ))
        .returning(bindings::id)
        .get_result(conn)?)
}

type Row = (Binding, Token, String);

/// Joins the rows, giving each binding its last success: the token's success columns if
/// the token's last success was this binding's, else the binding's own (see
/// `storage::success` for why a success writes the token row only).
fn into_bound(rows: Vec<Row>) -> Vec<BoundToken> {
    rows.into_iter()
        .map(|(mut binding, token, usr_name)| {
            if token.success_binding_pk == Some(binding.id) {
                binding.last_authen_at = token.success_at;
                binding.last_receipt_id = token.success_receipt_id.clone();
            }
            BoundToken {
                binding,
                token,
                usr_name,
            }
        })
        .collect()
}

/// Every binding of one user, with its token, oldest first.
pub fn find_bound_by_user(
    conn: &mut Conn,
    inst_rt_id: &str,
    usr_name: &str,
) -> Result<Vec<BoundToken>, Error> {
    // Every validation and inquiry runs this: on the engine's connection (`on_engine`).
    // The name as folded (types::usr_name_key), or exactly: a name that collided before
    // keys existed has none, and wins over the key's holder when named exactly.
    let key = crate::types::usr_name_key(usr_name);
    let rows: Vec<Row> = super::on_engine!(conn, |c| bindings::table
        .inner_join(tokens::table)
        .inner_join(users::table)
        .filter(users::inst_rt_id.eq(inst_rt_id))
        .filter(
            users::usr_name
                .eq(usr_name)
                .or(users::usr_name_key.eq(&key))
        )
        .order(bindings::id)
        .select((Binding::as_select(), Token::as_select(), users::usr_name))
        .load(c))?;
    let mut bound = into_bound(rows);
    retain_named(&mut bound, usr_name);
    Ok(bound)
}

/// Keeps the bindings of the user `name` names: exactly that name if one is bound, else
/// the names that fold like it (`types::usr_name_key`: one user, as names compare).
pub fn retain_named(bound: &mut Vec<BoundToken>, name: &str) {
    if bound.iter().any(|b| b.usr_name == name) {
        bound.retain(|b| b.usr_name == name);
    } else {
        let key = crate::types::usr_name_key(name);
        bound.retain(|b| crate::types::usr_name_key(&b.usr_name) == key);
    }
}

/// The binding of the user `name` names, as [`retain_named`] finds it.
pub fn find_named<'a>(bound: &'a [BoundToken], name: &str) -> Option<&'a BoundToken> {
    let key = crate::types::usr_name_key(name);
    bound.iter().find(|b| b.usr_name == name).or_else(|| {
        bound
            .iter()
            .find(|b| crate::types::usr_name_key(&b.usr_name) == key)
    })
}

/// Every binding of one of an institution's tokens, with the token, oldest first.
pub fn find_bound_by_token(
    conn: &mut Conn,
    inst_rt_id: &str,
    token_id: &str,
) -> Result<Vec<BoundToken>, Error> {
    // Every validation and inquiry runs this: on the engine's connection (`on_engine`).
    let rows: Vec<Row> = super::on_engine!(conn, |c| bindings::table
        .inner_join(tokens::table)
        .inner_join(users::table)
        .filter(tokens::token_id.eq(token_id))
        .filter(tokens::inst_rt_id.eq(inst_rt_id))
        .order(bindings::id)
        .select((Binding::as_select(), Token::as_select(), users::usr_name))
        .load(c))?;
    Ok(into_bound(rows))
}

/// Writes a binding's last success into its own row: when the token's last success
/// moves to another binding, the one it leaves keeps its values here.
pub fn update_binding_last_success(
    conn: &mut Conn,
    binding_pk: i32,
    at_ms: Option<i64>,
    receipt_id: Option<&str>,
) -> Result<(), Error> {
    diesel::update(bindings::table.find(binding_pk))
        .set((
            bindings::last_authen_at.eq(at_ms),
            bindings::last_receipt_id.eq(receipt_id),
        ))
        .execute(conn)?;
    Ok(())
}

/// Sets a binding's status. Leaving Lock clears the failure count and lock record;
/// entering Lock records when and why.
pub fn update_binding_status(
    conn: &mut Conn,
    binding_pk: i32,
    status: MfaTokenUsrStat,
    lock_reason: Option<&str>,
    now_ms: i64,
) -> Result<(), Error> {
    let target = bindings::table.find(binding_pk);
    if status == MfaTokenUsrStat::Lock {
        diesel::update(target)
            .set((
                bindings::status.eq(status),
                bindings::locked_at.eq(now_ms),
                bindings::lock_reason.eq(lock_reason),
            ))
            .execute(conn)?;
    } else {
        diesel::update(target)
            .set((
                bindings::status.eq(status),
                bindings::failure_count.eq(0),
                bindings::locked_at.eq(None::<i64>),
                bindings::lock_reason.eq(None::<String>),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Sets a binding's description (jXchange `UsrTokenDesc`).
pub fn update_binding_description(
    conn: &mut Conn,
    binding_pk: i32,
    description: Option<&str>,
) -> Result<(), Error> {
    diesel::update(bindings::table.find(binding_pk))
        .set(bindings::description.eq(description))
        .execute(conn)?;
    Ok(())
}

/// Removes a binding (the user no longer uses this token); the audit keeps its history.
/// A token whose last success was this binding's forgets it, so a later binding that
/// reuses the row id (SQLite may) does not inherit its `LastTrnRcptId`.
pub fn delete_binding(conn: &mut Conn, binding_pk: i32) -> Result<(), Error> {
    diesel::update(tokens::table.filter(tokens::success_binding_pk.eq(binding_pk)))
        .set((
            tokens::success_binding_pk.eq(None::<i32>),
            tokens::success_at.eq(None::<i64>),
            tokens::success_receipt_id.eq(None::<String>),
        ))
        .execute(conn)?;
    diesel::delete(bindings::table.find(binding_pk)).execute(conn)?;
    Ok(())
}

/// Unlocks a binding still locked since `locked_before_ms` or earlier (auto-unlock);
/// answers whether it did.
pub fn update_binding_auto_unlock(
    conn: &mut Conn,
    binding_pk: i32,
    locked_before_ms: i64,
) -> Result<bool, Error> {
    let rows = diesel::update(
        bindings::table
            .find(binding_pk)
            .filter(bindings::status.eq(MfaTokenUsrStat::Lock))
            .filter(bindings::locked_at.le(locked_before_ms)),
    )
    .set((
        bindings::status.eq(MfaTokenUsrStat::Act),
        bindings::failure_count.eq(0),
        bindings::locked_at.eq(None::<i64>),
        bindings::lock_reason.eq(None::<String>),
    ))
    .execute(conn)?;
    Ok(rows == 1)
}

/// Clears the failure count of every binding of a token (activation succeeded).
pub fn update_bindings_clear_failures(conn: &mut Conn, token_pk: i32) -> Result<(), Error> {
    diesel::update(bindings::table.filter(bindings::token_pk.eq(token_pk)))
        .set(bindings::failure_count.eq(0))
        .execute(conn)?;
    Ok(())
}

/// Clears an Act binding's failure count (a success, a resync); answers false when the
/// binding is no longer Act. The row is written only when there is a count to clear: a
/// success's `LastAuthenTimeDt` and `LastTrnRcptId` go on the token row
/// ([`crate::storage::success`]), so in the common case a success only reads the binding.
pub fn update_binding_clear_failures(conn: &mut Conn, binding_pk: i32) -> Result<bool, Error> {
    let found: Option<(MfaTokenUsrStat, i32)> = bindings::table
        .find(binding_pk)
        .select((bindings::status, bindings::failure_count))
        .first(conn)
        .optional()?;
    match found {
        Some((MfaTokenUsrStat::Act, 0)) => Ok(true),
        // Re-checked in the write: a lock committed since the read wins (PostgreSQL).
        Some((MfaTokenUsrStat::Act, _)) => Ok(diesel::update(
            bindings::table
                .find(binding_pk)
                .filter(bindings::status.eq(MfaTokenUsrStat::Act)),
        )
        .set(bindings::failure_count.eq(0))
        .execute(conn)?
            == 1),
        _ => Ok(false),
    }
}

/// A binding's state after a failure was counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureCounted {
    /// Consecutive failures now.
    pub failure_count: i32,
    /// Whether this failure locked the binding.
    pub locked: bool,
}

/// Counts one failure on an Act binding and locks it when the count reaches
/// `lock_after`. Answers `None` when the binding is not Act (nothing changed).
pub fn update_binding_failure(
    conn: &mut Conn,
    binding_pk: i32,
    lock_after: i32,
    lock_reason: &str,
    now_ms: i64,
) -> Result<Option<FailureCounted>, Error> {
    // Every wrong code runs this. Two statements, each prepared once (`Fixed`,
    // `on_engine`), cost less than one UPDATE … RETURNING, which Diesel prepares anew on
    // every call; the SELECT reads this transaction's own write.
    let counted = Fixed::new(
        "UPDATE bindings SET failure_count = failure_count + 1 WHERE id = ? AND status = ?",
        &[
            Bind::Int(binding_pk),
            Bind::Text(MfaTokenUsrStat::Act.as_str()),
        ],
    )
    .execute(conn)?;
    if counted == 0 {
        return Ok(None);
    }
    let failure_count: i32 = super::on_engine!(conn, |c| bindings::table
        .find(binding_pk)
        .select(bindings::failure_count)
        .first(c))?;
    let locked = failure_count >= lock_after;
    if locked {
        diesel::update(bindings::table.find(binding_pk))
            .set((
                bindings::status.eq(MfaTokenUsrStat::Lock),
                bindings::locked_at.eq(now_ms),
                bindings::lock_reason.eq(lock_reason),
            ))
            .execute(conn)?;
    }
    Ok(Some(FailureCounted {
        failure_count,
        locked,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_support::{new_token, temp_storage};
    use crate::storage::tokens::{insert_token, update_token_accept_step};
    use crate::storage::users::upsert_user;
    use crate::storage::Storage;
    use crate::types::UsrTokenStat;
    use std::sync::{Arc, Barrier};

    fn seed_token(storage: &Storage) -> (i32, i32) {
        storage
            .write(|c| {
                let user = upsert_user(c, "inst", "alice", None, 0)?;
                let token = insert_token(c, &new_token("T1", "k", UsrTokenStat::Act, "inst"))?;
                let binding = insert_binding(c, token, user, MfaTokenUsrStat::Act, None, 0)?;
                Ok::<_, Error>((token, binding))
            })
            .unwrap()
    }

    /// N threads present the same step at once on a real database file; exactly one wins.
    #[test]
    fn concurrent_accepts_of_one_step_have_exactly_one_winner() {
        let (_dir, storage) = temp_storage();
        let (token, _) = seed_token(&storage);
        let n = 16;
        let barrier = Arc::new(Barrier::new(n));
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let storage = storage.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    storage
                        .write(|c| {
                            update_token_accept_step(
                                c,
                                token,
                                UsrTokenStat::Act,
                                UsrTokenStat::Act,
                                1000,
                                0,
                                1,
                            )
                        })
                        .unwrap()
                })
            })
            .collect();
        let wins = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|won| *won)
            .count();
        assert_eq!(wins, 1);
        // The same or an older step never passes again; a newer one does.
        let again = storage.write(|c| {
            update_token_accept_step(c, token, UsrTokenStat::Act, UsrTokenStat::Act, 1000, 0, 2)
        });
        assert!(!again.unwrap());
        let newer = storage.write(|c| {
            update_token_accept_step(c, token, UsrTokenStat::Act, UsrTokenStat::Act, 1001, 0, 3)
        });
        assert!(newer.unwrap());
    }

    #[test]
    fn failures_lock_at_the_threshold_and_success_clears_them() {
        let (_dir, storage) = temp_storage();
        let (_, binding) = seed_token(&storage);
        let fail = |s: &Storage| {
            s.write(|c| update_binding_failure(c, binding, 3, "too many failures", 5))
                .unwrap()
        };
        assert_eq!(fail(&storage).unwrap().failure_count, 1);
        assert!(storage
            .write(|c| update_binding_clear_failures(c, binding))
            .unwrap());
        assert_eq!(fail(&storage).unwrap().failure_count, 1);
        assert!(!fail(&storage).unwrap().locked);
        assert!(fail(&storage).unwrap().locked);
        assert_eq!(fail(&storage), None, "a locked binding counts no more");
        assert!(!storage
            .write(|c| update_binding_clear_failures(c, binding))
            .unwrap());
        let bound = storage
            .read(|c| find_bound_by_token(c, "inst", "T1"))
            .unwrap();
        assert_eq!(bound[0].binding.status, MfaTokenUsrStat::Lock);
    }
}
