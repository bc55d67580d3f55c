//! An operations team's path, over the real binary: subcommands never make a second
//! install by accident, `tokend restore` puts a backup back over a crashed install
//! (refused while the service runs; a stale WAL is never replayed onto it).

use crate::support::admin::AdminClient;
use crate::support::{cli, tokend, TestServer};
use std::path::Path;
use std::process::Command;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every subcommand but `serve` and `migrate`, run on a directory without a database,
/// refuses naming the path it looked at, and leaves nothing behind; `migrate` then makes
/// the install and the same command works.
#[test]
fn subcommands_refuse_a_data_directory_without_a_database() {
    let root = tempfile::tempdir().unwrap();
    let seeds = root.path().join("seeds.csv");
    std::fs::write(&seeds, "serial,seed\n").unwrap();
    let seeds = seeds.to_string_lossy().into_owned();
    let backup = root.path().join("b.sqlite").to_string_lossy().into_owned();
    let mut commands: Vec<Vec<&str>> = vec![
        vec!["apikey", "create", "--name", "x", "--scope", "manage"],
        vec!["admin", "create", "--username", "kari"],
        vec!["admin", "list"],
        vec!["import", &seeds],
        vec!["backup", &backup],
        vec!["audit", "verify"],
        vec!["rekey"],
        vec!["rekey", "--verify"],
    ];
    if !testkit::pg::enabled() {
        commands.push(vec!["restore", &backup]);
    }
    for (i, args) in commands.iter().enumerate() {
        // A directory that does not exist, and one that exists but is empty.
        let dir = root.path().join(format!("wrong-{i}"));
        if i % 2 == 1 {
            std::fs::create_dir(&dir).unwrap();
        }
        let out = tokend().cli_bare(&dir, &[], args).unwrap();
        let err = stderr(&out);
        assert!(
            !out.status.success(),
            "{args:?} succeeded: {}",
            stdout(&out)
        );
        assert!(
            err.contains("refusing to create a new install"),
            "{args:?}: {err}"
        );
        if !testkit::pg::enabled() {
            let looked_at = dir.join("tokend.sqlite");
            assert!(
                err.contains(&*looked_at.to_string_lossy()),
                "{args:?}: {err}"
            );
        }
        assert!(
            !dir.join("tokend.sqlite").exists(),
            "{args:?} made a database"
        );
        assert!(
            !dir.join("master.key").exists(),
            "{args:?} made a master key"
        );
    }
    let dir = root.path().join("right");
    let made = tokend().cli_bare(&dir, &[], &["migrate"]).unwrap();
    assert!(made.status.success(), "{}", stderr(&made));
    assert!(
        dir.join("master.key").exists(),
        "migrate makes the whole install"
    );
    let key = tokend()
        .cli_bare(
            &dir,
            &[],
            &["apikey", "create", "--name", "x", "--scope", "manage"],
        )
        .unwrap();
    assert!(key.status.success(), "{}", stderr(&key));
}

fn user_exists(server: &TestServer, name: &str) -> bool {
    let rs = ureq::get(&format!("{}/api/v1/users/{name}", server.base))
        .set("Authorization", &format!("Bearer {}", server.key))
        .call();
    match rs {
        Ok(r) => r.status() == 200,
        Err(ureq::Error::Status(404, _)) => false,
        Err(e) => panic!("{e}"),
    }
}

/// The crash of issue 27: a backup restored in place over a crashed install must not
/// get the crashed database's WAL replayed onto it.
#[test]
fn restore_refuses_while_serving_drops_the_stale_wal_and_says_what_it_restored() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = TestServer::start_in(&data, &[]).unwrap();
    for name in ["ann", "bob"] {
        server.enroll_active(name);
    }
    let backup = dir.path().join("before.sqlite");
    let out = cli(&data, &[], &["backup", &backup.to_string_lossy()]);
    assert!(out.status.success(), "{}", stderr(&out));
    for name in ["cat", "dan", "eve"] {
        server.enroll_active(name);
    }

    let refused = cli(&data, &[], &["restore", &backup.to_string_lossy()]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("stop it first"),
        "{}",
        stderr(&refused)
    );

    server.stop(); // kill -9: a crash, its WAL left behind
    assert!(
        data.join("tokend.sqlite-wal").exists(),
        "the crash leaves a WAL"
    );
    let out = cli(&data, &[], &["restore", &backup.to_string_lossy()]);
    let (said, err) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "{err}");
    assert!(said.contains("2 user(s), 2 token(s)"), "{said}");
    assert!(said.contains("audit chain whole"), "{said}");
    assert!(
        err.contains("tokend.sqlite-wal"),
        "names the WAL it removed: {err}"
    );
    assert!(
        err.contains("before-restore-"),
        "keeps the database it replaced: {err}"
    );

    let verify = cli(&data, &[], &["audit", "verify"]);
    assert!(verify.status.success(), "{}", stdout(&verify));
    let server = TestServer::start_in(&data, &[]).unwrap();
    assert!(user_exists(&server, "bob"));
    assert!(
        !user_exists(&server, "cat"),
        "a newer row came back from the WAL"
    );
}

/// A backup whose audit chain does not verify is refused before anything is replaced.
#[test]
fn restore_refuses_a_backup_whose_audit_chain_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = TestServer::start_in(&data, &[]).unwrap();
    server.enroll_active("ann");
    let backup = dir.path().join("b.sqlite");
    assert!(cli(&data, &[], &["backup", &backup.to_string_lossy()])
        .status
        .success());
    server.stop();
    tamper_audit(&backup);
    let before = std::fs::read(data.join("tokend.sqlite")).unwrap();
    let out = cli(&data, &[], &["restore", &backup.to_string_lossy()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("BROKEN"), "{}", stderr(&out));
    assert_eq!(std::fs::read(data.join("tokend.sqlite")).unwrap(), before);
}

fn tamper_audit(file: &Path) {
    use diesel::{Connection as _, RunQueryDsl as _};
    let mut conn = diesel::SqliteConnection::establish(&file.to_string_lossy()).unwrap();
    diesel::sql_query("UPDATE audit_events SET actor = 'someone else' WHERE id = (SELECT MIN(id) FROM audit_events)")
        .execute(&mut conn)
        .unwrap();
}

/// The first admin's one-time password sits in the journal: it expires unused
/// (`first_admin_otp_secs`), and a later start says so and how to make an account.
#[test]
fn the_first_admins_one_time_password_expires_and_a_later_start_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("ROCKET_FIRST_ADMIN_OTP_SECS", "2")];
    let mut server = TestServer::start_in(dir.path(), &env).unwrap();
    let one_time = server.first_admin_password.clone().unwrap();
    assert!(
        server.stdout.lock().unwrap().contains("it expires at"),
        "the first start says when it expires"
    );
    // Real time, kept (issue 29): the first admin's password is a bootstrap (CLI/console)
    // rule, on the real clock.
    std::thread::sleep(std::time::Duration::from_millis(3500));
    let page = AdminClient::new(&server).sign_in("admin", &one_time);
    assert_ne!(
        page.location.as_deref(),
        Some("/admin/password"),
        "it still signs in"
    );
    let logs = server.stop_and_logs();
    assert!(logs.contains("one-time password expired unused"), "{logs}");

    let mut again = TestServer::start_in(dir.path(), &env).unwrap();
    assert_eq!(again.first_admin_password, None);
    let logs = again.stop_and_logs();
    assert!(logs.contains("expired unused"), "{logs}");
    assert!(logs.contains("tokend admin create --username"), "{logs}");
}

/// The unit check docs/operations.md gives works before the binary is installed at the
/// unit's path (`systemd-analyze verify deploy/tokend.service` alone does not).
#[test]
fn the_documented_unit_check_passes_before_the_binary_is_installed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ops = std::fs::read_to_string(root.join("docs/operations.md")).unwrap();
    assert!(
        ops.contains("deploy/verify-unit target/release/tokend"),
        "the docs give it"
    );
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("skipped: systemd-analyze is not installed here (.ci/run installs it)");
        return;
    }
    let out = Command::new(root.join("deploy/verify-unit"))
        .arg(env!("CARGO_BIN_EXE_tokend"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("systemd-analyze verify passed"));
}

/// After a single-node rotation the retired key is kept in `retired/` (the new key is
/// `master.key`), and a backup made before the rotation restores with it: restore puts
/// that key back as `master.key`, and the restored install validates.
#[test]
fn restore_of_a_backup_from_before_a_rotation_finds_the_retired_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = TestServer::start_in(&data, &[]).unwrap();
    let (_, seed, step) = server.enroll_active("ann");
    let backup = dir.path().join("before-rotation.sqlite");
    assert!(cli(&data, &[], &["backup", &backup.to_string_lossy()])
        .status
        .success());
    let old_key = std::fs::read_to_string(data.join("master.key")).unwrap();
    let rekey = cli(&data, &[], &["rekey"]);
    assert!(rekey.status.success(), "{}", stderr(&rekey));
    assert!(
        stderr(&rekey).contains("retired/master."),
        "{}",
        stderr(&rekey)
    );
    assert_ne!(
        std::fs::read_to_string(data.join("master.key")).unwrap(),
        old_key
    );
    server.stop();

    let out = cli(&data, &[], &["restore", &backup.to_string_lossy()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("made before a key rotation"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(data.join("master.key")).unwrap(),
        old_key,
        "the backup's key is master.key again"
    );
    let server = TestServer::start_in(&data, &[]).unwrap();
    let code = crate::support::totp(&seed, "SHA1", 6, step + 1);
    assert_eq!(server.validate("ann", &code)["RsStat"], "Success");
}

/// A port another process holds is named at once, before anything is created (a first
/// start would otherwise print the first admin's one-time password and then stop).
#[test]
fn a_port_in_use_is_named_before_anything_is_created() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = tokend()
        .command(&data)
        .env("ROCKET_PORT", &port)
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("another process listens there"),
        "{err}"
    );
    assert!(
        !stdout(&out).contains("one-time password"),
        "{}",
        stdout(&out)
    );
    assert!(!data.exists(), "nothing was created");
}

/// A PostgreSQL database that does not exist is said once, at once.
#[test]
fn a_missing_postgres_database_is_said_once() {
    let url = format!("{}/tokend_no_such_database_27", testkit::pg::server_url());
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let out = tokend()
        .command(dir.path())
        .env("ROCKET_DATABASE_URL", &url)
        .env("ROCKET_SECRET_KEY", testkit::pg::SECRET_KEY)
        .env("ROCKET_PORT", "0")
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.matches("does not exist").count(), 1, "{err}");
    assert!(err.contains("database_url"), "names the setting: {err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "no time-out: {err}"
    );
}
