//! `tokend rekey`: master key rotation against a live server, through the real binary.

use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::{cli, now_step, tamper, totp, TestServer};

/// Settings for a server that takes a flood of validations: no lock before 100 wrong
/// codes, and rate limits out of the way.
const BUSY: &[(&str, &str)] = &[
    ("ROCKET_LOCK_AFTER_FAILURES", "100"),
    ("ROCKET_RATE_USER_PER_MIN", "1000000"),
    ("ROCKET_RATE_KEY_FAILURES_PER_MIN", "1000000"),
];

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `tokend` with args; (success, stdout, stderr).
fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let out = cli(dir, env, args);
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// The key files `rekey` generated (`master.<id>.key`): (id, path).
fn generated_keys(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut keys: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_name()?.to_string_lossy().into_owned();
            let id = name
                .strip_prefix("master.")?
                .strip_suffix(".key")?
                .to_owned();
            Some((id, p))
        })
        .collect();
    keys.sort();
    keys
}

/// The step now, without waiting at a step's end (the callers keep their own margin).
fn step_now() -> i64 {
    (SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 30) as i64
}

/// One token the validators drive, and what they saw the server answer.
struct Driven {
    token: String,
    usr: String,
    seed: Vec<u8>,
    /// A code that matches no step of the test's time span.
    wrong: String,
    last_step: i64,
    last_receipt: Option<String>,
    failures: i64,
}

/// Imports `n` hardware tokens bound to users `{prefix}{i}` (as an operator would) and
/// activates each with the code of the previous step.
fn tokens(server: &TestServer, prefix: &str, n: usize) -> Vec<Driven> {
    let mut csv = String::from("serial,seed,algorithm,digits,period,usr_name\n");
    let seeds: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("{prefix}-seed-{i:04}-rotation").into_bytes())
        .collect();
    for (i, seed) in seeds.iter().enumerate() {
        let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
        csv.push_str(&format!("{prefix}-{i},{hex},SHA1,6,30,{prefix}{i}\n"));
    }
    let file = server.data_dir.join(format!("{prefix}.csv"));
    std::fs::write(&file, csv).unwrap();
    let (ok, _, err) = run(&server.data_dir, &[], &["import", file.to_str().unwrap()]);
    assert!(ok, "{err}");
    let step = now_step(30) - 1;
    seeds
        .into_iter()
        .enumerate()
        .map(|(i, seed)| {
            let token = format!("{prefix}-{i}");
            server.activate(&token, &seed, step);
            let near: Vec<String> = (-3..60).map(|d| totp(&seed, "SHA1", 6, step + d)).collect();
            let wrong = (0..)
                .map(|k| format!("{:06}", (314_159 + k * 7919) % 1_000_000))
                .find(|c| !near.contains(c))
                .unwrap();
            Driven {
                usr: format!("{prefix}{i}"),
                token,
                seed,
                wrong,
                last_step: step,
                last_receipt: None,
                failures: 0,
            }
        })
        .collect()
}

/// One validation of a driven token: the next good code while a fresh step is inside the
/// window, else a wrong code (at most 90 in a row, under the lock threshold). Every
/// answer must be the one the token's history calls for.
fn drive(server: &TestServer, t: &mut Driven) -> bool {
    let step = (t.last_step + 1).max(step_now());
    if step <= step_now() + 1 {
        let rs = server.validate(&t.usr, &totp(&t.seed, "SHA1", 6, step));
        assert_eq!(rs["RsStat"], "Success", "{} step {step}: {rs}", t.token);
        t.last_step = step;
        t.last_receipt = Some(rs["LastTrnRcptId"].as_str().unwrap().to_owned());
        t.failures = 0;
        true
    } else if t.failures < 90 {
        let rs = server.validate(&t.usr, &t.wrong);
        assert_eq!(rs["RsStat"], "Failed", "{}: {rs}", t.token);
        t.failures += 1;
        true
    } else {
        false
    }
}

/// The server's record of a driven token matches what its validations were answered.
fn assert_nothing_lost(server: &TestServer, t: &Driven) {
    let (status, inq) = server.post("/api/v1/inquiry", &json!({"TokenId": t.token}));
    assert_eq!(status, 200, "{inq}");
    let rec = &inq["MFATokenInqInfo"]["MFATokenInqArray"][0];
    assert_eq!(
        rec["LastTrnRcptId"].as_str(),
        t.last_receipt.as_deref(),
        "{}",
        t.token
    );
    assert_eq!(
        rec["Custom"]["FailureCount"].as_i64(),
        Some(t.failures),
        "{}",
        t.token
    );
    assert_eq!(rec["MFATokenUsrStat"], "Act");
    // The replay guard kept the last accepted step.
    let replay = server.validate(&t.usr, &totp(&t.seed, "SHA1", 6, t.last_step));
    assert_eq!(
        replay["RsStat"], "Failed",
        "{}: a replay must fail",
        t.token
    );
}

/// Runs `work` while three threads validate the driven tokens in a loop (from before it
/// starts until after it ends); answers the tokens, `work`'s result and how many
/// validations ran during it. A wrong answer to any validation fails the test.
fn while_validating<R>(
    server: &Arc<TestServer>,
    driven: Vec<Driven>,
    work: impl FnOnce() -> R,
) -> (Vec<Driven>, R, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let mut shares: Vec<Vec<Driven>> = (0..3).map(|_| Vec::new()).collect();
    for (i, t) in driven.into_iter().enumerate() {
        shares[i % 3].push(t);
    }
    let validators: Vec<_> = shares
        .into_iter()
        .map(|mut share| {
            let (server, stop, count) = (Arc::clone(server), Arc::clone(&stop), Arc::clone(&count));
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    for t in &mut share {
                        if drive(&server, t) {
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
                share
            })
        })
        .collect();
    while count.load(Ordering::SeqCst) < 60 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let before = count.load(Ordering::SeqCst);
    let result = work();
    let during = count.load(Ordering::SeqCst) - before;
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    let driven: Vec<Driven> = validators
        .into_iter()
        .flat_map(|v| v.join().expect("no validation answered wrongly"))
        .collect();
    (driven, result, during)
}

#[test]
fn rekey_under_concurrent_validations_loses_nothing_and_leaves_no_seed_under_the_old_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = Arc::new(TestServer::start_in(dir.path(), BUSY).unwrap());
    let old_key = std::fs::read_to_string(dir.path().join("master.key")).unwrap();
    let driven = tokens(&server, "RK", 48);

    let (driven, (ok, out, err), during) = while_validating(&server, driven, || {
        run(dir.path(), &[], &["rekey", "--batch", "1"])
    });
    assert!(ok, "rekey failed: {out}{err}");
    assert!(
        out.contains("rekey done: 48 seed(s) re-encrypted"),
        "{out}{err}"
    );
    assert!(during > 0, "validations ran while rekey did");

    // Nothing a validation recorded was lost, and the server (still the one started
    // with the old key) goes on validating seeds it now reads under the new key.
    for t in &driven {
        assert_nothing_lost(&server, t);
    }
    let (status, rs) = server.post(
        "/api/v1/tokens",
        &json!({"UsrName": "late", "TokenType": "Software"}),
    );
    assert_eq!(status, 200, "{rs}");

    // The default layout after a rotation (issue 27): the new key is master.key, the
    // retired one is kept in retired/ for backups made before the rotation.
    assert!(
        generated_keys(dir.path()).is_empty(),
        "no key file left beside master.key"
    );
    let retired = generated_keys(&dir.path().join("retired"));
    assert_eq!(retired.len(), 1, "{retired:?}");
    assert_eq!(
        std::fs::read_to_string(&retired[0].1).unwrap(),
        old_key,
        "the retired key is kept"
    );
    let new_id = err
        .split("to key ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    assert!(err.contains(&format!("key {new_id} is now")), "{err}");
    let (ok, out, err) = run(dir.path(), &[], &["rekey", "--verify"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(&format!("key {new_id} (active): 49 seed(s) open, 0 do not")),
        "{out}"
    );
    assert_eq!(
        out.matches("key ").count(),
        2,
        "only the new key holds seeds: {out}"
    );
    let (ok, out, err) = run(dir.path(), &[], &["audit", "verify"]);
    assert!(ok && out.contains("audit chain whole"), "{out}{err}");
    drop(server);

    // The server starts with the new key without a warning, validates, and, once the
    // retired key is destroyed, the audit links made under it still verify.
    std::fs::remove_file(&retired[0].1).unwrap();
    let mut restarted = TestServer::start_in(dir.path(), BUSY).unwrap();
    let mut t = driven.into_iter().next().unwrap();
    let step = (t.last_step + 1).max(now_step(30));
    let rs = restarted.validate(&t.usr, &totp(&t.seed, "SHA1", 6, step));
    assert_eq!(rs["RsStat"], "Success", "{rs}");
    t.last_step = step;
    let (ok, out, err) = run(dir.path(), &[], &["audit", "verify"]);
    assert!(ok && out.contains("audit chain whole"), "{out}{err}");
    let logs = restarted.stop_and_logs();
    assert!(
        !logs.contains("was retired"),
        "no warning at every start: {logs}"
    );

    // The old key alone is refused, by file and by environment, saying why.
    std::fs::write(dir.path().join("master.key"), &old_key).unwrap();
    let (ok, _, err) = run(dir.path(), &[], &["serve"]);
    assert!(!ok);
    assert!(
        err.contains("was retired by tokend rekey") && err.contains(&new_id),
        "{err}"
    );
    let (ok, _, err) = run(
        dir.path(),
        &[("TOKEND_MASTER_KEY", old_key.trim())],
        &["serve"],
    );
    assert!(!ok && err.contains("refusing to start"), "{err}");
}

#[test]
fn an_interrupted_rekey_resumes_and_both_keys_serve_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(dir.path(), BUSY).unwrap();
    let mut driven = tokens(&server, "RS", 6);

    let (ok, out, err) = run(dir.path(), &[], &["rekey", "--batch", "1", "--limit", "2"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("rekey paused after 2 seed(s): 4 left"),
        "{out}"
    );
    let (new_id, _) = generated_keys(dir.path())[0].clone();
    let (ok, out, _) = run(dir.path(), &[], &["rekey", "--verify"]);
    assert!(
        !ok,
        "seeds left under the retiring key fail the check: {out}"
    );
    assert!(
        out.contains(&format!("key {new_id} (active): 2 seed(s) open")),
        "{out}"
    );
    assert!(out.contains("(retiring): 4 seed(s) open"), "{out}");

    // Mid-rotation, the running server opens seeds under both keys and seals new ones
    // under the new key; so does a server started now.
    for t in &mut driven {
        assert!(drive(&server, t));
    }
    let (status, rs) = server.post(
        "/api/v1/tokens",
        &json!({"UsrName": "mid", "TokenType": "Software"}),
    );
    assert_eq!(status, 200, "{rs}");
    server.stop();
    let server = TestServer::start_in(dir.path(), BUSY).unwrap();
    for t in &mut driven {
        assert!(drive(&server, t));
    }
    let (ok, out, _) = run(dir.path(), &[], &["rekey", "--verify"]);
    assert!(!ok);
    assert!(
        out.contains(&format!("key {new_id} (active): 3 seed(s) open")),
        "{out}"
    );

    // A second rotation cannot start on top of this one; running rekey again resumes it.
    let other = dir.path().join("master.other.key");
    std::fs::write(&other, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n").unwrap();
    let (ok, _, err) = run(
        dir.path(),
        &[],
        &["rekey", "--new-key-file", other.to_str().unwrap()],
    );
    assert!(!ok && err.contains("is in progress"), "{err}");
    let (ok, out, err) = run(dir.path(), &[], &["rekey"]);
    assert!(ok, "{out}{err}");
    assert!(err.contains("resuming the rotation"), "{err}");
    assert!(out.contains("rekey done: 4 seed(s) re-encrypted"), "{out}");
    let (ok, out, err) = run(dir.path(), &[], &["rekey", "--verify"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(&format!("all under the active key {new_id}")),
        "{out}"
    );
    for t in &driven {
        assert_nothing_lost(&server, t);
    }
}

#[test]
fn a_killed_rekey_leaves_every_seed_readable_and_the_next_run_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path(), BUSY).unwrap();
    let mut driven = tokens(&server, "KL", 120);
    let mut child = crate::support::command(dir.path())
        .args(["rekey", "--batch", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(250));
    let _ = child.kill();
    let _ = child.wait();
    // Whatever the kill interrupted, every seed opens under one key or the other.
    let (_, out, _) = run(dir.path(), &[], &["rekey", "--verify"]);
    assert!(
        !out.contains("do not open") && out.contains("0 do not"),
        "{out}"
    );
    for t in &mut driven {
        assert!(drive(&server, t));
    }
    let (ok, out, err) = run(dir.path(), &[], &["rekey"]);
    assert!(ok && out.contains("rekey done"), "{out}{err}");
    let (ok, out, err) = run(dir.path(), &[], &["rekey", "--verify"]);
    assert!(ok, "{out}{err}");
    for t in &driven {
        assert_nothing_lost(&server, t);
    }
}

#[test]
fn a_tampered_ciphertext_fails_verify_naming_the_token_and_blocks_retirement() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path(), &[]).unwrap();
    tokens(&server, "TP", 3);
    let zeros = if testkit::pg::enabled() {
        "decode(repeat('00', length(seed_ciphertext)), 'hex')"
    } else {
        "zeroblob(length(seed_ciphertext))"
    };
    let changed = tamper(
        dir.path(),
        &format!("UPDATE tokens SET seed_ciphertext = {zeros} WHERE token_id = 'TP-1'"),
    );
    assert_eq!(changed, 1);
    let (ok, out, _) = run(dir.path(), &[], &["rekey", "--verify"]);
    assert!(!ok);
    assert!(out.contains("token TP-1 (key"), "{out}");
    assert!(out.contains("2 seed(s) open, 1 do not"), "{out}");

    let (ok, out, err) = run(dir.path(), &[], &["rekey"]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("token TP-1: its seed cannot be opened"),
        "{err}"
    );
    assert!(err.contains("rotation stays in progress"), "{err}");
    let (ok, out, _) = run(dir.path(), &[], &["rekey", "--verify"]);
    assert!(
        !ok && out.contains("token TP-1 (key")
            && out.contains("(retiring): 0 seed(s) open, 1 do not"),
        "{out}"
    );
}

#[test]
fn a_new_key_file_must_be_a_master_key_file_in_the_key_directory() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let outside = elsewhere.path().join("master.new.key");
    std::fs::write(&outside, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n").unwrap();
    let (ok, _, err) = run(
        dir.path(),
        &[],
        &["rekey", "--new-key-file", outside.to_str().unwrap()],
    );
    assert!(!ok && err.contains("in the key directory"), "{err}");
    let inside = dir.path().join("master.new.key");
    std::fs::copy(&outside, &inside).unwrap();
    let (ok, out, err) = run(
        dir.path(),
        &[],
        &["rekey", "--new-key-file", inside.to_str().unwrap()],
    );
    assert!(ok && out.contains("rekey done: 0 seed(s)"), "{out}{err}");
    // The same key again is refused: a rotation needs a new key. (The rotation made it
    // master.key; it is put back under the name given.)
    assert!(!inside.exists(), "the new key became master.key");
    std::fs::copy(&outside, &inside).unwrap();
    let (ok, _, err) = run(
        dir.path(),
        &[],
        &["rekey", "--new-key-file", inside.to_str().unwrap()],
    );
    assert!(!ok && err.contains("already known"), "{err}");
}
