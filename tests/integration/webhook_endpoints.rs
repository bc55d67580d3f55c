//! Webhook endpoints managed by tokend (issue 29 item 3) over the real binary: an
//! endpoint added with `tokend webhook add` gets every event signed with its own secret,
//! verified by the Standard Webhooks Python library and refused once tampered; a rotated
//! secret signs beside the old one only during its grace; a failing receiver is retried
//! with every attempt logged; the console lists deliveries and resends one (officer and
//! up; an auditor reads but cannot resend).

use std::path::Path;

use crate::api_oob::{two_way, verify, PHONE};
use crate::sink::{Mode, Received, Sink};
use crate::support::admin::{create_admin, AdminClient, PASSWORD};
use crate::support::{cli, cli_input, TestServer};
use crate::webhooks::verifies;

/// Runs `tokend webhook …` and answers its stdout (it must succeed).
fn webhook(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["webhook"];
    all.extend_from_slice(args);
    let out = cli(dir, &[], &all);
    assert!(
        out.status.success(),
        "webhook {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// One header of a received request.
fn header(r: &Received, name: &str) -> String {
    r.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// Ends one OOB session with Success, so one "90040" event is made.
fn one_event(server: &TestServer) {
    let (id, otp) = two_way(server, PHONE);
    assert_eq!(verify(server, &id, &otp)["RsStat"], "Success");
}

/// A server on a fresh data directory with an admin (all institutions) and an auditor.
fn server() -> (TestServer, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    create_admin(dir.path(), "ola", PASSWORD);
    let out = cli_input(
        dir.path(),
        &[
            "admin",
            "create",
            "--username",
            "aud",
            "--password-stdin",
            "--role",
            "auditor",
        ],
        format!("{PASSWORD}\n").as_bytes(),
    );
    assert!(out.status.success());
    let path = dir.path().to_owned();
    let mut server = TestServer::start_in(dir.path(), &[]).expect("server starts");
    server.keep_dir(dir);
    (server, path)
}

#[test]
fn an_endpoint_added_by_the_cli_gets_events_the_standard_library_verifies() {
    let (server, dir) = server();
    let hook = Sink::start(Mode::Ok);
    let url = format!("{}/hook", hook.url);
    let secret = webhook(&dir, &["add", "--url", &url]);
    assert!(secret.starts_with("whsec_"), "{secret}");
    let listed = webhook(&dir, &["list"]);
    assert!(
        listed.contains(&url) && listed.contains("(all)"),
        "{listed}"
    );
    assert!(
        !listed.contains(&secret),
        "the secret is shown once: {listed}"
    );

    one_event(&server);
    let got = hook.wait_until(20, |got| !got.is_empty());
    let d = got.first().expect("delivered");
    assert_eq!(d.path, "/hook");
    assert!(header(d, "webhook-id").starts_with("evt_"));
    assert_eq!(d.body["RsStat"], "Success");
    assert!(verifies(&secret, &d.headers, &d.raw));
    // Tampered: another body, a moved timestamp, another endpoint's secret.
    let tampered = String::from_utf8(d.raw.clone())
        .unwrap()
        .replace("Success", "Expired");
    assert!(!verifies(&secret, &d.headers, tampered.as_bytes()));
    let mut moved = d.headers.clone();
    for (k, v) in &mut moved {
        if k == "webhook-timestamp" {
            *v = (v.parse::<i64>().unwrap() - 1).to_string();
        }
    }
    assert!(!verifies(&secret, &moved, &d.raw));
    let other = webhook(&dir, &["add", "--url", &url]);
    assert!(!verifies(&other, &d.headers, &d.raw));

    // The secret is sealed at rest: its bytes are nowhere in the database files.
    let raw = base64_decode(secret.trim_start_matches("whsec_"));
    for file in crate::support::database_files(&dir) {
        assert!(!file.windows(raw.len()).any(|w| w == raw.as_slice()));
    }
    // A removed endpoint gets nothing more.
    webhook(&dir, &["remove", "--id", "1"]);
    webhook(&dir, &["remove", "--id", "2"]);
    one_event(&server);
    // Real time, kept (issue 29): a quiet second from the background sender proves it sends
    // nothing more.
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(
        hook.received().len(),
        1,
        "the one event before, none after removal"
    );
}

fn base64_decode(b64: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

#[test]
fn a_rotated_secret_signs_beside_the_old_one_only_during_the_grace() {
    let (server, dir) = server();
    let hook = Sink::start(Mode::Ok);
    let old = webhook(&dir, &["add", "--url", &hook.url]);
    let new = webhook(
        &dir,
        &["secret", "rotate", "--id", "1", "--grace-secs", "3"],
    );
    assert!(new.starts_with("whsec_") && new != old);

    one_event(&server);
    let got = hook.wait_until(20, |got| !got.is_empty());
    let during = &got[0];
    assert_eq!(
        header(during, "webhook-signature").matches("v1,").count(),
        2
    );
    assert!(verifies(&new, &during.headers, &during.raw));
    assert!(verifies(&old, &during.headers, &during.raw));

    // Real time, kept (issue 29): the sender signs at the real time (receivers refuse a
    // timestamp 5 min off), so the rotation's grace runs on it.
    std::thread::sleep(std::time::Duration::from_secs(4));
    one_event(&server);
    let got = hook.wait_until(20, |got| got.len() >= 2);
    let after = &got[1];
    assert_eq!(header(after, "webhook-signature").matches("v1,").count(), 1);
    assert!(verifies(&new, &after.headers, &after.raw));
    assert!(
        !verifies(&old, &after.headers, &after.raw),
        "the grace ended"
    );

    let out = cli(&dir, &[], &["webhook", "secret", "rotate", "--id", "9"]);
    assert!(!out.status.success() && out.stdout.is_empty());
    let out = cli(
        &dir,
        &[],
        &[
            "webhook",
            "secret",
            "rotate",
            "--id",
            "1",
            "--grace-secs=9999999",
        ],
    );
    assert!(
        !out.status.success() && out.stdout.is_empty(),
        "over 30 days"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("grace-secs"));
    let out = cli(
        &dir,
        &[],
        &[
            "webhook",
            "add",
            "--url",
            "http://consumer.example.com/hook",
        ],
    );
    assert!(!out.status.success(), "plaintext off loopback is refused");
}

#[test]
fn a_failing_receiver_is_retried_each_attempt_logged_and_the_console_resends() {
    let (mut server, dir) = server();
    let logs = server.drain_stderr();
    let hook = Sink::start(Mode::Status(503));
    webhook(&dir, &["add", "--url", &hook.url]);
    one_event(&server);
    hook.wait_until(20, |got| got.len() >= 2);
    hook.set_mode(Mode::Ok);
    let admin = AdminClient::signed_in(&server, "ola", PASSWORD);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let page = loop {
        let page = admin.get("/admin/webhooks");
        if page.body.contains(">delivered<") || std::time::Instant::now() > deadline {
            break page;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(page.status, 200, "{}", logs.lock().unwrap());
    assert!(page.body.contains(">delivered<"), "{}", page.body);
    assert!(page.body.contains("#1 ") && page.body.contains("HTTP 503"));
    assert!(page.body.contains("HTTP 200"), "{}", page.body);
    let first = hook.received();
    let id = header(&first[0], "webhook-id");
    assert!(first.iter().all(|r| header(r, "webhook-id") == id));

    // An auditor reads the page but may not resend (403, nothing sent).
    let auditor = AdminClient::signed_in(&server, "aud", PASSWORD);
    let seen = auditor.get("/admin/webhooks");
    assert_eq!(seen.status, 200);
    assert!(!seen.body.contains(">Resend<"));
    let denied = auditor.post(
        "/admin/webhooks/resend",
        &[("csrf", &seen.csrf()), ("id", "1")],
    );
    assert_eq!(denied.status, 403, "{}", denied.body);
    // Without the CSRF token: refused.
    let forged = admin.post("/admin/webhooks/resend", &[("id", "1")]);
    assert_eq!(forged.status, 403);
    // A malformed id: a 4xx page, never a 500.
    let bad = admin.submit("/admin/webhooks", "/admin/webhooks/resend", &[("id", "x")]);
    assert!((400..500).contains(&bad.status), "{}", bad.status);
    let before = hook.received().len();

    // The officer's Resend: the same webhook-id, a new attempt logged, audited.
    let done = admin.submit("/admin/webhooks", "/admin/webhooks/resend", &[("id", "1")]);
    assert_eq!(done.status, 303, "{}", done.body);
    let got = hook.wait_until(20, |got| got.len() > before);
    let resent = got.last().unwrap();
    assert_eq!(header(resent, "webhook-id"), id);
    let page = admin.get("/admin/webhooks");
    let last = got.len();
    assert!(page.body.contains(&format!("#{last} ")), "{}", page.body);
    let audit = admin.get("/admin/audit?action=webhook.resend").body;
    assert!(audit.contains("webhook.resend"), "{audit}");
    let gone = admin.submit("/admin/webhooks", "/admin/webhooks/resend", &[("id", "77")]);
    assert_eq!(gone.status, 303);
    assert!(admin.follow(&gone).body.contains("is not a delivery here"));
}

/// The sealed secret of endpoint `id`, straight from the database.
fn sealed_secret(dir: &Path, id: i32) -> Vec<u8> {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Binary)]
        secret_sealed: Vec<u8>,
    }
    diesel::sql_query(format!(
        "SELECT secret_sealed FROM webhook_endpoints WHERE id = {id}"
    ))
    .get_result::<Row>(&mut crate::support::database(dir))
    .unwrap()
    .secret_sealed
}

#[test]
fn rekey_reseals_endpoint_secrets_so_the_old_key_can_go() {
    let (server, dir) = server();
    let hook = Sink::start(Mode::Ok);
    let secret = webhook(&dir, &["add", "--url", &hook.url]);
    let before = sealed_secret(&dir, 1);
    let out = cli(&dir, &[], &["rekey"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = sealed_secret(&dir, 1);
    // A sealed value starts with its key id (length, then the id): another key now.
    let key_id = |b: &[u8]| b[1..=usize::from(b[0])].to_vec();
    assert_ne!(
        key_id(&before),
        key_id(&after),
        "resealed under the new key"
    );
    one_event(&server);
    let got = hook.wait_until(20, |got| !got.is_empty());
    assert!(
        verifies(&secret, &got[0].headers, &got[0].raw),
        "the same secret"
    );
}

#[test]
fn an_officer_resends_a_delivery_in_a_real_browser() {
    let (server, dir) = server();
    let hook = Sink::start(Mode::Ok);
    webhook(&dir, &["add", "--url", &hook.url]);
    one_event(&server);
    hook.wait_until(20, |got| !got.is_empty());
    let b = crate::support::webdriver::Browser::start();
    b.goto(&format!("{}/admin/login", server.base));
    b.fill("input[name=username]", "ola");
    b.fill("input[name=password]", PASSWORD);
    b.click("button[type=submit]");
    b.wait_text(".flash", "Signed in");
    b.goto(&format!("{}/admin/webhooks", server.base));
    b.wait_text("#delivery-1 .stat", "delivered");
    b.click("#resend-1");
    b.wait_text(".flash", "queued again");
    let got = hook.wait_until(20, |got| got.len() >= 2);
    assert_eq!(header(&got[1], "webhook-id"), header(&got[0], "webhook-id"));
}

#[test]
fn staff_of_another_institution_neither_see_nor_resend_its_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli_input(
        dir.path(),
        &[
            "admin",
            "create",
            "--username",
            "bofficer",
            "--password-stdin",
            "--role",
            "officer",
            "--inst-rt-id",
            "021000021",
        ],
        format!("{PASSWORD}\n").as_bytes(),
    );
    assert!(out.status.success());
    let mut server = TestServer::start_in(dir.path(), &[]).expect("server starts");
    let hook = Sink::start(Mode::Ok);
    webhook(dir.path(), &["add", "--url", &hook.url]);
    // An endpoint for the other institution only gets none of the default's events.
    let other = Sink::start(Mode::Ok);
    webhook(
        dir.path(),
        &["add", "--url", &other.url, "--inst-rt-id", "021000021"],
    );
    one_event(&server);
    hook.wait_until(20, |got| !got.is_empty());
    let b = AdminClient::signed_in(&server, "bofficer", PASSWORD);
    let page = b.get("/admin/webhooks");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("No delivery yet"), "{}", page.body);
    let rs = b.submit("/admin/webhooks", "/admin/webhooks/resend", &[("id", "1")]);
    assert!(b.follow(&rs).body.contains("is not a delivery here"));
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(hook.received().len(), 1, "not resent");
    assert!(
        other.received().is_empty(),
        "another institution's endpoint"
    );
    server.keep_dir(dir);
}
