//! The audit trail: what is recorded, how it is listed, and the keyed chain that
//! `tokend audit verify` checks.

use serde_json::{json, Value};

use crate::support::{cli, create_key, tamper, totp, wrong_code, TestServer};

fn audit(server: &TestServer, query: &str) -> (u16, Value) {
    let (status, _, _, body) = server.get(&format!("/api/v1/audit{query}"));
    (status, serde_json::from_slice(&body).unwrap())
}

/// The audit page once every row on it is linked (at once on SQLite, whose commits link
/// their rows; within a moment on PostgreSQL, whose elected node links them).
fn linked_audit(server: &TestServer, query: &str) -> (u16, Value) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (status, page) = audit(server, query);
        let linked = page["AuditArray"]
            .as_array()
            .is_some_and(|rows| rows.iter().all(|r| r["Linked"] == true));
        if linked || std::time::Instant::now() > deadline {
            return (status, page);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn actions(page: &Value) -> Vec<(String, String)> {
    page["AuditArray"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["Action"].as_str().unwrap().to_owned(),
                r["Result"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn verify(data_dir: &std::path::Path) -> (bool, String) {
    let out = cli(data_dir, &[], &["audit", "verify"]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn every_change_and_validation_is_listed_linked_and_without_codes() {
    let server = TestServer::start();
    let (token, seed, step) = server.enroll_active("amy");
    let good = totp(&seed, "SHA1", 6, step + 1);
    assert_eq!(server.validate("amy", &good)["RsStat"], "Success");
    let bad = wrong_code(&seed);
    assert_eq!(server.validate("amy", &bad)["RsStat"], "Failed");

    let (status, page) = linked_audit(&server, "?UsrName=amy");
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        actions(&page),
        vec![
            ("validate".into(), "Failed".into()),
            ("validate".into(), "Success".into()),
            ("activate".into(), "Success".into()),
            ("enroll".into(), "Success".into()),
        ],
        "{page}"
    );
    let rows = page["AuditArray"].as_array().unwrap();
    assert!(rows.iter().all(|r| r["Linked"] == true), "{page}");
    assert!(rows.iter().all(|r| r["TokenId"] == token.as_str()));
    let text = page.to_string();
    assert!(
        !text.contains(&good) && !text.contains(&bad),
        "codes never reach the audit"
    );

    let (_, only) = audit(&server, "?UsrName=amy&Action=validate&Limit=1");
    assert_eq!(actions(&only), vec![("validate".into(), "Failed".into())]);
    let before = only["NextBefore"].as_i64().unwrap();
    let (_, next) = audit(
        &server,
        &format!("?UsrName=amy&Action=validate&Before={before}"),
    );
    assert_eq!(actions(&next), vec![("validate".into(), "Success".into())]);
    let (_, none) = audit(&server, "?UsrName=amy&FromDt=2999-01-01T00:00:00Z");
    assert_eq!(none["AuditArray"], json!([]));
}

#[test]
fn bad_query_parameters_are_faults_and_the_trail_needs_scope_manage() {
    let server = TestServer::start();
    for (query, elem) in [
        ("?Limit=0", "Limit"),
        ("?Limit=abc", "Limit"),
        ("?Before=-3", "Before"),
        ("?FromDt=yesterday", "FromDt"),
    ] {
        let (status, body) = audit(&server, query);
        assert_eq!(status, 400, "{query}: {body}");
        let fault = &body["MsgRsHdr"]["MsgRecInfoArray"][0];
        assert_eq!(fault["ErrCode"], "7001", "{query}: {body}");
        assert_eq!(fault["ErrElem"], elem, "{query}: {body}");
    }
    let validator = create_key(&server.data_dir, "core-only", "validate");
    let status = ureq::get(&format!("{}/api/v1/audit", server.base))
        .set("Authorization", &format!("Bearer {validator}"))
        .call()
        .map_or_else(
            |e| e.into_response().map_or(0, |r| r.status()),
            |r| r.status(),
        );
    assert_eq!(status, 403);
}

#[test]
fn audit_verify_names_the_first_changed_or_removed_row() {
    let mut server = TestServer::start();
    let (_, seed, step) = server.enroll_active("bo");
    for s in [step + 1, step + 2] {
        assert_eq!(
            server.validate("bo", &totp(&seed, "SHA1", 6, s))["RsStat"],
            "Success"
        );
    }
    server.stop();
    let dir = server.data_dir.clone();
    let (whole, out) = verify(&dir);
    assert!(whole, "{out}");
    assert!(out.starts_with("audit chain whole: "), "{out}");
    assert!(out.contains(" 0 not linked yet"), "{out}");

    // Rewriting history: the row's link no longer matches it.
    let target: i64 = 3;
    assert_eq!(
        tamper(
            &dir,
            &format!("UPDATE audit_events SET result = 'Failed' WHERE id = {target}")
        ),
        1
    );
    let (whole, out) = verify(&dir);
    assert!(!whole);
    assert!(out.contains(&format!("BROKEN at row {target}:")), "{out}");

    // Removing a row instead breaks the chain at the row after it.
    tamper(
        &dir,
        &format!("UPDATE audit_events SET result = 'Success' WHERE id = {target}"),
    );
    assert!(verify(&dir).0, "the original row verifies again");
    tamper(
        &dir,
        &format!("DELETE FROM audit_events WHERE id = {target}"),
    );
    let (whole, out) = verify(&dir);
    assert!(!whole);
    assert!(
        out.contains(&format!("BROKEN at row {}:", target + 1)),
        "{out}"
    );
}
