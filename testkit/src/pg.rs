//! PostgreSQL for tests: fresh databases on the server the machine runs (by default
//! `postgres://postgres@127.0.0.1:5432`, trust authentication; `TOKEND_TEST_PG` moves it),
//! each dropped when its guard drops.
//!
//! Two uses. Multi-node tests make one [`Database`] and start several nodes on it. And
//! when `TOKEND_TEST_BACKEND=postgres` is set, [`crate::Tokend`] runs every server and
//! subcommand on a database of its own, named after its data directory (a restart on the
//! same directory finds its data again); the run that set the variable drops them all
//! afterwards with [`drop_all_with_prefix`]. A PostgreSQL that cannot be reached fails
//! the test, naming what is missing: it is never a reason to skip.

use diesel::connection::SimpleConnection as _;
use diesel::{Connection as _, PgConnection, QueryableByName, RunQueryDsl as _};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The environment variable that runs every server of a test process on PostgreSQL.
pub const BACKEND_ENV: &str = "TOKEND_TEST_BACKEND";
/// The prefix of the databases made for one such run (set by the run's parent).
pub const PREFIX_ENV: &str = "TOKEND_TEST_PG_PREFIX";

/// The test server's URL without a database name.
pub fn server_url() -> String {
    std::env::var("TOKEND_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// The URL of database `name` on the test server.
pub fn url_of(name: &str) -> String {
    url_on(&server_url(), name)
}

/// The URL of database `name` on `server` (a URL without a database name).
fn url_on(server: &str, name: &str) -> String {
    format!("{}/{name}", server.trim_end_matches('/'))
}

/// Whether this test process runs its servers on PostgreSQL.
pub fn enabled() -> bool {
    std::env::var(BACKEND_ENV).is_ok_and(|v| v == "postgres")
}

fn admin() -> Result<PgConnection, String> {
    admin_on(&server_url())
}

fn admin_on(server: &str) -> Result<PgConnection, String> {
    let url = url_on(server, "postgres");
    PgConnection::establish(&url).map_err(|e| {
        format!(
            "PostgreSQL is needed at {url} (set TOKEND_TEST_PG to another server; on Debian: \
             apt-get install postgresql, then allow trust or password authentication for \
             user postgres on 127.0.0.1): {e}"
        )
    })
}

/// Creates database `name` (empty) on the test server unless it exists.
pub fn create(name: &str) -> Result<(), String> {
    create_on(&server_url(), name)
}

fn create_on(server: &str, name: &str) -> Result<(), String> {
    let mut admin = admin_on(server)?;
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let found: Found = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM pg_database WHERE datname = '{name}'"
    ))
    .get_result(&mut admin)
    .map_err(|e| e.to_string())?;
    if found.n == 0 {
        match admin.batch_execute(&format!("CREATE DATABASE \"{name}\"")) {
            Ok(()) => {}
            // Another thread created it between the two statements.
            Err(e) if e.to_string().contains("already exists") => {}
            Err(e) => return Err(format!("cannot create database {name}: {e}")),
        }
    }
    Ok(())
}

/// Drops database `name` on the test server, disconnecting whoever still uses it.
pub fn drop_database(name: &str) -> Result<(), String> {
    drop_on(&server_url(), name)
}

fn drop_on(server: &str, name: &str) -> Result<(), String> {
    admin_on(server)?
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .map_err(|e| format!("cannot drop database {name}: {e}"))
}

/// Drops every database whose name starts with `prefix`; how many.
pub fn drop_all_with_prefix(prefix: &str) -> Result<usize, String> {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        datname: String,
    }
    let mut admin = admin()?;
    let names: Vec<Name> = diesel::sql_query(format!(
        "SELECT datname FROM pg_database WHERE datname LIKE '{prefix}%'"
    ))
    .load(&mut admin)
    .map_err(|e| e.to_string())?;
    for n in &names {
        drop_database(&n.datname)?;
    }
    Ok(names.len())
}

/// A fresh database, dropped when this guard drops.
#[derive(Debug)]
pub struct Database {
    /// Its name.
    pub name: String,
    /// Its URL (`database_url` of the nodes that share it).
    pub url: String,
    /// The server's URL, without a database name.
    server: String,
}

static MADE: AtomicUsize = AtomicUsize::new(0);

impl Database {
    /// A new empty database with a name unique to this process and call.
    pub fn fresh(label: &str) -> Result<Database, String> {
        Database::fresh_on(&server_url(), label)
    }

    /// A new empty database on `server` (a URL without a database name).
    pub fn fresh_on(server: &str, label: &str) -> Result<Database, String> {
        let n = MADE.fetch_add(1, Ordering::SeqCst);
        let name = format!("tokend_{label}_{}_{n}", std::process::id());
        create_on(server, &name)?;
        Ok(Database {
            url: url_on(server, &name),
            name,
            server: server.to_owned(),
        })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Err(e) = drop_on(&self.server, &self.name) {
            eprintln!("{e}");
        }
    }
}

/// The database a server or subcommand on `data_dir` uses in a PostgreSQL run: named
/// after the directory, created on first use.
pub fn database_for(data_dir: &Path) -> Result<String, String> {
    let prefix = std::env::var(PREFIX_ENV).unwrap_or_else(|_| "tokend_run".to_owned());
    let path = data_dir
        .canonicalize()
        .unwrap_or_else(|_| data_dir.to_owned());
    let digest = ring::digest::digest(&ring::digest::SHA256, path.to_string_lossy().as_bytes());
    let tag: String = digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let name = format!("{prefix}_{tag}");
    create(&name)?;
    Ok(url_of(&name))
}

/// The cookie key every node of a test cluster shares (PostgreSQL refuses to start
/// without one: see tokend's `secret_key`).
pub const SECRET_KEY: &str = "dG9rZW5kLXRlc3QtY2x1c3Rlci1jb29raWUta2V5ISE=";
