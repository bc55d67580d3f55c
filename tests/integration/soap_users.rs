//! The user, phone, SIM-swap hold and explain operations over SOAP (tokend's own names:
//! `MFAUsrAdd`, `MFAUsrInq`, `MFAUsrPhoneMod`, `MFAUsrHoldLift`, `MFAExplainInq`), run
//! through the real server as a bank's middleware would; and `AuthenUsrCred`'s user
//! recorded as the audit user on the JSON API too, as on SOAP.

use serde_json::json;

use crate::soap::{assert_fault, call, elem, good_hdr, member_names};
use crate::support::{now_step, totp, TestServer};

const PHONE: &str = "5555550142";
const NEW_PHONE: &str = "5555551234";

/// `op` for user `usr` with `rest` after `UsrName`; answers (status, body).
fn user_call(server: &TestServer, op: &str, usr: &str, rest: &str) -> (u16, String) {
    call(
        server,
        op,
        &format!("{}<UsrName>{usr}</UsrName>{rest}", good_hdr()),
    )
}

/// The `ActIntentKey` of an answer.
fn intent_key(body: &str) -> String {
    elem(body, "ActIntentKey")
        .unwrap_or_else(|| panic!("no ActIntentKey in {body}"))
        .to_owned()
}

#[test]
fn the_user_flow_runs_over_soap() {
    let server = TestServer::start();
    let (status, body) = user_call(
        &server,
        "MFAUsrAdd",
        "sue",
        &format!("<PhoneNum>{PHONE}</PhoneNum>"),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<MFAUsrAddResponse"), "{body}");
    assert_eq!(elem(&body, "PhoneNum"), Some("******0142"), "{body}");
    let (token, seed, _) = server.enroll_active("sue");

    let (status, body) = user_call(&server, "MFAUsrInq", "sue", "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(elem(&body, "PhoneNum"), Some("******0142"), "{body}");
    assert!(!body.contains(PHONE), "the phone is masked: {body}");
    assert!(body.contains("<MFATokenArray><MFATokenRec>"), "{body}");
    assert_eq!(elem(&body, "TokenId"), Some(token.as_str()), "{body}");
    let key = intent_key(&body);

    phone_change_then_stale_key(&server, &key);
    let (status, body) = user_call(
        &server,
        "MFAUsrHoldLift",
        "sue",
        "<Rsn>verified in branch</Rsn>",
    );
    assert_eq!(status, 200, "{body}");
    assert!(elem(&body, "SimSwapHoldEndDt").is_none(), "{body}");

    explain_a_wrong_code(&server, &seed, &token);
}

/// The key changes the phone (masked, the hold starts); the same key again is stale.
fn phone_change_then_stale_key(server: &TestServer, key: &str) {
    let change = format!("<ActIntentKey>{key}</ActIntentKey><PhoneNum>{NEW_PHONE}</PhoneNum>");
    let (status, body) = user_call(server, "MFAUsrPhoneMod", "sue", &change);
    assert_eq!(status, 200, "{body}");
    assert_eq!(elem(&body, "PhoneNum"), Some("******1234"), "{body}");
    assert!(elem(&body, "PhoneChgDt").is_some(), "{body}");
    assert!(elem(&body, "SimSwapHoldEndDt").is_some(), "{body}");
    let (status, body) = user_call(server, "MFAUsrPhoneMod", "sue", &change);
    assert_fault(status, &body, "7031");
}

/// A code of a clock five steps slow fails; MFAExplainInq names its offset (a fast
/// clock's, a step not reached yet, it never names).
fn explain_a_wrong_code(server: &TestServer, seed: &[u8], token: &str) {
    let slow = totp(seed, "SHA1", 6, now_step(30) - 5);
    assert_eq!(server.validate("sue", &slow)["RsStat"], "Failed");
    let (status, body) = user_call(server, "MFAExplainInq", "sue", "<Cnt>5</Cnt>");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<AttemptArray><AttemptRec>"), "{body}");
    assert_eq!(elem(&body, "Result"), Some("Failed"), "{body}");
    assert_eq!(elem(&body, "Finding"), Some("Offset"), "{body}");
    assert_eq!(elem(&body, "OffsetSteps"), Some("-5"), "{body}");
    assert!(body.contains("<TokenArray><TokenRec>"), "{body}");
    assert!(
        body.contains(&format!("<TokenId>{token}</TokenId>")),
        "{body}"
    );
    assert!(body.contains("<Bindings><BindingRec>"), "{body}");
    assert_eq!(elem(&body, "FailureCount"), Some("1"), "{body}");
}

#[test]
fn user_operations_refuse_bad_input_with_the_json_faults() {
    let server = TestServer::start();
    let (status, body) = user_call(&server, "MFAUsrAdd", "carl", "<PhoneNum>12</PhoneNum>");
    assert_fault(status, &body, "3147");
    let (status, body) = user_call(&server, "MFAUsrInq", "nobody", "");
    assert_fault(status, &body, "7021");
    // MFAUsrInq is a GET on the JSON API: nothing but the user may come with it.
    let (status, body) = user_call(&server, "MFAUsrInq", "nobody", "<Bogus>1</Bogus>");
    assert_fault(status, &body, "7004");
    let (status, body) = call(&server, "MFAUsrPhoneMod", &good_hdr());
    assert_fault(status, &body, "3103");
    let (status, body) = user_call(&server, "MFAUsrHoldLift", "carl", "<Rsn></Rsn>");
    assert_fault(status, &body, "3103");
    let (status, body) = call(
        &server,
        "MFAExplainInq",
        &format!("{}<Cnt>3</Cnt>", good_hdr()),
    );
    assert_fault(status, &body, "3103");
    let (status, body) = user_call(&server, "MFAExplainInq", "carl", "<Cnt>x</Cnt>");
    assert_fault(status, &body, "7001");
}

#[test]
fn json_records_the_authen_usr_cred_user_as_soap_does() {
    let server = TestServer::start();
    let cred = |user_elem: serde_json::Value| json!({"AuthenUsrCred": user_elem, "jXchangeHdr": {"AuditUsrId": ""}});
    let token = json!({"Security": {"UsernameToken": {"Username": "jdoe"}}});
    let (status, rs) = server.post(
        "/api/v1/users",
        &json!({"MsgRqHdr": cred(token), "UsrName": "zoe"}),
    );
    assert_eq!(status, 200, "{rs}");
    assert_eq!(rs["MsgRsHdr"]["jXchangeHdr"]["AuditUsrId"], "jdoe", "{rs}");
    let saml = json!({"Assertion": {"Subject": {"NameID": "asmith"}}});
    let (status, rs) = server.post(
        "/api/v1/users",
        &json!({"MsgRqHdr": cred(saml), "UsrName": "yan"}),
    );
    assert_eq!(status, 200, "{rs}");
    // An AuditUsrId the consumer sent wins over the credential's user.
    let mut named = cred(json!({"Username": "jdoe"}));
    named["jXchangeHdr"]["AuditUsrId"] = json!("teller7");
    let (status, rs) = server.post(
        "/api/v1/users",
        &json!({"MsgRqHdr": named, "UsrName": "xia"}),
    );
    assert_eq!(status, 200, "{rs}");
    for (usr, who) in [("zoe", "jdoe"), ("yan", "asmith"), ("xia", "teller7")] {
        let (_, _, _, page) = server.get(&format!("/api/v1/audit?UsrName={usr}"));
        let page: serde_json::Value = serde_json::from_slice(&page).unwrap();
        assert_eq!(page["AuditArray"][0]["AuditUsrId"], who, "{usr}: {page}");
    }
}

#[test]
fn the_readme_soap_users_example_runs_as_written() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let out = crate::readme::run_blocks(&server, dir.path(), &["soap-users"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].contains("<MFAUsrAddResponse"), "{out}");
    assert_eq!(elem(lines[0], "PhoneNum"), Some("******0142"), "{out}");
    assert!(lines[1].contains("<MFAUsrPhoneModResponse"), "{out}");
    assert_eq!(elem(lines[1], "PhoneNum"), Some("******1234"), "{out}");
    assert!(elem(lines[1], "SimSwapHoldEndDt").is_some(), "{out}");
}

/// Asserts the SOAP answer has an element for every member of the JSON answer.
fn carries_every_member(json_rs: &serde_json::Value, soap_rs: &str) {
    let mut names = Vec::new();
    member_names(json_rs, &mut names);
    assert!(names.len() > 5, "{json_rs}");
    for name in names {
        assert!(
            soap_rs.contains(&format!("<{name}>")),
            "{name} missing from {soap_rs}"
        );
    }
}

#[test]
fn soap_user_and_explain_answers_carry_what_the_json_answers_carry() {
    let server = TestServer::start();
    let (status, rs) = server.post(
        "/api/v1/users",
        &json!({"UsrName": "ivy", "PhoneNum": PHONE}),
    );
    assert_eq!(status, 200, "{rs}");
    let (_, seed, _) = server.enroll_active("ivy");
    let key = rs["ActIntentKey"].as_str().unwrap();
    let (status, rs) = server.post(
        "/api/v1/users/ivy/phone",
        &json!({"ActIntentKey": key, "PhoneNum": NEW_PHONE}),
    );
    assert_eq!(status, 200, "{rs}");
    let (_, _, _, view) = server.get("/api/v1/users/ivy");
    let view: serde_json::Value = serde_json::from_slice(&view).unwrap();
    let (status, body) = user_call(&server, "MFAUsrInq", "ivy", "");
    assert_eq!(status, 200, "{body}");
    carries_every_member(&view, &body);

    let fast = totp(&seed, "SHA1", 6, now_step(30) + 5);
    assert_eq!(server.validate("ivy", &fast)["RsStat"], "Failed");
    let (_, why) = server.post("/api/v1/explain", &json!({"UsrName": "ivy"}));
    let (status, body) = user_call(&server, "MFAExplainInq", "ivy", "");
    assert_eq!(status, 200, "{body}");
    carries_every_member(&why, &body);
}

#[test]
fn soap_records_a_saml_name_id_as_the_audit_user() {
    let server = TestServer::start();
    let saml = "<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\">\
                <saml:Subject><saml:NameID>asmith</saml:NameID></saml:Subject></saml:Assertion>";
    let hdr = good_hdr()
        .replace("<AuditUsrId>u1</AuditUsrId>", "<AuditUsrId/>")
        .replace(
            "<MsgRqHdr>",
            &format!("<MsgRqHdr><AuthenUsrCred>{saml}</AuthenUsrCred>"),
        );
    let (status, body) = call(
        &server,
        "MFAUsrAdd",
        &format!("{hdr}<UsrName>wes</UsrName>"),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(elem(&body, "AuditUsrId"), Some("asmith"), "{body}");
    let (_, _, _, page) = server.get("/api/v1/audit?UsrName=wes");
    let page: serde_json::Value = serde_json::from_slice(&page).unwrap();
    assert_eq!(page["AuditArray"][0]["AuditUsrId"], "asmith", "{page}");
}
