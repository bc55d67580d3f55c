//! What operations watch: `/health` (database, migrations, clock) and `/metrics`.

use crate::support::{tamper, totp, wrong_code, TestServer};

fn get_text(server: &TestServer, path: &str) -> (u16, String) {
    let (status, _, _, body) = server.get(path);
    (status, String::from_utf8(body).unwrap())
}

/// The value of one sample line (`name{labels} value`), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn metrics_count_validations_locks_and_requests_per_route() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path(), &[("ROCKET_LOCK_AFTER_FAILURES", "2")]).unwrap();
    let (_, seed, step) = server.enroll_active("mia");
    assert_eq!(
        server.validate("mia", &totp(&seed, "SHA1", 6, step + 1))["RsStat"],
        "Success"
    );
    let bad = wrong_code(&seed);
    assert_eq!(server.validate("mia", &bad)["RsStat"], "Failed");
    assert_eq!(server.validate("mia", &bad)["RsStat"], "Locked");

    // On PostgreSQL the elected linker links rows a moment after their commit.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let (status, text) = loop {
        let (status, text) = get_text(&server, "/metrics");
        if sample(&text, "tokend_audit_unlinked_rows") == Some(0.0)
            || std::time::Instant::now() > deadline
        {
            break (status, text);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(status, 200, "{text}");
    let expect = |series: &str, value: f64| {
        assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
    };
    expect(r#"tokend_validations_total{result="Success"}"#, 1.0);
    expect(r#"tokend_validations_total{result="Failed"}"#, 1.0);
    expect(r#"tokend_validations_total{result="Locked"}"#, 1.0);
    expect("tokend_locked_bindings", 1.0);
    expect("tokend_event_backlog", 0.0);
    expect("tokend_audit_unlinked_rows", 0.0);
    expect(
        r#"tokend_http_requests_total{route="validate",method="POST",status="200"}"#,
        3.0,
    );
    expect(
        r#"tokend_http_request_duration_seconds_count{route="validate"}"#,
        3.0,
    );
    assert!(sample(&text, r#"tokend_db_pool_connections{state="idle"}"#).is_some());
    assert!(
        !text.contains("mia") && !text.contains(&bad),
        "no user, no code"
    );
}

#[test]
fn health_names_a_clock_behind_the_trail() {
    let mut server = TestServer::start();
    let (status, _, _, body) = server.get("/health");
    let health: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 200, "{health}");
    for part in ["Status", "Database", "Migrations", "Clock"] {
        assert_eq!(health[part], "ok", "{health}");
    }
    server.enroll("leo");
    server.stop();
    // The trail says something happened tomorrow: this machine's clock is a day behind.
    let tomorrow = (chrono::Utc::now().timestamp_millis() + 86_400_000).to_string();
    tamper(
        &server.data_dir,
        &format!("UPDATE audit_events SET at = {tomorrow}"),
    );
    let server = TestServer::start_in(&server.data_dir, &[]).unwrap();
    let (status, _, _, body) = server.get("/health");
    let health: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["Clock"], "unavailable", "{health}");
    assert_eq!(health["Database"], "ok", "{health}");
}

#[test]
fn json_access_logs_carry_the_tracking_id_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(
        dir.path(),
        &[
            ("TOKEND_LOG", "info,rocket=warn"),
            ("TOKEND_LOG_FORMAT", "json"),
        ],
    )
    .unwrap();
    let (_, seed, step) = server.enroll_active("eve");
    let code = totp(&seed, "SHA1", 6, step + 1);
    let (status, rs) = server.post(
        "/api/v1/validate",
        &serde_json::json!({
            "MsgRqHdr": {"jXchangeHdr": {"jXLogTrackingId": "T-LOG-1"}},
            "UsrName": "eve",
            "Code": code,
        }),
    );
    assert_eq!(
        (status, rs["RsStat"].as_str()),
        (200, Some("Success")),
        "{rs}"
    );
    let key = server.key.clone();
    let logs = server.stop_and_logs();
    let access: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|l: &serde_json::Value| l["target"] == "tokend::access")
        .collect();
    let line = access
        .iter()
        .find(|l| l["jXLogTrackingId"] == "T-LOG-1")
        .unwrap_or_else(|| panic!("no access line for T-LOG-1 in\n{logs}"));
    assert_eq!(line["route"], "validate", "{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert_eq!(line["method"], "POST", "{line}");
    assert!(access.len() >= 3, "enroll, activate, validate: {logs}");
    assert!(
        !logs.contains(&code) && !logs.contains(&key),
        "no code, no key in logs"
    );
}

#[test]
fn sigterm_lets_a_request_in_flight_finish_before_exiting() {
    use crate::sink::{Mode, Sink};
    use std::time::{Duration, Instant};
    let sink = Sink::start(Mode::Hang);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/sms", sink.url);
    let server = TestServer::start_in(
        dir.path(),
        &[
            ("ROCKET_SMS_PROVIDER", "http"),
            ("ROCKET_SMS_HTTP_URL", url.as_str()),
            ("ROCKET_SMS_HTTP_TIMEOUT_MS", "5000"),
            // The OOB call waits this long for the (hanging) provider: a slow request.
            ("ROCKET_SMS_ANSWER_WAIT_MS", "1500"),
        ],
    )
    .unwrap();
    let (base, key) = (server.base.clone(), server.key.clone());
    let in_flight = std::thread::spawn(move || {
        let rs = ureq::post(&format!("{base}/api/v1/oob"))
            .set("Authorization", &format!("Bearer {key}"))
            .send_string(r#"{"PhoneNum": "4175550142"}"#);
        crate::support::json_of(rs)
    });
    sink.wait_until(10, |got| !got.is_empty()); // the request is now waiting on the provider
    let t0 = Instant::now();
    let pid = server.pid().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let (status, rs) = in_flight.join().unwrap();
    assert_eq!(
        (status, rs["SendStat"].as_str()),
        (200, Some("Pending")),
        "{rs}"
    );
    let mut server = server;
    let exit = server.wait_exit(Duration::from_secs(20));
    assert!(exit.is_some_and(|s| s.success()), "{exit:?}");
    assert!(t0.elapsed() < Duration::from_secs(20));
}

/// What the server printed on stdout, once `needle` is among it (the line after the
/// listening line may still be on its way).
fn printed_once(server: &testkit::Server, needle: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let printed = server.stdout.lock().unwrap().clone();
        if printed.contains(needle) || std::time::Instant::now() > deadline {
            assert!(printed.contains(needle), "{needle:?} not in {printed}");
            return printed;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The release binary alone is a deployment: started from a directory with no
/// `templates/` (nor `Rocket.toml`), the console renders from the embedded templates, as
/// HTML, escaped.
#[test]
fn the_binary_serves_the_console_from_any_directory() {
    let elsewhere = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let kit = testkit::Tokend::new(env!("CARGO_BIN_EXE_tokend"), elsewhere.path());
    let server = kit
        .start(data.path(), &[])
        .expect("starts outside the repository");
    let rs = ureq::get(&format!("{}/admin/login", server.base))
        .call()
        .unwrap();
    assert_eq!(rs.status(), 200);
    assert!(
        rs.content_type().starts_with("text/html"),
        "{}",
        rs.content_type()
    );
    let body = rs.into_string().unwrap();
    assert!(body.contains("name=\"password\""), "{body}");
    // The first start says what to do next; a signed-out visit is routine, not a warning.
    let printed = printed_once(&server, "tokend console: http://127.0.0.1:");
    assert!(
        printed.contains("tokend next: ") && printed.contains("apikey create"),
        "{printed}"
    );
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let _ = agent.get(&format!("{}/admin/users", server.base)).call();
    let mut server = server;
    let logs = server.stop_and_logs();
    assert!(
        !logs
            .lines()
            .any(|l| l.contains("WARN") && l.to_lowercase().contains("guard")),
        "{logs}"
    );
    assert!(!logs.contains("Rocket has launched"), "{logs}");
    let again = kit.start(data.path(), &[]).unwrap();
    let printed = printed_once(&again, "tokend console: ");
    assert!(
        !printed.contains("tokend next: "),
        "only the first start: {printed}"
    );
    // A template_dir that does not exist is a configuration error, said at start.
    let missing = [("ROCKET_TEMPLATE_DIR", "/nonexistent/templates")];
    let other = tempfile::tempdir().unwrap();
    let err = kit.start(other.path(), &missing).err();
    assert!(
        err.is_some_and(|e| e.contains("templates")),
        "refused at start"
    );
}
