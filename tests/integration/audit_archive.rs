//! The audit archive (issue 33): `tokend audit archive` moves old rows into segment
//! files and prunes them while the service runs; `tokend audit verify --archive` and the
//! standalone `tools/verify_audit_archive.py` check the segments and that they join the
//! table into one chain, naming each kind of damage; an interrupted run resumes; the
//! service archives on its own and `/metrics` says how it went; on PostgreSQL a second
//! node continues the chain after an archive.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::{cli, TestServer};

/// A moment just past: rows written before it are archived.
fn now_rfc3339() -> String {
    std::thread::sleep(std::time::Duration::from_millis(20));
    chrono::Utc::now().to_rfc3339()
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn archive(data_dir: &Path, to: &Path, segment_rows: &str) -> Output {
    let before = now_rfc3339();
    let to = to.to_string_lossy();
    cli(
        data_dir,
        &[],
        &[
            "audit",
            "archive",
            "--before",
            &before,
            "--to",
            &to,
            "--segment-rows",
            segment_rows,
        ],
    )
}

fn verify(data_dir: &Path, archive_dir: &Path) -> Output {
    let dir = archive_dir.to_string_lossy();
    cli(data_dir, &[], &["audit", "verify", "--archive", &dir])
}

/// The standalone verifier, as an examiner runs it (no database, no key).
fn python_verify(archive_dir: &Path) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/verify_audit_archive.py");
    std::process::Command::new("python3")
        .arg(script)
        .arg(archive_dir)
        .output()
        .expect("python3 runs")
}

/// The archived rows' (id, chain position), through `tokend audit search`.
fn archived_rows(data_dir: &Path, archive_dir: &Path) -> Vec<(i64, i64)> {
    let dir = archive_dir.to_string_lossy();
    let out = cli(
        data_dir,
        &[],
        &["audit", "search", "--archive", &dir, "--limit", "10000000"],
    );
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v = serde_json::from_str::<serde_json::Value>(l).unwrap();
            (v["id"].as_i64().unwrap(), v["chain_pos"].as_i64().unwrap())
        })
        .collect()
}

/// The table's rows' (id, chain position; 0 while not linked).
fn table_rows(data_dir: &Path) -> Vec<(i64, i64)> {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        id: i32,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
        chain_pos: Option<i64>,
    }
    diesel::sql_query("SELECT id, chain_pos FROM audit_events ORDER BY id")
        .load::<Row>(&mut crate::support::database(data_dir))
        .unwrap()
        .into_iter()
        .map(|r| (i64::from(r.id), r.chain_pos.unwrap_or(0)))
        .collect()
}

/// Ids of the rows left in the table.
fn table_ids(data_dir: &Path) -> Vec<i64> {
    table_rows(data_dir).into_iter().map(|(id, _)| id).collect()
}

/// Writes audit rows: each enrollment writes one.
fn enroll_many(server: &TestServer, prefix: &str, n: usize) {
    for i in 0..n {
        server.enroll(&format!("{prefix}{i}"));
    }
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".jsonl.gz"))
        .collect();
    files.sort();
    files
}

#[test]
fn archive_and_prune_while_validations_run_loses_nothing_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(
        dir.path(),
        &[
            ("ROCKET_LOCK_AFTER_FAILURES", "100"),
            ("ROCKET_RATE_USER_PER_MIN", "100000"),
        ],
    )
    .unwrap();
    server.keep_dir(dir);
    let data = server.data_dir.clone();
    let archive_dir = tempfile::tempdir().unwrap();
    enroll_many(&server, "before", 20);
    let (_, seed, _) = server.enroll_active("validating");
    let wrong = crate::support::wrong_code(&seed);
    let seen_before: BTreeSet<i64> = table_ids(&data).into_iter().collect();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let load = s.spawn(|| {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                // Validations (a wrong code: an audit row and a failure count each) and
                // enrollments, as the service writes them under load.
                // (Locked once past lock_after_failures: a slow PostgreSQL run gets there.)
                let rs = server.validate("validating", &wrong);
                assert!(rs["RsStat"] == "Failed" || rs["RsStat"] == "Locked", "{rs}");
                server.enroll(&format!("during{i}"));
                i += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            i
        });
        for _ in 0..3 {
            let out = archive(&data, archive_dir.path(), "7");
            assert!(out.status.success(), "{}", text(&out));
            assert!(text(&out).contains("archived "), "{}", text(&out));
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(load.join().unwrap() > 0, "the load ran during the archive");
    });
    // Nothing lost, nothing twice: every row seen before the first run is in the
    // archive or the table, each once, and together they hold chain positions 1..=N with
    // no gap (ids may have gaps on PostgreSQL: a retried insert burns its id).
    let archived = archived_rows(&data, archive_dir.path());
    let table = table_rows(&data);
    assert!(archived.len() >= 20, "{} archived", archived.len());
    let ids: BTreeSet<i64> = archived.iter().chain(&table).map(|r| r.0).collect();
    assert_eq!(ids.len(), archived.len() + table.len(), "a row is in both");
    assert!(ids.is_superset(&seen_before), "rows were lost");
    let positions: BTreeSet<i64> = archived
        .iter()
        .chain(&table)
        .map(|r| r.1)
        .filter(|p| *p > 0)
        .collect();
    let last = *positions.iter().max().unwrap();
    assert_eq!(
        positions,
        (1..=last).collect(),
        "chain positions are missing"
    );
    // Every file private.
    for f in segment_files(archive_dir.path()) {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.display());
    }
    let out = verify(&data, archive_dir.path());
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("audit archive whole"), "{}", text(&out));
    let out = python_verify(archive_dir.path());
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("archive whole"), "{}", text(&out));
    // The chain goes on after the archive, in the running service and after a restart.
    enroll_many(&server, "after", 3);
    let out = verify(&data, archive_dir.path());
    assert!(out.status.success(), "{}", text(&out));
}

/// Copies an archive to tamper with.
fn copy_dir(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.path().join(p.file_name().unwrap())).unwrap();
    }
    to
}

fn read_lines(path: &Path) -> Vec<String> {
    use std::io::Read as _;
    let mut s = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut s)
        .unwrap();
    s.lines().map(str::to_owned).collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    use std::io::Write as _;
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    );
    for l in lines {
        writeln!(gz, "{l}").unwrap();
    }
    gz.finish().unwrap();
}

/// Rewrites a manifest's digest to match its (changed) file, as a careful forger would.
fn refresh_digest(path: &Path) {
    use sha2::Digest as _;
    let name = path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace(".jsonl.gz", ".manifest.json");
    let manifest = path.with_file_name(name);
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    m["sha256"] = hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap())).into();
    std::fs::write(&manifest, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

/// Both verifiers fail and both name `needle` (and the segment).
fn both_name(data: &Path, dir: &Path, needle: &str, segment: &str) {
    for out in [verify(data, dir), python_verify(dir)] {
        let said = text(&out);
        assert!(!out.status.success(), "{said}");
        assert!(said.contains(needle), "wanted {needle:?} in {said}");
        assert!(said.contains(segment), "wanted {segment:?} in {said}");
    }
}

#[test]
fn each_kind_of_archive_tampering_is_named_by_both_verifiers() {
    let server = TestServer::start();
    let data = server.data_dir.clone();
    enroll_many(&server, "u", 24);
    let archive_dir = tempfile::tempdir().unwrap();
    let out = archive(&data, archive_dir.path(), "5");
    assert!(out.status.success(), "{}", text(&out));
    let files = segment_files(archive_dir.path());
    assert!(files.len() >= 4, "{files:?}");
    let name = |i: usize| files[i].file_name().unwrap().to_string_lossy().into_owned();
    let stem = |i: usize| name(i).replace(".jsonl.gz", "");

    // Missing: the second segment and its manifest are gone.
    let d = copy_dir(archive_dir.path());
    std::fs::remove_file(d.path().join(name(1))).unwrap();
    std::fs::remove_file(d.path().join(format!("{}.manifest.json", stem(1)))).unwrap();
    both_name(&data, d.path(), "missing", &stem(2));

    // Altered: one row's detail changed, the manifest's digest made to match.
    let d = copy_dir(archive_dir.path());
    let path = d.path().join(name(1));
    let mut lines = read_lines(&path);
    let mut row: serde_json::Value = serde_json::from_str(&lines[2]).unwrap();
    row["usr_name"] = "someone-else".into();
    lines[2] = row.to_string();
    write_lines(&path, &lines);
    refresh_digest(&path);
    let out = verify(&data, d.path());
    assert!(
        !out.status.success() && text(&out).contains("altered"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains(&name(1)), "{}", text(&out));
    // Without the key only the digest can tell; with it refreshed, the examiner's
    // script sees the links still in place: the MACs are what catches this (documented).
    let d = copy_dir(archive_dir.path());
    let path = d.path().join(name(1));
    write_lines(&path, &{
        let mut l = read_lines(&path);
        l[2] = l[2].replace("\"u", "\"x");
        l
    });
    both_name(&data, d.path(), "altered", &name(1));

    // Reordered: two rows swapped inside a segment.
    let d = copy_dir(archive_dir.path());
    let path = d.path().join(name(2));
    let mut lines = read_lines(&path);
    lines.swap(0, 1);
    write_lines(&path, &lines);
    refresh_digest(&path);
    both_name(&data, d.path(), "reordered", &name(2));

    // Truncated: the compressed file cut short.
    let d = copy_dir(archive_dir.path());
    let path = d.path().join(name(0));
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    both_name(&data, d.path(), "truncated", &name(0));

    // Renamed: two segments' manifests swap names.
    let d = copy_dir(archive_dir.path());
    let (a, b) = (
        d.path().join(format!("{}.manifest.json", stem(0))),
        d.path().join(format!("{}.manifest.json", stem(1))),
    );
    let tmp = d.path().join("swap");
    std::fs::rename(&a, &tmp).unwrap();
    std::fs::rename(&b, &a).unwrap();
    std::fs::rename(&tmp, &b).unwrap();
    both_name(&data, d.path(), "renamed or reordered", &stem(0));

    // The untouched archive still verifies.
    let out = verify(&data, archive_dir.path());
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn an_interrupted_archive_resumes_and_a_restart_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let mut server = TestServer::start_in(data, &[]).unwrap();
    enroll_many(&server, "u", 12);
    server.stop();
    // The archive ran to its segment but died before the delete: put the database back
    // as it was before the run (a copy taken with the service stopped).
    let saved = tempfile::tempdir().unwrap();
    let files = ["tokend.sqlite", "tokend.sqlite-wal", "tokend.sqlite-shm"];
    for f in files {
        if data.join(f).exists() {
            std::fs::copy(data.join(f), saved.path().join(f)).unwrap();
        }
    }
    let archive_dir = tempfile::tempdir().unwrap();
    let out = archive(data, archive_dir.path(), "4");
    assert!(out.status.success(), "{}", text(&out));
    let pruned = table_ids(data).len();
    for f in files {
        let _ = std::fs::remove_file(data.join(f));
        if saved.path().join(f).exists() {
            std::fs::copy(saved.path().join(f), data.join(f)).unwrap();
        }
    }
    assert!(table_ids(data).len() > pruned);
    let out = archive(data, archive_dir.path(), "4");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("finished from an interrupted run"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("(0 finished"), "{}", text(&out));
    assert_eq!(table_ids(data).len(), pruned);
    // A restart: the service links new rows after the anchor; everything verifies.
    let server = TestServer::start_in(data, &[]).unwrap();
    enroll_many(&server, "later", 3);
    let out = verify(data, archive_dir.path());
    assert!(out.status.success(), "{}", text(&out));
    assert!(python_verify(archive_dir.path()).status.success());
    // A second archive run after the restart continues the segments' chain.
    let out = archive(data, archive_dir.path(), "4");
    assert!(out.status.success(), "{}", text(&out));
    let out = verify(data, archive_dir.path());
    assert!(out.status.success(), "{}", text(&out));
    // The last manifest digest the run printed, kept outside, proves nothing was cut
    // from the end: the examiner's script checks it.
    let said = text(&archive(data, archive_dir.path(), "4"));
    let digest = said.rsplit("last manifest sha256 ").next().unwrap().trim();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/verify_audit_archive.py");
    let with_anchor = |sha: &str| {
        std::process::Command::new("python3")
            .arg(&script)
            .arg(archive_dir.path())
            .args(["--anchor-manifest-sha256", sha])
            .output()
            .unwrap()
    };
    assert!(with_anchor(digest).status.success(), "{said}");
    let last = segment_files(archive_dir.path()).pop().unwrap();
    std::fs::remove_file(
        last.to_string_lossy()
            .replace(".jsonl.gz", ".manifest.json"),
    )
    .unwrap();
    let out = with_anchor(digest);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("not the one tokend recorded"),
        "{}",
        text(&out)
    );
    let out = verify(data, archive_dir.path());
    assert!(text(&out).contains("missing at the end"), "{}", text(&out));
}

#[test]
fn an_archive_that_cannot_be_written_prunes_nothing() {
    let server = TestServer::start();
    let data = server.data_dir.clone();
    enroll_many(&server, "u", 5);
    let before = table_ids(&data);
    let not_a_dir = tempfile::NamedTempFile::new().unwrap();
    let out = archive(&data, &not_a_dir.path().join("archive"), "100");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("nothing was pruned"), "{}", text(&out));
    assert_eq!(table_ids(&data), before);
}

fn metric(server: &TestServer, name: &str) -> Option<f64> {
    let (_, _, _, body) = server.get("/metrics");
    String::from_utf8_lossy(&body)
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
fn the_service_archives_on_its_own_and_metrics_show_the_last_run() {
    let dir = tempfile::tempdir().unwrap();
    let archive_dir = dir.path().join("archive");
    let archive_path = archive_dir.to_string_lossy().into_owned();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let env = [
        ("ROCKET_AUDIT_HOT_DAYS", "0"),
        ("ROCKET_AUDIT_ARCHIVE_DIR", archive_path.as_str()),
        ("ROCKET_AUDIT_ARCHIVE_EVERY_SECS", "1"),
    ];
    let server = TestServer::start_in(&data, &env).unwrap();
    enroll_many(&server, "u", 6);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while metric(&server, "tokend_audit_archived_chain_position").unwrap_or(0.0) < 6.0 {
        assert!(std::time::Instant::now() < deadline, "no automatic archive");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(
        metric(&server, "tokend_audit_archive_last_run_failed"),
        Some(0.0)
    );
    assert!(metric(&server, "tokend_audit_archive_last_run_timestamp_seconds").unwrap() > 0.0);
    assert!(metric(&server, "tokend_audit_rows").unwrap() >= 1.0);
    assert!(metric(&server, "tokend_audit_oldest_row_age_seconds").is_some());
    let out = verify(&data, &archive_dir);
    assert!(out.status.success(), "{}", text(&out));
    drop(server);

    // A directory that cannot be written: the run fails and the metric says so.
    let blocked = dir.path().join("blocked");
    std::fs::write(&blocked, b"a file").unwrap();
    let blocked_path = blocked.join("archive").to_string_lossy().into_owned();
    let env = [
        ("ROCKET_AUDIT_HOT_DAYS", "0"),
        ("ROCKET_AUDIT_ARCHIVE_DIR", blocked_path.as_str()),
        ("ROCKET_AUDIT_ARCHIVE_EVERY_SECS", "1"),
    ];
    let server = TestServer::start_in(&data, &env).unwrap();
    enroll_many(&server, "v", 3);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while metric(&server, "tokend_audit_archive_last_run_failed") != Some(1.0) {
        assert!(
            std::time::Instant::now() < deadline,
            "the failure is not shown"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Two nodes on one PostgreSQL database: node 0's CLI archives while both write; node 1
/// (and a restarted node 0) continue the chain; archive and table verify as one.
#[test]
fn on_postgresql_a_second_node_continues_the_chain_after_an_archive() {
    const MASTER_KEY: &str = "Y2x1c3Rlci10ZXN0LW1hc3Rlci1rZXktMzItYnl0ZXM=";
    let db = testkit::pg::Database::fresh("archive").unwrap_or_else(|e| panic!("{e}"));
    let env = [
        ("ROCKET_DATABASE_URL", db.url.as_str()),
        ("ROCKET_SECRET_KEY", testkit::pg::SECRET_KEY),
        ("TOKEND_MASTER_KEY", MASTER_KEY),
        ("ROCKET_DB_POOL_SIZE", "4"),
    ];
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = TestServer::start_in_env(dirs[0].path(), &env).unwrap();
    let b = TestServer::start_in_env(dirs[1].path(), &env).unwrap();
    let archive_dir = tempfile::tempdir().unwrap();
    let pg_cli = |args: &[&str]| cli(dirs[0].path(), &env, args);
    for i in 0..10 {
        a.enroll(&format!("a{i}"));
        b.enroll(&format!("b{i}"));
    }
    let settle = || {
        let out = pg_cli(&["audit", "verify"]);
        assert!(out.status.success(), "{}", text(&out));
    };
    settle();
    let before = now_rfc3339();
    let to = archive_dir.path().to_string_lossy().into_owned();
    let archive_args = [
        "audit",
        "archive",
        "--before",
        &before,
        "--to",
        &to,
        "--segment-rows",
        "6",
    ];
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            for i in 0..10 {
                b.enroll(&format!("c{i}"));
            }
        });
        let out = pg_cli(&archive_args);
        assert!(out.status.success(), "{}", text(&out));
        writer.join().unwrap();
    });
    drop(a);
    enroll_many(&b, "d", 5);
    settle();
    let out = pg_cli(&["audit", "verify", "--archive", &to]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("audit archive whole"), "{}", text(&out));
    assert!(python_verify(archive_dir.path()).status.success());
    // A restarted node 0 writes and archives again; still one chain.
    let a = TestServer::start_in_env(dirs[0].path(), &env).unwrap();
    a.enroll("e0");
    settle();
    let before = now_rfc3339();
    let out = pg_cli(&["audit", "archive", "--before", &before, "--to", &to]);
    assert!(out.status.success(), "{}", text(&out));
    let out = pg_cli(&["audit", "verify", "--archive", &to]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn the_api_and_the_console_say_when_a_range_reaches_into_the_archive_and_the_cli_searches_it() {
    let (server, admin) = crate::support::admin::server_with_admin();
    let data = server.data_dir.clone();
    let get_audit = |query: &str| {
        crate::support::json_of(
            ureq::get(&format!("{}/api/v1/audit{query}", server.base))
                .set("Authorization", &format!("Bearer {}", server.key))
                .call(),
        )
    };
    enroll_many(&server, "old", 4);
    let (status, rs) = get_audit("");
    assert_eq!(status, 200, "{rs}");
    assert!(rs.get("ArchivedThruDt").is_none(), "{rs}");
    let archive_dir = tempfile::tempdir().unwrap();
    let out = archive(&data, archive_dir.path(), "100");
    assert!(out.status.success(), "{}", text(&out));
    enroll_many(&server, "new", 1);
    let (status, rs) = get_audit("");
    assert_eq!(status, 200, "{rs}");
    assert!(rs["ArchivedThruDt"].is_string(), "{rs}");
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let (_, rs) = get_audit(&format!("?FromDt={}", later.format("%Y-%m-%dT%H:%M:%SZ")));
    assert!(rs.get("ArchivedThruDt").is_none(), "{rs}");
    let page = admin.get("/admin/audit");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("reaches into the audit archive"),
        "{}",
        page.body
    );
    let tomorrow = chrono::Utc::now() + chrono::Duration::days(1);
    let page = admin.get(&format!(
        "/admin/audit?from={}",
        tomorrow.format("%Y-%m-%d")
    ));
    assert!(!page.body.contains("reaches into the audit archive"));
    // The CLI finds an archived user's rows in the segments.
    let dir = archive_dir.path().to_string_lossy();
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let out = cli(
        &data,
        &[],
        &[
            "audit",
            "search",
            "--archive",
            &dir,
            "--usr-name",
            "old2",
            "--from",
            &today,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("\"usr_name\":\"old2\""), "{stdout}");
}
