//! Restarts on the same data directory, the master-key check, and no seed in clear at rest.

use serde_json::json;

use crate::support::{b32, cli, now_step, totp, TestServer};

#[test]
fn state_survives_a_restart_and_replays_stay_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(dir.path(), &[]).unwrap();
    let (token, seed, step) = server.enroll_active("pat");
    let code = totp(&seed, "SHA1", 6, step + 1);
    let ok = server.validate("pat", &code);
    assert_eq!(ok["RsStat"], "Success");
    server.stop();

    let server = TestServer::start_in(dir.path(), &[]).unwrap();
    let (_, inq) = server.post("/api/v1/inquiry", &json!({"TokenId": token}));
    let rec = &inq["MFATokenInqInfo"]["MFATokenInqArray"][0];
    assert_eq!(rec["LastTrnRcptId"], ok["LastTrnRcptId"]);
    assert_eq!(inq["MFATokenInqInfo"]["UsrTokenStat"], "Act");
    assert_eq!(
        server.validate("pat", &code)["RsStat"],
        "Failed",
        "still a replay"
    );
    assert_eq!(
        server.validate("pat", &totp(&seed, "SHA1", 6, step + 2))["RsStat"],
        "Success"
    );
}

#[test]
fn a_different_master_key_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path(), &[]).unwrap();
    server.enroll_active("quinn");
    drop(server);
    let other = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let err = TestServer::start_in(dir.path(), &[("TOKEND_MASTER_KEY", other)])
        .err()
        .expect("refused");
    assert!(
        err.contains("master key") && err.contains("refusing to start"),
        "{err}"
    );
    let out = cli(
        dir.path(),
        &[("TOKEND_MASTER_KEY", "not-a-key")],
        &["serve"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("TOKEND_MASTER_KEY"));
    // The right key (from the file) still works.
    let server = TestServer::start_in(dir.path(), &[]).unwrap();
    let (status, _) = server.post("/api/v1/inquiry", &json!({"TokenId": "none"}));
    assert_eq!(status, 404);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn the_database_files_hold_no_seed_in_clear() {
    use base64::Engine as _;
    let server = TestServer::start();
    let rfc_seed = b"12345678901234567890".to_vec();
    let (status, _) = server.post(
        "/api/v1/tokens",
        &json!({"UsrName": "hw", "TokenType": "Hardware", "TokenId": "HW-9", "Seed": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"}),
    );
    assert_eq!(status, 200);
    let (_, rs) = server.post(
        "/api/v1/tokens",
        &json!({"UsrName": "sw", "TokenType": "Software"}),
    );
    let sw_seed = b32(rs["Secret"].as_str().unwrap());
    let code = totp(&rfc_seed, "SHA1", 6, now_step(30));
    server.post("/api/v1/tokens/HW-9/activate", &json!({"Code": code}));

    let mut files = Vec::new();
    for entry in std::fs::read_dir(&server.data_dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("tokend.sqlite")
        {
            files.push(std::fs::read(&path).unwrap());
        }
    }
    assert!(files.len() >= 2, "database and WAL");
    for seed in [&rfc_seed, &sw_seed] {
        let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
        let b32_text = base32::encode(base32::Alphabet::Rfc4648 { padding: false }, seed);
        let b32_padded = base32::encode(base32::Alphabet::Rfc4648 { padding: true }, seed);
        let b64 = base64::engine::general_purpose::STANDARD.encode(seed);
        let forms: Vec<Vec<u8>> = vec![
            seed.to_vec(),
            hex.clone().into_bytes(),
            hex.to_uppercase().into_bytes(),
            b32_text.clone().into_bytes(),
            b32_text.to_lowercase().into_bytes(),
            b32_padded.into_bytes(),
            b64.into_bytes(),
        ];
        for bytes in &files {
            for form in &forms {
                assert!(
                    !contains(bytes, form),
                    "a seed form was found in the database files"
                );
            }
        }
    }
}

/// `tokend backup` while the server validates: the copy is whole (its audit chain
/// verifies), and a server started on it with the master key validates the next code.
#[test]
fn a_backup_taken_while_serving_restores_with_the_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = crate::support::TestServer::start_in(dir.path(), &[]).unwrap();
    let (_token, seed, step) = server.enroll_active("rita");
    let copy_dir = tempfile::tempdir().unwrap();
    let copy = copy_dir.path().join("tokend.sqlite");
    // Enrollments keep writing while the backup runs.
    let out = std::thread::scope(|s| {
        let writing = s.spawn(|| {
            for i in 0..20 {
                server.enroll(&format!("busy{i}"));
            }
        });
        let out = crate::support::cli(dir.path(), &[], &["backup", copy.to_str().unwrap()]);
        writing.join().unwrap();
        out
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        said.contains("integrity ok") && said.contains("master key with id"),
        "{said}"
    );
    let again = crate::support::cli(dir.path(), &[], &["backup", copy.to_str().unwrap()]);
    assert!(
        !again.status.success(),
        "an existing file is never overwritten"
    );
    // The copy holds no seed in clear: the activation step's seed bytes are not in it.
    let bytes = std::fs::read(&copy).unwrap();
    assert!(!bytes.windows(seed.len()).any(|w| w == seed.as_slice()));
    // Restore: the copy and the master key in a fresh data directory.
    std::fs::copy(
        dir.path().join("master.key"),
        copy_dir.path().join("master.key"),
    )
    .unwrap();
    let verify = crate::support::cli(copy_dir.path(), &[], &["audit", "verify"]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    drop(server);
    let restored = crate::support::TestServer::start_in(copy_dir.path(), &[]).unwrap();
    let code = crate::support::totp(&seed, "SHA1", 6, step + 1);
    assert_eq!(restored.validate("rita", &code)["RsStat"], "Success");
}
