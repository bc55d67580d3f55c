//! The admin console through the real server: first sign-in, sessions, CSRF, lockout,
//! security headers and the user pages.

use crate::support::admin::{enc, server_with_admin, AdminClient, PASSWORD};
use crate::support::TestServer;

#[test]
fn first_start_prints_a_one_time_password_that_must_be_changed() {
    let server = TestServer::start();
    let one_time = server
        .first_admin_password
        .clone()
        .expect("first start prints the admin's one-time password");
    assert!(one_time.len() >= 16, "{one_time}");
    let c = AdminClient::new(&server);
    let signed = c.sign_in("admin", &one_time);
    assert_eq!(signed.location.as_deref(), Some("/admin/password"));
    let first = c.follow(&signed);
    assert_eq!(
        first.body.matches("flash error").count(),
        1,
        "one red message, not two: {}",
        first.body
    );
    // Nothing else opens before the password is changed.
    let users = c.get("/admin/users");
    assert_eq!(
        (users.status, users.location.as_deref()),
        (303, Some("/admin/password"))
    );
    let form = c.get("/admin/password");
    assert!(form.body.contains("one-time password"), "{}", form.body);
    let short = c.submit(
        "/admin/password",
        "/admin/password",
        &[
            ("current_password", &one_time),
            ("new_password", "short"),
            ("repeat_password", "short"),
        ],
    );
    assert!(c.follow(&short).body.contains("12 to 256 characters"));
    let changed = c.submit(
        "/admin/password",
        "/admin/password",
        &[
            ("current_password", &one_time),
            ("new_password", PASSWORD),
            ("repeat_password", PASSWORD),
        ],
    );
    assert_eq!(changed.location.as_deref(), Some("/admin/users"));
    assert_eq!(c.get("/admin/users").status, 200);
    // The one-time password is gone; the new one works.
    let again = AdminClient::new(&server);
    let refused = again.sign_in("admin", &one_time);
    assert_eq!(refused.location.as_deref(), Some("/admin/login"));
    assert!(again
        .follow(&refused)
        .body
        .contains("Wrong username or password"));
    assert_eq!(
        again.sign_in("admin", PASSWORD).location.as_deref(),
        Some("/admin/users")
    );
}

#[test]
fn a_restart_with_an_admin_prints_no_password() {
    let (server, _c) = server_with_admin();
    assert_eq!(server.first_admin_password, None);
}

#[test]
fn signed_out_requests_are_redirected_to_sign_in() {
    let server = TestServer::start();
    let c = AdminClient::new(&server);
    for path in [
        "/admin/",
        "/admin/users",
        "/admin/users/new",
        "/admin/user?name=x",
    ] {
        let page = c.get(path);
        assert_eq!(
            (page.status, page.location.as_deref()),
            (303, Some("/admin/login")),
            "{path}"
        );
    }
    let post = c.post(
        "/admin/users",
        &[("csrf", "x"), ("usr_name", "eve"), ("phone", "")],
    );
    assert_eq!(post.location.as_deref(), Some("/admin/login"));
    // A forged or foreign cookie is no session either.
    let forged = c.post("/admin/logout", &[("csrf", "x")]);
    assert_eq!(forged.location.as_deref(), Some("/admin/login"));
}

#[test]
fn forms_without_or_with_a_wrong_csrf_token_are_refused() {
    let (server, c) = server_with_admin();
    let no_token = c.post("/admin/users", &[("usr_name", "eve"), ("phone", "")]);
    assert_eq!(no_token.status, 403, "{}", no_token.body);
    let wrong = c.post(
        "/admin/users",
        &[
            ("csrf", "not-the-token"),
            ("usr_name", "eve"),
            ("phone", ""),
        ],
    );
    assert_eq!(wrong.status, 403);
    assert!(wrong.body.contains("did not come from this console"));
    let list = c.get("/admin/users?q=eve");
    assert!(!list.body.contains(">eve<"), "no user was created");
    // Sign-out needs the token too: without it the session stays.
    assert_eq!(c.post("/admin/logout", &[("csrf", "nope")]).status, 403);
    assert_eq!(c.get("/admin/users").status, 200);
    // Another session's token is refused: tokens are per session.
    let other = AdminClient::signed_in(&server, "ola", PASSWORD);
    let other_token = other.get("/admin/users/new").csrf();
    let foreign = c.post(
        "/admin/users",
        &[("csrf", &other_token), ("usr_name", "eve"), ("phone", "")],
    );
    assert_eq!(foreign.status, 403);
    // The sign-in form has one as well.
    let fresh = AdminClient::new(&server);
    let login = fresh.post(
        "/admin/login",
        &[("csrf", "x"), ("username", "ola"), ("password", PASSWORD)],
    );
    assert_eq!(login.status, 403);
}

#[test]
fn sign_out_ends_the_session() {
    let (_server, c) = server_with_admin();
    let token = c.get("/admin/users").csrf();
    let out = c.post("/admin/logout", &[("csrf", &token)]);
    assert_eq!(out.location.as_deref(), Some("/admin/login"));
    assert!(c.follow(&out).body.contains("signed out"));
    assert_eq!(
        c.get("/admin/users").location.as_deref(),
        Some("/admin/login")
    );
}

#[test]
fn repeated_failed_sign_ins_lock_the_account_for_a_while() {
    let (server, _c) = server_with_admin();
    let c = AdminClient::new(&server);
    for _ in 0..4 {
        let page = c.sign_in("ola", "wrong password!!");
        assert!(c.follow(&page).body.contains("Wrong username or password"));
    }
    let fifth = c.sign_in("ola", "wrong password!!");
    let throttled = c.follow(&fifth).body;
    assert!(throttled.contains("too many failed sign-ins"));
    // Even the right password is refused during the back-off.
    let right = c.sign_in("ola", PASSWORD);
    assert_eq!(right.location.as_deref(), Some("/admin/login"));
    let refused = c.follow(&right).body;
    // An unknown name, even after as many failures, reads exactly like a throttled or a
    // wrong one: the answer never tells which names exist.
    for _ in 0..6 {
        let unknown = c.sign_in("nobody", "whatever");
        assert_eq!(c.follow(&unknown).body, refused);
    }
    assert_eq!(throttled, refused);
}

#[test]
fn sessions_end_after_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    crate::support::admin::create_admin(dir.path(), "ola", PASSWORD);
    let server =
        TestServer::start_in(dir.path(), &[("ROCKET_ADMIN_IDLE_TIMEOUT_SECS", "1")]).unwrap();
    let c = AdminClient::signed_in(&server, "ola", PASSWORD);
    assert_eq!(c.get("/admin/users").status, 200);
    // Real time, kept (issue 29): the console acts in real time, never on a sandbox clock.
    std::thread::sleep(std::time::Duration::from_millis(2200));
    assert_eq!(
        c.get("/admin/users").location.as_deref(),
        Some("/admin/login")
    );
}

#[test]
fn every_page_has_security_headers_and_the_session_cookie_is_strict() {
    let server = TestServer::start();
    let c = AdminClient::new(&server);
    let login = c.get("/admin/login");
    let csp = &login.headers["content-security-policy"];
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(login.headers["x-frame-options"], "DENY");
    assert_eq!(login.headers["x-content-type-options"], "nosniff");
    assert_eq!(login.headers["cache-control"], "no-store");
    let cookie = login
        .set_cookies
        .iter()
        .find(|c| c.starts_with("tokend_login="))
        .unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let css = c.get("/admin/admin.css");
    assert_eq!(css.status, 200);
    assert!(css.headers["content-type"].starts_with("text/css"));
    let missing = c.get("/admin/nope");
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("There is no such page"));
    assert!(missing.headers.contains_key("content-security-policy"));
}

#[test]
fn users_are_created_searched_by_prefix_and_paged() {
    let (server, c) = server_with_admin();
    let token = c.get("/admin/users/new").csrf();
    for i in 0..55 {
        let page = c.post(
            "/admin/users",
            &[
                ("csrf", &token),
                ("usr_name", &format!("bank user {i:03}")),
                ("phone", ""),
            ],
        );
        assert_eq!(page.status, 303);
    }
    let with_phone = c.post(
        "/admin/users",
        &[
            ("csrf", &token),
            ("usr_name", "Jane Doe"),
            ("phone", "4175556652"),
        ],
    );
    assert_eq!(
        with_phone.location.as_deref(),
        Some("/admin/user?name=Jane%20Doe")
    );
    let detail = c.follow(&with_phone);
    assert!(detail.body.contains("User Jane Doe created"));
    assert!(detail.body.contains("******6652"));
    assert!(!detail.body.contains("4175556652"), "the phone is masked");
    let first = c.get("/admin/users?q=bank");
    assert_eq!(first.body.matches("/admin/user?name=bank").count(), 50);
    assert!(!first.body.contains("Jane Doe"));
    let next = first
        .body
        .split("after=")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let second = c.get(&format!("/admin/users?q=bank&after={next}"));
    assert_eq!(second.body.matches("/admin/user?name=bank").count(), 5);
    assert!(second.body.contains("bank user 054"));
    // Refusals come back as messages on the form, never a 500.
    for (name, phone, says) in [
        ("Jane Doe", "", "exists"),
        ("", "", "UsrName"),
        ("x", "12345", "10 digits"),
        (" padded", "", "surrounding spaces"),
    ] {
        let page = c.post(
            "/admin/users",
            &[("csrf", &token), ("usr_name", name), ("phone", phone)],
        );
        assert_eq!(page.location.as_deref(), Some("/admin/users/new"));
        let shown = c.follow(&page).body;
        assert!(shown.contains(says), "{name:?}: {shown}");
    }
    // An unknown user is a 404 page, as another institution's is (never told apart).
    let unknown = c.get(&format!("/admin/user?name={}", enc("No One")));
    assert_eq!(unknown.status, 404);
    let garbage = c.get("/admin/user?name=%00");
    assert_eq!(garbage.status, 303);
    drop(server);
}

#[test]
fn the_user_page_lists_bindings_with_their_state() {
    let (server, c) = server_with_admin();
    let (token, _seed, _step) = server.enroll_active("Jane Doe");
    let rs = server.validate("Jane Doe", "000000");
    assert_eq!(rs["RsStat"], "Failed");
    let page = c.get("/admin/user?name=Jane%20Doe");
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&token), "{}", page.body);
    assert!(page.body.contains("stat Act"));
    assert!(page.body.contains("SHA1, 6 digits, 30 s"));
    assert!(page.body.contains("<td>1</td>"), "one failure counted");
}

#[test]
fn the_cli_creates_admins_with_a_generated_or_given_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::support::cli(dir.path(), &[], &["admin", "create", "--username", "kari"]);
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(generated.len() >= 16);
    let dup = crate::support::cli(dir.path(), &[], &["admin", "create", "--username", "kari"]);
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("exists"));
    let bad = crate::support::cli(dir.path(), &[], &["admin", "create", "--username", "a b"]);
    assert!(!bad.status.success());
    let mut server = TestServer::start_in(dir.path(), &[]).unwrap();
    assert_eq!(server.first_admin_password, None, "an admin exists already");
    let c = AdminClient::new(&server);
    assert_eq!(
        c.sign_in("kari", &generated).location.as_deref(),
        Some("/admin/password"),
        "a generated password must be changed"
    );
    server.stop();
}

#[test]
fn a_password_change_ends_the_accounts_other_sessions() {
    let (server, here) = server_with_admin();
    let elsewhere = AdminClient::signed_in(&server, "ola", PASSWORD);
    assert_eq!(elsewhere.get("/admin/users").status, 200);
    let new_password = "a completely different passphrase";
    let changed = here.submit(
        "/admin/password",
        "/admin/password",
        &[
            ("current_password", PASSWORD),
            ("new_password", new_password),
            ("repeat_password", new_password),
        ],
    );
    assert_eq!(changed.location.as_deref(), Some("/admin/users"));
    assert_eq!(
        here.get("/admin/users").status,
        200,
        "the changing session goes on"
    );
    let stale = elsewhere.get("/admin/users");
    assert_eq!(
        (stale.status, stale.location.as_deref()),
        (303, Some("/admin/login")),
        "the other session ended with the old password"
    );
}
