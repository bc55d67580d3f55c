//! Embedded migrations, run by `serve` at start and by `tokend migrate`.

use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::{Conn, Error};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Applies every migration not yet applied; answers how many ran.
pub fn run_pending(conn: &mut Conn) -> Result<usize, Error> {
    conn.run_pending_migrations(MIGRATIONS)
        .map(|done| done.len())
        .map_err(|e| Error::Db(format!("migration failed: {e}")))
}

/// Reverts every applied migration (used by the reversibility test).
pub fn revert_all(conn: &mut Conn) -> Result<usize, Error> {
    conn.revert_all_migrations(MIGRATIONS)
        .map(|done| done.len())
        .map_err(|e| Error::Db(format!("revert failed: {e}")))
}

/// Whether every embedded migration has been applied.
pub fn is_current(conn: &mut Conn) -> Result<bool, Error> {
    conn.has_pending_migration(MIGRATIONS)
        .map(|pending| !pending)
        .map_err(|e| Error::Db(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_support::temp_storage;

    #[test]
    fn migrations_go_up_down_and_up_again() {
        let (_dir, storage) = temp_storage();
        storage
            .read(|conn| {
                assert!(is_current(conn)?);
                assert!(revert_all(conn)? >= 1);
                assert!(!is_current(conn)?);
                assert!(run_pending(conn)? >= 1);
                assert!(is_current(conn)?);
                Ok(())
            })
            .unwrap();
    }
}
