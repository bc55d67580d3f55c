//! Out-of-band SMS validation through the real server: the lock fallback, OOBValidate and
//! its faults, one attempt per session, expiry, resends, the send cap, SMS replies, the
//! "90040" events, and the http provider against a real listener.

use serde_json::{json, Value};
use std::time::{Duration, Instant};

use crate::sink::{Mode, Received, Sink};
use crate::support::{create_key, fault, now_step, totp, wrong_code, TestServer};

pub const PHONE: &str = "4175556652";

/// Enrolls and activates a software token for a user with a phone on file.
pub fn enroll_with_phone(server: &TestServer, usr: &str, phone: &str) -> (String, Vec<u8>, i64) {
    let (status, rs) = server.post(
        "/api/v1/tokens",
        &json!({"UsrName": usr, "TokenType": "Software", "PhoneNum": phone}),
    );
    assert_eq!(status, 200, "{rs}");
    let token = rs["TokenId"].as_str().unwrap().to_owned();
    let seed = crate::support::b32(rs["Secret"].as_str().unwrap());
    let step = now_step(30) - 1;
    server.activate(&token, &seed, step);
    (token, seed, step)
}

/// Five wrong codes; answers the fifth (Locked) answer.
pub fn lock(server: &TestServer, usr: &str, seed: &[u8]) -> Value {
    let wrong = wrong_code(seed);
    for _ in 0..4 {
        assert_eq!(server.validate(usr, &wrong)["RsStat"], "Failed");
    }
    let rs = server.validate(usr, &wrong);
    assert_eq!(rs["RsStat"], "Locked", "{rs}");
    rs
}

pub fn get_json(server: &TestServer, path: &str) -> (u16, Value) {
    let (status, _, _, bytes) = server.get(path);
    (status, serde_json::from_slice(&bytes).unwrap())
}

pub fn outbox(server: &TestServer) -> Vec<Value> {
    let (status, rs) = get_json(server, "/api/v1/sms/outbox");
    assert_eq!(status, 200, "{rs}");
    rs["Messages"].as_array().unwrap().clone()
}

/// The code in the newest outbox message of a session.
pub fn code_in_outbox(server: &TestServer, alrt: &str) -> String {
    let messages = outbox(server);
    let body = messages
        .iter()
        .rev()
        .find(|m| m["AlrtPkgId"] == alrt)
        .unwrap_or_else(|| panic!("no SMS for {alrt} in {messages:?}"))["Body"]
        .as_str()
        .unwrap()
        .to_owned();
    body.split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| w.len() == 6 && w.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no code in {body:?}"))
        .to_owned()
}

pub fn events(server: &TestServer) -> Vec<Value> {
    let (status, rs) = get_json(server, "/api/v1/events?after=0");
    assert_eq!(status, 200, "{rs}");
    rs["Events"].as_array().unwrap().clone()
}

pub fn events_of(server: &TestServer, alrt: &str) -> Vec<Value> {
    events(server)
        .into_iter()
        .filter(|e| e["AlrtPkgId"] == alrt)
        .collect()
}

/// Every audit row, as text, read from the database file.
pub fn audit_text(server: &TestServer) -> String {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        line: String,
    }
    let mut conn = crate::support::database(&server.data_dir);
    diesel::sql_query(
        "SELECT action || ' ' || result || ' ' || COALESCE(usr_name, '') || ' ' || \
         COALESCE(detail, '') AS line FROM audit_events",
    )
    .load::<Row>(&mut conn)
    .unwrap()
    .into_iter()
    .map(|r| r.line)
    .collect::<Vec<_>>()
    .join("\n")
}

pub fn start_oob(server: &TestServer, body: &Value) -> Value {
    let (status, rs) = server.post("/api/v1/oob", body);
    assert_eq!(status, 200, "{rs}");
    rs
}

pub fn verify(server: &TestServer, alrt: &str, otp: &str) -> Value {
    let (status, rs) = server.post(
        &format!("/api/v1/oob/{alrt}/verify"),
        &json!({ "OTP": otp }),
    );
    assert_eq!(status, 200, "{rs}");
    rs
}

pub fn two_way(server: &TestServer, phone: &str) -> (String, String) {
    let rs = start_oob(server, &json!({"PhoneNum": phone, "OOBModeType": "TwoWay"}));
    (
        rs["AlrtPkgId"].as_str().unwrap().to_owned(),
        rs["OTP"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn locked_token_starts_oob_session_and_the_sms_code_verifies() {
    let server = TestServer::start();
    let (token, seed, step) = enroll_with_phone(&server, "erin", PHONE);
    let locked = lock(&server, "erin", &seed);
    let oob = &locked["OOB"];
    assert_eq!(locked["TokenId"], token.as_str());
    assert_eq!(oob["PhoneNumMasked"], "******6652", "{locked}");
    assert_eq!(oob["SendStat"], "Sent");
    assert_eq!(oob["OOBModeType"], "TwoWay");
    assert!(oob["ExpDt"].as_str().is_some());
    assert!(
        oob.get("OTP").is_none(),
        "the fallback never returns the code"
    );
    assert!(!locked.to_string().contains(PHONE), "the number is masked");
    let alrt = oob["AlrtPkgId"].as_str().unwrap();

    // Another Locked answer reuses the pending session: no second SMS.
    let again = server.validate("erin", &totp(&seed, "SHA1", 6, step + 1));
    assert_eq!(again["RsStat"], "Locked");
    assert_eq!(again["OOB"]["AlrtPkgId"], alrt);
    assert_eq!(outbox(&server).len(), 1);

    let code = code_in_outbox(&server, alrt);
    let rs = verify(&server, alrt, &code);
    assert_eq!(
        (rs["RsStat"].as_str(), rs["UsrName"].as_str()),
        (Some("Success"), Some("erin"))
    );
    assert_eq!(
        verify(&server, alrt, &code)["RsStat"],
        "Failed",
        "a verified session is done"
    );
    let ended = outbox(&server)[0]["Body"].as_str().unwrap().to_owned();
    assert!(
        !ended.contains(&code) && ended.contains("******"),
        "an ended session's code leaves the database, its text stays masked: {ended}"
    );
    let evs = events_of(&server, alrt);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(
        (evs[0]["RsStat"].as_str(), evs[0]["EvtType"].as_str()),
        (Some("Success"), Some("90040"))
    );
    let audit = audit_text(&server);
    assert!(
        audit.contains("oob.start") && audit.contains("oob.verify"),
        "{audit}"
    );
    assert!(!audit.contains(PHONE), "no full number in the audit");
    assert!(!audit.contains(&code), "no code in the audit");
    // An OOB success does not unlock the token.
    assert_eq!(
        server.validate("erin", &totp(&seed, "SHA1", 6, step + 2))["RsStat"],
        "Locked"
    );
}

#[test]
fn a_locked_user_without_phone_gets_locked_and_a_reason() {
    let server = TestServer::start();
    let (_, seed, _) = server.enroll_active("frank");
    let rs = lock(&server, "frank", &seed);
    assert!(rs.get("OOB").is_none(), "{rs}");
    assert!(
        rs["OOBRsn"].as_str().unwrap().contains("no PhoneNum"),
        "{rs}"
    );
    assert!(outbox(&server).is_empty());
}

#[test]
fn a_wrong_code_fails_the_session_and_the_right_code_then_fails_too() {
    let server = TestServer::start();
    let (alrt, otp) = two_way(&server, PHONE);
    let wrong = if otp == "000000" { "111111" } else { "000000" };
    assert_eq!(verify(&server, &alrt, wrong)["RsStat"], "Failed");
    assert_eq!(verify(&server, &alrt, &otp)["RsStat"], "Failed");
    let evs = events_of(&server, &alrt);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0]["RsStat"], "Failed");
    let (_, rs) = get_json(&server, &format!("/api/v1/oob/{alrt}"));
    assert_eq!(rs["OOBStat"], "Failed");
    let (status, rs) = server.post(&format!("/api/v1/oob/{alrt}/resend"), &json!({}));
    assert_eq!((status, fault(&rs).0.as_str()), (409, "7051"), "{rs}");
}

/// Expiry reads the institution's clock: a sandbox's, moved past it, ends the session at
/// once, without waiting out the 15 s (issue 29). The real sweeper on the real clock is
/// `cluster::expired_sessions_are_swept_once_by_racing_sweepers`.
#[test]
fn a_session_expires_by_the_clock_and_emits_one_expired_event() {
    let sbx = crate::sandbox::Sandbox::start(&[]);
    let (status, rs) = sbx.post(
        "/api/v1/oob",
        &json!({"PhoneNum": PHONE, "OOBModeType": "TwoWay", "ExpSec": 15}),
    );
    assert_eq!(status, 200, "{rs}");
    let alrt = rs["AlrtPkgId"].as_str().unwrap().to_owned();
    let otp = rs["OTP"].as_str().unwrap().to_owned();
    let events_of = || {
        let (_, rs) = sbx.get("/api/v1/events");
        let all = rs["Events"].as_array().unwrap().clone();
        all.into_iter()
            .filter(|e| e["AlrtPkgId"] == alrt.as_str())
            .collect::<Vec<_>>()
    };
    sbx.advance(14);
    assert!(events_of().is_empty(), "not yet expired");
    sbx.advance(2);
    let evs = events_of();
    assert_eq!(evs.len(), 1, "the clock's move swept it: {evs:?}");
    assert_eq!(evs[0]["RsStat"], "Expired");
    let (_, rs) = sbx.post(&format!("/api/v1/oob/{alrt}/verify"), &json!({"OTP": otp}));
    assert_eq!(rs["RsStat"], "Expired");
    assert_eq!(events_of().len(), 1);
}

#[test]
fn oob_validate_faults_carry_the_published_codes() {
    let server = TestServer::start();
    let cases = [
        (json!({"PhoneNum": "417555665"}), 422, "3147", "PhoneNum"),
        (json!({"PhoneNum": "+417555665"}), 422, "3147", "PhoneNum"),
        (json!({"OOBModeType": "TwoWay"}), 400, "3154", "PhoneNum"),
        (
            json!({"PhoneNum": PHONE, "OOBModeType": "ThreeWay"}),
            400,
            "2005",
            "OOBModeType",
        ),
        (
            json!({"PhoneNum": PHONE, "SMSText": "<%$otp%> <%$otpa%>"}),
            422,
            "3156",
            "SMSText",
        ),
        (
            json!({"PhoneNum": PHONE, "SMSText": "Hi <%$FirstName%> <%$otp%>"}),
            422,
            "3157",
            "SMSText",
        ),
        (
            json!({"PhoneNum": PHONE, "OOBModeType": "TwoWay", "SMSText": "Call us"}),
            422,
            "3158",
            "SMSText",
        ),
        (
            json!({"PhoneNum": PHONE, "ExpSec": 14}),
            422,
            "3160",
            "ExpSec",
        ),
        (
            json!({"PhoneNum": PHONE, "ExpSec": 1801}),
            422,
            "3160",
            "ExpSec",
        ),
        (
            json!({"PhoneNum": PHONE, "ExpSec": -5}),
            422,
            "3160",
            "ExpSec",
        ),
        (
            json!({"PhoneNum": PHONE, "ExpSec": "300"}),
            400,
            "7001",
            "ExpSec",
        ),
        (json!({"PhoneNum": PHONE, "Bogus": 1}), 400, "7004", "Bogus"),
        (json!({"UsrName": "nobody"}), 404, "7021", "UsrName"),
    ];
    for (body, status, code, elem) in cases {
        let (s, rs) = server.post("/api/v1/oob", &body);
        assert_eq!(
            (s, fault(&rs)),
            (status, (code.to_owned(), Some(elem.to_owned()))),
            "{body}: {rs}"
        );
    }
    assert!(outbox(&server).is_empty(), "no fault sent an SMS");
}

#[test]
fn one_way_otpa_and_verify_faults() {
    let server = TestServer::start();

    // OneWay: a notification, with or without a code; no session to verify. A text of
    // the consumer's own needs the sms scope (issue 26).
    let notices = create_key(&server.data_dir, "notices", "validate,sms");
    let (status, one) = server.post_as(
        &notices,
        "/api/v1/oob",
        &json!({"PhoneNum": PHONE, "OOBModeType": "OneWay", "SMSText": "Your card was used"}),
    );
    assert_eq!(status, 200, "{one}");
    assert_eq!(
        (one["RsStat"].as_str(), one["OOBModeType"].as_str()),
        (Some("Success"), Some("OneWay"))
    );
    let one_id = one["AlrtPkgId"].as_str().unwrap();
    let (s, rs) = server.post(
        &format!("/api/v1/oob/{one_id}/verify"),
        &json!({"OTP": "123456"}),
    );
    assert_eq!((s, fault(&rs).0.as_str()), (409, "7051"));
    // otpa: six letters and digits.
    let a = start_oob(
        &server,
        &json!({"PhoneNum": PHONE, "SMSText": "Code: <%$otpa%>"}),
    );
    let otpa = a["OTP"].as_str().unwrap();
    assert!(otpa.len() == 6 && otpa.bytes().all(|b| b.is_ascii_alphanumeric()));
    // Verify faults: malformed OTP (session untouched), unknown session.
    let a_id = a["AlrtPkgId"].as_str().unwrap();
    let (s, rs) = server.post(&format!("/api/v1/oob/{a_id}/verify"), &json!({"OTP": "12"}));
    assert_eq!((s, fault(&rs).0.as_str()), (422, "7054"));
    let (s, rs) = server.post(&format!("/api/v1/oob/{a_id}/verify"), &json!({}));
    assert_eq!(
        (s, fault(&rs)),
        (400, ("3103".to_owned(), Some("OTP".to_owned())))
    );
    let otpa_lower = otpa.to_ascii_lowercase();
    assert_eq!(
        verify(&server, a_id, &otpa_lower)["RsStat"],
        "Success",
        "otpa ignores case"
    );
    let unknown = "00000000-0000-4000-8000-000000000000";
    let (s, rs) = server.post(
        &format!("/api/v1/oob/{unknown}/verify"),
        &json!({"OTP": "123456"}),
    );
    assert_eq!((s, fault(&rs).0.as_str()), (404, "7050"));
    let (s, rs) = server.post(
        "/api/v1/oob/not%20an%20id/verify",
        &json!({"OTP": "123456"}),
    );
    assert_eq!((s, fault(&rs).0.as_str()), (404, "7050"));
    let (s, _, _, body) = server.get("/api/v1/events?after=x");
    let rs: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((s, fault(&rs).0.as_str()), (400, "7001"));
}

#[test]
fn the_send_cap_stops_sms_pumping_per_phone_and_per_user() {
    let dir = tempfile::tempdir().unwrap();
    // `allow`: sends by UsrName to other numbers are what the per-user cap is about.
    let env = [
        ("ROCKET_SMS_SEND_CAP", "2"),
        ("ROCKET_OOB_EXPLICIT_PHONE", "allow"),
    ];
    let server = TestServer::start_in(dir.path(), &env).unwrap();
    two_way(&server, "5552000001");
    two_way(&server, "5552000001");
    let (s, rs) = server.post("/api/v1/oob", &json!({"PhoneNum": "5552000001"}));
    assert_eq!((s, fault(&rs).0.as_str()), (429, "7052"), "{rs}");
    assert_eq!(outbox(&server).len(), 2, "no SMS past the cap");

    // The user's phone is capped: the lock fallback answers 429 and sends nothing.
    let (_, seed, _) = enroll_with_phone(&server, "gina", "5552000002");
    two_way(&server, "5552000002");
    two_way(&server, "5552000002");
    let wrong = wrong_code(&seed);
    for _ in 0..4 {
        server.validate("gina", &wrong);
    }
    let (s, rs) = server.post(
        "/api/v1/validate",
        &json!({"UsrName": "gina", "Code": wrong}),
    );
    assert_eq!((s, fault(&rs).0.as_str()), (429, "7052"), "{rs}");
    assert_eq!(outbox(&server).len(), 4);

    // Per user: sends by UsrName count against the user whatever the number.
    enroll_with_phone(&server, "hal", "5552000003");
    start_oob(&server, &json!({"UsrName": "hal"}));
    start_oob(
        &server,
        &json!({"UsrName": "hal", "PhoneNum": "5552000004"}),
    );
    let (s, rs) = server.post(
        "/api/v1/oob",
        &json!({"UsrName": "hal", "PhoneNum": "5552000005"}),
    );
    assert_eq!((s, fault(&rs).0.as_str()), (429, "7052"), "{rs}");
}

#[test]
fn resend_sends_a_fresh_code_within_limits() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("ROCKET_OOB_MAX_RESENDS", "2")];
    let server = TestServer::start_in(dir.path(), &env).unwrap();
    let (alrt, first) = two_way(&server, PHONE);
    let path = format!("/api/v1/oob/{alrt}/resend");
    let (s, rs) = server.post(&path, &json!({}));
    assert_eq!((s, rs["ResendRemain"].as_u64()), (200, Some(1)), "{rs}");
    let second = rs["OTP"].as_str().unwrap().to_owned();
    assert_eq!(code_in_outbox(&server, &alrt), second);
    let (s, rs) = server.post(&path, &json!({}));
    assert_eq!((s, rs["ResendRemain"].as_u64()), (200, Some(0)));
    let third = rs["OTP"].as_str().unwrap().to_owned();
    let (s, rs) = server.post(&path, &json!({}));
    assert_eq!((s, fault(&rs).0.as_str()), (429, "7053"), "{rs}");
    if first != third {
        assert_eq!(
            verify(&server, &alrt, &first)["RsStat"],
            "Failed",
            "the old code stopped"
        );
    } else {
        assert_eq!(verify(&server, &alrt, &third)["RsStat"], "Success");
    }
}

#[test]
fn an_sms_reply_verifies_the_pending_session() {
    let server = TestServer::start();
    let provider = create_key(&server.data_dir, "sms-provider", "sms");
    let (alrt, otp) = two_way(&server, PHONE);
    let inbound = |key: &str, body: Value| server.post_as(key, "/api/v1/sms/inbound", &body);
    let (s, rs) = inbound(&server.key, json!({"From": PHONE, "Body": otp}));
    assert_eq!(
        (s, fault(&rs).0.as_str()),
        (403, "7011"),
        "a validate key cannot answer"
    );
    let (s, rs) = inbound(&provider, json!({"From": "12345", "Body": otp}));
    assert_eq!(
        (s, fault(&rs)),
        (422, ("3147".to_owned(), Some("From".to_owned())))
    );
    let (s, rs) = inbound(
        &provider,
        json!({"From": format!("+1{PHONE}"), "Body": "STOP"}),
    );
    assert_eq!((s, rs.get("RsStat")), (200, None), "no code, no effect");
    let (s, rs) = inbound(
        &provider,
        json!({"From": format!("+1{PHONE}"), "Body": format!(" {otp}\n")}),
    );
    assert_eq!(
        (s, rs["RsStat"].as_str(), rs["AlrtPkgId"].as_str()),
        (200, Some("Success"), Some(alrt.as_str()))
    );
    let (_, rs) = inbound(&provider, json!({"From": PHONE, "Body": otp}));
    assert_eq!(rs.get("RsStat"), None, "no pending session is left");
    assert_eq!(events_of(&server, &alrt).len(), 1);
}

fn http_env(sink: &Sink, extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("ROCKET_SMS_PROVIDER", "http".to_owned()),
        ("ROCKET_SMS_HTTP_URL", format!("{}/sms", sink.url)),
        ("ROCKET_SMS_HTTP_TOKEN", "provider-secret".to_owned()),
        // Generous for a loaded CI machine: the wait ends as soon as the send is settled.
        ("ROCKET_SMS_ANSWER_WAIT_MS", "10000".to_owned()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    env
}

fn start_with(env: &[(&'static str, String)]) -> (tempfile::TempDir, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = TestServer::start_in(dir.path(), &env).unwrap();
    (dir, server)
}

#[test]
fn the_http_provider_posts_json_with_the_bearer_token() {
    let sink = Sink::start(Mode::Ok);
    let (_dir, server) = start_with(&http_env(&sink, &[]));
    let (token, seed, _) = enroll_with_phone(&server, "ivy", PHONE);
    let rs = lock(&server, "ivy", &seed);
    assert_eq!(rs["OOB"]["SendStat"], "Sent", "{rs}");
    let got = sink.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/sms");
    assert_eq!(
        got[0].authorization.as_deref(),
        Some("Bearer provider-secret")
    );
    assert_eq!(got[0].body["to"], PHONE);
    let text = got[0].body["body"].as_str().unwrap();
    let code = text
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap();
    let msgs = outbox(&server);
    assert_eq!(
        (msgs[0]["SendStat"].as_str(), msgs[0]["Provider"].as_str()),
        (Some("Sent"), Some("http"))
    );
    let kept = msgs[0]["Body"].as_str().unwrap();
    assert!(
        !kept.contains(code) && kept.contains("******"),
        "the code is dropped once delivered, the text stays masked: {kept}"
    );
    let alrt = rs["OOB"]["AlrtPkgId"].as_str().unwrap();
    assert_eq!(verify(&server, alrt, code)["RsStat"], "Success");
    assert!(!token.is_empty());
}

#[test]
fn a_failing_provider_is_retried_and_the_session_records_the_failure() {
    let sink = Sink::start(Mode::Status(500));
    let extra = [
        ("ROCKET_SMS_HTTP_ATTEMPTS", "3"),
        ("ROCKET_SMS_HTTP_BACKOFF_MS", "50"),
    ];
    let (_dir, server) = start_with(&http_env(&sink, &extra));
    let rs = start_oob(&server, &json!({"PhoneNum": PHONE}));
    assert_eq!(rs["SendStat"], "Failed", "the consumer is told: {rs}");
    assert_eq!(sink.received().len(), 3, "three attempts");
    let alrt = rs["AlrtPkgId"].as_str().unwrap();
    let (_, session) = get_json(&server, &format!("/api/v1/oob/{alrt}"));
    assert_eq!(
        (session["SendStat"].as_str(), session["OOBStat"].as_str()),
        (Some("Failed"), Some("Pending"))
    );
    let msgs = outbox(&server);
    assert_eq!(
        (msgs[0]["Attempts"].as_u64(), msgs[0]["LastErr"].as_str()),
        (Some(3), Some("HTTP 500"))
    );
    // The session is not lost: a resend once the provider is back delivers it.
    sink.set_mode(Mode::Ok);
    let (s, rs) = server.post(&format!("/api/v1/oob/{alrt}/resend"), &json!({}));
    assert_eq!((s, rs["SendStat"].as_str()), (200, Some("Sent")), "{rs}");
    let otp = rs["OTP"].as_str().unwrap();
    assert_eq!(verify(&server, alrt, otp)["RsStat"], "Success");
}

#[test]
fn a_hanging_provider_blocks_no_other_request() {
    let sink = Sink::start(Mode::Hang);
    let extra = [
        ("ROCKET_SMS_HTTP_ATTEMPTS", "1"),
        ("ROCKET_SMS_HTTP_TIMEOUT_MS", "6000"),
        ("ROCKET_SMS_ANSWER_WAIT_MS", "200"),
    ];
    let (_dir, server) = start_with(&http_env(&sink, &extra));
    let (_, seed, step) = server.enroll_active("jack");
    let t0 = Instant::now();
    let rs = start_oob(&server, &json!({"PhoneNum": PHONE}));
    assert_eq!(rs["SendStat"], "Pending", "{rs}");
    let other = server.validate("jack", &totp(&seed, "SHA1", 6, step + 1));
    assert_eq!(other["RsStat"], "Success");
    assert!(
        t0.elapsed() < Duration::from_millis(4000),
        "the 6 s hang held up other requests: {:?}",
        t0.elapsed()
    );
    let alrt = rs["AlrtPkgId"].as_str().unwrap();
    let end = Instant::now() + Duration::from_secs(20);
    let mut session = Value::Null;
    while Instant::now() < end {
        session = get_json(&server, &format!("/api/v1/oob/{alrt}")).1;
        if session["SendStat"] != "Pending" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        session["SendStat"], "Failed",
        "the timeout is recorded: {session}"
    );
    assert_eq!(session["OOBStat"], "Pending");
}

#[test]
fn events_reach_the_webhook_and_survive_a_restart() {
    let hook = Sink::start(Mode::Status(503));
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/events", hook.url);
    let env = [
        ("ROCKET_EVENT_WEBHOOK_URL", url.as_str()),
        ("ROCKET_EVENT_WEBHOOK_TOKEN", "hook-secret"),
        // Short, so an attempt cut by the kill is retried soon after the restart.
        ("ROCKET_SMS_HTTP_TIMEOUT_MS", "1000"),
    ];
    let mut server = TestServer::start_in(dir.path(), &env).unwrap();
    let (a, a_otp) = two_way(&server, PHONE);
    let (b, _) = two_way(&server, "5554442222");
    assert_eq!(verify(&server, &a, &a_otp)["RsStat"], "Success");
    assert_eq!(verify(&server, &b, "999999")["RsStat"], "Failed");
    hook.wait_until(10, |got| !got.is_empty());
    server.stop();
    hook.set_mode(Mode::Ok);
    let server = TestServer::start_in(dir.path(), &env).unwrap();
    let got = hook.wait_until(40, |got| {
        [&a, &b]
            .iter()
            .all(|id| got.iter().any(|r| r.body["AlrtPkgId"] == id.as_str()))
    });
    let delivered: Vec<&Received> = got.iter().collect();
    for (id, result) in [(&a, "Success"), (&b, "Failed")] {
        let hit = delivered
            .iter()
            .find(|r| r.body["AlrtPkgId"] == id.as_str())
            .unwrap_or_else(|| panic!("event of {id} not delivered: {got:?}"));
        assert_eq!(hit.body["RsStat"], result);
        assert_eq!(hit.body["EvtType"], "90040");
        assert_eq!(hit.authorization.as_deref(), Some("Bearer hook-secret"));
    }
    let evs = events(&server);
    assert_eq!(evs.len(), 2, "{evs:?}");
    let end = Instant::now() + Duration::from_secs(5);
    while events(&server).iter().any(|e| e["Delivered"] != true) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(events(&server).iter().all(|e| e["Delivered"] == true));
}

/// Any request on an OOB route: status and JSON body (the test fails on a non-JSON answer).
fn raw(
    server: &TestServer,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &[u8],
) -> (u16, Value) {
    let mut rq = ureq::request(method, &format!("{}{path}", server.base));
    if let Some(key) = key {
        rq = rq.set("Authorization", &format!("Bearer {key}"));
    }
    let rs = if method == "GET" {
        rq.call()
    } else {
        rq.send_bytes(body)
    };
    crate::support::json_of(rs)
}

#[test]
fn malformed_requests_on_oob_routes_get_4xx_json_faults() {
    let server = TestServer::start();
    let sms = create_key(&server.data_dir, "sms-garbage", "sms");
    let (alrt, _) = two_way(&server, PHONE);
    let posts = [
        "/api/v1/oob".to_owned(),
        format!("/api/v1/oob/{alrt}/verify"),
        format!("/api/v1/oob/{alrt}/resend"),
        "/api/v1/sms/inbound".to_owned(),
    ];
    let bodies: &[&[u8]] = &[
        b"",
        b"{",
        b"[]",
        b"null",
        b"\xff\xfe",
        b"{\"OTP\": 123456}",
        b"{\"From\": null, \"Body\": []}",
        b"{\"PhoneNum\": 4175556652}",
        b"{\"SMSText\": 5}",
        b"{\"ExpSec\": 1e99}",
        b"{\"Bogus\": true}",
    ];
    for path in &posts {
        let key = if path.ends_with("inbound") {
            &sms
        } else {
            &server.key
        };
        for body in bodies {
            let (status, rs) = raw(&server, "POST", path, Some(key), body);
            assert!(
                (400..500).contains(&status),
                "{path} {}: {status} {rs}",
                String::from_utf8_lossy(body)
            );
            assert!(rs["MsgRsHdr"]["MsgRecInfoArray"][0]["ErrCode"].is_string());
        }
        let (status, rs) = raw(&server, "POST", path, None, b"{}");
        assert_eq!((status, fault(&rs).0.as_str()), (401, "7010"), "{path}");
    }
    for path in [
        "/api/v1/sms/outbox?after=-1",
        "/api/v1/events?after=99999999999999999999",
        "/api/v1/oob/zz",
        "/api/v1/oob/00000000-0000-4000-8000-000000000000",
    ] {
        let (status, rs) = raw(&server, "GET", path, Some(&server.key), b"");
        assert!((400..500).contains(&status), "{path}: {status} {rs}");
    }
    let (status, rs) = raw(&server, "GET", "/api/v1/sms/outbox", Some(&sms), b"");
    assert_eq!((status, fault(&rs).0.as_str()), (403, "7011"));
    // The header is echoed in faults too.
    let body =
        json!({"MsgRqHdr": {"jXchangeHdr": {"jXLogTrackingId": "trk-oob"}}, "PhoneNum": "1"});
    let (_, rs) = server.post("/api/v1/oob", &body);
    assert_eq!(rs["MsgRsHdr"]["jXchangeHdr"]["jXLogTrackingId"], "trk-oob");
}

#[test]
fn sigterm_stops_the_server_and_its_background_threads_cleanly() {
    use std::process::Command;
    let sink = Sink::start(Mode::Hang);
    let dir = tempfile::tempdir().unwrap();
    let sms_url = format!("{}/sms", sink.url);
    let env = [
        ("ROCKET_SMS_PROVIDER", "http"),
        ("ROCKET_SMS_HTTP_URL", sms_url.as_str()),
        ("ROCKET_SMS_HTTP_TIMEOUT_MS", "2000"),
        ("ROCKET_SMS_ANSWER_WAIT_MS", "100"),
    ];
    let mut server = TestServer::start_in(dir.path(), &env).expect("the server starts");
    let (status, rs) = server.post("/api/v1/oob", &json!({"PhoneNum": PHONE}));
    assert_eq!(
        (status, rs["SendStat"].as_str()),
        (200, Some("Pending")),
        "{rs}"
    );
    sink.wait_until(10, |got| !got.is_empty()); // a sender is now inside a hanging call
    let killed = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = server
        .wait_exit(Duration::from_secs(20))
        .expect("tokend stops within 20 s of SIGTERM");
    assert!(status.success(), "clean exit: {status}");
}

/// A webhook that refuses one event for good (a 4xx) does not hold back the later ones:
/// the refused event is set aside, marked in the log, and never pushed again.
#[test]
fn an_event_the_webhook_refuses_is_set_aside_and_the_next_ones_flow() {
    let hook = Sink::start(Mode::Status(422));
    let url = format!("{}/events", hook.url);
    let env = [("ROCKET_EVENT_WEBHOOK_URL", url.as_str())];
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path(), &env).unwrap();
    let (a, a_otp) = two_way(&server, PHONE);
    assert_eq!(verify(&server, &a, &a_otp)["RsStat"], "Success");
    hook.wait_until(10, |got| {
        got.iter().any(|r| r.body["AlrtPkgId"] == a.as_str())
    });
    hook.set_mode(Mode::Ok);
    let (b, b_otp) = two_way(&server, "5554442222");
    assert_eq!(verify(&server, &b, &b_otp)["RsStat"], "Success");
    let got = hook.wait_until(10, |got| {
        got.iter().any(|r| r.body["AlrtPkgId"] == b.as_str())
    });
    let tries_of_a = got
        .iter()
        .filter(|r| r.body["AlrtPkgId"] == a.as_str())
        .count();
    assert_eq!(tries_of_a, 1, "a refused event is not pushed again");
    let evs = events(&server);
    let of = |id: &str| evs.iter().find(|e| e["AlrtPkgId"] == id).unwrap().clone();
    assert_eq!(of(&a)["Refused"], true, "{evs:?}");
    assert_eq!(of(&a)["Delivered"], false);
    let end = Instant::now() + Duration::from_secs(5);
    while events(&server)
        .iter()
        .any(|e| e["AlrtPkgId"] == b.as_str() && e["Delivered"] != true)
        && Instant::now() < end
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let evs = events(&server);
    let b_event = evs.iter().find(|e| e["AlrtPkgId"] == b.as_str()).unwrap();
    assert_eq!(b_event["Delivered"], true);
    assert!(b_event.get("Refused").is_none());
}

/// The sweeper purges OOB sessions (phone numbers), their SMS and events once past
/// `oob_retention_secs`, and audits it.
#[test]
fn the_sweeper_purges_sessions_past_the_retention() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("ROCKET_OOB_RETENTION_SECS", "1"),
        ("ROCKET_OOB_SWEEP_INTERVAL_MS", "100"),
    ];
    let server = TestServer::start_in(dir.path(), &env).unwrap();
    let rs = start_oob(
        &server,
        &json!({"PhoneNum": PHONE, "OOBModeType": "TwoWay", "ExpSec": 15}),
    );
    let alrt = rs["AlrtPkgId"].as_str().unwrap().to_owned();
    let otp = rs["OTP"].as_str().unwrap().to_owned();
    assert_eq!(verify(&server, &alrt, &otp)["RsStat"], "Success");
    assert_eq!(events_of(&server, &alrt).len(), 1);
    // Kept while it could still be asked about: expiry (15 s) + retention (1 s).
    let (status, _) = get_json(&server, &format!("/api/v1/oob/{alrt}"));
    assert_eq!(status, 200);
    let end = Instant::now() + Duration::from_secs(30);
    while get_json(&server, &format!("/api/v1/oob/{alrt}")).0 == 200 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(get_json(&server, &format!("/api/v1/oob/{alrt}")).0, 404);
    assert!(events_of(&server, &alrt).is_empty());
    let (_, outbox) = get_json(&server, "/api/v1/sms/outbox");
    assert_eq!(outbox["Messages"].as_array().unwrap().len(), 0);
    assert!(audit_text(&server).contains("oob.purge Success"));
}
