//! Issue 17 through the real server: users and phones with a lifecycle (the enrollment
//! takeover path is closed), the SIM-swap guard with a real SMS provider over loopback,
//! "explain this failure" naming a drifted code's offset, and the drift telemetry.

use serde_json::{json, Value};

use crate::api_oob::{audit_text, enroll_with_phone, get_json, lock, PHONE};
use crate::sink::{Mode, Sink};
use crate::support::{fault, now_step, totp, wrong_code, TestServer};

const NEW_PHONE: &str = "5552001234";

fn user(server: &TestServer, usr: &str) -> Value {
    let (status, rs) = get_json(server, &format!("/api/v1/users/{usr}"));
    assert_eq!(status, 200, "{rs}");
    rs
}

fn change_phone(server: &TestServer, usr: &str, body: Value) -> (u16, Value) {
    server.post(&format!("/api/v1/users/{usr}/phone"), &body)
}

fn start_with(env: &[(&str, String)]) -> (tempfile::TempDir, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = TestServer::start_in(dir.path(), &env).unwrap();
    (dir, server)
}

#[test]
fn enrollment_can_no_longer_replace_a_phone() {
    let server = TestServer::start();
    let (token, seed, _) = enroll_with_phone(&server, "alice", PHONE);
    let (status, rs) = server.post(
        "/api/v1/tokens",
        &json!({"UsrName": "alice", "TokenType": "Software", "PhoneNum": NEW_PHONE}),
    );
    assert_eq!(
        (status, fault(&rs)),
        (409, ("7035".into(), Some("PhoneNum".into()))),
        "{rs}"
    );
    // The number on file may be named again; no phone at all is fine too.
    let (status, rs) = server.post(
        "/api/v1/tokens",
        &json!({"UsrName": "alice", "TokenType": "Software", "PhoneNum": PHONE}),
    );
    assert_eq!(status, 200, "{rs}");
    let view = user(&server, "alice");
    assert_eq!(view["PhoneNum"], "******6652", "{view}");
    assert!(view.get("PhoneChgDt").is_none(), "{view}");
    let tokens = view["MFATokenArray"].as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[0]["TokenId"], token.as_str());
    assert_eq!(tokens[0]["UsrTokenStat"], "Act");
    assert_eq!(tokens[1]["UsrTokenStat"], "Init");
    // A phone set when the user was created holds nothing: the fallback goes to it.
    let rs = lock(&server, "alice", &seed);
    assert_eq!(
        rs["OOB"]["PhoneNumMasked"]
            .as_str()
            .map(|p| p.ends_with("6652")),
        Some(true),
        "{rs}"
    );
    assert!(!audit_text(&server).contains(NEW_PHONE));
}

#[test]
fn a_phone_change_holds_the_fallback_until_an_admin_lifts_it() {
    let sink = Sink::start(Mode::Ok);
    let (_dir, server) = start_with(&[
        ("ROCKET_SMS_PROVIDER", "http".to_owned()),
        ("ROCKET_SMS_HTTP_URL", format!("{}/sms", sink.url)),
        ("ROCKET_SMS_ANSWER_WAIT_MS", "10000".to_owned()),
        ("ROCKET_PHONE_CHANGE_NOTICE", "true".to_owned()),
    ]);
    let (status, rs) = server.post(
        "/api/v1/users",
        &json!({"UsrName": "bob", "PhoneNum": PHONE}),
    );
    assert_eq!(status, 200, "{rs}");
    let key = rs["ActIntentKey"].as_str().unwrap().to_owned();
    let (_, seed, _) = server.enroll_active("bob");
    let (status, rs) = change_phone(
        &server,
        "bob",
        json!({"ActIntentKey": key, "PhoneNum": NEW_PHONE}),
    );
    assert_eq!(status, 200, "{rs}");
    assert_eq!(rs["PhoneNum"], "******1234");
    assert!(
        rs["PhoneChgDt"].is_string() && rs["SimSwapHoldEndDt"].is_string(),
        "{rs}"
    );
    // The notice went to the OLD number, through the real provider.
    let got = sink.wait_until(10, |got| !got.is_empty());
    assert_eq!(got[0].body["to"], PHONE);
    assert!(got[0].body["body"]
        .as_str()
        .unwrap()
        .contains("security phone was changed"));
    // The key of before the change is stale.
    let (status, rs) = change_phone(
        &server,
        "bob",
        json!({"ActIntentKey": key, "PhoneNum": PHONE}),
    );
    assert_eq!((status, fault(&rs).0.as_str()), (409, "7031"), "{rs}");
    // Locked: no SMS to the new number, a reason saying when the hold ends.
    let rs = lock(&server, "bob", &seed);
    assert!(rs.get("OOB").is_none(), "{rs}");
    let why = rs["OOBRsn"].as_str().unwrap();
    assert!(
        why.contains("changed recently") && why.contains("hold ends at"),
        "{why}"
    );
    // Explicit OOBValidate to the phone on file, by user or by number: 7055.
    for body in [
        json!({"UsrName": "bob", "OOBModeType": "TwoWay"}),
        json!({"PhoneNum": NEW_PHONE, "OOBModeType": "TwoWay"}),
    ] {
        let (status, rs) = server.post("/api/v1/oob", &body);
        assert_eq!((status, fault(&rs).0.as_str()), (409, "7055"), "{rs}");
    }
    assert_eq!(sink.received().len(), 1, "nothing sent to the new number");
    held_is_counted_and_audited_masked(&server);
    lift_then_remove(&server);
}

/// The refusals are on `/metrics`; the audit has both numbers masked, never in clear.
fn held_is_counted_and_audited_masked(server: &TestServer) {
    let (_, _, _, metrics) = server.get("/metrics");
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("tokend_sim_swap_held_total{kind=\"lock\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tokend_sim_swap_held_total{kind=\"explicit\"} 2"),
        "{metrics}"
    );
    let audit = audit_text(server);
    assert!(
        audit.contains("user.phone Success bob phone ******6652 -> ******1234"),
        "{audit}"
    );
    assert!(
        !audit.contains(NEW_PHONE) && !audit.contains(PHONE),
        "{audit}"
    );
}

/// An admin lifts the hold (a reason is required) and the SMS flows again; removing the
/// phone (Dlt) holds again and leaves no phone.
fn lift_then_remove(server: &TestServer) {
    let (status, rs) = server.post("/api/v1/users/bob/hold/lift", &json!({"Rsn": ""}));
    assert_eq!((status, fault(&rs).0.as_str()), (400, "3103"), "{rs}");
    let (status, rs) = server.post(
        "/api/v1/users/bob/hold/lift",
        &json!({"Rsn": "verified in branch"}),
    );
    assert_eq!(status, 200, "{rs}");
    assert!(rs.get("SimSwapHoldEndDt").is_none(), "{rs}");
    let (status, rs) = server.post(
        "/api/v1/oob",
        &json!({"UsrName": "bob", "OOBModeType": "TwoWay"}),
    );
    assert_eq!(status, 200, "{rs}");
    assert!(audit_text(server)
        .contains("user.hold-lift Success bob SIM-swap hold lifted: verified in branch"));
    // Removing the phone (Dlt) holds again, and leaves no phone.
    let key = user(server, "bob")["ActIntentKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, rs) = change_phone(
        server,
        "bob",
        json!({"ActIntentKey": key, "ActIntent": "Dlt"}),
    );
    assert_eq!(status, 200, "{rs}");
    assert!(
        rs.get("PhoneNum").is_none() && rs["SimSwapHoldEndDt"].is_string(),
        "{rs}"
    );
}

#[test]
fn user_and_phone_calls_refuse_bad_input_with_faults() {
    let server = TestServer::start();
    let (status, rs) = server.post(
        "/api/v1/users",
        &json!({"UsrName": "carl", "PhoneNum": "12"}),
    );
    assert_eq!((status, fault(&rs).0.as_str()), (422, "3147"), "{rs}");
    let (status, _) = server.post("/api/v1/users", &json!({"UsrName": "carl"}));
    assert_eq!(status, 200);
    let (status, rs) = server.post("/api/v1/users", &json!({"UsrName": "carl"}));
    assert_eq!((status, fault(&rs).0.as_str()), (409, "7036"), "{rs}");
    let (status, rs) = get_json(&server, "/api/v1/users/nobody");
    assert_eq!((status, fault(&rs).0.as_str()), (404, "7021"), "{rs}");
    let (status, rs) = change_phone(&server, "carl", json!({"PhoneNum": NEW_PHONE}));
    assert_eq!((status, fault(&rs).0.as_str()), (400, "3103"), "{rs}");
    let (status, rs) = change_phone(&server, "carl", json!({"ActIntentKey": "x"}));
    assert_eq!((status, fault(&rs).0.as_str()), (400, "3103"), "{rs}");
    let (status, rs) = change_phone(
        &server,
        "carl",
        json!({"ActIntentKey": "forged", "PhoneNum": NEW_PHONE}),
    );
    assert_eq!((status, fault(&rs).0.as_str()), (409, "7031"), "{rs}");
    let (status, rs) = change_phone(&server, "carl", json!({"ActIntentKey": "x", "Bogus": 1}));
    assert_eq!((status, fault(&rs).0.as_str()), (400, "7004"), "{rs}");
    let (status, rs) = server.post("/api/v1/explain", &json!({"Cnt": 3}));
    assert_eq!((status, fault(&rs).0.as_str()), (400, "3103"), "{rs}");
    let (status, rs) = server.post("/api/v1/explain", &json!({"UsrName": "carl", "Cnt": 0}));
    assert_eq!((status, fault(&rs).0.as_str()), (400, "7001"), "{rs}");
}

#[test]
fn explain_names_a_past_codes_offset_never_a_future_ones_and_counts_nothing() {
    let server = TestServer::start();
    let (token, seed, _) = server.enroll_active("dora");
    let now = now_step(30);
    // A code of a clock five steps (2.5 minutes) slow, one of a clock five steps fast
    // (a code that WILL be valid: issue 26), then a code of no step at all.
    let slow = totp(&seed, "SHA1", 6, now - 5);
    assert_eq!(server.validate("dora", &slow)["RsStat"], "Failed");
    let fast = totp(&seed, "SHA1", 6, now + 5);
    assert_eq!(server.validate("dora", &fast)["RsStat"], "Failed");
    let wrong = wrong_code(&seed);
    assert_eq!(server.validate("dora", &wrong)["RsStat"], "Failed");
    let (status, rs) = server.post("/api/v1/explain", &json!({"UsrName": "dora"}));
    assert_eq!(status, 200, "{rs}");
    let attempts = rs["AttemptArray"].as_array().unwrap();
    assert_eq!(attempts[0]["Code"]["Finding"], "NoMatch", "{rs}");
    assert_eq!(attempts[1]["Code"]["Finding"], "NotYetValid", "{rs}");
    assert!(attempts[1]["Code"].get("OffsetSteps").is_none(), "{rs}");
    assert!(attempts[1]["Code"].get("OffsetSecs").is_none(), "{rs}");
    let advice = attempts[1]["Code"]["Advice"].as_str().unwrap();
    assert!(
        advice.contains("not yet valid") && !advice.contains("minute"),
        "{advice}"
    );
    assert_eq!(attempts[2]["Code"]["Finding"], "Offset", "{rs}");
    assert_eq!(attempts[2]["Code"]["OffsetSteps"], -5, "{rs}");
    let advice = attempts[2]["Code"]["Advice"].as_str().unwrap();
    assert!(
        advice.contains("2 minute(s)") && advice.contains("slow") && advice.contains("resync"),
        "{advice}"
    );
    assert_eq!(attempts[2]["TokenId"], token.as_str());
    assert!(attempts[2]["Reason"]
        .as_str()
        .unwrap()
        .starts_with("wrong code"));
    // Nothing was counted by explaining: still three failures.
    assert_eq!(
        rs["TokenArray"][0]["Bindings"][0]["FailureCount"], 3,
        "{rs}"
    );
    let (_, again) = server.post("/api/v1/explain", &json!({"TokenId": token, "Cnt": 1}));
    assert_eq!(again["AttemptArray"].as_array().unwrap().len(), 1);
    assert_eq!(again["TokenArray"][0]["Bindings"][0]["FailureCount"], 3);
    // The database keeps a keyed hash, never the code.
    let files = crate::support::database_files(&server.data_dir);
    for code in [&slow, &fast, &wrong] {
        assert!(
            !files
                .iter()
                .any(|f| f.windows(6).any(|w| w == code.as_bytes())),
            "{code} stored"
        );
    }
}

#[test]
fn drift_is_exported_and_tokens_near_the_edge_are_counted() {
    let (_dir, server) = start_with(&[("ROCKET_RESYNC_WINDOW_STEPS", "4".to_owned())]);
    let (token, seed, _) = server.enroll_active("eve");
    let now = now_step(30);
    let (status, rs) = server.post(
        &format!("/api/v1/tokens/{token}/resync"),
        &json!({"Code1": totp(&seed, "SHA1", 6, now + 3), "Code2": totp(&seed, "SHA1", 6, now + 4)}),
    );
    assert_eq!(status, 200, "{rs}");
    assert_eq!(
        server.validate("eve", &totp(&seed, "SHA1", 6, now + 5))["RsStat"],
        "Success"
    );
    let (_, _, _, metrics) = server.get("/metrics");
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("tokend_token_drift_steps_count 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tokend_tokens_drift_near_edge 1"),
        "{metrics}"
    );
}

#[test]
fn console_phone_forms_need_csrf_confirmation_and_a_current_key() {
    use crate::support::admin::{hidden, server_with_admin};
    let (server, admin) = server_with_admin();
    let (status, _) = server.post(
        "/api/v1/users",
        &json!({"UsrName": "fay", "PhoneNum": PHONE}),
    );
    assert_eq!(status, 200);
    let detail = admin.get("/admin/user?name=fay");
    assert_eq!(detail.status, 200, "{}", detail.body);
    assert!(detail.body.contains("id=\"explain-panel\""));
    let key = user(&server, "fay")["ActIntentKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let confirm = format!("/admin/users/phone?name=fay&key={key}");
    let page = admin.get(&confirm);
    assert_eq!(hidden(&page.body, "key").as_deref(), Some(key.as_str()));
    // No CSRF token: refused, nothing changed.
    let rs = admin.post(
        "/admin/users/phone",
        &[
            ("usr_name", "fay"),
            ("key", &key),
            ("phone", NEW_PHONE),
            ("confirmed", "true"),
        ],
    );
    assert_eq!(rs.status, 403);
    // Not confirmed, or a bad number: back to the user with the reason.
    for (phone, confirmed, says) in [
        (NEW_PHONE, "false", "A required field is empty"),
        ("12", "true", "A phone number has 10 digits"),
    ] {
        let rs = admin.submit(
            &confirm,
            "/admin/users/phone",
            &[
                ("usr_name", "fay"),
                ("key", &key),
                ("phone", phone),
                ("confirmed", confirmed),
            ],
        );
        assert_eq!(rs.status, 303);
        assert!(admin.follow(&rs).body.contains(says), "{says}");
    }
    assert_eq!(user(&server, "fay")["PhoneNum"], "******6652");
    let fields = [
        ("usr_name", "fay"),
        ("key", key.as_str()),
        ("phone", NEW_PHONE),
        ("confirmed", "true"),
    ];
    let rs = admin.submit(&confirm, "/admin/users/phone", &fields);
    assert!(admin
        .follow(&rs)
        .body
        .contains("Phone changed to ******1234"));
    // The same form again: its key is stale now.
    let rs = admin.submit(&confirm, "/admin/users/phone", &fields);
    assert!(admin
        .follow(&rs)
        .body
        .contains("Someone changed this record meanwhile"));
    let rs = admin.submit(
        "/admin/user?name=fay",
        "/admin/users/hold/lift",
        &[("usr_name", "fay"), ("reason", "")],
    );
    assert!(admin.follow(&rs).body.contains("A required field is empty"));
    assert!(audit_text(&server).contains("user.phone Success fay"));
}

#[test]
fn the_sweeper_purges_wrong_code_hashes_past_their_retention() {
    let (_dir, server) = start_with(&[
        ("ROCKET_EXPLAIN_RETENTION_SECS", "1".to_owned()),
        ("ROCKET_OOB_SWEEP_INTERVAL_MS", "100".to_owned()),
    ]);
    let (_, seed, _) = server.enroll_active("eli");
    assert_eq!(
        server.validate("eli", &wrong_code(&seed))["RsStat"],
        "Failed"
    );
    let kept = || {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::sql_query("SELECT COUNT(*) AS n FROM failed_codes")
            .get_result::<Row>(&mut crate::support::database(&server.data_dir))
            .unwrap()
            .n
    };
    assert_eq!(kept(), 1, "the hash is kept for explain");
    // No further failure comes: the sweeper alone removes it once past its retention.
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while kept() != 0 && std::time::Instant::now() < end {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(kept(), 0, "expired hashes are purged by the sweeper");
}

#[test]
fn user_names_compare_after_nfkc_and_case_folding() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(dir.path(), &[]).unwrap();
    let (status, rs) = server.post(
        "/api/v1/users",
        &json!({"UsrName": "carol", "PhoneNum": PHONE}),
    );
    assert_eq!(status, 200, "{rs}");
    // `Carol` and `Ｃarol` (a full-width C) are carol: no second user.
    for twin in ["Carol", "\u{ff23}arol", "CAROL"] {
        let (status, rs) = server.post("/api/v1/users", &json!({"UsrName": twin}));
        assert_eq!(
            (status, fault(&rs).0.as_str()),
            (409, "7036"),
            "{twin}: {rs}"
        );
        let view = user(&server, &twin.replace('\u{ff23}', "%EF%BC%A3"));
        assert_eq!(view["UsrName"], "carol", "{twin}: {view}");
    }
    // A token enrolled for `Ｃarol` is carol's, and validates by any spelling.
    let (token, seed, step) = server.enroll_active("\u{ff23}arol");
    assert_eq!(
        user(&server, "carol")["MFATokenArray"][0]["TokenId"],
        token.as_str()
    );
    let code = totp(&seed, "SHA1", 6, step + 1);
    assert_eq!(server.validate("CAROL", &code)["RsStat"], "Success");
    // Names that collided before keys existed are reported at start and keep working
    // by their exact name.
    crate::support::tamper(
        dir.path(),
        "INSERT INTO users (inst_rt_id, usr_name, created_at, oob_failed_sessions) \
         VALUES ('tokend', 'Carol', 0, 0)",
    );
    let logs = server.stop_and_logs();
    assert!(!logs.contains("folds onto"), "{logs}");
    let mut again = TestServer::start_in(dir.path(), &[]).unwrap();
    let view = user(&again, "Carol");
    assert_eq!(view["UsrName"], "Carol", "the exact name wins: {view}");
    assert_eq!(user(&again, "cArOl")["UsrName"], "carol");
    let logs = again.stop_and_logs();
    assert!(
        logs.contains("\"Carol\"") && logs.contains("folds onto another user's name"),
        "{logs}"
    );
}
