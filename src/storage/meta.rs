//! Key/value facts about the database itself (the master key fingerprint).

use diesel::prelude::*;

use super::schema::meta;
use super::{Conn, Error};

/// Reads one value.
pub fn find_value(conn: &mut Conn, name: &str) -> Result<Option<String>, Error> {
    Ok(meta::table
        .find(name)
        .select(meta::value)
        .first(conn)
        .optional()?)
}

/// Writes a value only if the name is not set yet; answers the value now stored, so two
/// processes initialising one database agree on the first writer's value.
///
/// The insert runs in a savepoint (or its own transaction) so that, on PostgreSQL, the
/// unique violation a second writer meets does not abort the enclosing transaction.
pub fn insert_value_once(conn: &mut Conn, name: &str, value: &str) -> Result<String, Error> {
    let inserted = super::refusable(conn, |c| {
        diesel::insert_into(meta::table)
            .values((meta::name.eq(name), meta::value.eq(value)))
            .execute(c)
    });
    match inserted {
        Ok(_) | Err(Error::Conflict(_)) => {}
        Err(e) => return Err(e),
    }
    find_value(conn, name)?.ok_or(Error::NotFound)
}

/// Sets a value, replacing any earlier one (an UPDATE, else an INSERT: portable SQL).
pub fn set_value(conn: &mut Conn, name: &str, value: &str) -> Result<(), Error> {
    let updated = diesel::update(meta::table.find(name))
        .set(meta::value.eq(value))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(meta::table)
            .values((meta::name.eq(name), meta::value.eq(value)))
            .execute(conn)?;
    }
    Ok(())
}

/// Every value whose name starts with `prefix`, as (name, value).
pub fn find_values_prefixed(conn: &mut Conn, prefix: &str) -> Result<Vec<(String, String)>, Error> {
    let pattern = format!(
        "{}%",
        prefix
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    Ok(meta::table
        .filter(meta::name.like(pattern).escape('\\'))
        .select((meta::name, meta::value))
        .load(conn)?)
}

/// Removes a value (nothing when it is not set).
pub fn delete_value(conn: &mut Conn, name: &str) -> Result<(), Error> {
    diesel::delete(meta::table.find(name)).execute(conn)?;
    Ok(())
}

/// A write that changes nothing (an UPDATE of no row): whether this node can write to the
/// database at all — a read-only standby, a full disk or a lost lock refuse it.
pub fn probe_write(conn: &mut Conn) -> Result<(), Error> {
    use diesel::prelude::*;
    diesel::update(super::schema::meta::table.filter(super::schema::meta::name.eq("~ready-probe")))
        .set(super::schema::meta::value.eq(super::schema::meta::value))
        .execute(conn)?;
    Ok(())
}
