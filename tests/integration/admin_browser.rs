//! End to end in a real headless Chromium: first sign-in with the one-time password,
//! the forced password change, create a user, enroll a software token, read the secret
//! from the page, compute a code, activate, then lock and unlock it. No JavaScript runs
//! (the console has none): the browser posts the forms itself.
//!
//! Screenshots of the main pages go to a temporary directory, or to `docs/screenshots/`
//! when `TOKEND_SCREENSHOTS=1` (how the README's pictures are made).

use std::path::PathBuf;

use crate::support::webdriver::Browser;
use crate::support::{b32, now_step, totp, TestServer};

fn screenshot_dir() -> (PathBuf, Option<tempfile::TempDir>) {
    if std::env::var("TOKEND_SCREENSHOTS").is_ok_and(|v| v == "1") {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        (dir, None)
    } else {
        let tmp = tempfile::tempdir().unwrap();
        (tmp.path().to_owned(), Some(tmp))
    }
}

#[test]
fn an_admin_enrolls_activates_locks_and_unlocks_a_token_in_a_real_browser() {
    let server = TestServer::start();
    let one_time = server.first_admin_password.clone().unwrap();
    let (shots, _keep) = screenshot_dir();
    let b = Browser::start();
    let base = &server.base;

    b.goto(&format!("{base}/admin/users"));
    b.wait_url("/admin/login");
    b.fill("input[name=username]", "admin");
    b.fill("input[name=password]", &one_time);
    b.screenshot(&shots.join("login.png"));
    b.click("button[type=submit]");
    b.wait_url("/admin/password");
    b.fill("input[name=current_password]", &one_time);
    b.fill("input[name=new_password]", "a long admin passphrase");
    b.fill("input[name=repeat_password]", "a long admin passphrase");
    b.click("main button[type=submit]");
    b.wait_text(".flash", "password is changed");

    b.goto(&format!("{base}/admin/users/new"));
    b.fill("input[name=usr_name]", "Jane Doe");
    b.fill("input[name=phone]", "4175556652");
    b.click("main button[type=submit]");
    b.wait_text(".flash", "User Jane Doe created");

    b.click("a[href^='/admin/enroll']");
    b.wait_url("/admin/enroll?name=Jane%20Doe");
    b.fill("input[name=description]", "Jane's phone");
    b.click("main button[type=submit]");
    let secret = b.wait_text("#secret", "");
    let token = b.text("#token-id");
    b.screenshot(&shots.join("enroll.png"));
    let seed = b32(&secret);
    b.fill(
        "input[name=code]",
        &totp(&seed, "SHA1", 6, now_step(30) - 1),
    );
    b.click("main form button[type=submit]");
    b.wait_text(".flash", &format!("Token {token} is active"));

    b.click("button[data-action=binding-Lock]");
    b.wait_text(".flash", "is now Lock");
    b.wait_text("span.stat.Lock", "Lock");
    let rs = server.validate("Jane Doe", &totp(&seed, "SHA1", 6, now_step(30)));
    assert_eq!(rs["RsStat"], "Locked");
    b.click("button[data-action=binding-Act]");
    b.wait_text(".flash", "is now Act");
    b.screenshot(&shots.join("user.png"));
    let rs = server.validate("Jane Doe", &totp(&seed, "SHA1", 6, now_step(30) + 1));
    assert_eq!(rs["RsStat"], "Success");

    for (path, shot) in [
        ("/admin/users", "users.png"),
        ("/admin/hardware", "hardware.png"),
        ("/admin/audit?user=Jane+Doe", "audit.png"),
        ("/admin/apikeys", "api-keys.png"),
        ("/admin/outbox", "outbox.png"),
        ("/admin/oob", "oob-sessions.png"),
        ("/admin/events", "oob-events.png"),
    ] {
        b.goto(&format!("{base}{path}"));
        b.wait_text("h1", "");
        b.screenshot(&shots.join(shot));
    }
    // The header fits one line at 1280 px: the nav is no taller than one of its links.
    let heights = b.script(
        "const n = document.querySelector('nav'); \
         return [n.getBoundingClientRect().height, \
                 n.querySelector('a').getBoundingClientRect().height];",
    );
    let (nav, link) = (heights[0].as_f64().unwrap(), heights[1].as_f64().unwrap());
    assert!(
        nav < link * 2.0,
        "the navigation wraps at 1280 px: {nav} vs {link}"
    );
    assert!(std::fs::metadata(shots.join("user.png")).unwrap().len() > 1000);
}
