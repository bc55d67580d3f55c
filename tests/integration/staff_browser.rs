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
        &json!({"UsrName": "alice", "PhoneNum": "5551234567"}),
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
