//! Staff sign-in with a second factor over the real binary (issue 25): no console page
//! before it, enrollment confirmed by a first code, replay and lock as for customers'
//! tokens, the reset, the CLI's enrollment, sessions and their timeouts.

use std::path::Path;

use crate::support::admin::{AdminClient, PASSWORD};
use crate::support::{b32, cli_input, now_step, totp, TestServer};

const MFA: (&str, &str) = ("ROCKET_CONSOLE_MFA", "required");

/// Creates a staff account through the CLI; its stdout (one-time password, URI).
fn staff(dir: &Path, username: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "admin",
        "create",
        "--username",
        username,
        "--password-stdin",
    ];
    args.extend_from_slice(extra);
    let out = cli_input(dir, &args, format!("{PASSWORD}\n").as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn start(dir: tempfile::TempDir, env: &[(&str, &str)]) -> TestServer {
    let mut server = TestServer::start_in(dir.path(), env).expect("server starts");
    server.keep_dir(dir);
    server
}

/// The base32 secret of an `otpauth://` URI.
fn secret_of_uri(uri: &str) -> String {
    let q = uri.split_once('?').unwrap().1;
    q.split('&')
        .find_map(|kv| kv.strip_prefix("secret="))
        .unwrap()
        .to_owned()
}

/// The secret shown on the enrollment page.
fn secret_on(body: &str) -> String {
    let marker = "id=\"secret\">";
    let start = body.find(marker).expect("a secret on the page") + marker.len();
    body[start..start + body[start..].find('<').unwrap()].to_owned()
}

fn code(secret: &str, step_offset: i64) -> String {
    totp(&b32(secret), "SHA1", 6, now_step(30) + step_offset)
}

/// Posts a code to the factor page; the page it leads to.
fn post_code(c: &AdminClient, code: &str) -> (Option<String>, String) {
    let page = c.get("/admin/factor");
    assert_eq!(page.status, 200, "{}", page.body);
    let rs = c.post("/admin/factor", &[("csrf", &page.csrf()), ("code", code)]);
    assert_eq!(rs.status, 303, "{}", rs.body);
    (rs.location.clone(), c.follow(&rs).body)
}

#[test]
fn no_page_opens_before_the_second_factor_which_is_enrolled_then_asked_every_time() {
    let dir = tempfile::tempdir().unwrap();
    staff(dir.path(), "kari", &["--role", "helpdesk"]);
    let server = start(dir, &[MFA]);
    let c = AdminClient::new(&server);
    let rs = c.sign_in("kari", PASSWORD);
    assert_eq!(rs.location.as_deref(), Some("/admin/factor"));
    // The password alone opens nothing: every page leads to the factor.
    for path in [
        "/admin/users",
        "/admin/audit",
        "/admin/password",
        "/admin/sessions",
    ] {
        let page = c.get(path);
        assert_eq!(page.status, 303, "{path}");
        assert_eq!(page.location.as_deref(), Some("/admin/factor"), "{path}");
    }
    let enroll = c.get("/admin/factor");
    assert!(enroll.body.contains("data:image/png;base64,"), "a QR code");
    let secret = secret_on(&enroll.body);
    let rs = c.post(
        "/admin/factor",
        &[("csrf", &enroll.csrf()), ("code", "000000x")],
    );
    assert!(c.follow(&rs).body.contains("wrong or was used already"));
    let (to, _) = post_code(&c, &code(&secret, 0));
    assert_eq!(to.as_deref(), Some("/admin/users"));
    assert_eq!(c.get("/admin/users").status, 200);
    // A later sign-in asks for a code (no secret shown again); a replayed code is refused.
    let again = AdminClient::new(&server);
    again.sign_in("kari", PASSWORD);
    let page = again.get("/admin/factor");
    assert!(!page.body.contains("id=\"secret\""));
    let (to, body) = post_code(&again, &code(&secret, 0));
    assert_eq!(to.as_deref(), Some("/admin/factor"), "{body}");
    assert!(body.contains("wrong or was used already"));
    let (to, _) = post_code(&again, &code(&secret, 1));
    assert_eq!(to.as_deref(), Some("/admin/users"));
}

#[test]
fn wrong_codes_lock_the_factor_until_an_admin_resets_it_and_the_cli_enrolls_one() {
    let dir = tempfile::tempdir().unwrap();
    staff(dir.path(), "kari", &["--role", "helpdesk"]);
    let out = staff(dir.path(), "boss", &["--enroll-totp"]);
    let boss_secret = secret_of_uri(out.lines().last().unwrap());
    let server = start(dir, &[MFA]);
    let kari = AdminClient::new(&server);
    kari.sign_in("kari", PASSWORD);
    let secret = secret_on(&kari.get("/admin/factor").body);
    post_code(&kari, &code(&secret, 0));
    let locked = AdminClient::new(&server);
    locked.sign_in("kari", PASSWORD);
    for _ in 0..5 {
        post_code(&locked, "000000");
    }
    let (to, body) = post_code(&locked, &code(&secret, 1));
    assert_eq!(to.as_deref(), Some("/admin/factor"));
    assert!(body.contains("locked after too many wrong codes"), "{body}");
    // The CLI-enrolled admin confirms their factor with its first code.
    let boss = AdminClient::new(&server);
    boss.sign_in("boss", PASSWORD);
    assert!(boss.get("/admin/factor").body.contains("first code"));
    let (to, _) = post_code(&boss, &code(&boss_secret, 0));
    assert_eq!(to.as_deref(), Some("/admin/users"));
    // The reset ends kari's sessions; she enrolls anew at the next sign-in.
    let rs = boss.submit(
        "/admin/staff",
        "/admin/staff/factor/reset",
        &[("username", "kari")],
    );
    assert!(boss
        .follow(&rs)
        .body
        .contains("second factor of kari is reset"));
    assert_eq!(
        kari.get("/admin/users").location.as_deref(),
        Some("/admin/login")
    );
    let fresh = AdminClient::new(&server);
    fresh.sign_in("kari", PASSWORD);
    let new_secret = secret_on(&fresh.get("/admin/factor").body);
    assert_ne!(new_secret, secret);
    let (to, _) = post_code(&fresh, &code(&new_secret, 0));
    assert_eq!(to.as_deref(), Some("/admin/users"));
    let trail = boss.get("/admin/audit?action=admin.factor-reset").body;
    assert!(trail.contains("kari: 1 factor(s) deleted"), "{trail}");
}

#[test]
fn sessions_are_listed_signed_out_one_by_one_and_expire_idle_or_absolute() {
    let dir = tempfile::tempdir().unwrap();
    staff(dir.path(), "ola", &[]);
    staff(dir.path(), "per", &[]);
    let server = start(
        dir,
        &[
            ("ROCKET_CONSOLE_IDLE_SECS", "2"),
            ("ROCKET_CONSOLE_SESSION_SECS", "4"),
        ],
    );
    let one = AdminClient::signed_in(&server, "ola", PASSWORD);
    let two = AdminClient::signed_in(&server, "ola", PASSWORD);
    let page = one.get("/admin/sessions");
    assert_eq!(
        page.body.matches("name=\"handle\"").count(),
        2,
        "{}",
        page.body
    );
    let mine = page.body.split("(this one)").next().unwrap();
    let this_handle = mine
        .rsplit("<code>")
        .next()
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    let other = page
        .body
        .match_indices("name=\"handle\" value=\"")
        .map(|(i, m)| &page.body[i + m.len()..i + m.len() + 16])
        .find(|h| *h != this_handle)
        .unwrap()
        .to_owned();
    let rs = one.post(
        "/admin/sessions/end",
        &[("csrf", &page.csrf()), ("handle", &other)],
    );
    assert!(one.follow(&rs).body.contains("signed out"));
    assert_eq!(
        two.get("/admin/users").location.as_deref(),
        Some("/admin/login")
    );
    assert_eq!(one.get("/admin/users").status, 200);
    // An admin ends anyone's sessions.
    let per = AdminClient::signed_in(&server, "per", PASSWORD);
    let rs = one.submit(
        "/admin/staff",
        "/admin/staff/sessions/end",
        &[("username", "per")],
    );
    assert!(one.follow(&rs).body.contains("1 session(s) of per ended"));
    assert_eq!(
        per.get("/admin/users").location.as_deref(),
        Some("/admin/login")
    );
    // Idle past 2 s: over. Active every second, still over 4 s after sign-in.
    let idle = AdminClient::signed_in(&server, "per", PASSWORD);
    // Real time, kept (issue 29): the console acts in real time, never on a sandbox clock
    // (docs/api.md, Testing your integration).
    std::thread::sleep(std::time::Duration::from_millis(2_300));
    assert_eq!(
        idle.get("/admin/users").location.as_deref(),
        Some("/admin/login")
    );
    let busy = AdminClient::signed_in(&server, "per", PASSWORD);
    for _ in 0..3 {
        std::thread::sleep(std::time::Duration::from_millis(1_000));
        assert_eq!(busy.get("/admin/users").status, 200);
    }
    std::thread::sleep(std::time::Duration::from_millis(1_300));
    assert_eq!(
        busy.get("/admin/users").location.as_deref(),
        Some("/admin/login")
    );
}
