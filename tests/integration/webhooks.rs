//! Signed event webhooks (issue 29 item 3, first part): every "90040" delivery carries
//! the Standard Webhooks headers, verified here by that specification's own Python
//! library (`standardwebhooks`, installed by `.ci/run` from .ci/test-requirements.txt)
//! with the current secret and, during a rotation, the previous one; a tampered body
//! or timestamp is refused.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::api_oob::{two_way, verify, PHONE};
use crate::sink::{Mode, Sink};
use crate::support::TestServer;

const SECRET: &str = "whsec_dG9rZW5kLXdlYmhvb2stc2VjcmV0LTMyLWJ5dGVzIQ==";
const PREVIOUS: &str = "whsec_b2xkLXdlYmhvb2stc2VjcmV0LW9mLTMyLWJ5dGVzIQ==";

/// The venv's Python (.ci/run makes it), else `python3`; fails naming the package.
fn python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python");
    let python = if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    };
    let ok = Command::new(&python)
        .args(["-c", "import standardwebhooks"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the Python package standardwebhooks is missing: run .ci/run, which installs \
         .ci/test-requirements.txt into target/test-venv"
    );
    python
}

const VERIFY: &str = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
secret, headers, body = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3].encode()
try:
    Webhook(secret).verify(body, headers)
    print("verified")
except Exception as e:
    print("refused:", e)
    sys.exit(1)
"#;

/// Whether the library verifies `body` with `headers` under `secret`.
pub fn verifies(secret: &str, headers: &[(String, String)], body: &[u8]) -> bool {
    let headers: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .filter(|(k, _)| k.starts_with("webhook-"))
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let out = Command::new(python())
        .args([
            "-c",
            VERIFY,
            secret,
            &serde_json::Value::Object(headers).to_string(),
        ])
        .arg(String::from_utf8_lossy(body).as_ref())
        .output()
        .unwrap();
    out.status.success()
}

#[test]
fn deliveries_are_signed_to_the_standard_and_refused_once_tampered() {
    let hook = Sink::start(Mode::Ok);
    let url = format!("{}/events", hook.url);
    let env = [
        ("ROCKET_EVENT_WEBHOOK_URL", url.as_str()),
        ("ROCKET_EVENT_WEBHOOK_SECRET", SECRET),
        ("ROCKET_EVENT_WEBHOOK_SECRET_PREVIOUS", PREVIOUS),
    ];
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path(), &env).unwrap();
    let (id, otp) = two_way(&server, PHONE);
    assert_eq!(verify(&server, &id, &otp)["RsStat"], "Success");
    let got = hook.wait_until(20, |got| !got.is_empty());
    let delivery = &got[0];
    let header = |name: &str| {
        delivery
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert!(header("webhook-id").starts_with("evt_"));
    assert_eq!(
        header("webhook-signature").matches("v1,").count(),
        2,
        "both secrets sign"
    );
    // The reference library verifies with the new secret, and with the old one during
    // the rotation.
    assert!(verifies(SECRET, &delivery.headers, &delivery.raw));
    assert!(verifies(PREVIOUS, &delivery.headers, &delivery.raw));
    // A changed body, another secret, or a moved timestamp: refused.
    let tampered = String::from_utf8(delivery.raw.clone())
        .unwrap()
        .replace("Success", "Failed");
    assert!(!verifies(SECRET, &delivery.headers, tampered.as_bytes()));
    let other = "whsec_c29tZW9uZS1lbHNlcy1zZWNyZXQtMzItYnl0ZXM=";
    assert!(!verifies(other, &delivery.headers, &delivery.raw));
    let mut moved = delivery.headers.clone();
    for (k, v) in &mut moved {
        if k == "webhook-timestamp" {
            *v = (v.parse::<i64>().unwrap() + 1).to_string();
        }
    }
    assert!(!verifies(SECRET, &moved, &delivery.raw));
}

#[test]
fn a_malformed_secret_stops_the_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("ROCKET_EVENT_WEBHOOK_URL", "http://127.0.0.1:9/events"),
        ("ROCKET_EVENT_WEBHOOK_SECRET", "not-a-secret"),
    ];
    let err = TestServer::start_in(dir.path(), &env)
        .err()
        .expect("refused");
    assert!(err.contains("event_webhook_secret"), "{err}");
}

/// Issue 29: each attempt to the configured webhook is logged (attempt number, time,
/// HTTP status or error, duration) and shown on the console's Webhooks page, as the
/// managed endpoints' attempts are: a receiver failing then succeeding shows both.
#[test]
fn each_attempt_to_the_configured_webhook_is_logged_and_shown() {
    use crate::support::admin::{create_admin, AdminClient, PASSWORD};
    let hook = Sink::start(Mode::Status(503));
    let url = format!("{}/events", hook.url);
    let dir = tempfile::tempdir().unwrap();
    create_admin(dir.path(), "ola", PASSWORD);
    let server = TestServer::start_in(dir.path(), &[("ROCKET_EVENT_WEBHOOK_URL", &url)]).unwrap();
    let (id, otp) = two_way(&server, PHONE);
    assert_eq!(verify(&server, &id, &otp)["RsStat"], "Success");
    hook.wait_until(20, |got| !got.is_empty());
    hook.set_mode(Mode::Ok);
    hook.wait_until(20, |got| got.len() >= 2);
    let admin = AdminClient::signed_in(&server, "ola", PASSWORD);
    // The success is logged just after the receiver answered: poll the page briefly.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let page = loop {
        let page = admin.get("/admin/webhooks");
        if page.body.contains("HTTP 200") || std::time::Instant::now() > deadline {
            break page;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(page.status, 200);
    let body = &page.body;
    assert!(body.contains("The configured webhook"), "{body}");
    let rows = body.matches("class=\"configured-attempt\"").count();
    let received = hook.received().len();
    assert!(
        rows >= 2 && rows == received,
        "{rows} rows, {received} received: {body}"
    );
    // Newest first: the success (the last attempt) above the first failure (#1, 503).
    let ok = body.find("HTTP 200").unwrap();
    let failed = body.find("HTTP 503").expect("the failure is listed");
    assert!(ok < failed, "{body}");
    assert!(body.contains("<td>#1</td>") && body.contains(&format!("<td>#{rows}</td>")));
    assert!(body.contains(&id), "the event's AlrtPkgId is shown");
}
