//! Staff passkeys (WebAuthn credentials of console accounts: public keys and counters,
//! nothing secret), and the one-time ceremony state kept on a console session between a
//! ceremony's two requests.

use diesel::prelude::*;

use super::schema::{admin_sessions, staff_passkeys};
use super::{Conn, Error};

/// A stored passkey.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = staff_passkeys)]
pub struct StaffPasskey {
    /// Row id.
    pub id: i32,
    /// Its account.
    pub admin_id: i32,
    /// The name its owner gave it.
    pub name: String,
    /// The webauthn-rs `Passkey`, JSON.
    pub credential: String,
    /// Registered (ms).
    pub created_at: i64,
    /// Last sign-in with it (ms).
    pub last_used_at: Option<i64>,
}

/// Stores a new passkey.
pub fn insert_passkey(
    conn: &mut Conn,
    admin_id: i32,
    name: &str,
    credential: &str,
    now_ms: i64,
) -> Result<(), Error> {
    diesel::insert_into(staff_passkeys::table)
        .values((
            staff_passkeys::admin_id.eq(admin_id),
            staff_passkeys::name.eq(name),
            staff_passkeys::credential.eq(credential),
            staff_passkeys::created_at.eq(now_ms),
        ))
        .execute(conn)?;
    Ok(())
}

/// An account's passkeys, oldest first.
pub fn find_passkeys(conn: &mut Conn, admin_id: i32) -> Result<Vec<StaffPasskey>, Error> {
    Ok(staff_passkeys::table
        .filter(staff_passkeys::admin_id.eq(admin_id))
        .order(staff_passkeys::id.asc())
        .select(StaffPasskey::as_select())
        .load(conn)?)
}

/// Stores a passkey's updated credential (its counter) after a sign-in.
pub fn update_passkey_used(
    conn: &mut Conn,
    id: i32,
    credential: &str,
    now_ms: i64,
) -> Result<(), Error> {
    diesel::update(staff_passkeys::table.find(id))
        .set((
            staff_passkeys::credential.eq(credential),
            staff_passkeys::last_used_at.eq(Some(now_ms)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Removes one of an account's passkeys; answers whether it existed.
pub fn delete_passkey(conn: &mut Conn, admin_id: i32, id: i32) -> Result<bool, Error> {
    Ok(diesel::delete(
        staff_passkeys::table
            .find(id)
            .filter(staff_passkeys::admin_id.eq(admin_id)),
    )
    .execute(conn)?
        == 1)
}

/// Removes every passkey of an account; answers how many.
pub fn delete_passkeys_of(conn: &mut Conn, admin_id: i32) -> Result<usize, Error> {
    Ok(
        diesel::delete(staff_passkeys::table.filter(staff_passkeys::admin_id.eq(admin_id)))
            .execute(conn)?,
    )
}

/// Keeps a ceremony's state on a session (replacing any earlier one).
pub fn update_session_ceremony(conn: &mut Conn, id_hash: &str, state: &str) -> Result<(), Error> {
    diesel::update(admin_sessions::table.find(id_hash))
        .set(admin_sessions::webauthn_state.eq(Some(state)))
        .execute(conn)?;
    Ok(())
}

/// Takes a session's ceremony state out (it is good once).
pub fn take_session_ceremony(conn: &mut Conn, id_hash: &str) -> Result<Option<String>, Error> {
    let state: Option<Option<String>> = admin_sessions::table
        .find(id_hash)
        .select(admin_sessions::webauthn_state)
        .first(conn)
        .optional()?;
    diesel::update(admin_sessions::table.find(id_hash))
        .set(admin_sessions::webauthn_state.eq(None::<String>))
        .execute(conn)?;
    Ok(state.flatten())
}
