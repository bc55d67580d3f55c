//! Files tokend writes that hold secrets (phones, hashes, sealed seeds) are private to
//! its user: the database, its WAL and SHM, and `tokend backup` copies, whatever the
//! umask of whoever starts it.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::support::{cli, TestServer};

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_database_and_a_backup_are_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path(), &[]).unwrap();
    server.enroll("amy");
    for name in ["tokend.sqlite", "tokend.sqlite-wal", "tokend.sqlite-shm"] {
        assert_eq!(mode_of(&dir.path().join(name)), 0o600, "{name}");
    }
    let out_dir = tempfile::tempdir().unwrap();
    let copy = out_dir.path().join("tokend-backup.sqlite");
    let out = cli(dir.path(), &[], &["backup", copy.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        mode_of(&copy),
        0o600,
        "the backup holds what the database holds"
    );
    let again = cli(dir.path(), &[], &["backup", copy.to_str().unwrap()]);
    assert!(
        !again.status.success(),
        "an existing file is never overwritten"
    );
    assert_eq!(mode_of(&copy), 0o600);
}

#[test]
fn a_database_left_readable_by_others_is_made_private_at_start() {
    let dir = tempfile::tempdir().unwrap();
    assert!(cli(dir.path(), &[], &["migrate"]).status.success());
    let db = dir.path().join("tokend.sqlite");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = cli(dir.path(), &[], &["migrate"]);
    assert!(out.status.success());
    assert_eq!(mode_of(&db), 0o600);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("readable by others"),
        "the operator is told: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
