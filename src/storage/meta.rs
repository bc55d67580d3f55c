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
pub fn insert_value_once(conn: &mut Conn, name: &str, value: &str) -> Result<String, Error> {
    diesel::insert_or_ignore_into(meta::table)
        .values((meta::name.eq(name), meta::value.eq(value)))
        .execute(conn)?;
    find_value(conn, name)?.ok_or(Error::NotFound)
}
