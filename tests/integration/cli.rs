//! The command line: migrate, apikey create, import.

use crate::support::cli;

#[test]
fn migrate_is_idempotent_and_apikey_prints_only_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = cli(dir.path(), &[], &["migrate"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = cli(
        dir.path(),
        &[],
        &[
            "apikey",
            "create",
            "--name",
            "core",
            "--scope",
            "manage,validate",
        ],
    );
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(
        lines[0].starts_with("tkd_") && lines[0].len() == 47,
        "{stdout}"
    );

    let dup = cli(
        dir.path(),
        &[],
        &["apikey", "create", "--name", "core", "--scope", "manage"],
    );
    assert!(!dup.status.success(), "names are unique");
    let bad = cli(
        dir.path(),
        &[],
        &["apikey", "create", "--name", "x", "--scope", "root"],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown scope"));
}

#[test]
fn key_files_are_created_with_mode_0600() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    assert!(cli(
        dir.path(),
        &[],
        &["apikey", "create", "--name", "k", "--scope", "manage"]
    )
    .status
    .success());
    let mode = std::fs::metadata(dir.path().join("master.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// A vendor seed file: RFC 6238's SHA-1 seed in hex for two serials, one bound to a user.
fn seed_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("batch.csv");
    std::fs::write(
        &path,
        "serial,seed,algorithm,digits,period,usr_name\n\
         HW-0001,3132333435363738393031323334353637383930,SHA1,6,30,ola\n\
         HW-0002,3132333435363738393031323334353637383930,SHA1,6,30\n\
         HW-0003,31323334,SHA1,6,30\n",
    )
    .unwrap();
    path
}

#[test]
fn import_binds_tokens_that_then_validate_and_a_second_import_adds_nothing() {
    use crate::support::{totp, TestServer};
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let file = seed_file(dir.path());
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let file_arg = file.to_str().unwrap();

    let first = cli(&data, &[], &["import", file_arg]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&first.stdout).into_owned(),
        String::from_utf8_lossy(&first.stderr).into_owned(),
    );
    assert!(!first.status.success(), "a refused line fails the command");
    assert_eq!(
        stdout.trim(),
        "imported 2, already present 0, refused 1, skipped 0"
    );
    assert!(
        stderr.contains("line 4: refused: seed: 32 bits"),
        "{stderr}"
    );
    assert!(!stderr.contains("3132333435") && !stdout.contains("3132333435"));

    let again = cli(&data, &[], &["import", file_arg]);
    let stdout = String::from_utf8_lossy(&again.stdout).into_owned();
    assert_eq!(
        stdout.trim(),
        "imported 0, already present 2, refused 1, skipped 0"
    );

    let server = TestServer::start_in(&data, &[]).unwrap();
    let seed = b"12345678901234567890";
    let step = crate::support::now_step(30) - 1;
    let (status, rs) = server.post(
        "/api/v1/tokens/HW-0001/activate",
        &json!({"Code": totp(seed, "SHA1", 6, step)}),
    );
    assert_eq!(
        (status, rs["RsStat"].as_str()),
        (200, Some("Success")),
        "{rs}"
    );
    let rs = server.validate("ola", &totp(seed, "SHA1", 6, step + 1));
    assert_eq!(rs["RsStat"], "Success", "{rs}");
    // The unassigned token is in the inventory: known, Init, bound to nobody.
    let (status, inq) = server.post("/api/v1/inquiry", &json!({"TokenId": "HW-0002"}));
    assert_eq!(status, 200, "{inq}");
    assert_eq!(inq["MFATokenInqInfo"]["UsrTokenStat"], "Init", "{inq}");
    assert_eq!(
        inq["MFATokenInqInfo"]["MFATokenInqArray"],
        json!([]),
        "{inq}"
    );
    // The file's seed is stored sealed, never in clear.
    for bytes in crate::support::database_files(&data) {
        assert!(!bytes.windows(seed.len()).any(|w| w == seed.as_slice()));
    }
}
