//! The CLI beside a service that runs as its own OS user, as `deploy/tokend.service`
//! runs it (`User=tokend`, state 0700 in /var/lib/tokend) while the operator types `sudo
//! tokend …`. Needs root (to make the user and to run the server as it); without root
//! each test says so and does nothing.

use crate::support::{cli, create_key, now_step, tokend, totp};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::Command;

/// The service's user of these tests.
const USER: &str = "tokend-t27";

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The (uid, gid) of [`USER`], made (a system user without a home) when missing.
fn service_user() -> (u32, u32) {
    let id = |flag: &str| {
        Command::new("id")
            .args([flag, USER])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse::<u32>().ok())
    };
    if id("-u").is_none() {
        // Another test may make it at the same moment: its "exists" is fine.
        let _ = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                USER,
            ])
            .output();
    }
    (
        id("-u").expect("useradd made the user"),
        id("-g").expect("the user has a group"),
    )
}

/// A data directory owned by the service user, mode 0700 (systemd's StateDirectory),
/// inside a temporary directory the user may enter.
fn state_dir(root: &Path, (uid, gid): (u32, u32)) -> std::path::PathBuf {
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = root.join("state");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
    dir
}

fn enroll(base: &str, key: &str, usr: &str) -> (u16, serde_json::Value) {
    let rs = ureq::post(&format!("{base}/api/v1/tokens"))
        .set("Authorization", &format!("Bearer {key}"))
        .send_json(serde_json::json!({"UsrName": usr, "TokenType": "Software"}));
    match rs {
        Ok(r) => (r.status(), r.into_json().unwrap()),
        Err(ureq::Error::Status(s, r)) => (s, r.into_json().unwrap_or_default()),
        Err(e) => panic!("{e}"),
    }
}

fn post(base: &str, key: &str, path: &str, body: &serde_json::Value) -> serde_json::Value {
    let rs = ureq::post(&format!("{base}{path}"))
        .set("Authorization", &format!("Bearer {key}"))
        .send_json(body.clone());
    match rs {
        Ok(r) => r.into_json().unwrap(),
        Err(ureq::Error::Status(_, r)) => r.into_json().unwrap(),
        Err(e) => panic!("{e}"),
    }
}

/// The service's user, a temporary directory and the state directory in it; `None`
/// (saying why) when this process is not root.
fn service_state() -> Option<((u32, u32), tempfile::TempDir, std::path::PathBuf)> {
    if !is_root() {
        println!("skipped: making a service user and running the server as it needs root");
        return None;
    }
    let user = service_user();
    let root = tempfile::tempdir().unwrap();
    let data = state_dir(root.path(), user);
    Some((user, root, data))
}

/// Enrolls and activates a software token for `usr`; its seed and activation step.
fn enroll_active(base: &str, key: &str, usr: &str) -> (Vec<u8>, i64) {
    let (status, rs) = enroll(base, key, usr);
    assert_eq!(status, 200, "{rs}");
    let token = rs["TokenId"].as_str().unwrap().to_owned();
    let seed = base32::decode(
        base32::Alphabet::Rfc4648 { padding: false },
        rs["Secret"].as_str().unwrap(),
    )
    .unwrap();
    let step = now_step(30) - 1;
    let act = post(
        base,
        key,
        &format!("/api/v1/tokens/{token}/activate"),
        &serde_json::json!({"Code": totp(&seed, "SHA1", 6, step)}),
    );
    assert_eq!(act["RsStat"], "Success", "{act}");
    (seed, step)
}

/// Issue 27's outage: `sudo tokend rekey` beside a service running as `tokend`.
/// The new key file goes to the service's user (mode 0600), the service opens it
/// before a seed moves, rekey says so, and validations and enrollments go on. A CLI run
/// as a third user is refused before it writes anything; a key file the service cannot
/// read makes it say "permission denied".
#[test]
fn rekey_as_root_beside_a_service_running_as_its_own_user() {
    let Some((user, _root, data)) = service_state() else {
        return;
    };
    let server = tokend().start_as(&data, &[], Some(user)).unwrap();
    let key = create_key(&data, "ops", "manage,validate");
    let (seed, step) = enroll_active(&server.base, &key, "ann");

    // A third user who neither owns the state nor is root: refused, nothing written.
    let nobody = Command::new(tokend().exe())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("ROCKET_DATA_DIR", &data)
        .args(["rekey"])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert!(!nobody.status.success());
    let err = String::from_utf8_lossy(&nobody.stderr);
    assert!(err.contains(USER) && err.contains("or as root"), "{err}");

    let out = cli(&data, &[], &["rekey"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("the running tokend (1 process(es)) opened key"),
        "{err}"
    );
    // The new key became master.key; the retired one is kept in retired/.
    let new_file = data.join("master.key");
    let retired = std::fs::read_dir(data.join("retired")).unwrap().count();
    assert_eq!(retired, 1, "the retired key is kept");
    let meta = std::fs::metadata(&new_file).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid()),
        user,
        "given to the service's user"
    );
    assert_eq!(meta.mode() & 0o777, 0o600);
    for suffix in ["", "-wal", "-shm"] {
        if let Ok(m) = std::fs::metadata(data.join(format!("tokend.sqlite{suffix}"))) {
            assert_eq!(m.uid(), user.0, "tokend.sqlite{suffix} stays the service's");
        }
    }

    let ok = post(
        &server.base,
        &key,
        "/api/v1/validate",
        &serde_json::json!({"UsrName": "ann", "Code": totp(&seed, "SHA1", 6, step + 1)}),
    );
    assert_eq!(ok["RsStat"], "Success", "{ok}");
    assert_eq!(
        enroll(&server.base, &key, "bob").0,
        200,
        "enrollments go on"
    );

    // The next start finds the new key; unreadable, it says why.
    let mut server = server;
    server.stop();
    std::os::unix::fs::chown(&new_file, Some(0), Some(0)).unwrap();
    let refused = tokend().start_as(&data, &[], Some(user)).err().unwrap();
    assert!(
        refused.to_lowercase().contains("permission denied"),
        "{refused}"
    );
}

/// Issue 27 item 3: the master key comes from a root-only environment file, as in the
/// documented unit (`EnvironmentFile=/etc/tokend/tokend.env` holding
/// `TOKEND_MASTER_KEY`). The CLI reaches it with `sudo tokend --env-file FILE …`;
/// without it, the refusal names the setting it could not read; a user who cannot read
/// the file is told so.
#[test]
fn the_cli_reaches_the_services_key_through_its_environment_file() {
    let Some((user, root, data)) = service_state() else {
        return;
    };
    let master = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let env_file = root.path().join("tokend.env");
    std::fs::write(
        &env_file,
        format!(
            "# /etc/tokend/tokend.env\nROCKET_DATA_DIR={}\nTOKEND_MASTER_KEY={master}\n",
            data.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&env_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let server = tokend()
        .start_as(&data, &[("TOKEND_MASTER_KEY", master)], Some(user))
        .unwrap();

    let bare = tokend()
        .cli_bare(
            &data,
            &[],
            &["apikey", "create", "--name", "x", "--scope", "manage"],
        )
        .unwrap();
    assert!(!bare.status.success());
    let err = String::from_utf8_lossy(&bare.stderr);
    assert!(
        err.contains("TOKEND_MASTER_KEY") && err.contains("master_key_file"),
        "{err}"
    );

    let with_file = |cmd: &mut Command| {
        cmd.env_remove("ROCKET_DATA_DIR")
            .arg("--env-file")
            .arg(&env_file)
            .args([
                "apikey",
                "create",
                "--name",
                "ops",
                "--scope",
                "manage,validate",
            ]);
    };
    let mut cmd = tokend().command(&data);
    with_file(&mut cmd);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(enroll(&server.base, &key, "ann").0, 200, "the key works");

    let mut cmd = tokend().command(&data);
    with_file(&mut cmd);
    let denied = cmd.uid(65534).gid(65534).output().unwrap();
    assert!(!denied.status.success());
    let err = String::from_utf8_lossy(&denied.stderr);
    assert!(err.contains("cannot read --env-file"), "{err}");
}

/// `sudo tokend restore` on a state directory the service's user owns: the restored
/// database and the lock file stay the service's (0600), and the service starts on it
/// as its own user and serves what the backup held.
#[test]
fn restore_as_root_leaves_the_files_to_the_services_user() {
    let Some((user, root, data)) = service_state() else {
        return;
    };
    let mut server = tokend().start_as(&data, &[], Some(user)).unwrap();
    let key = create_key(&data, "ops", "manage,validate");
    let (seed, step) = enroll_active(&server.base, &key, "ann");
    let backup = root.path().join("b.sqlite");
    let out = cli(&data, &[], &["backup", &backup.to_string_lossy()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.stop();

    let out = cli(&data, &[], &["restore", &backup.to_string_lossy()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in ["tokend.sqlite", "tokend.lock"] {
        let meta = std::fs::metadata(data.join(name)).unwrap();
        assert_eq!((meta.uid(), meta.gid()), user, "{name} stays the service's");
        assert_eq!(meta.mode() & 0o777, 0o600, "{name}");
    }
    let server = tokend().start_as(&data, &[], Some(user)).unwrap();
    let ok = post(
        &server.base,
        &key,
        "/api/v1/validate",
        &serde_json::json!({"UsrName": "ann", "Code": totp(&seed, "SHA1", 6, step + 1)}),
    );
    assert_eq!(ok["RsStat"], "Success", "{ok}");
}
