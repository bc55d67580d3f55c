//! Dual control in a real headless Chromium: an officer asks for a phone change (with a
//! reason), it waits on the approvals page, and another officer approves it there.

use serde_json::json;

use crate::phones_browser::screenshot_dir;
use crate::support::admin::PASSWORD;
use crate::support::webdriver::Browser;
use crate::support::{cli_input, TestServer};

fn sign_in(b: &Browser, server: &TestServer, who: &str) {
    b.goto(&format!("{}/admin/login", server.base));
    b.fill("input[name=username]", who);
    b.fill("input[name=password]", PASSWORD);
    b.click("button[type=submit]");
    b.wait_text(".flash", "Signed in");
}

#[test]
fn an_officer_asks_for_a_phone_change_and_another_approves_it_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    for who in ["maker", "checker"] {
        let out = cli_input(
            dir.path(),
            &[
                "admin",
                "create",
                "--username",
                who,
                "--password-stdin",
                "--role",
                "officer",
            ],
            format!("{PASSWORD}\n").as_bytes(),
        );
        assert!(out.status.success(), "{out:?}");
    }
    let dual = r#"["phone.change","token.delete"]"#;
    let mut server =
        TestServer::start_in(dir.path(), &[("ROCKET_DUAL_CONTROL", dual)]).expect("starts");
    server.keep_dir(dir);
    let (status, rs) = server.post(
        "/api/v1/users",
        &json!({"UsrName": "alice", "PhoneNum": "5552234567"}),
    );
    assert_eq!(status, 200, "{rs}");
    let (shots, _keep) = screenshot_dir();
    let b = Browser::start();
    sign_in(&b, &server, "maker");
    b.goto(&format!("{}/admin/user?name=alice", server.base));
    b.click("#change-phone");
    b.fill("#new-phone", "5559876543");
    b.fill(
        "input[name=reason]",
        "customer called from the number on file",
    );
    b.click("#confirmed");
    b.click("#confirm-phone");
    b.wait_text(".flash", "Request #1 is filed");
    assert!(
        b.source().contains("******4567"),
        "unchanged until approved"
    );
    b.click("header form[action='/admin/logout'] button");
    sign_in(&b, &server, "checker");
    b.goto(&format!("{}/admin/approvals", server.base));
    b.wait_text("#approval-1", "phone.change");
    b.screenshot(&shots.join("approvals.png"));
    b.click("#approve-1");
    b.wait_text(".flash", "Phone changed to ******6543");
    b.wait_text("#approval-1 .state", "approved");
}

/// The secret of the `otpauth://` URI `tokend admin create --enroll-totp` printed.
fn secret_of(out: &[u8]) -> String {
    let text = String::from_utf8_lossy(out);
    let uri = text.lines().last().unwrap().to_owned();
    uri.split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn a_staff_member_signs_in_with_totp_registers_a_passkey_and_signs_in_with_it_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli_input(
        dir.path(),
        &[
            "admin",
            "create",
            "--username",
            "kari",
            "--password-stdin",
            "--enroll-totp",
        ],
        format!("{PASSWORD}\n").as_bytes(),
    );
    assert!(out.status.success(), "{out:?}");
    let secret = secret_of(&out.stdout);
    let mut server =
        TestServer::start_in(dir.path(), &[("ROCKET_CONSOLE_MFA", "required")]).expect("starts");
    server.keep_dir(dir);
    // Passkeys need a domain name: the console as staff would type it, on localhost.
    let base = server.base.replace("127.0.0.1", "localhost");
    let (shots, _keep) = screenshot_dir();
    let b = Browser::start();
    let password_step = |b: &Browser| {
        b.goto(&format!("{base}/admin/login"));
        b.fill("input[name=username]", "kari");
        b.fill("input[name=password]", PASSWORD);
        b.click("button[type=submit]");
        b.wait_url("/admin/factor");
    };
    password_step(&b);
    let code = crate::support::totp(
        &crate::support::b32(&secret),
        "SHA1",
        6,
        crate::support::now_step(30),
    );
    b.fill("#code", &code);
    b.click("#verify");
    b.wait_text(".flash", "Signed in");
    b.goto(&format!("{base}/admin/passkeys"));
    b.add_virtual_authenticator();
    b.fill("#passkey-name", "office key");
    b.click("#add-passkey");
    b.wait_text("#passkeys", "office key");
    b.click("header form[action='/admin/logout'] button");
    password_step(&b);
    b.wait_text("#use-passkey", "passkey");
    b.screenshot(&shots.join("factor.png"));
    b.click("#use-passkey");
    b.wait_url("/admin/users");
    b.goto(&format!("{base}/admin/passkeys"));
    let used = b.text("#passkeys");
    assert!(used.contains("office key"), "{used}");
}
