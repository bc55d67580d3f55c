//! Users (jXchange `UsrName` within an institution `InstRtId`).

use diesel::prelude::*;

use super::schema::users;
use super::{Bind, Conn, Error, Fixed};
use crate::types::usr_name_key;

/// A stored user.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    /// Row id.
    pub id: i32,
    /// Institution.
    pub inst_rt_id: String,
    /// jXchange `UsrName`.
    pub usr_name: String,
    /// 10-digit phone for the SMS fallback.
    pub phone_num: Option<String>,
    /// Creation time, ms since the epoch.
    pub created_at: i64,
    /// Lock-fallback OOB sessions ended Failed or Expired in a row.
    pub oob_failed_sessions: i32,
    /// When the phone last changed after creation (the SIM-swap guard's start), ms.
    pub phone_changed_at: Option<i64>,
    /// When an admin last lifted the SIM-swap hold, ms.
    pub hold_lifted_at: Option<i64>,
}

/// Finds a user by institution and name: the user whose name folds to the same key
/// (`types::usr_name_key`), or, among names that collided before keys existed, the one
/// with exactly this name first.
pub fn find_user(conn: &mut Conn, inst_rt_id: &str, usr_name: &str) -> Result<Option<User>, Error> {
    Ok(users::table
        .filter(users::inst_rt_id.eq(inst_rt_id))
        .filter(
            users::usr_name
                .eq(usr_name)
                .or(users::usr_name_key.eq(usr_name_key(usr_name))),
        )
        .order(users::usr_name.eq(usr_name).desc())
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

/// Users without a name key (rows from before keys, and collisions), after row id
/// `after`, in id order.
pub fn find_users_without_key(
    conn: &mut Conn,
    after: i32,
    limit: i64,
) -> Result<Vec<(i32, String, String)>, Error> {
    Ok(users::table
        .filter(users::usr_name_key.is_null())
        .filter(users::id.gt(after))
        .order(users::id)
        .select((users::id, users::inst_rt_id, users::usr_name))
        .limit(limit)
        .load(conn)?)
}

/// Sets a user's name key if it has none; `Error::Conflict` when another user of the
/// institution has it (a collision).
pub fn update_user_name_key(conn: &mut Conn, id: i32, key: &str) -> Result<bool, Error> {
    let rows = super::refusable(conn, |c| {
        diesel::update(users::table.find(id).filter(users::usr_name_key.is_null()))
            .set(users::usr_name_key.eq(key))
            .execute(c)
    })?;
    Ok(rows == 1)
}

/// Sets the count of lock-fallback sessions failed in a row (0: a success or an admin
/// ended the streak).
pub fn update_user_oob_failures(conn: &mut Conn, user_pk: i32, count: i32) -> Result<(), Error> {
    // Every success runs this (with 0): fixed SQL, prepared once (see `Fixed`).
    Fixed::new(
        "UPDATE users SET oob_failed_sessions = ? WHERE id = ? AND oob_failed_sessions <> ?",
        &[Bind::Int(count), Bind::Int(user_pk), Bind::Int(count)],
    )
    .execute(conn)?;
    Ok(())
}

/// Counts one more lock-fallback session failed or expired in a row; answers the count.
pub fn update_user_oob_failed(conn: &mut Conn, user_pk: i32) -> Result<i32, Error> {
    Ok(diesel::update(users::table.find(user_pk))
        .set(users::oob_failed_sessions.eq(users::oob_failed_sessions + 1))
        .returning(users::oob_failed_sessions)
        .get_result(conn)?)
}

/// Finds a user by row id.
pub fn find_user_by_pk(conn: &mut Conn, id: i32) -> Result<Option<User>, Error> {
    Ok(users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

/// Answers the user's row id, creating the user if absent; a given phone replaces the
/// stored one.
pub fn upsert_user(
    conn: &mut Conn,
    inst_rt_id: &str,
    usr_name: &str,
    phone_num: Option<&str>,
    now_ms: i64,
) -> Result<i32, Error> {
    if let Some(user) = find_user(conn, inst_rt_id, usr_name)? {
        if let Some(phone) = phone_num {
            diesel::update(users::table.find(user.id))
                .set(users::phone_num.eq(phone))
                .execute(conn)?;
        }
        return Ok(user.id);
    }
    insert_user(conn, inst_rt_id, usr_name, phone_num, now_ms)
}

diesel::define_sql_function! {
    /// SQL `lower(text)`: ASCII case folding in SQLite (and what the folded index holds).
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// One page of users whose name starts with `prefix`, whatever its case (a help desk types
/// `jane` for `Jane Doe`), in case-folded name order, after the name `after`. A range on
/// the `(inst_rt_id, lower(usr_name), usr_name)` index: as fast at 100,000 users as at
/// ten. Folding is ASCII (SQLite's `lower`), so `prefix` is folded the same way here.
pub fn find_users_page(
    conn: &mut Conn,
    inst_rt_id: &str,
    prefix: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<User>, Error> {
    let folded = prefix.to_ascii_lowercase();
    let mut query = users::table
        .filter(users::inst_rt_id.eq(inst_rt_id))
        .filter(lower(users::usr_name).ge(folded.clone()))
        .into_boxed();
    if !folded.is_empty() {
        // Every folded name with the prefix sorts below prefix + U+10FFFF.
        query = query.filter(lower(users::usr_name).lt(format!("{folded}\u{10FFFF}")));
    }
    if let Some(after) = after {
        let after_folded = after.to_ascii_lowercase();
        query = query.filter(
            lower(users::usr_name)
                .gt(after_folded.clone())
                .or(lower(users::usr_name)
                    .eq(after_folded)
                    .and(users::usr_name.gt(after.to_owned()))),
        );
    }
    Ok(query
        .order((lower(users::usr_name), users::usr_name))
        .limit(limit)
        .select(User::as_select())
        .load(conn)?)
}

/// Inserts a new user; an existing name is [`Error::Conflict`].
pub fn insert_user(
    conn: &mut Conn,
    inst_rt_id: &str,
    usr_name: &str,
    phone_num: Option<&str>,
    now_ms: i64,
) -> Result<i32, Error> {
    super::refusable(conn, |c| {
        diesel::insert_into(users::table)
            .values((
                users::inst_rt_id.eq(inst_rt_id),
                users::usr_name.eq(usr_name),
                users::usr_name_key.eq(usr_name_key(usr_name)),
                users::phone_num.eq(phone_num),
                users::created_at.eq(now_ms),
            ))
            .returning(users::id)
            .get_result(c)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_support::temp_storage;
    use diesel::sql_types::Text;

    #[derive(QueryableByName)]
    struct PlanRow {
        #[diesel(sql_type = Text)]
        detail: String,
    }

    #[test]
    fn prefix_search_is_a_range_on_the_unique_index_and_pages_by_name() {
        let (_dir, storage) = temp_storage();
        storage
            .write(|c| {
                for i in 0..120 {
                    insert_user(c, "tokend", &format!("user {i:03}"), None, 0)?;
                }
                insert_user(c, "tokend", "other", None, 0)?;
                insert_user(c, "tokend", "User 050b", None, 0)?;
                insert_user(c, "bank2", "user 999", None, 0)?;
                Ok::<_, Error>(())
            })
            .unwrap();
        let page = storage
            .read(|c| find_users_page(c, "tokend", "user", None, 50))
            .unwrap();
        assert_eq!(page.len(), 50);
        assert_eq!(page[0].usr_name, "user 000");
        let next = storage
            .read(|c| find_users_page(c, "tokend", "user", Some("user 099"), 50))
            .unwrap();
        assert_eq!(next.len(), 20);
        let folded = storage
            .read(|c| find_users_page(c, "tokend", "USER 05", None, 50))
            .unwrap();
        let names: Vec<&str> = folded.iter().map(|u| u.usr_name.as_str()).collect();
        assert_eq!(
            names[..3],
            ["user 050", "User 050b", "user 051"],
            "{names:?}"
        );
        assert!(next.iter().all(|u| u.inst_rt_id == "tokend"));
        let plan: Vec<PlanRow> = storage
            .read(|c| {
                Ok(diesel::sql_query(
                    "EXPLAIN QUERY PLAN SELECT * FROM users WHERE inst_rt_id = 'tokend' \
                     AND lower(usr_name) >= 'user' AND lower(usr_name) < 'user\u{10FFFF}' \
                     ORDER BY lower(usr_name), usr_name LIMIT 51",
                )
                .load(c)?)
            })
            .unwrap();
        let plan: Vec<&str> = plan.iter().map(|r| r.detail.as_str()).collect();
        assert!(
            plan.iter()
                .any(|d| d.contains("INDEX users_by_folded_name")
                    && d.contains("<expr>>? AND <expr><?")),
            "{plan:?}"
        );
        assert!(!plan.iter().any(|d| d.contains("TEMP B-TREE")), "{plan:?}");
    }
}
