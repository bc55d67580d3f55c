//! Lifecycle under the jXchange concurrency model: modify, delete, resync, drift, lock
//! policy and several bindings per token.

use serde_json::{json, Value};

use crate::support::{fault, now_step, totp, wrong_code, TestServer};

fn intent_key(server: &TestServer, token: &str, intent: &str) -> String {
    let (status, inq) = server.post(
        "/api/v1/inquiry",
        &json!({"TokenId": token, "ActIntent": intent}),
    );
    assert_eq!(status, 200, "{inq}");
    inq["ActIntentKey"].as_str().unwrap().to_owned()
}

fn modify(server: &TestServer, token: &str, body: Value) -> (u16, Value) {
    server.post(&format!("/api/v1/tokens/{token}/modify"), &body)
}

#[test]
fn a_modification_succeeds_once_per_inquiry() {
    let server = TestServer::start();
    let (token, seed, step) = server.enroll_active("ann");
    let key = intent_key(&server, &token, "Upd");
    let (status, rs) = modify(
        &server,
        &token,
        json!({"ActIntentKey": key, "UsrTokenStat": "Disable"}),
    );
    assert_eq!(status, 200, "{rs}");
    assert_eq!(rs["MFATokenInqInfo"]["UsrTokenStat"], "Disable");
    let (status, rs) = modify(
        &server,
        &token,
        json!({"ActIntentKey": key, "UsrTokenStat": "Act"}),
    );
    assert_eq!(
        (status, fault(&rs)),
        (409, ("7031".into(), Some("ActIntentKey".into()))),
        "a key works once"
    );
    assert_eq!(
        server.validate("ann", &totp(&seed, "SHA1", 6, step + 1))["RsStat"],
        "Failed",
        "disabled"
    );
    let key = intent_key(&server, &token, "Upd");
    let (status, _) = modify(
        &server,
        &token,
        json!({"ActIntentKey": key, "UsrTokenStat": "Act"}),
    );
    assert_eq!(status, 200);
    assert_eq!(
        server.validate("ann", &totp(&seed, "SHA1", 6, step + 2))["RsStat"],
        "Success"
    );
}

#[test]
fn a_change_between_inquiry_and_modify_is_a_409_that_changes_nothing() {
    let server = TestServer::start();
    let (token, seed, step) = server.enroll_active("ben");
    let key = intent_key(&server, &token, "Upd");
    server.validate("ben", &wrong_code(&seed));
    let (status, rs) = modify(
        &server,
        &token,
        json!({"ActIntentKey": key, "UsrTokenStat": "Disable"}),
    );
    assert_eq!((status, fault(&rs).0.as_str()), (409, "7031"));
    let (_, inq) = server.post("/api/v1/inquiry", &json!({"TokenId": token}));
    assert_eq!(
        inq["MFATokenInqInfo"]["UsrTokenStat"], "Act",
        "nothing changed"
    );
    assert_eq!(
        server.validate("ben", &totp(&seed, "SHA1", 6, step + 1))["RsStat"],
        "Success"
    );
}

#[test]
fn keys_cannot_be_forged_reused_across_tokens_or_intents() {
    let server = TestServer::start();
    let (t1, _, _) = server.enroll_active("cal");
    let (t2, _, _) = server.enroll_active("dee");
    let (status, rs) = modify(&server, &t1, json!({"UsrTokenStat": "Disable"}));
    assert_eq!(
        (status, fault(&rs)),
        (400, ("3103".into(), Some("ActIntentKey".into())))
    );
    for key in [
        "forged".to_owned(),
        intent_key(&server, &t2, "Upd"),
        intent_key(&server, &t1, "Dlt"),
    ] {
        let (status, rs) = modify(
            &server,
            &t1,
            json!({"ActIntentKey": key, "UsrTokenStat": "Disable"}),
        );
        assert_eq!((status, fault(&rs).0.as_str()), (409, "7031"), "{key}");
    }
    let upd = intent_key(&server, &t1, "Upd");
    let (status, _) = server.post(
        &format!("/api/v1/tokens/{t1}/delete"),
        &json!({"ActIntentKey": upd}),
    );
    assert_eq!(status, 409, "an Upd key does not delete");
    let key = intent_key(&server, &t1, "Upd");
    let (status, rs) = modify(
        &server,
        &t1,
        json!({"ActIntentKey": key, "UsrTokenStat": "Del"}),
    );
    assert_eq!(
        (status, fault(&rs).0.as_str()),
        (409, "7032"),
        "Del only through delete"
    );
}

#[test]
fn lock_then_unlock_by_modify_then_validate() {
    let server = TestServer::start();
    let (token, seed, step) = server.enroll_active("eve");
    let wrong = wrong_code(&seed);
    for _ in 0..5 {
        server.validate("eve", &wrong);
    }
    let (_, inq) = server.post("/api/v1/inquiry", &json!({"TokenId": token}));
    let rec = &inq["MFATokenInqInfo"]["MFATokenInqArray"][0];
    assert_eq!(rec["MFATokenUsrStat"], "Lock");
    assert_eq!(rec["Custom"]["FailureCount"], 5);
    assert_eq!(rec["Custom"]["LockReason"], "5 consecutive failed codes");
    assert!(rec["Custom"]["LockedDt"].is_string());
    assert!(
        rec["Custom"].get("AutoUnlockDt").is_none(),
        "auto-unlock is off by default"
    );
    let key = intent_key(&server, &token, "Upd");
    let (status, rs) = modify(
        &server,
        &token,
        json!({"ActIntentKey": key, "UsrName": "eve", "MFATokenUsrStat": "Act"}),
    );
    assert_eq!(status, 200, "{rs}");
    let rec = &rs["MFATokenInqInfo"]["MFATokenInqArray"][0];
    assert_eq!(
        (
            rec["MFATokenUsrStat"].as_str(),
            rec["Custom"]["FailureCount"].as_i64()
        ),
        (Some("Act"), Some(0))
    );
    assert_eq!(
        server.validate("eve", &totp(&seed, "SHA1", 6, step + 1))["RsStat"],
        "Success"
    );
}

/// Auto-unlock reads the institution's clock: a sandbox's is moved past it instead of
/// waiting (issue 29).
#[test]
fn auto_unlock_after_the_configured_time() {
    let sbx = crate::sandbox::Sandbox::start(&[("ROCKET_AUTO_UNLOCK_AFTER_SECS", "2")]);
    let (token, seed) = sbx.enroll_active("fay");
    sbx.advance(30);
    let right = totp(&seed, "SHA1", 6, sbx.step());
    let wrong = wrong_code(&seed);
    for _ in 0..5 {
        sbx.validate("fay", &wrong);
    }
    let (_, inq) = sbx.post("/api/v1/inquiry", &json!({"TokenId": token}));
    assert!(
        inq["MFATokenInqInfo"]["MFATokenInqArray"][0]["Custom"]["AutoUnlockDt"].is_string(),
        "{inq}"
    );
    assert_eq!(sbx.validate("fay", &right)["RsStat"], "Locked");
    sbx.advance(1);
    assert_eq!(sbx.validate("fay", &right)["RsStat"], "Locked", "not yet");
    sbx.advance(2);
    assert_eq!(
        sbx.validate("fay", &right)["RsStat"],
        "Success",
        "unlocked by itself"
    );
}

#[test]
fn delete_destroys_the_seed_and_the_token_never_validates_again() {
    let server = TestServer::start();
    let (token, seed, step) = server.enroll_active("gus");
    let ciphertext = crate::support::sealed_seed_of(&server.data_dir, &token);
    assert!(ciphertext.len() >= 36);
    let ok = server.validate("gus", &totp(&seed, "SHA1", 6, step + 1));
    let key = intent_key(&server, &token, "Dlt");
    let (status, rs) = server.post(
        &format!("/api/v1/tokens/{token}/delete"),
        &json!({"ActIntentKey": key}),
    );
    assert_eq!(
        (status, rs["UsrTokenStat"].as_str()),
        (200, Some("Del")),
        "{rs}"
    );
    let (status, _) = server.post(
        &format!("/api/v1/tokens/{token}/delete"),
        &json!({"ActIntentKey": key}),
    );
    assert_eq!(status, 409, "the key worked once");
    assert_eq!(
        server.validate("gus", &totp(&seed, "SHA1", 6, step + 2))["RsStat"],
        "Failed"
    );
    let (_, inq) = server.post("/api/v1/inquiry", &json!({"TokenId": token}));
    assert_eq!(inq["MFATokenInqInfo"]["UsrTokenStat"], "Del");
    assert_eq!(
        inq["MFATokenInqInfo"]["MFATokenInqArray"][0]["LastTrnRcptId"], ok["LastTrnRcptId"],
        "history kept"
    );
    let key = intent_key(&server, &token, "Upd");
    let (status, _) = modify(
        &server,
        &token,
        json!({"ActIntentKey": key, "UsrTokenStat": "Act"}),
    );
    assert_eq!(status, 409, "nothing leaves Del");
    assert!(crate::support::sealed_seed_of(&server.data_dir, &token).is_empty());
    for file in crate::support::database_files(&server.data_dir) {
        assert!(
            !file.windows(ciphertext.len()).any(|w| w == ciphertext),
            "sealed seed bytes still on disk"
        );
    }
}

#[test]
fn resync_learns_a_drift_of_forty_steps() {
    let server = TestServer::start();
    let seed = b"12345678901234567890";
    let (status, _) = server.post(
        "/api/v1/tokens",
        &json!({"UsrName": "hal", "TokenType": "Hardware", "TokenId": "HW-R", "Seed": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"}),
    );
    assert_eq!(status, 200);
    let now = now_step(30);
    server.post(
        "/api/v1/tokens/HW-R/activate",
        &json!({"Code": totp(seed, "SHA1", 6, now - 1)}),
    );
    // The device's clock is now 40 steps (20 minutes) fast.
    let ahead = totp(seed, "SHA1", 6, now + 41);
    assert_eq!(server.validate("hal", &ahead)["RsStat"], "Failed");
    let (status, rs) = server.post(
        "/api/v1/tokens/HW-R/resync",
        &json!({"Code1": totp(seed, "SHA1", 6, now + 40), "Code2": totp(seed, "SHA1", 6, now + 41)}),
    );
    assert_eq!(status, 200, "{rs}");
    assert_eq!(
        (rs["RsStat"].as_str(), rs["DriftSteps"].as_i64()),
        (Some("Success"), Some(41))
    );
    assert_eq!(
        server.validate("hal", &totp(seed, "SHA1", 6, now + 42))["RsStat"],
        "Success"
    );
    let (_, rs) = server.post(
        "/api/v1/tokens/HW-R/resync",
        &json!({"Code1": "000000", "Code2": "111111"}),
    );
    assert_eq!(rs["RsStat"], "Failed");
}

#[test]
fn a_slowly_running_clock_nudges_the_drift() {
    let server = TestServer::start();
    let (token, seed, _) = server.enroll_active("ida");
    let now = now_step(30);
    // Each success at one step ahead of the window's centre moves the centre with it.
    for ahead in 1..=3 {
        let rs = server.validate("ida", &totp(&seed, "SHA1", 6, now + ahead));
        assert_eq!(rs["RsStat"], "Success", "ahead {ahead}");
    }
    let (_, inq) = server.post("/api/v1/inquiry", &json!({"TokenId": token}));
    let drift = inq["Custom"]["DriftSteps"].as_i64().unwrap();
    assert!((2..=3).contains(&drift), "drift {drift}");
}

#[test]
fn two_bindings_on_one_token_have_independent_status() {
    let server = TestServer::start();
    let (token, seed, step) = server.enroll_active("jo");
    let key = intent_key(&server, &token, "Upd");
    let (status, rs) = modify(
        &server,
        &token,
        json!({"ActIntentKey": key, "AddUsrName": "kai"}),
    );
    assert_eq!(status, 200, "{rs}");
    assert_eq!(
        rs["MFATokenInqInfo"]["MFATokenInqArray"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (status, rs) = server.post(
        "/api/v1/validate",
        &json!({"TokenId": token, "Code": "123456"}),
    );
    assert_eq!(
        (status, fault(&rs).0.as_str()),
        (422, "7044"),
        "name the user"
    );
    let key = intent_key(&server, &token, "Upd");
    let (status, _) = modify(
        &server,
        &token,
        json!({"ActIntentKey": key, "UsrName": "jo", "MFATokenUsrStat": "Lock", "UsrTokenDesc": "held by kai now"}),
    );
    assert_eq!(status, 200);
    let code = totp(&seed, "SHA1", 6, step + 1);
    assert_eq!(server.validate("jo", &code)["RsStat"], "Locked");
    let ok = server.validate("kai", &code);
    assert_eq!(ok["RsStat"], "Success");
    let (_, inq) = server.post(
        "/api/v1/inquiry",
        &json!({"TokenId": token, "UsrName": "jo"}),
    );
    let rec = &inq["MFATokenInqInfo"]["MFATokenInqArray"][0];
    assert_eq!(
        (
            rec["MFATokenUsrStat"].as_str(),
            rec["UsrTokenDesc"].as_str()
        ),
        (Some("Lock"), Some("held by kai now"))
    );
    assert!(
        rec.get("LastTrnRcptId").is_none(),
        "kai's success is kai's receipt"
    );
    let key = intent_key(&server, &token, "Upd");
    let (status, rs) = modify(
        &server,
        &token,
        json!({"ActIntentKey": key, "UsrName": "jo", "Unbind": true}),
    );
    assert_eq!(status, 200);
    let records = rs["MFATokenInqInfo"]["MFATokenInqArray"]
        .as_array()
        .unwrap();
    assert_eq!(
        (records.len(), records[0]["UsrName"].as_str()),
        (1, Some("kai"))
    );
    let key = intent_key(&server, &token, "Upd");
    let (status, rs) = modify(
        &server,
        &token,
        json!({"ActIntentKey": key, "AddUsrName": "kai"}),
    );
    assert_eq!((status, fault(&rs).0.as_str()), (409, "7034"));
}

fn temp_code(server: &TestServer, body: Value) -> (u16, Value) {
    server.post("/api/v1/tempcode", &body)
}

#[test]
fn a_one_time_temporary_code_works_once_while_the_token_is_lost() {
    let server = TestServer::start();
    let (token, _, _) = server.enroll_active("lou");
    let key = intent_key(&server, &token, "Upd");
    modify(
        &server,
        &token,
        json!({"ActIntentKey": key, "UsrTokenStat": "Disable"}),
    );
    let (status, rs) = temp_code(&server, json!({"UsrName": "lou"}));
    assert_eq!(status, 200, "{rs}");
    let code = rs["TempPswd"].as_str().unwrap().to_owned();
    assert_eq!((code.len(), rs["OneTime"].as_bool()), (8, Some(true)));
    assert!(rs["ExpDt"].is_string());
    let ok = server.validate("lou", &code);
    assert_eq!(ok["RsStat"], "Success", "{ok}");
    assert!(ok["LastTrnRcptId"].is_string());
    assert_eq!(
        server.validate("lou", &code)["RsStat"],
        "Failed",
        "one-time"
    );
    let (status, rs) = temp_code(&server, json!({"UsrName": "nobody"}));
    assert_eq!((status, fault(&rs).0.as_str()), (404, "7021"));
    let (status, rs) = temp_code(&server, json!({"UsrName": "lou", "ExpSec": 8 * 24 * 3600}));
    assert_eq!(
        (status, fault(&rs)),
        (400, ("7001".into(), Some("ExpSec".into()))),
        "at most 7 days"
    );
}

/// Temporary code expiry reads the institution's clock: a sandbox's is moved past it
/// instead of waiting (issue 29).
#[test]
fn a_reusable_temporary_code_expires_and_ends_when_the_token_is_used() {
    let sbx = crate::sandbox::Sandbox::start(&[]);
    let (_, seed) = sbx.enroll_active("max");
    let temp_code = |body: Value| sbx.post("/api/v1/tempcode", &body);
    let (_, rs) = temp_code(json!({"UsrName": "max", "OneTime": false, "ExpSec": 2}));
    let code = rs["TempPswd"].as_str().unwrap().to_owned();
    assert_eq!(sbx.validate("max", &code)["RsStat"], "Success");
    assert_eq!(sbx.validate("max", &code)["RsStat"], "Success", "reusable");
    sbx.advance(1);
    assert_eq!(sbx.validate("max", &code)["RsStat"], "Success", "not yet");
    sbx.advance(2);
    assert_eq!(sbx.validate("max", &code)["RsStat"], "Failed", "expired");

    let (_, rs) = temp_code(json!({"UsrName": "max", "OneTime": false}));
    let code = rs["TempPswd"].as_str().unwrap().to_owned();
    assert_eq!(sbx.validate("max", &code)["RsStat"], "Success");
    sbx.advance(30);
    assert_eq!(
        sbx.validate("max", &totp(&seed, "SHA1", 6, sbx.step()))["RsStat"],
        "Success"
    );
    assert_eq!(
        sbx.validate("max", &code)["RsStat"],
        "Failed",
        "the real token is back"
    );
}

#[test]
fn wrong_codes_end_a_temporary_code() {
    let server = TestServer::start();
    let (token, _, _) = server.enroll_active("ned");
    let key = intent_key(&server, &token, "Upd");
    modify(
        &server,
        &token,
        json!({"ActIntentKey": key, "UsrTokenStat": "Disable"}),
    );
    let (_, rs) = temp_code(&server, json!({"UsrName": "ned"}));
    let code = rs["TempPswd"].as_str().unwrap().to_owned();
    let wrong = if code == "00000000" {
        "00000001"
    } else {
        "00000000"
    };
    for _ in 0..5 {
        assert_eq!(server.validate("ned", wrong)["RsStat"], "Failed");
    }
    assert_eq!(
        server.validate("ned", &code)["RsStat"],
        "Failed",
        "ended after 5 wrong codes"
    );
}
