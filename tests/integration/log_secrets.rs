//! No log level and no target filter prints a credential or a secret: the real binary at
//! `TOKEND_LOG=trace` (every target, every level) gets requests carrying probe API keys
//! and cookies, signs an admin in, enrolls and validates a token, and sends an OOB code
//! through the http SMS provider; then nothing of it may be found in what it printed.

use serde_json::json;
use std::time::{Duration, Instant};

use crate::sink::{Mode, Sink};
use crate::support::admin::{create_admin, AdminClient, PASSWORD};
use crate::support::{now_step, response, totp, TestServer};

const PROBE_KEY: &str = "probe-apikey-3b9d0c1e";
const PROBE_COOKIE: &str = "probe-cookie-77a1f0e2";
const SMS_TOKEN: &str = "probe-sms-token-5c2e";
const HOOK_TOKEN: &str = "probe-hook-token-9e1d";
const PHONE: &str = "4175550142";

/// The printed text without its timestamps (whose fractional seconds are a run of digits
/// that could match a code by chance), in text and JSON lines alike.
fn without_timestamps(text: &str) -> String {
    let stamp =
        regex::Regex::new(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
            .unwrap();
    stamp.replace_all(text, "<time>").into_owned()
}

/// Whether `code` appears as a whole run of digits (not inside a longer number).
fn has_digit_run(text: &str, code: &str) -> bool {
    text.split(|c: char| !c.is_ascii_digit())
        .any(|run| run == code)
}

/// Sends requests that carry probe credentials in `Authorization` and `Cookie`.
fn probe_requests(server: &TestServer) {
    let rs = ureq::get(&format!("{}/api/v1/tokens/X/qr.png", server.base))
        .set("Authorization", &format!("Bearer {PROBE_KEY}"))
        .set("Cookie", &format!("tokend_admin={PROBE_COOKIE}"))
        .call();
    assert_eq!(response(rs).status(), 401);
    let rs = ureq::get(&format!("{}/admin/users", server.base))
        .set(
            "Cookie",
            &format!("tokend_admin={PROBE_COOKIE}; tokend_login={PROBE_COOKIE}"),
        )
        .set("X-Api-Key", PROBE_KEY)
        .call();
    let _ = response(rs);
}

#[test]
fn no_credential_seed_code_or_phone_reaches_the_logs_at_trace() {
    probe_at_trace(None);
}

#[test]
fn no_credential_seed_code_or_phone_reaches_the_json_logs_at_trace() {
    probe_at_trace(Some("json"));
}

/// The whole probe (see the module doc), with text logs or `TOKEND_LOG_FORMAT`.
fn probe_at_trace(format: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    create_admin(dir.path(), "ola", PASSWORD);
    let sms = Sink::start(Mode::Ok);
    let hook = Sink::start(Mode::Ok);
    let (sms_url, hook_url) = (format!("{}/sms", sms.url), format!("{}/events", hook.url));
    let env = [
        ("TOKEND_LOG", "trace"),
        ("ROCKET_SMS_PROVIDER", "http"),
        ("ROCKET_SMS_HTTP_URL", sms_url.as_str()),
        ("ROCKET_SMS_HTTP_TOKEN", SMS_TOKEN),
        ("ROCKET_SMS_ANSWER_WAIT_MS", "10000"),
        ("ROCKET_EVENT_WEBHOOK_URL", hook_url.as_str()),
        ("ROCKET_EVENT_WEBHOOK_TOKEN", HOOK_TOKEN),
    ];
    let mut env = env.to_vec();
    env.extend(format.map(|f| ("TOKEND_LOG_FORMAT", f)));
    let mut server = TestServer::start_in(dir.path(), &env).unwrap();
    let logs = server.drain_stderr();

    probe_requests(&server);
    let admin = AdminClient::signed_in(&server, "ola", PASSWORD);
    let home = admin.get("/admin/users");
    assert_eq!(home.status, 200, "{}", home.body);

    let (secret, seed, code) = enroll_and_validate(&server);
    let otp = oob_round_trip(&server, &sms, &hook);
    let session_cookie = admin_session_cookie(&server);
    server.stop();
    let printed = settle(&logs) + &server.stdout.lock().unwrap();
    assert!(
        printed.contains("TRACE"),
        "the server did log at trace:\n{printed}"
    );
    assert!(printed.contains("tokend::access"), "{printed}");

    let text = without_timestamps(&printed);
    let seed_hex = hex::encode(&seed);
    for (what, secret) in [
        ("probe API key", PROBE_KEY),
        ("probe cookie", PROBE_COOKIE),
        ("API key", server.key.as_str()),
        ("admin session cookie", session_cookie.as_str()),
        ("admin password", PASSWORD),
        ("seed (base32)", secret.as_str()),
        ("seed (hex)", seed_hex.as_str()),
        ("full phone number", PHONE),
        ("SMS provider token", SMS_TOKEN),
        ("webhook token", HOOK_TOKEN),
    ] {
        assert!(
            !text.contains(secret),
            "the {what} is in the logs:\n{printed}"
        );
    }
    for (what, c) in [("TOTP code", &code), ("OOB code", &otp)] {
        assert!(
            !has_digit_run(&text, c),
            "the {what} {c} is in the logs:\n{printed}"
        );
    }
}

/// Enrolls a token with a phone, activates and validates it; answers the Secret (base32),
/// the seed and the code validated.
fn enroll_and_validate(server: &TestServer) -> (String, Vec<u8>, String) {
    let (status, rs) = server.post(
        "/api/v1/tokens",
        &json!({"UsrName": "pia", "TokenType": "Software", "PhoneNum": PHONE}),
    );
    assert_eq!(status, 200, "{rs}");
    let secret = rs["Secret"].as_str().unwrap().to_owned();
    let token = rs["TokenId"].as_str().unwrap().to_owned();
    let seed = crate::support::b32(&secret);
    let step = now_step(30) - 1;
    server.activate(&token, &seed, step);
    let code = totp(&seed, "SHA1", 6, step + 1);
    assert_eq!(server.validate("pia", &code)["RsStat"], "Success");
    (secret, seed, code)
}

/// Sends an OOB code through the http provider, verifies it and waits for its event at
/// the webhook; answers the code.
fn oob_round_trip(server: &TestServer, sms: &Sink, hook: &Sink) -> String {
    let (status, rs) = server.post(
        "/api/v1/oob",
        &json!({"PhoneNum": PHONE, "OOBModeType": "TwoWay", "UsrName": "pia"}),
    );
    assert_eq!(
        (status, rs["SendStat"].as_str()),
        (200, Some("Sent")),
        "{rs}"
    );
    let otp = rs["OTP"].as_str().unwrap().to_owned();
    let alrt = rs["AlrtPkgId"].as_str().unwrap().to_owned();
    assert!(sms.received()[0].body["body"]
        .as_str()
        .unwrap()
        .contains(&otp));
    let (_, rs) = server.post(&format!("/api/v1/oob/{alrt}/verify"), &json!({"OTP": otp}));
    assert_eq!(rs["RsStat"], "Success", "{rs}");
    hook.wait_until(20, |got| !got.is_empty());
    otp
}

/// Signs in once more; answers the session cookie's value (sent back once, so that it
/// travels in a `Cookie` header as well as in `Set-Cookie`).
fn admin_session_cookie(server: &TestServer) -> String {
    let fresh = AdminClient::new(server);
    let login = fresh.get("/admin/login");
    let page = fresh.post(
        "/admin/login",
        &[
            ("csrf", &login.csrf()),
            ("username", "ola"),
            ("password", PASSWORD),
        ],
    );
    let line = page
        .set_cookies
        .iter()
        .find(|c| c.starts_with("tokend_admin="))
        .unwrap_or_else(|| panic!("no session cookie: {:?}", page.set_cookies))
        .clone();
    let value = line.split(';').next().unwrap()["tokend_admin=".len()..].to_owned();
    assert_eq!(fresh.get("/admin/users").status, 200);
    value
}

/// The drained logs once the pipe is closed (the drain thread has read everything).
fn settle(logs: &std::sync::Arc<std::sync::Mutex<String>>) -> String {
    let end = Instant::now() + Duration::from_secs(5);
    let mut last = usize::MAX;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let len = logs.lock().unwrap().len();
        if len == last || Instant::now() > end {
            return logs.lock().unwrap().clone();
        }
        last = len;
    }
}
