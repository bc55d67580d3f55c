//! The phone on file of a user and its SIM-swap hold (issue 17): conditional updates, so a
//! change decided on a stale read (another change committed first) changes nothing.
//! Diesel DSL only, so the PostgreSQL backend shares it.

use diesel::prelude::*;

use super::schema::users;
use super::users::User;
use super::{Conn, Error};

/// Sets (or with `None` removes) the phone of user `user_pk` if it is still `old` and its
/// change time still `old_changed_at`; answers whether it changed. `changed_at` starts the
/// SIM-swap hold.
pub fn update_user_phone(
    conn: &mut Conn,
    user_pk: i32,
    old: Option<&str>,
    old_changed_at: Option<i64>,
    new: Option<&str>,
    changed_at: i64,
) -> Result<bool, Error> {
    let mut target = users::table.filter(users::id.eq(user_pk)).into_boxed();
    target = match old {
        Some(p) => target.filter(users::phone_num.eq(p.to_owned())),
        None => target.filter(users::phone_num.is_null()),
    };
    target = match old_changed_at {
        Some(t) => target.filter(users::phone_changed_at.eq(t)),
        None => target.filter(users::phone_changed_at.is_null()),
    };
    let ids: Vec<i32> = target.select(users::id).load(conn)?;
    if ids.is_empty() {
        return Ok(false);
    }
    let n = diesel::update(users::table.filter(users::id.eq_any(ids)))
        .set((
            users::phone_num.eq(new),
            users::phone_changed_at.eq(Some(changed_at)),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Records that an admin lifted the hold of user `user_pk` at `at`.
pub fn update_user_hold_lifted(conn: &mut Conn, user_pk: i32, at: i64) -> Result<(), Error> {
    diesel::update(users::table.find(user_pk))
        .set(users::hold_lifted_at.eq(Some(at)))
        .execute(conn)?;
    Ok(())
}

/// The institution's users whose phone on file is `phone` (an explicit OOBValidate naming
/// only a number is held when the number is a held user's).
pub fn find_users_with_phone(
    conn: &mut Conn,
    inst_rt_id: &str,
    phone: &str,
) -> Result<Vec<User>, Error> {
    Ok(users::table
        .filter(users::inst_rt_id.eq(inst_rt_id))
        .filter(users::phone_num.eq(phone))
        .select(User::as_select())
        .load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_support::temp_storage;
    use crate::storage::users::{find_user, insert_user};

    #[test]
    fn a_change_on_a_stale_read_changes_nothing() {
        let (_dir, storage) = temp_storage();
        storage
            .write(|c| {
                let pk = insert_user(c, "i", "alice", Some("5550001111"), 0)?;
                assert!(update_user_phone(
                    c,
                    pk,
                    Some("5550001111"),
                    None,
                    Some("5550002222"),
                    10
                )?);
                // The same change again: the phone is no longer the old one.
                assert!(!update_user_phone(
                    c,
                    pk,
                    Some("5550001111"),
                    None,
                    None,
                    20
                )?);
                assert!(!update_user_phone(
                    c,
                    pk,
                    Some("5550002222"),
                    None,
                    None,
                    20
                )?);
                assert!(update_user_phone(
                    c,
                    pk,
                    Some("5550002222"),
                    Some(10),
                    None,
                    20
                )?);
                let u = find_user(c, "i", "alice")?.unwrap();
                assert_eq!((u.phone_num, u.phone_changed_at), (None, Some(20)));
                update_user_hold_lifted(c, pk, 30)?;
                assert_eq!(
                    find_user(c, "i", "alice")?.unwrap().hold_lifted_at,
                    Some(30)
                );
                Ok::<_, Error>(())
            })
            .unwrap();
    }
}
