//! The master key in an HSM (issue 32), against a real PKCS#11 module: Debian's SoftHSM2
//! (`softhsm2`, installed by `.ci/run`). Each test has its own token directory, named to
//! the module by `SOFTHSM2_CONF`, and drives the real binary: `tokend hsm init`, serve,
//! validate, restart, `tokend rekey`, the start errors, and a lost HSM.

use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{database_files, json_of, now_step, tokend, totp, TestServer};

/// Debian's SoftHSM2 PKCS#11 module.
const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The test token's user PIN.
const PIN: &str = "731946";

/// One SoftHSM2 token in its own directory.
struct SoftHsm {
    dir: tempfile::TempDir,
}

impl SoftHsm {
    /// A token labelled `tokend`, made with the operator's tool. FAILS (never skips)
    /// without SoftHSM2.
    fn new() -> SoftHsm {
        assert!(
            Path::new(MODULE).exists(),
            "{MODULE} is missing: install Debian's softhsm2 (.ci/run does)"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tokens")).unwrap();
        std::fs::write(
            dir.path().join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\n",
                dir.path().join("tokens").display()
            ),
        )
        .unwrap();
        let soft = SoftHsm { dir };
        let out = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", soft.conf())
            .args(["--init-token", "--free", "--label", "tokend"])
            .args(["--so-pin", "24680135", "--pin", PIN])
            .output()
            .expect("softhsm2-util (Debian's softhsm2, installed by .ci/run) must run");
        assert!(out.status.success(), "{out:?}");
        soft
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    fn tokens(&self) -> PathBuf {
        self.dir.path().join("tokens")
    }

    /// The pkcs11 settings with the source left as configured (file).
    fn settings(&self) -> Vec<(String, String)> {
        vec![
            ("SOFTHSM2_CONF".into(), self.conf().display().to_string()),
            ("ROCKET_PKCS11_MODULE".into(), MODULE.into()),
            ("ROCKET_PKCS11_TOKEN_LABEL".into(), "tokend".into()),
            ("TOKEND_PKCS11_PIN".into(), PIN.into()),
        ]
    }

    /// The settings of an install whose master key source is this HSM.
    fn source(&self) -> Vec<(String, String)> {
        let mut env = self.settings();
        env.push(("ROCKET_MASTER_KEY_SOURCE".into(), "pkcs11".into()));
        env
    }
}

/// Environment variables, as `(name, value)`.
type Env = Vec<(String, String)>;

/// `env` with `(name, value)` set (replaced if there).
fn with(env: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
    let mut env: Vec<_> = env.iter().filter(|(k, _)| k != name).cloned().collect();
    env.push((name.into(), value.into()));
    env
}

fn pairs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Runs a subcommand as it is (no install made first).
fn run(dir: &Path, env: &[(String, String)], args: &[&str]) -> Output {
    tokend().cli_bare(dir, &pairs(env), args).unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn start(dir: &Path, env: &[(String, String)]) -> TestServer {
    TestServer::start_in_env(dir, &pairs(env)).unwrap_or_else(|e| panic!("{e}"))
}

fn ready(server: &TestServer) -> (u16, serde_json::Value) {
    json_of(ureq::get(&format!("{}/ready", server.base)).call())
}

/// The files named `master*.key` anywhere under `dir`.
fn key_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(key_files(&path));
        } else if path.file_name().is_some_and(|n| {
            let n = n.to_string_lossy();
            n.starts_with("master") && n.ends_with(".key")
        }) {
            found.push(path);
        }
    }
    found
}

/// Copies a directory tree (a token directory, to restore it later).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn an_hsm_install_serves_validates_and_restarts_with_no_key_on_disk() {
    let hsm = SoftHsm::new();
    let data = tempfile::tempdir().unwrap();
    let env = hsm.source();
    let init = run(data.path(), &env, &["hsm", "init"]);
    assert_eq!(stdout(&init).trim(), "created tokend-master", "{init:?}");
    let again = run(data.path(), &env, &["hsm", "init"]);
    assert_eq!(stdout(&again).trim(), "adopted tokend-master", "{again:?}");

    let mut server = start(data.path(), &env);
    let (token, seed, step) = server.enroll_active("hana");
    assert_eq!(
        server.validate("hana", &totp(&seed, "SHA1", 6, step + 1))["RsStat"],
        "Success"
    );
    let (status, rs) = ready(&server);
    assert_eq!((status, rs["Hsm"].as_str()), (200, Some("ok")), "{rs}");
    server.stop();
    assert!(key_files(data.path()).is_empty(), "no key file on disk");
    if !testkit::pg::enabled() {
        for file in database_files(data.path()) {
            assert!(!file.windows(seed.len()).any(|w| w == seed.as_slice()));
        }
    }

    let server = start(data.path(), &env);
    let replay = server.validate("hana", &totp(&seed, "SHA1", 6, step + 1));
    assert_eq!(
        replay["RsStat"], "Failed",
        "still a replay after the restart"
    );
    let next = server.validate("hana", &totp(&seed, "SHA1", 6, step + 2));
    assert_eq!(next["RsStat"], "Success", "{next}");
    let (_, inq) = server.post("/api/v1/inquiry", &json!({"TokenId": token}));
    assert_eq!(inq["MFATokenInqInfo"]["UsrTokenStat"], "Act");
    let verify = run(data.path(), &env, &["rekey", "--verify"]);
    assert!(verify.status.success(), "{verify:?}");
}

#[test]
fn start_errors_name_the_setting_and_never_the_pin() {
    let hsm = SoftHsm::new();
    let data = tempfile::tempdir().unwrap();
    let env = hsm.source();
    let init = run(data.path(), &env, &["hsm", "init"]);
    assert!(init.status.success(), "{init:?}");
    let cases: [(Env, &[&str]); 5] = [
        (
            with(&env, "TOKEND_PKCS11_PIN", "999999"),
            &["refused the PIN", "TOKEND_PKCS11_PIN"],
        ),
        (
            with(&env, "ROCKET_PKCS11_TOKEN_LABEL", "vault"),
            &["not reachable", "pkcs11_token_label", "\"vault\""],
        ),
        (
            with(&env, "ROCKET_PKCS11_MODULE", "/nonexistent/libvendor.so"),
            &["pkcs11_module", "/nonexistent/libvendor.so"],
        ),
        (
            with(&env, "ROCKET_PKCS11_KEY_LABEL", "absent"),
            &["pkcs11_key_label", "\"absent\"", "tokend hsm init"],
        ),
        (
            with(&env, "ROCKET_PKCS11_PIN", "55aa55"),
            &["pkcs11_pin", "never be in the configuration"],
        ),
    ];
    for (env, expected) in cases {
        let out = run(data.path(), &env, &["serve"]);
        let err = stderr(&out);
        assert!(!out.status.success(), "{err}");
        for part in expected {
            assert!(err.contains(part), "{part:?} missing from: {err}");
        }
        for pin in [PIN, "999999", "55aa55"] {
            assert!(!err.contains(pin), "a PIN reached the output: {err}");
        }
    }
    let no_pin: Vec<_> = env
        .iter()
        .filter(|(k, _)| k != "TOKEND_PKCS11_PIN")
        .cloned()
        .collect();
    let err = stderr(&run(data.path(), &no_pin, &["serve"]));
    assert!(
        err.contains("TOKEND_PKCS11_PIN") && err.contains("pkcs11_pin_file"),
        "{err}"
    );
    let pin_file = data.path().join("pin");
    std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();
    let by_file = with(
        &no_pin,
        "ROCKET_PKCS11_PIN_FILE",
        &pin_file.display().to_string(),
    );
    let server = start(data.path(), &by_file);
    let (status, _) = ready(&server);
    assert_eq!(status, 200, "the PIN from pkcs11_pin_file");
}

#[test]
fn a_deleted_hsm_key_stops_the_start_and_the_disk_alone_opens_no_seed() {
    let hsm = SoftHsm::new();
    let data = tempfile::tempdir().unwrap();
    let env = hsm.source();
    let before_key = hsm.dir.path().join("tokens-before-key");
    copy_tree(&hsm.tokens(), &before_key);
    assert!(run(data.path(), &env, &["hsm", "init"]).status.success());
    let mut server = start(data.path(), &env);
    server.enroll_active("dora");
    server.stop();

    // The database and the data directory, without the HSM: no key to open a seed with.
    assert!(key_files(data.path()).is_empty());
    let plain: Vec<(String, String)> = Vec::new();
    for args in [["serve"].as_slice(), &["rekey", "--verify"]] {
        let out = run(data.path(), &plain, args);
        assert!(!out.status.success(), "{args:?} opened without the HSM");
        assert!(stderr(&out).contains("no master key"), "{}", stderr(&out));
    }
    let env_only = with(&plain, "ROCKET_MASTER_KEY_SOURCE", "env");
    let err = stderr(&run(data.path(), &env_only, &["serve"]));
    assert!(err.contains("TOKEND_MASTER_KEY"), "{err}");

    // The HSM key deleted (the token as it was before `hsm init`): the start is refused.
    std::fs::remove_dir_all(hsm.tokens()).unwrap();
    copy_tree(&before_key, &hsm.tokens());
    let err = stderr(&run(data.path(), &env, &["serve"]));
    assert!(
        err.contains("pkcs11_key_label") && err.contains("deleted"),
        "{err}"
    );
    // Adopting a new key of the same label does not bring the seeds back.
    assert!(run(data.path(), &env, &["hsm", "init"]).status.success());
    let err = stderr(&run(data.path(), &env, &["serve"]));
    assert!(err.contains("does not unwrap"), "{err}");
}

#[test]
fn a_lost_hsm_makes_ready_say_so_while_validations_go_on_from_memory() {
    let hsm = SoftHsm::new();
    let data = tempfile::tempdir().unwrap();
    let env = hsm.source();
    assert!(run(data.path(), &env, &["hsm", "init"]).status.success());
    let server = start(data.path(), &env);
    let (_, seed, step) = server.enroll_active("lena");
    let away = hsm.dir.path().join("tokens-away");
    std::fs::rename(hsm.tokens(), &away).unwrap();
    let (status, rs) = ready(&server);
    assert_eq!(status, 503, "{rs}");
    assert_eq!(rs["Hsm"], "unavailable", "{rs}");
    assert!(
        rs["HsmError"].as_str().is_some_and(|e| !e.is_empty()),
        "{rs}"
    );
    // Validation opens seeds with the data key held in memory: no HSM call.
    let ok = server.validate("lena", &totp(&seed, "SHA1", 6, step + 1));
    assert_eq!(ok["RsStat"], "Success", "{ok}");
    // A restart without the HSM is refused.
    let out = run(data.path(), &env, &["rekey", "--verify"]);
    assert!(!out.status.success());
    std::fs::rename(&away, hsm.tokens()).unwrap();
}

#[test]
fn rekey_moves_a_file_install_into_the_hsm_to_a_new_hsm_key_and_back_to_a_file() {
    let hsm = SoftHsm::new();
    let data = tempfile::tempdir().unwrap();
    let file_env: Vec<(String, String)> = Vec::new();
    let mut server = start(data.path(), &file_env);
    let seeds: Vec<Vec<u8>> = ["rhea", "ruth", "rosa"]
        .iter()
        .map(|usr| server.enroll_active(usr).1)
        .collect();
    server.stop();
    // Each user's first validation after activation, with the code of the step now.
    let check = |server: &TestServer, i: usize, usr: &str| {
        let code = totp(&seeds[i], "SHA1", 6, now_step(30));
        let rs = server.validate(usr, &code);
        assert_eq!(rs["RsStat"], "Success", "{usr}: {rs}");
    };
    let done = |out: &Output| {
        assert!(out.status.success(), "{}", stderr(out));
        assert!(stdout(out).contains("rekey done"), "{}", stdout(out));
    };

    // File -> HSM (the service stopped; the source is still file).
    let settings = hsm.settings();
    assert!(run(data.path(), &settings, &["hsm", "init"])
        .status
        .success());
    done(&run(data.path(), &settings, &["rekey", "--to", "pkcs11"]));
    assert!(
        !data.path().join("master.key").exists(),
        "the retired key file is moved out of the way"
    );
    let in_hsm = hsm.source();
    let mut server = start(data.path(), &in_hsm);
    check(&server, 0, "rhea");

    // HSM -> a new HSM key, while the service runs: it unwraps the new data key itself.
    let init = run(data.path(), &in_hsm, &["hsm", "init", "--key-label", "k2"]);
    assert_eq!(stdout(&init).trim(), "created k2", "{init:?}");
    let rotated = run(data.path(), &in_hsm, &["rekey", "--pkcs11-key-label", "k2"]);
    done(&rotated);
    assert!(
        stderr(&rotated).contains("opened key"),
        "{}",
        stderr(&rotated)
    );
    check(&server, 1, "ruth");
    server.stop();
    let on_k2 = with(&in_hsm, "ROCKET_PKCS11_KEY_LABEL", "k2");
    let verify = run(data.path(), &on_k2, &["rekey", "--verify"]);
    assert!(verify.status.success(), "{}", stderr(&verify));

    // HSM -> a key file again.
    done(&run(data.path(), &on_k2, &["rekey", "--to", "file"]));
    assert!(data.path().join("master.key").exists());
    let server = start(data.path(), &file_env);
    let (status, rs) = ready(&server);
    assert_eq!(status, 200, "{rs}");
    assert!(rs.get("Hsm").is_none(), "{rs}");
    check(&server, 2, "rosa");
}

/// Starts a node on each of `dirs` at the same moment.
fn start_together(dirs: &[tempfile::TempDir], env: &Env) -> Vec<testkit::Server> {
    let barrier = std::sync::Barrier::new(dirs.len());
    std::thread::scope(|s| {
        let handles: Vec<_> = dirs
            .iter()
            .map(|dir| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    tokend()
                        .start(dir.path(), &pairs(env))
                        .unwrap_or_else(|e| panic!("{e}"))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn two_nodes_on_postgresql_share_the_hsm_key_and_follow_a_rotation() {
    let hsm = SoftHsm::new();
    let db = testkit::pg::Database::fresh("hsm").unwrap_or_else(|e| panic!("{e}"));
    let mut env = hsm.source();
    env.extend([
        ("ROCKET_DATABASE_URL".to_owned(), db.url.clone()),
        (
            "ROCKET_SECRET_KEY".to_owned(),
            testkit::pg::SECRET_KEY.to_owned(),
        ),
        ("ROCKET_DB_POOL_SIZE".to_owned(), "4".to_owned()),
    ]);
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    assert!(run(dirs[0].path(), &env, &["hsm", "init"]).status.success());
    // Both start a new install at once: they must agree on one first data key.
    let nodes = start_together(&dirs, &env);
    let key_out = run(
        dirs[0].path(),
        &env,
        &[
            "apikey",
            "create",
            "--name",
            "hsm-nodes",
            "--scope",
            "manage,validate",
        ],
    );
    assert!(key_out.status.success(), "{}", stderr(&key_out));
    let key = stdout(&key_out).trim().to_owned();
    let post = |node: usize, path: &str, body: serde_json::Value| {
        json_of(
            ureq::post(&format!("{}{path}", nodes[node].base))
                .set("Authorization", &format!("Bearer {key}"))
                .send_json(body),
        )
    };
    let (status, added) = post(
        0,
        "/api/v1/tokens",
        json!({"UsrName": "nina", "TokenType": "Software"}),
    );
    assert_eq!(status, 200, "{added}");
    let token = added["TokenId"].as_str().unwrap().to_owned();
    let seed = crate::support::b32(added["Secret"].as_str().unwrap());
    let step = now_step(30);
    let activate = format!("/api/v1/tokens/{token}/activate");
    let (status, rs) = post(
        1,
        &activate,
        json!({"Code": totp(&seed, "SHA1", 6, step - 1)}),
    );
    assert_eq!(
        (status, rs["RsStat"].as_str()),
        (200, Some("Success")),
        "node 1 opens node 0's seal: {rs}"
    );

    // A new data key under the same HSM key while both serve: each unwraps it itself.
    let rotated = run(dirs[0].path(), &env, &["rekey"]);
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    assert!(
        stderr(&rotated).contains("(2 process(es)) opened key"),
        "{}",
        stderr(&rotated)
    );
    let (_, rs) = post(
        0,
        "/api/v1/validate",
        json!({"UsrName": "nina", "Code": totp(&seed, "SHA1", 6, step)}),
    );
    assert_eq!(rs["RsStat"], "Success", "{rs}");
    for node in &nodes {
        let (status, rs) = json_of(ureq::get(&format!("{}/ready", node.base)).call());
        assert_eq!((status, rs["Hsm"].as_str()), (200, Some("ok")), "{rs}");
    }
    drop(nodes);
}

#[test]
fn a_move_into_the_hsm_waits_for_a_running_file_node_and_resumes_once_it_is_stopped() {
    let hsm = SoftHsm::new();
    let data = tempfile::tempdir().unwrap();
    let file_env: Env = Vec::new();
    let mut server = start(data.path(), &file_env);
    let (_, seed, _) = server.enroll_active("mona");
    let settings = hsm.settings();
    assert!(run(data.path(), &settings, &["hsm", "init"])
        .status
        .success());
    // The running node reads its key from a file and has no HSM: it cannot open the new
    // data key, says why, and rekey moves no seed.
    let refused = run(data.path(), &settings, &["rekey", "--to", "pkcs11"]);
    let err = stderr(&refused);
    assert!(!refused.status.success(), "{err}");
    assert!(
        err.contains("cannot open the new key") && err.contains("master_key_source"),
        "{err}"
    );
    server.stop();
    // Resumed with the service stopped (the source still file, the HSM settings given).
    let resumed = run(data.path(), &settings, &["rekey"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(stdout(&resumed).contains("rekey done"));
    let server = start(data.path(), &hsm.source());
    let rs = server.validate("mona", &totp(&seed, "SHA1", 6, now_step(30)));
    assert_eq!(rs["RsStat"], "Success", "{rs}");
}
