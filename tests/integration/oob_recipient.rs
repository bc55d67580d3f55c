//! OOBValidate's recipient/subscription mode (issue 28) through the real binary, on both
//! wires: an institution's alert library made with `tokend alert add` (versions:
//! `PubVer`), users subscribed with `tokend alert subscribe`, `ConsmRecipId` = the user's
//! `UsrName` (the code goes to the phone on file, read back from the outbox), the system
//! default text without `AlrtName`, and each published fault with its `ErrElem`: 3154
//! (modes mixed), 3121 (unknown alert, or not subscribed), 3124 (`PubVer`), 3126 (no
//! library), 3155 (library closed to OOB).

use serde_json::{json, Value};

use crate::api_oob::{outbox, verify};
use crate::soap::{assert_fault, elem, envelope, good_hdr, post_soap, username_token};
use crate::support::{cli, create_key_with, fault, TestServer};

/// `tokend alert …` on the server's data directory; its stdout.
fn alert(server: &TestServer, args: &[&str]) -> String {
    let out = cli(&server.data_dir, &[], &[&["alert"][..], args].concat());
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// A server (send cap out of the way) with users ann and bob (phones) and cy (none),
/// the library of `tokend` with Login v1, v2 and Wire, and ann subscribed to Login.
fn library_server() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(dir.path(), &[("ROCKET_SMS_SEND_CAP", "100")]).unwrap();
    server.keep_dir(dir);
    for (usr, phone) in [
        ("ann", Some("5555550142")),
        ("bob", Some("5555550143")),
        ("cy", None),
    ] {
        let mut body = json!({ "UsrName": usr });
        if let Some(p) = phone {
            body["PhoneNum"] = json!(p);
        }
        let (status, rs) = server.post("/api/v1/users", &body);
        assert_eq!(status, 200, "{rs}");
    }
    let add = |name: &str, text: &str| {
        alert(
            &server,
            &[
                "add",
                "--inst-rt-id",
                "tokend",
                "--name",
                name,
                "--text",
                text,
            ],
        )
    };
    assert_eq!(
        add("Login", "FirstBank login code <%$otp%> (v1)").trim(),
        "1"
    );
    assert_eq!(
        add("Login", "FirstBank login code <%$otp%> (v2)").trim(),
        "2"
    );
    assert_eq!(add("Wire", "FirstBank wire code <%$otp%>").trim(), "1");
    let sub = alert(
        &server,
        &[
            "subscribe",
            "--inst-rt-id",
            "tokend",
            "--usr-name",
            "ann",
            "--name",
            "Login",
        ],
    );
    assert!(sub.contains("ann subscribed to Login"), "{sub}");
    server
}

/// The outbox body of session `alrt`.
fn body_of(server: &TestServer, alrt: &str) -> String {
    let messages = outbox(server);
    let m = messages
        .iter()
        .find(|m| m["AlrtPkgId"] == alrt)
        .unwrap_or_else(|| panic!("no SMS for {alrt} in {messages:?}"));
    assert!(
        m["PhoneNumMasked"].as_str().unwrap().ends_with("0142")
            || m["PhoneNumMasked"].as_str().unwrap().ends_with("0143"),
        "{m}"
    );
    m["Body"].as_str().unwrap().to_owned()
}

fn started(rs: &Value) -> (String, String) {
    (
        rs["AlrtPkgId"].as_str().unwrap().to_owned(),
        rs["OTP"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn a_subscribed_recipient_gets_the_library_alert_and_its_code_verifies_on_json() {
    let server = library_server();
    let (status, rs) = server.post(
        "/api/v1/oob",
        &json!({"ConsmRecipId": "ann", "AlrtName": "Login", "OOBModeType": "TwoWay"}),
    );
    assert_eq!(status, 200, "{rs}");
    let (alrt, otp) = started(&rs);
    assert!(
        rs["PhoneNumMasked"].as_str().unwrap().ends_with("0142"),
        "{rs}"
    );
    let body = body_of(&server, &alrt);
    assert_eq!(
        body,
        format!("FirstBank login code {otp} (v2)"),
        "the latest version"
    );
    assert_eq!(verify(&server, &alrt, &otp)["RsStat"], "Success");
    // A pinned PubVer gets that version.
    let (status, rs) = server.post(
        "/api/v1/oob",
        &json!({"ConsmRecipId": "ann", "AlrtName": "Login", "PubVer": 1}),
    );
    assert_eq!(status, 200, "{rs}");
    let (alrt, otp) = started(&rs);
    assert_eq!(
        body_of(&server, &alrt),
        format!("FirstBank login code {otp} (v1)")
    );
    // Without AlrtName: the system default text, to the recipient's phone on file.
    let (status, rs) = server.post("/api/v1/oob", &json!({"ConsmRecipId": "bob"}));
    assert_eq!(status, 200, "{rs}");
    let (alrt, otp) = started(&rs);
    let body = body_of(&server, &alrt);
    assert!(
        body.contains(&format!("your security code is {otp}")),
        "{body}"
    );
    let listing = alert(&server, &["list", "--inst-rt-id", "tokend"]);
    assert!(
        listing.contains("Login\tPubVer 2\t1 subscriber(s)"),
        "{listing}"
    );
}

#[test]
fn recipient_mode_faults_carry_the_published_codes_on_json() {
    let server = library_server();
    let cases = [
        (
            json!({"ConsmRecipId": "ann", "PhoneNum": "5555550142"}),
            400,
            "3154",
            "PhoneNum",
        ),
        (
            json!({"AlrtName": "Login", "SMSText": "x <%$otp%>"}),
            400,
            "3154",
            "SMSText",
        ),
        (
            json!({"ConsmRecipId": "ann", "UsrName": "ann"}),
            400,
            "3154",
            "UsrName",
        ),
        (json!({"ConsmRecipId": "cy"}), 400, "3154", "ConsmRecipId"),
        (json!({"AlrtName": "Login"}), 400, "3103", "ConsmRecipId"),
        (
            json!({"ConsmRecipId": "ann", "AlrtName": "Nope"}),
            422,
            "3121",
            "AlrtName",
        ),
        (
            json!({"ConsmRecipId": "bob", "AlrtName": "Login"}),
            422,
            "3121",
            "AlrtName",
        ),
        (
            json!({"ConsmRecipId": "ann", "AlrtName": "Login", "PubVer": 3}),
            422,
            "3124",
            "PubVer",
        ),
        (
            json!({"ConsmRecipId": "ann", "AlrtName": "Login", "PubVer": 0}),
            422,
            "3124",
            "PubVer",
        ),
        (
            json!({"ConsmRecipId": "ann", "PubVer": 1}),
            422,
            "3124",
            "PubVer",
        ),
        (
            json!({"ConsmRecipId": "nobody"}),
            404,
            "7021",
            "ConsmRecipId",
        ),
        (
            json!({"ConsmRecipId": "ann", "AlrtName": " x"}),
            400,
            "7001",
            "AlrtName",
        ),
        (
            json!({"ConsmRecipId": "ann", "PubVer": "2"}),
            400,
            "7001",
            "PubVer",
        ),
    ];
    for (body, status, code, elem) in cases {
        let (s, rs) = server.post("/api/v1/oob", &body);
        assert_eq!(
            (s, fault(&rs)),
            (status, (code.to_owned(), Some(elem.to_owned()))),
            "{body}: {rs}"
        );
    }
    let (_, rs) = server.post(
        "/api/v1/oob",
        &json!({"ConsmRecipId": "bob", "AlrtName": "Login"}),
    );
    assert!(rs.to_string().contains("not subscribed"), "{rs}");
    // A library closed to OOB: 3155, with or without AlrtName; opened again, it serves.
    alert(
        &server,
        &["library", "--inst-rt-id", "tokend", "--oob", "off"],
    );
    for (body, elem) in [
        (
            json!({"ConsmRecipId": "ann", "AlrtName": "Login"}),
            "AlrtName",
        ),
        (json!({"ConsmRecipId": "bob"}), "ConsmRecipId"),
    ] {
        let (s, rs) = server.post("/api/v1/oob", &body);
        assert_eq!(
            (s, fault(&rs)),
            (403, ("3155".into(), Some(elem.into()))),
            "{rs}"
        );
    }
    assert!(outbox(&server).is_empty(), "no fault sent an SMS");
    alert(
        &server,
        &["library", "--inst-rt-id", "tokend", "--oob", "on"],
    );
    let (s, rs) = server.post(
        "/api/v1/oob",
        &json!({"ConsmRecipId": "ann", "AlrtName": "Login"}),
    );
    assert_eq!(s, 200, "{rs}");
    // An institution with no library: 3126 for an AlrtName; the default text still goes.
    let other = create_key_with(
        &server.data_dir,
        "other",
        "manage,validate",
        &["--inst-rt-id", "011000015"],
    );
    let (s, rs) = server.post_as(
        &other,
        "/api/v1/users",
        &json!({"UsrName": "dee", "PhoneNum": "5555550144"}),
    );
    assert_eq!(s, 200, "{rs}");
    let (s, rs) = server.post_as(
        &other,
        "/api/v1/oob",
        &json!({"ConsmRecipId": "dee", "AlrtName": "Login"}),
    );
    assert_eq!(
        (s, fault(&rs)),
        (404, ("3126".into(), Some("AlrtName".into()))),
        "{rs}"
    );
    let (s, rs) = server.post_as(&other, "/api/v1/oob", &json!({"ConsmRecipId": "dee"}));
    assert_eq!(s, 200, "{rs}");
    // ann of tokend is no recipient of 011000015.
    let (s, rs) = server.post_as(&other, "/api/v1/oob", &json!({"ConsmRecipId": "ann"}));
    assert_eq!((s, fault(&rs).0.as_str()), (404, "7021"), "{rs}");
}

/// OOBValidate over SOAP with the fixture's key and `elements` after the header.
fn soap_oob(server: &TestServer, key: &str, hdr: &str, elements: &str) -> (u16, String) {
    let env = envelope(
        "OOBValidate",
        &format!("{hdr}{elements}"),
        &username_token(key, "PasswordText"),
    );
    let (status, _, text) = post_soap(server, Some("OOBValidate"), None, env.as_bytes());
    (status, text)
}

#[test]
fn recipient_mode_runs_over_soap_with_the_same_faults() {
    let server = library_server();
    let hdr = good_hdr();
    let (status, text) = soap_oob(
        &server,
        &server.key,
        &hdr,
        "<ConsmRecipId>ann</ConsmRecipId><AlrtName>Login</AlrtName><PubVer>1</PubVer><OOBModeType>TwoWay</OOBModeType>",
    );
    assert_eq!(status, 200, "{text}");
    let (alrt, otp) = (
        elem(&text, "AlrtPkgId").unwrap().to_owned(),
        elem(&text, "OTP").unwrap().to_owned(),
    );
    assert_eq!(
        body_of(&server, &alrt),
        format!("FirstBank login code {otp} (v1)")
    );
    assert_eq!(verify(&server, &alrt, &otp)["RsStat"], "Success");
    let (status, text) = soap_oob(
        &server,
        &server.key,
        &hdr,
        "<ConsmRecipId>bob</ConsmRecipId>",
    );
    assert_eq!(status, 200, "{text}");
    let cases = [
        (
            "<ConsmRecipId>ann</ConsmRecipId><PhoneNum>5555550142</PhoneNum>",
            "3154",
            "PhoneNum",
        ),
        (
            "<ConsmRecipId>ann</ConsmRecipId><AlrtName>Nope</AlrtName>",
            "3121",
            "AlrtName",
        ),
        (
            "<ConsmRecipId>bob</ConsmRecipId><AlrtName>Login</AlrtName>",
            "3121",
            "AlrtName",
        ),
        (
            "<ConsmRecipId>ann</ConsmRecipId><AlrtName>Login</AlrtName><PubVer>9</PubVer>",
            "3124",
            "PubVer",
        ),
    ];
    for (elements, code, name) in cases {
        let (status, text) = soap_oob(&server, &server.key, &hdr, elements);
        assert_fault(status, &text, code);
        assert_eq!(elem(&text, "ErrElem"), Some(name), "{text}");
    }
    alert(
        &server,
        &["library", "--inst-rt-id", "tokend", "--oob", "off"],
    );
    let (status, text) = soap_oob(
        &server,
        &server.key,
        &hdr,
        "<ConsmRecipId>ann</ConsmRecipId><AlrtName>Login</AlrtName>",
    );
    assert_fault(status, &text, "3155");
    let other = create_key_with(
        &server.data_dir,
        "other",
        "manage,validate",
        &["--inst-rt-id", "011000015"],
    );
    let (s, rs) = server.post_as(
        &other,
        "/api/v1/users",
        &json!({"UsrName": "dee", "PhoneNum": "5555550144"}),
    );
    assert_eq!(s, 200, "{rs}");
    let other_hdr = hdr.replace(
        "<InstRtId>tokend</InstRtId>",
        "<InstRtId>011000015</InstRtId>",
    );
    let (status, text) = soap_oob(
        &server,
        &other,
        &other_hdr,
        "<ConsmRecipId>dee</ConsmRecipId><AlrtName>Login</AlrtName>",
    );
    assert_fault(status, &text, "3126");
    // The WSDL declares the recipient elements, so a generated client can send them.
    let (_, _, _, wsdl) = server.get("/jxchange?wsdl");
    let wsdl = String::from_utf8(wsdl).unwrap();
    for name in ["ConsmRecipId", "AlrtName", "PubVer"] {
        assert!(wsdl.contains(&format!("name=\"{name}\"")), "{name}");
    }
}
