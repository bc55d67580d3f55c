//! Where an SMS may go and how many may leave, through the real server (issue 26): a
//! user's code reaches the phone on file, the SIM-swap hold belongs to the user whose
//! phone changed, a phone change ends the user's sessions and tells the old number, and
//! the caps, blocked numbers and text rules against SMS pumping.

use serde_json::{json, Value};

use crate::api_oob::{audit_text, enroll_with_phone, events_of, get_json, outbox, verify, PHONE};
use crate::support::{create_key, fault, TestServer};

const OTHER: &str = "2125550142";

fn start_with(env: &[(&str, &str)]) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(dir.path(), env).unwrap();
    server.keep_dir(dir);
    server
}

fn create_user(server: &TestServer, usr: &str, phone: &str) -> String {
    let (status, rs) = server.post("/api/v1/users", &json!({"UsrName": usr, "PhoneNum": phone}));
    assert_eq!(status, 200, "{rs}");
    rs["ActIntentKey"].as_str().unwrap().to_owned()
}

fn change_phone(server: &TestServer, usr: &str, phone: &str) {
    let (_, view) = get_json(server, &format!("/api/v1/users/{usr}"));
    let key = view["ActIntentKey"].as_str().unwrap();
    let (status, rs) = server.post(
        &format!("/api/v1/users/{usr}/phone"),
        &json!({"ActIntentKey": key, "PhoneNum": phone}),
    );
    assert_eq!(status, 200, "{rs}");
}

fn oob(server: &TestServer, body: Value) -> (u16, Value) {
    server.post("/api/v1/oob", &body)
}

#[test]
fn a_users_code_goes_only_to_the_phone_on_file() {
    let server = TestServer::start();
    create_user(&server, "alice", PHONE);
    let (status, rs) = oob(
        &server,
        json!({"UsrName": "alice", "PhoneNum": OTHER, "OOBModeType": "TwoWay"}),
    );
    assert_eq!(
        (status, fault(&rs)),
        (409, ("7035".into(), Some("PhoneNum".into()))),
        "{rs}"
    );
    // The same over SOAP (OOBValidate).
    let inner = format!(
        "{}<PhoneNum>{OTHER}</PhoneNum><UsrName>alice</UsrName><OOBModeType>TwoWay</OOBModeType>",
        crate::soap::good_hdr()
    );
    let (status, body) = crate::soap::call(&server, "OOBValidate", &inner);
    crate::soap::assert_fault(status, &body, "7035");
    assert!(outbox(&server).is_empty(), "nothing was sent");
    assert!(audit_text(&server).contains("is not the user's phone on file"));
    // Naming the number on file, or none, reaches it.
    for body in [
        json!({"UsrName": "alice", "PhoneNum": PHONE, "OOBModeType": "TwoWay"}),
        json!({"UsrName": "alice", "OOBModeType": "TwoWay"}),
    ] {
        let (status, rs) = oob(&server, body);
        assert_eq!(status, 200, "{rs}");
        assert!(rs.get("PhoneNumOnFile").is_none(), "{rs}");
    }
    // During the user's hold, whatever number is named: 7055.
    change_phone(&server, "alice", "2125550199");
    for phone in [OTHER, "2125550199"] {
        let (status, rs) = oob(
            &server,
            json!({"UsrName": "alice", "PhoneNum": phone, "OOBModeType": "TwoWay"}),
        );
        assert_eq!((status, fault(&rs).0.as_str()), (409, "7055"), "{rs}");
    }
}

#[test]
fn an_allowed_number_off_file_is_marked_in_the_answer_the_event_and_the_audit() {
    let server = start_with(&[("ROCKET_OOB_EXPLICIT_PHONE", "allow")]);
    create_user(&server, "alice", PHONE);
    let (status, rs) = oob(
        &server,
        json!({"UsrName": "alice", "PhoneNum": OTHER, "OOBModeType": "TwoWay"}),
    );
    assert_eq!(status, 200, "{rs}");
    assert_eq!(rs["PhoneNumOnFile"], false, "{rs}");
    let alrt = rs["AlrtPkgId"].as_str().unwrap().to_owned();
    let v = verify(&server, &alrt, rs["OTP"].as_str().unwrap());
    assert_eq!(
        (&v["RsStat"], &v["PhoneNumOnFile"]),
        (&json!("Success"), &json!(false)),
        "{v}"
    );
    let events = events_of(&server, &alrt);
    assert_eq!(events.len(), 1);
    assert!(
        events[0]["EvtRsn"]
            .as_str()
            .unwrap()
            .contains("not the user's phone on file"),
        "{events:?}"
    );
    assert!(audit_text(&server).contains("explicit_off_file"));
    // The hold still applies to the user, whatever number is named.
    change_phone(&server, "alice", "2125550199");
    let (status, rs) = oob(
        &server,
        json!({"UsrName": "alice", "PhoneNum": OTHER, "OOBModeType": "TwoWay"}),
    );
    assert_eq!((status, fault(&rs).0.as_str()), (409, "7055"), "{rs}");
}

#[test]
fn the_hold_belongs_to_the_user_whose_phone_changed_not_to_the_number() {
    let server = TestServer::start();
    create_user(&server, "alice", PHONE);
    create_user(&server, "bob", OTHER);
    // Bob is given Alice's number: Bob is held, Alice is not.
    change_phone(&server, "bob", PHONE);
    let (status, rs) = oob(&server, json!({"UsrName": "bob", "OOBModeType": "TwoWay"}));
    assert_eq!((status, fault(&rs).0.as_str()), (409, "7055"), "{rs}");
    for body in [
        json!({"UsrName": "alice", "OOBModeType": "TwoWay"}),
        json!({"PhoneNum": PHONE, "OOBModeType": "TwoWay"}),
    ] {
        let (status, rs) = oob(&server, body);
        assert_eq!(status, 200, "Alice's number is hers: {rs}");
    }
    // A number only held users have on file is held.
    change_phone(&server, "alice", "2125550199");
    let (status, rs) = oob(&server, json!({"PhoneNum": PHONE, "OOBModeType": "TwoWay"}));
    assert_eq!((status, fault(&rs).0.as_str()), (409, "7055"), "{rs}");
}

#[test]
fn a_phone_change_ends_the_users_sessions_and_tells_the_old_number() {
    let server = TestServer::start();
    let (_, _, _) = enroll_with_phone(&server, "carl", PHONE);
    let rs = crate::api_oob::start_oob(
        &server,
        &json!({"UsrName": "carl", "OOBModeType": "TwoWay"}),
    );
    let (alrt, otp) = (
        rs["AlrtPkgId"].as_str().unwrap().to_owned(),
        rs["OTP"].as_str().unwrap().to_owned(),
    );
    change_phone(&server, "carl", "2125550199");
    // The code sent to the old number no longer authenticates, nor can it be resent.
    assert_eq!(verify(&server, &alrt, &otp)["RsStat"], "Failed");
    let (status, rs) = server.post(&format!("/api/v1/oob/{alrt}/resend"), &json!({}));
    assert_eq!((status, fault(&rs).0.as_str()), (409, "7051"), "{rs}");
    let events = events_of(&server, &alrt);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["RsStat"], "Failed");
    assert!(
        events[0]["EvtRsn"].as_str().unwrap().contains("phone"),
        "{events:?}"
    );
    assert!(audit_text(&server).contains("ended by a change of the user's phone"));
    // The notice is on by default: the old number is told (ASVS 2.5.5).
    let notice = outbox(&server).into_iter().find(|m| {
        m["Body"]
            .as_str()
            .is_some_and(|b| b.contains("security phone was changed"))
    });
    assert_eq!(
        notice.map(|m| m["PhoneNumMasked"].clone()),
        Some(json!("******6652"))
    );
}

#[test]
fn sms_pumping_is_capped_per_institution_and_per_key_and_counted() {
    let server = start_with(&[
        ("ROCKET_SMS_MAX_PER_INSTITUTION_HOUR", "5"),
        ("ROCKET_SMS_MAX_PER_KEY_HOUR", "3"),
    ]);
    let other_key = create_key(&server.data_dir, "second", "validate");
    let send = |key: &str, n: u32| {
        server.post_as(
            key,
            "/api/v1/oob",
            &json!({"PhoneNum": format!("21255502{n:02}"), "OOBModeType": "TwoWay"}),
        )
    };
    for n in 0..3 {
        assert_eq!(send(&server.key, n).0, 200);
    }
    // The key's cap: each number is new, so only the per-key count stops it.
    let (status, rs) = send(&server.key, 3);
    assert_eq!((status, fault(&rs).0.as_str()), (429, "7052"), "{rs}");
    assert!(rs.to_string().contains("per API key"), "{rs}");
    // Another key of the institution: two more, then the institution's cap.
    for n in 4..6 {
        assert_eq!(send(&other_key, n).0, 200);
    }
    let (status, rs) = send(&other_key, 6);
    assert_eq!((status, fault(&rs).0.as_str()), (429, "7052"), "{rs}");
    assert!(rs.to_string().contains("per institution"), "{rs}");
    assert_eq!(outbox(&server).len(), 5);
    let (_, _, _, metrics) = server.get("/metrics");
    let metrics = String::from_utf8(metrics).unwrap();
    for line in [
        "tokend_sms_refused_total{kind=\"api_key\"} 1",
        "tokend_sms_refused_total{kind=\"institution\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
}

#[test]
fn numbers_that_cannot_receive_a_code_and_free_text_are_refused() {
    let server = TestServer::start();
    for bad in [
        "9005550142",
        "8005550142",
        "2129765555",
        "2124115555",
        "2120555014",
        "1125550142",
    ] {
        let (status, rs) = oob(&server, json!({"PhoneNum": bad, "OOBModeType": "TwoWay"}));
        assert_eq!(
            (status, fault(&rs)),
            (422, ("7056".into(), Some("PhoneNum".into()))),
            "{bad}: {rs}"
        );
    }
    // A validate key may not relay a text of its own.
    let (status, rs) = oob(
        &server,
        json!({"PhoneNum": OTHER, "OOBModeType": "OneWay", "SMSText": "Your account is closed"}),
    );
    assert_eq!(
        (status, fault(&rs)),
        (403, ("7011".into(), Some("SMSText".into()))),
        "{rs}"
    );
    // A code text carries no URL, with any scope.
    let sms_key = create_key(&server.data_dir, "relay", "validate,sms");
    for (mode, text) in [
        ("TwoWay", "Code <%$otp%>: verify at http://evil.example/x"),
        ("OneWay", "Log in at evil.example/login"),
    ] {
        let (status, rs) = server.post_as(
            &sms_key,
            "/api/v1/oob",
            &json!({"PhoneNum": OTHER, "OOBModeType": mode, "SMSText": text}),
        );
        assert_eq!(
            (status, fault(&rs)),
            (400, ("7001".into(), Some("SMSText".into()))),
            "{rs}"
        );
    }
    // TwoWay without the code tag is 3158 still; a OneWay notice of an sms key is sent.
    let (status, rs) = oob(
        &server,
        json!({"PhoneNum": OTHER, "OOBModeType": "TwoWay", "SMSText": "Hello"}),
    );
    assert_eq!((status, fault(&rs).0.as_str()), (422, "3158"), "{rs}");
    let (status, rs) = server.post_as(
        &sms_key,
        "/api/v1/oob",
        &json!({"PhoneNum": OTHER, "OOBModeType": "OneWay", "SMSText": "Your card was mailed"}),
    );
    assert_eq!(status, 200, "{rs}");
    assert_eq!(outbox(&server).len(), 1);
}

#[test]
fn outbox_codes_are_sealed_at_rest_and_masked_once_the_session_ends() {
    let server = TestServer::start();
    let rs = crate::api_oob::start_oob(
        &server,
        &json!({"PhoneNum": OTHER, "OOBModeType": "TwoWay"}),
    );
    let (alrt, otp) = (
        rs["AlrtPkgId"].as_str().unwrap().to_owned(),
        rs["OTP"].as_str().unwrap().to_owned(),
    );
    // The row holds the text with the code masked, and the code only sealed.
    let stored = || {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
            body: Option<String>,
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Binary>)]
            body_sealed: Option<Vec<u8>>,
        }
        let row = diesel::sql_query("SELECT body, body_sealed FROM sms_messages")
            .get_result::<Row>(&mut crate::support::database(&server.data_dir))
            .unwrap();
        (row.body.unwrap_or_default(), row.body_sealed)
    };
    let (body, sealed) = stored();
    assert!(!body.contains(&otp) && body.contains("******"), "{body}");
    let sealed = sealed.expect("the live text is sealed");
    assert!(!sealed.windows(6).any(|w| w == otp.as_bytes()));
    if !testkit::pg::enabled() {
        for file in crate::support::database_files(&server.data_dir) {
            assert!(
                !file.windows(6).any(|w| w == otp.as_bytes()),
                "a code in clear"
            );
        }
    }
    // While the session is live the outbox (the delivery itself) shows the code.
    let live = crate::api_oob::code_in_outbox(&server, &alrt);
    assert_eq!(live, otp);
    // Once it ends: the sealed text is gone, the outbox shows the masked text.
    assert_eq!(verify(&server, &alrt, &otp)["RsStat"], "Success");
    let (body, sealed) = stored();
    assert!(sealed.is_none() && body.contains("******"), "{body}");
    let listed = outbox(&server)[0]["Body"].as_str().unwrap().to_owned();
    assert!(
        !listed.contains(&otp) && listed.contains("******"),
        "{listed}"
    );
}
