//! Embedded migrations, run by `serve` at start and by `tokend migrate`: one directory per
//! engine (`migrations/sqlite`, `migrations/postgres`), a later migration having a twin of
//! the same name in each. On PostgreSQL, nodes starting together migrate one at a time
//! (`leader::exclusively`), so each migration runs once.

use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::{Conn, Error};

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Runs one harness call with the engine's own connection and migrations.
macro_rules! on_engine {
    ($conn:expr, |$h:ident, $m:ident| $call:expr) => {
        match $conn {
            Conn::Sqlite($h) => {
                let $m = SQLITE;
                $call
            }
            Conn::Pg($h) => {
                let $m = POSTGRES;
                $call
            }
        }
    };
}

/// Applies every migration not yet applied; answers how many ran.
pub fn run_pending(conn: &mut Conn) -> Result<usize, Error> {
    on_engine!(conn, |h, m| h
        .run_pending_migrations(m)
        .map(|done| done.len()))
    .map_err(|e| Error::Db(format!("migration failed: {e}")))
}

/// Reverts every applied migration (used by the reversibility test).
pub fn revert_all(conn: &mut Conn) -> Result<usize, Error> {
    on_engine!(conn, |h, m| h
        .revert_all_migrations(m)
        .map(|done| done.len()))
    .map_err(|e| Error::Db(format!("revert failed: {e}")))
}

/// Whether no migration was ever applied (a database tokend has not made its own yet).
/// A database without the migrations table answers true.
pub fn is_fresh(conn: &mut Conn) -> bool {
    on_engine!(conn, |h, _m| h.applied_migrations()).map_or(true, |applied| applied.is_empty())
}

/// Whether every embedded migration has been applied.
pub fn is_current(conn: &mut Conn) -> Result<bool, Error> {
    on_engine!(conn, |h, m| h.has_pending_migration(m))
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

    /// Each engine's directory has the same later migrations: a migration added for one
    /// engine only would leave the other's schema behind.
    #[test]
    fn every_postgres_migration_has_a_sqlite_twin_from_000012_on() {
        let names = |dir: &str| -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        let sqlite = names("migrations/sqlite");
        let postgres = names("migrations/postgres");
        let from = sqlite
            .iter()
            .position(|n| n.ends_with("000012_audit_chain_pos"))
            .unwrap();
        let later: Vec<&str> = sqlite[from + 1..].iter().map(String::as_str).collect();
        let pg_later: Vec<&str> = postgres[1..].iter().map(String::as_str).collect();
        assert_eq!(later, pg_later);
    }
}
