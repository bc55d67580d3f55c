//! Validation: success, wrong code, replay, lock, several tokens, the concurrent race.

use serde_json::json;
use std::sync::{Arc, Barrier};

use crate::support::{create_key, fault, json_of, now_step, totp, wrong_code, TestServer};

#[test]
fn five_wrong_codes_lock_the_binding_and_then_even_a_right_code_is_locked() {
    let server = TestServer::start();
    let (token, seed, step) = server.enroll_active("carol");
    let wrong = wrong_code(&seed);
    for i in 1..=4 {
        assert_eq!(
            server.validate("carol", &wrong)["RsStat"],
            "Failed",
            "attempt {i}"
        );
    }
    let fifth = server.validate("carol", &wrong);
    assert_eq!(
        fifth["RsStat"], "Locked",
        "the failure that reaches the threshold locks"
    );
    assert_eq!(fifth["TokenId"].as_str(), Some(token.as_str()));
    let right = totp(&seed, "SHA1", 6, step + 1);
    assert_eq!(
        server.validate("carol", &right)["RsStat"],
        "Locked",
        "locked answers the same for a right code"
    );
    let (_, inq) = server.post("/api/v1/inquiry", &json!({"TokenId": token}));
    assert_eq!(
        inq["MFATokenInqInfo"]["MFATokenInqArray"][0]["MFATokenUsrStat"],
        "Lock"
    );
    assert_eq!(inq["MFATokenInqInfo"]["UsrTokenStat"], "Act");
}

#[test]
fn a_success_resets_the_failure_count() {
    let server = TestServer::start();
    let (_, seed, step) = server.enroll_active("dave");
    let wrong = wrong_code(&seed);
    for _ in 0..4 {
        assert_eq!(server.validate("dave", &wrong)["RsStat"], "Failed");
    }
    assert_eq!(
        server.validate("dave", &totp(&seed, "SHA1", 6, step + 1))["RsStat"],
        "Success"
    );
    for _ in 0..4 {
        assert_eq!(
            server.validate("dave", &wrong)["RsStat"],
            "Failed",
            "the count started again"
        );
    }
}

#[test]
fn replays_fail_but_do_not_count_towards_the_lock() {
    let server = TestServer::start();
    let (_, seed, step) = server.enroll_active("erin");
    let code = totp(&seed, "SHA1", 6, step + 1);
    assert_eq!(server.validate("erin", &code)["RsStat"], "Success");
    for _ in 0..8 {
        assert_eq!(server.validate("erin", &code)["RsStat"], "Failed");
    }
    // An older code than the last accepted one is a replay too.
    assert_eq!(
        server.validate("erin", &totp(&seed, "SHA1", 6, step))["RsStat"],
        "Failed"
    );
    let later = totp(&seed, "SHA1", 6, step + 2);
    assert_eq!(
        server.validate("erin", &later)["RsStat"],
        "Success",
        "not locked by replays"
    );
}

#[test]
fn codes_outside_the_window_fail() {
    let server = TestServer::start();
    let (_, seed, step) = server.enroll_active("frank");
    assert_eq!(
        server.validate("frank", &totp(&seed, "SHA1", 6, step + 4))["RsStat"],
        "Failed"
    );
    assert_eq!(
        server.validate("frank", &totp(&seed, "SHA1", 6, step - 4))["RsStat"],
        "Failed"
    );
}

#[test]
fn validate_by_token_id_and_by_user_with_two_tokens() {
    let server = TestServer::start();
    let (t1, s1, step) = server.enroll_active("gina");
    let (t2, s2, _) = server.enroll_active("gina");
    let ok = server.validate("gina", &totp(&s2, "SHA1", 6, step + 1));
    assert_eq!(
        (ok["RsStat"].as_str(), ok["TokenId"].as_str()),
        (Some("Success"), Some(t2.as_str()))
    );
    let ok = server.validate("gina", &totp(&s1, "SHA1", 6, step + 1));
    assert_eq!(
        (ok["RsStat"].as_str(), ok["TokenId"].as_str()),
        (Some("Success"), Some(t1.as_str()))
    );
    let (status, rs) = server.post(
        "/api/v1/validate",
        &json!({"TokenId": t1, "Code": totp(&s2, "SHA1", 6, step + 2)}),
    );
    assert_eq!(
        (status, rs["RsStat"].as_str()),
        (200, Some("Failed")),
        "the other token's code"
    );
    let (_, rs) = server.post(
        "/api/v1/validate",
        &json!({"TokenId": t1, "Code": totp(&s1, "SHA1", 6, step + 2)}),
    );
    assert_eq!(rs["RsStat"], "Success");
}

/// 64 requests carrying the same fresh code at once: exactly one Success.
#[test]
fn concurrent_requests_with_one_code_yield_exactly_one_success() {
    let server = TestServer::start();
    let (_, seed, step) = server.enroll_active("race");
    let code = totp(&seed, "SHA1", 6, step + 1);
    let n = 64;
    let barrier = Arc::new(Barrier::new(n));
    let url = format!("{}/api/v1/validate", server.base);
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (barrier, url, key, code) = (
                barrier.clone(),
                url.clone(),
                server.key.clone(),
                code.clone(),
            );
            std::thread::spawn(move || {
                barrier.wait();
                let rs = ureq::post(&url)
                    .set("Authorization", &format!("Bearer {key}"))
                    .send_string(&json!({"UsrName": "race", "Code": code}).to_string());
                json_of(rs)
            })
        })
        .collect();
    let answers: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    let wins = answers
        .iter()
        .filter(|(_, rs)| rs["RsStat"] == "Success")
        .count();
    assert_eq!(wins, 1, "{answers:?}");
    let receipts: std::collections::HashSet<_> = answers
        .iter()
        .filter_map(|(_, rs)| rs["LastTrnRcptId"].as_str())
        .collect();
    assert_eq!(receipts.len(), 1);
}

#[test]
fn every_success_gets_a_new_receipt() {
    let server = TestServer::start();
    let (_, seed, step) = server.enroll_active("hank");
    let a = server.validate("hank", &totp(&seed, "SHA1", 6, step + 1));
    let b = server.validate("hank", &totp(&seed, "SHA1", 6, step + 2));
    assert_ne!(a["LastTrnRcptId"], b["LastTrnRcptId"]);
}

#[test]
fn validation_faults_and_scopes() {
    let server = TestServer::start();
    let (_, seed, step) = server.enroll_active("ivy");
    let code = totp(&seed, "SHA1", 6, step + 1);
    let (status, rs) = server.post(
        "/api/v1/validate",
        &json!({"UsrName": "nobody", "Code": code}),
    );
    assert_eq!(
        (status, fault(&rs)),
        (404, ("7021".into(), Some("UsrName".into())))
    );
    let (status, rs) = server.post(
        "/api/v1/validate",
        &json!({"TokenId": "NOPE", "Code": code}),
    );
    assert_eq!((status, fault(&rs).0.as_str()), (404, "7020"));
    let (status, rs) = server.post("/api/v1/validate", &json!({"Code": code}));
    assert_eq!(
        (status, fault(&rs)),
        (400, ("3103".into(), Some("UsrName".into())))
    );
    for bad in ["12345", " 123456", "12345a", "1234567", "123456\n"] {
        let (status, rs) = server.post("/api/v1/validate", &json!({"UsrName": "ivy", "Code": bad}));
        assert_eq!((status, fault(&rs).0.as_str()), (422, "7041"), "{bad:?}");
        let text = rs.to_string();
        assert!(!text.contains(bad.trim()), "a code is never echoed");
    }
    let manage_only = create_key(&server.data_dir, "manage-only", "manage");
    let (status, rs) = server.post_as(
        &manage_only,
        "/api/v1/validate",
        &json!({"UsrName": "ivy", "Code": code}),
    );
    assert_eq!((status, fault(&rs).0.as_str()), (403, "7011"));
    let validate_only = create_key(&server.data_dir, "validate-only", "validate");
    let (status, rs) = server.post_as(
        &validate_only,
        "/api/v1/tokens",
        &json!({"UsrName": "x", "TokenType": "Software"}),
    );
    assert_eq!((status, fault(&rs).0.as_str()), (403, "7011"));
    let (status, rs) = server.post_as(
        &validate_only,
        "/api/v1/validate",
        &json!({"UsrName": "ivy", "Code": code}),
    );
    assert_eq!((status, rs["RsStat"].as_str()), (200, Some("Success")));
    let _ = now_step(30);
}
