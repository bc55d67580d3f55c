//! The institutions' alert libraries (issue 28: OOBValidate's recipient mode):
//! `alert_libraries` (one per institution, open or closed to OOB), `alert_texts` (named,
//! versioned texts) and `alert_subscriptions` (which user gets which alert name).
//! Imports: diesel.

use diesel::prelude::*;

use super::schema::{alert_libraries, alert_subscriptions, alert_texts, users};
use super::{Conn, Error};

/// One version of a named alert text.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = alert_texts)]
pub struct AlertText {
    /// The institution whose library holds it.
    pub inst_rt_id: String,
    /// jXchange `AlrtName`.
    pub alrt_name: String,
    /// jXchange `PubVer` (1, 2, … per name).
    pub pub_ver: i32,
    /// The text, with its `<%$otp%>`/`<%$otpa%>` tag if any.
    pub text: String,
    /// When it was added, ms.
    pub created_at: i64,
}

/// An institution's library: whether it exists and is open to OOB.
pub fn find_library(conn: &mut Conn, inst: &str) -> Result<Option<bool>, Error> {
    Ok(alert_libraries::table
        .find(inst)
        .select(alert_libraries::oob_enabled)
        .first(conn)
        .optional()?)
}

/// Creates `inst`'s library (open to OOB) unless it exists.
pub fn insert_library(conn: &mut Conn, inst: &str, now_ms: i64) -> Result<(), Error> {
    if find_library(conn, inst)?.is_none() {
        diesel::insert_into(alert_libraries::table)
            .values((
                alert_libraries::inst_rt_id.eq(inst),
                alert_libraries::oob_enabled.eq(true),
                alert_libraries::created_at.eq(now_ms),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Opens or closes `inst`'s library to OOB; answers whether it exists.
pub fn update_library_oob(conn: &mut Conn, inst: &str, enabled: bool) -> Result<bool, Error> {
    Ok(diesel::update(alert_libraries::table.find(inst))
        .set(alert_libraries::oob_enabled.eq(enabled))
        .execute(conn)?
        == 1)
}

/// Adds the next version of `name` in `inst`'s library (the library must exist) and
/// answers its `PubVer`. Two writers adding one name at once: the loser's INSERT is a
/// unique violation ([`Error::Conflict`]), never a duplicate version.
pub fn insert_alert_text(
    conn: &mut Conn,
    inst: &str,
    name: &str,
    text: &str,
    now_ms: i64,
) -> Result<i32, Error> {
    let latest: Option<i32> = alert_texts::table
        .filter(alert_texts::inst_rt_id.eq(inst))
        .filter(alert_texts::alrt_name.eq(name))
        .select(diesel::dsl::max(alert_texts::pub_ver))
        .first(conn)?;
    let pub_ver = latest.unwrap_or(0) + 1;
    super::refusable(conn, |c| {
        diesel::insert_into(alert_texts::table)
            .values((
                alert_texts::inst_rt_id.eq(inst),
                alert_texts::alrt_name.eq(name),
                alert_texts::pub_ver.eq(pub_ver),
                alert_texts::text.eq(text),
                alert_texts::created_at.eq(now_ms),
            ))
            .execute(c)
    })?;
    Ok(pub_ver)
}

/// Every version of `name` in `inst`'s library, newest first (empty: no such alert).
pub fn find_alert_versions(
    conn: &mut Conn,
    inst: &str,
    name: &str,
) -> Result<Vec<AlertText>, Error> {
    Ok(alert_texts::table
        .filter(alert_texts::inst_rt_id.eq(inst))
        .filter(alert_texts::alrt_name.eq(name))
        .order(alert_texts::pub_ver.desc())
        .select(AlertText::as_select())
        .load(conn)?)
}

/// Every alert of `inst`'s library, by name then version.
pub fn find_alert_texts(conn: &mut Conn, inst: &str) -> Result<Vec<AlertText>, Error> {
    Ok(alert_texts::table
        .filter(alert_texts::inst_rt_id.eq(inst))
        .order((alert_texts::alrt_name, alert_texts::pub_ver))
        .select(AlertText::as_select())
        .load(conn)?)
}

/// Subscribes user `user_pk` to `name`; answers whether it was new.
pub fn insert_subscription(
    conn: &mut Conn,
    user_pk: i32,
    name: &str,
    now_ms: i64,
) -> Result<bool, Error> {
    if is_subscribed(conn, user_pk, name)? {
        return Ok(false);
    }
    diesel::insert_into(alert_subscriptions::table)
        .values((
            alert_subscriptions::user_pk.eq(user_pk),
            alert_subscriptions::alrt_name.eq(name),
            alert_subscriptions::created_at.eq(now_ms),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Ends user `user_pk`'s subscription to `name`; answers whether there was one.
pub fn delete_subscription(conn: &mut Conn, user_pk: i32, name: &str) -> Result<bool, Error> {
    Ok(diesel::delete(
        alert_subscriptions::table
            .filter(alert_subscriptions::user_pk.eq(user_pk))
            .filter(alert_subscriptions::alrt_name.eq(name)),
    )
    .execute(conn)?
        == 1)
}

/// Whether user `user_pk` is subscribed to `name`.
pub fn is_subscribed(conn: &mut Conn, user_pk: i32, name: &str) -> Result<bool, Error> {
    Ok(diesel::select(diesel::dsl::exists(
        alert_subscriptions::table
            .filter(alert_subscriptions::user_pk.eq(user_pk))
            .filter(alert_subscriptions::alrt_name.eq(name)),
    ))
    .get_result(conn)?)
}

/// The `UsrName`s of `inst` subscribed to `name`, sorted.
pub fn find_subscribers(conn: &mut Conn, inst: &str, name: &str) -> Result<Vec<String>, Error> {
    Ok(alert_subscriptions::table
        .inner_join(users::table)
        .filter(users::inst_rt_id.eq(inst))
        .filter(alert_subscriptions::alrt_name.eq(name))
        .order(users::usr_name)
        .select(users::usr_name)
        .load(conn)?)
}

/// Every subscription of `inst`'s users, as (alert name, user name), by name then user:
/// the console's library page in one query rather than one per alert.
pub fn find_all_subscribers(conn: &mut Conn, inst: &str) -> Result<Vec<(String, String)>, Error> {
    Ok(alert_subscriptions::table
        .inner_join(users::table)
        .filter(users::inst_rt_id.eq(inst))
        .order((alert_subscriptions::alrt_name, users::usr_name))
        .select((alert_subscriptions::alrt_name, users::usr_name))
        .load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_support::temp_storage;

    #[test]
    fn adding_a_name_again_adds_the_next_version() {
        let (_dir, storage) = temp_storage();
        let vers = storage
            .write(|c| {
                insert_library(c, "011000015", 1)?;
                let a = insert_alert_text(c, "011000015", "Login", "v1 <%$otp%>", 1)?;
                let b = insert_alert_text(c, "011000015", "Login", "v2 <%$otp%>", 2)?;
                let other = insert_alert_text(c, "011000015", "Wire", "w <%$otp%>", 3)?;
                Ok::<_, Error>((a, b, other))
            })
            .unwrap();
        assert_eq!(vers, (1, 2, 1));
        let found = storage
            .read(|c| find_alert_versions(c, "011000015", "Login"))
            .unwrap();
        assert_eq!(found[0].text, "v2 <%$otp%>");
        assert_eq!(found.len(), 2);
        assert_eq!(
            storage.read(|c| find_library(c, "011000015")).unwrap(),
            Some(true)
        );
        assert_eq!(storage.read(|c| find_library(c, "other")).unwrap(), None);
    }
}
