//! The command line: migrate, apikey create.

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
