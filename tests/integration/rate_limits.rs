//! Rate limits on validate and OOB calls: per API key, per user, and failed validations
//! per key across users (guess spraying). Past a limit: 429, fault 7060, Retry-After.

use serde_json::{json, Value};
use std::time::Duration;

use crate::support::{create_key, wrong_code, TestServer};

/// POSTs a validation with `key`: status, Retry-After, body.
fn validate_as(server: &TestServer, key: &str, usr: &str, code: &str) -> (u16, Option<u64>, Value) {
    let rs = ureq::post(&format!("{}/api/v1/validate", server.base))
        .set("Authorization", &format!("Bearer {key}"))
        .send_string(&json!({"UsrName": usr, "Code": code}).to_string());
    let rs = match rs {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let status = rs.status();
    let retry = rs.header("Retry-After").and_then(|v| v.parse().ok());
    let body: Value = serde_json::from_str(&rs.into_string().unwrap()).unwrap();
    (status, retry, body)
}

fn assert_limited(answer: &(u16, Option<u64>, Value)) {
    let (status, retry, body) = answer;
    assert_eq!(*status, 429, "{body}");
    assert_eq!(
        body["MsgRsHdr"]["MsgRecInfoArray"][0]["ErrCode"], "7060",
        "{body}"
    );
    assert!(retry.is_some_and(|s| s >= 1), "Retry-After: {retry:?}");
}

fn server_with(env: &[(&str, &str)]) -> (tempfile::TempDir, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path(), env).unwrap();
    (dir, server)
}

#[test]
fn a_user_past_the_per_user_limit_waits_whatever_the_key() {
    let (_dir, server) = server_with(&[
        ("ROCKET_RATE_USER_PER_MIN", "3"),
        ("ROCKET_LOCK_AFTER_FAILURES", "100"),
    ]);
    let (_, seed, _) = server.enroll_active("ivy");
    server.enroll_active("jon");
    let bad = wrong_code(&seed);
    for _ in 0..3 {
        assert_eq!(validate_as(&server, &server.key, "ivy", &bad).0, 200);
    }
    assert_limited(&validate_as(&server, &server.key, "ivy", &bad));
    let other_key = create_key(&server.data_dir, "second", "validate");
    assert_limited(&validate_as(&server, &other_key, "ivy", &bad));
    assert_eq!(
        validate_as(&server, &server.key, "jon", &bad).0,
        200,
        "another user"
    );
    // The same UsrName in another institution is another user, with its own budget.
    let bank = create_key_in(&server, "bank-a", "011000015");
    let (status, rs) = server.post_as(
        &bank,
        "/api/v1/tokens",
        &json!({"UsrName": "ivy", "TokenType": "Software"}),
    );
    assert_eq!(status, 200, "{rs}");
    assert_eq!(validate_as(&server, &bank, "ivy", &bad).0, 200);
}

/// A key bound to one institution, with the validate and manage scopes.
fn create_key_in(server: &TestServer, name: &str, inst: &str) -> String {
    let out = crate::support::cli(
        &server.data_dir,
        &[],
        &[
            "apikey",
            "create",
            "--name",
            name,
            "--scope",
            "manage,validate",
            "--inst-rt-id",
            inst,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn a_key_spraying_wrong_codes_over_many_users_is_stopped() {
    let (_dir, server) = server_with(&[("ROCKET_RATE_KEY_FAILURES_PER_MIN", "4")]);
    let mut users = Vec::new();
    for i in 0..6 {
        let usr = format!("u{i}");
        let (_, seed, _) = server.enroll_active(&usr);
        users.push((usr, wrong_code(&seed)));
    }
    // One wrong code per user: no user ever reaches its lock.
    for (usr, bad) in &users[..5] {
        let (status, _, body) = validate_as(&server, &server.key, usr, bad);
        assert_eq!(
            (status, body["RsStat"].as_str()),
            (200, Some("Failed")),
            "{body}"
        );
    }
    let (usr, bad) = &users[5];
    assert_limited(&validate_as(&server, &server.key, usr, bad));
    let other_key = create_key(&server.data_dir, "honest", "validate");
    assert_eq!(
        validate_as(&server, &other_key, usr, bad).0,
        200,
        "only that key"
    );
}

#[test]
fn the_per_key_limit_covers_oob_calls_and_resets_after_retry_after() {
    let (_dir, server) = server_with(&[("ROCKET_RATE_KEY_PER_SEC", "1")]);
    let oob = |key: &str| {
        let rs = ureq::post(&format!("{}/api/v1/oob", server.base))
            .set("Authorization", &format!("Bearer {key}"))
            .send_string(&json!({"PhoneNum": "4175550100", "OOBModeType": "OneWay"}).to_string());
        match rs {
            Ok(r) => (r.status(), r.header("Retry-After").map(str::to_owned)),
            Err(ureq::Error::Status(s, r)) => (s, r.header("Retry-After").map(str::to_owned)),
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(oob(&server.key).0, 200);
    let (status, retry) = oob(&server.key);
    assert_eq!(status, 429);
    let wait: u64 = retry.unwrap().parse().unwrap();
    // Real time, kept (issue 29): the per-key budgets live in each node's memory on the
    // real clock, not on a sandbox's.
    std::thread::sleep(Duration::from_secs(wait));
    assert_eq!(oob(&server.key).0, 200, "the budget refilled");
}
