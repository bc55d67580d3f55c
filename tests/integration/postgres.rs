//! The whole integration suite again, on PostgreSQL: this test runs this very test
//! binary a second time with `TOKEND_TEST_BACKEND=postgres`, so every server and
//! subcommand of every test runs on a fresh PostgreSQL database of its own (named after
//! its data directory; see `testkit::pg`), and drops them all at the end. So `cargo test`
//! (the README's one test command) checks both engines, and a test added to any file is
//! checked on both without anyone remembering to.
//!
//! Skipped in that second run: the cluster tests (PostgreSQL already), and the tests of
//! what only exists with SQLite, each with the reason.

use std::process::Command;

/// Tests (name fragments, as `--skip` takes them) about the SQLite file itself.
const SQLITE_ONLY: &[(&str, &str)] = &[
    ("cluster::", "runs on PostgreSQL in the first run already"),
    (
        "failover::",
        "builds its own PostgreSQL primary and standby in the first run already",
    ),
    ("postgres::", "this test itself"),
    (
        "audit_archive::on_postgresql_",
        "runs on PostgreSQL (two nodes) in the first run already",
    ),
    (
        "audit_archive::an_interrupted_archive_resumes",
        "simulates the crash by putting the SQLite file back as it was before the delete",
    ),
    (
        "restart::a_backup_taken_while_serving",
        "tokend backup is SQLite's VACUUM INTO; on PostgreSQL it explains pg_dump instead",
    ),
    (
        "restart::the_database_files_hold_no_seed_in_clear",
        "reads the SQLite file's bytes; PostgreSQL's files belong to its server",
    ),
    (
        "readme::readme_postgres_steps",
        "moves a SQLite install into PostgreSQL (its own database on the same server)",
    ),
    (
        "systemd_user::restore_",
        "tokend restore puts back a SQLite backup; PostgreSQL's are pg_restore's",
    ),
    (
        "operator::restore_",
        "tokend restore puts back a SQLite backup; PostgreSQL's are pg_restore's",
    ),
    (
        "secrets_at_rest::a_database_left_readable_by_others",
        "file modes of the SQLite file and its WAL",
    ),
    (
        "secrets_at_rest::the_database_and_a_backup_are_mode_0600",
        "file modes of the SQLite file and of a SQLite backup",
    ),
];

#[test]
fn every_integration_test_passes_on_postgres_too() {
    if testkit::pg::enabled() {
        return;
    }
    let prefix = format!("tokend_suite_{}", std::process::id());
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env(testkit::pg::BACKEND_ENV, "postgres")
        .env(testkit::pg::PREFIX_ENV, &prefix)
        .env_remove("RUST_TEST_THREADS");
    for (name, _why) in SQLITE_ONLY {
        cmd.args(["--skip", name]);
    }
    let out = cmd.output().unwrap();
    let dropped = testkit::pg::drop_all_with_prefix(&prefix);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("test result") || l.contains("FAILED") || l.contains("panicked"))
        .collect();
    assert!(
        out.status.success(),
        "on PostgreSQL:\n{}\n{stdout}\n{}",
        summary.join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    dropped.unwrap();
    eprintln!("on PostgreSQL: {}", summary.join(" "));
}
