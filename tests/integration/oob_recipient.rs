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
    library_server_with(&[])
}

/// [`library_server`] with more settings.
fn library_server_with(env: &[(&str, &str)]) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut env = env.to_vec();
    env.push(("ROCKET_SMS_SEND_CAP", "100"));
    let mut server = TestServer::start_in(dir.path(), &env).unwrap();
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
    // The audit says what each send named, and who changed the library.
    let audit = crate::api_oob::audit_text(&server);
    for line in [
        "recipient: alert Login PubVer 2",
        "recipient: alert Login PubVer 1",
        "recipient: system default text",
        "alert.add Success  Login PubVer 2",
        "alert.subscribe Success ann subscribed to Login",
    ] {
        assert!(audit.contains(line), "{line} in {audit}");
    }
    let listing = alert(&server, &["list", "--inst-rt-id", "tokend"]);
    assert!(
        listing.contains("Login\tPubVer 2\t1 subscriber(s)"),
        "{listing}"
    );
}

/// Asserts that `POST /oob` of `body` (JSON text) with `key` is fault `code` at `elem`.
fn refused(server: &TestServer, key: &str, body: &str, (status, code, elem): (u16, &str, &str)) {
    let body: Value = serde_json::from_str(body).unwrap();
    let (s, rs) = server.post_as(key, "/api/v1/oob", &body);
    let expected = (status, (code.to_owned(), Some(elem.to_owned())));
    assert_eq!((s, fault(&rs)), expected, "{body}: {rs}");
}

/// A key of institution 011000015 (which has no library) and its user dee.
fn other_institution(server: &TestServer) -> String {
    let bound = ["--inst-rt-id", "011000015"];
    let other = create_key_with(&server.data_dir, "other", "manage,validate", &bound);
    let dee = json!({"UsrName": "dee", "PhoneNum": "5555550144"});
    let (s, rs) = server.post_as(&other, "/api/v1/users", &dee);
    assert_eq!(s, 200, "{rs}");
    other
}

#[test]
fn recipient_mode_faults_carry_the_published_codes_on_json() {
    let server = library_server();
    // HTTP status, ErrCode, ErrElem, then the body.
    let cases = [
        r#"400 3154 PhoneNum {"ConsmRecipId": "ann", "PhoneNum": "5555550142"}"#,
        r#"400 3154 SMSText {"AlrtName": "Login", "SMSText": "x <%$otp%>"}"#,
        r#"400 3154 UsrName {"ConsmRecipId": "ann", "UsrName": "ann"}"#,
        r#"400 3154 ConsmRecipId {"ConsmRecipId": "cy"}"#,
        r#"400 3103 ConsmRecipId {"AlrtName": "Login"}"#,
        r#"422 3121 AlrtName {"ConsmRecipId": "ann", "AlrtName": "Nope"}"#,
        r#"422 3121 AlrtName {"ConsmRecipId": "bob", "AlrtName": "Login"}"#,
        r#"422 3124 PubVer {"ConsmRecipId": "ann", "AlrtName": "Login", "PubVer": 3}"#,
        r#"422 3124 PubVer {"ConsmRecipId": "ann", "AlrtName": "Login", "PubVer": 0}"#,
        r#"422 3124 PubVer {"ConsmRecipId": "ann", "PubVer": 1}"#,
        r#"404 7021 ConsmRecipId {"ConsmRecipId": "nobody"}"#,
        r#"400 7001 AlrtName {"ConsmRecipId": "ann", "AlrtName": " x"}"#,
        r#"400 7001 PubVer {"ConsmRecipId": "ann", "PubVer": "2"}"#,
    ];
    for case in cases {
        let mut parts = case.splitn(4, ' ');
        let mut next = || parts.next().unwrap();
        let (status, code, elem) = (next().parse().unwrap(), next(), next());
        refused(&server, &server.key, next(), (status, code, elem));
    }
    let body = json!({"ConsmRecipId": "bob", "AlrtName": "Login"});
    let (_, rs) = server.post("/api/v1/oob", &body);
    assert!(rs.to_string().contains("not subscribed"), "{rs}");
    assert!(outbox(&server).is_empty(), "no fault sent an SMS");
}

#[test]
fn a_closed_library_and_a_missing_one_are_3155_and_3126_on_json() {
    let server = library_server();
    // Closed to OOB: 3155, with or without AlrtName; opened again, it serves.
    alert(
        &server,
        &["library", "--inst-rt-id", "tokend", "--oob", "off"],
    );
    let key = server.key.clone();
    let login = r#"{"ConsmRecipId": "ann", "AlrtName": "Login"}"#;
    refused(&server, &key, login, (403, "3155", "AlrtName"));
    refused(
        &server,
        &key,
        r#"{"ConsmRecipId": "bob"}"#,
        (403, "3155", "ConsmRecipId"),
    );
    assert!(outbox(&server).is_empty(), "no fault sent an SMS");
    alert(
        &server,
        &["library", "--inst-rt-id", "tokend", "--oob", "on"],
    );
    let (s, rs) = server.post("/api/v1/oob", &serde_json::from_str(login).unwrap());
    assert_eq!(s, 200, "{rs}");
    // No library: 3126 for an AlrtName; the default text still goes.
    let other = other_institution(&server);
    let dee = r#"{"ConsmRecipId": "dee", "AlrtName": "Login"}"#;
    refused(&server, &other, dee, (404, "3126", "AlrtName"));
    let (s, rs) = server.post_as(&other, "/api/v1/oob", &json!({"ConsmRecipId": "dee"}));
    assert_eq!(s, 200, "{rs}");
    // ann of tokend is no recipient of 011000015.
    refused(
        &server,
        &other,
        r#"{"ConsmRecipId": "ann"}"#,
        (404, "7021", "ConsmRecipId"),
    );
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
    let login_v1 = "<ConsmRecipId>ann</ConsmRecipId><AlrtName>Login</AlrtName>\
                    <PubVer>1</PubVer><OOBModeType>TwoWay</OOBModeType>";
    let (status, text) = soap_oob(&server, &server.key, &hdr, login_v1);
    assert_eq!(status, 200, "{text}");
    let alrt = elem(&text, "AlrtPkgId").unwrap().to_owned();
    let otp = elem(&text, "OTP").unwrap().to_owned();
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
    // bob subscribes to Wire over SOAP (MFAUsrAlrtSubMod), then gets it.
    let sub = format!("{hdr}<UsrName>bob</UsrName><AlrtName>Wire</AlrtName>");
    let sec = username_token(&server.key, "PasswordText");
    let env = envelope("MFAUsrAlrtSubMod", &sub, &sec);
    let (status, _, text) = post_soap(&server, Some("MFAUsrAlrtSubMod"), None, env.as_bytes());
    let subscribed = (status, elem(&text, "Subscribed"));
    assert_eq!(subscribed, (200, Some("true")), "{text}");
    let wire = "<ConsmRecipId>bob</ConsmRecipId><AlrtName>Wire</AlrtName>";
    let (status, text) = soap_oob(&server, &server.key, &hdr, wire);
    assert_eq!(status, 200, "{text}");
    let cases = [
        ("<PhoneNum>5555550142</PhoneNum>", "3154", "PhoneNum"),
        ("<AlrtName>Nope</AlrtName>", "3121", "AlrtName"),
        ("<AlrtName>Wire</AlrtName>", "3121", "AlrtName"),
        (
            "<AlrtName>Login</AlrtName><PubVer>9</PubVer>",
            "3124",
            "PubVer",
        ),
    ];
    for (elements, code, name) in cases {
        let elements = format!("<ConsmRecipId>ann</ConsmRecipId>{elements}");
        let (status, text) = soap_oob(&server, &server.key, &hdr, &elements);
        assert_fault(status, &text, code);
        assert_eq!(elem(&text, "ErrElem"), Some(name), "{text}");
    }
}

#[test]
fn a_closed_library_and_a_missing_one_are_3155_and_3126_on_soap() {
    let server = library_server();
    let hdr = good_hdr();
    alert(
        &server,
        &["library", "--inst-rt-id", "tokend", "--oob", "off"],
    );
    let login = "<ConsmRecipId>ann</ConsmRecipId><AlrtName>Login</AlrtName>";
    let (status, text) = soap_oob(&server, &server.key, &hdr, login);
    assert_fault(status, &text, "3155");
    let other = other_institution(&server);
    let other_hdr = hdr.replace(
        "<InstRtId>tokend</InstRtId>",
        "<InstRtId>011000015</InstRtId>",
    );
    let dee = "<ConsmRecipId>dee</ConsmRecipId><AlrtName>Login</AlrtName>";
    let (status, text) = soap_oob(&server, &other, &other_hdr, dee);
    assert_fault(status, &text, "3126");
    assert_eq!(elem(&text, "ErrElem"), Some("AlrtName"), "{text}");
    // The WSDL declares the recipient elements, so a generated client can send them.
    let (_, _, _, wsdl) = server.get("/jxchange?wsdl");
    let wsdl = String::from_utf8(wsdl).unwrap();
    for name in ["ConsmRecipId", "AlrtName", "PubVer"] {
        assert!(wsdl.contains(&format!("name=\"{name}\"")), "{name}");
    }
}

#[test]
fn subscriptions_made_over_the_api_decide_who_gets_an_alert() {
    let server = library_server();
    let wire = json!({"ConsmRecipId": "bob", "AlrtName": "Wire"});
    let (s, rs) = server.post("/api/v1/oob", &wire);
    assert_eq!((s, fault(&rs).0.as_str()), (422, "3121"), "{rs}");
    let (s, rs) = server.post("/api/v1/users/bob/alerts", &json!({"AlrtName": "Wire"}));
    assert_eq!(s, 200, "{rs}");
    assert_eq!(
        (&rs["Subscribed"], &rs["Changed"]),
        (&json!(true), &json!(true))
    );
    let (s, rs) = server.post("/api/v1/oob", &wire);
    assert_eq!(s, 200, "{rs}");
    // Unsubscribed, ann no longer gets Login.
    let off = json!({"AlrtName": "Login", "Subscribed": false});
    let (s, rs) = server.post("/api/v1/users/ann/alerts", &off);
    assert_eq!((s, &rs["Changed"]), (200, &json!(true)), "{rs}");
    let login = json!({"ConsmRecipId": "ann", "AlrtName": "Login"});
    let (s, rs) = server.post("/api/v1/oob", &login);
    assert_eq!((s, fault(&rs).0.as_str()), (422, "3121"), "{rs}");
    // Faults: an unknown alert, an unknown user, a bad name.
    for (path, body, status, code) in [
        (
            "/api/v1/users/bob/alerts",
            json!({"AlrtName": "Nope"}),
            422,
            "3121",
        ),
        (
            "/api/v1/users/nobody/alerts",
            json!({"AlrtName": "Wire"}),
            404,
            "7021",
        ),
        (
            "/api/v1/users/bob/alerts",
            json!({"AlrtName": ""}),
            400,
            "7001",
        ),
        ("/api/v1/users/bob/alerts", json!({}), 400, "3103"),
    ] {
        let (s, rs) = server.post(path, &body);
        assert_eq!((s, fault(&rs).0.as_str()), (status, code), "{body}: {rs}");
    }
}

/// `library_server` with console admins `ola` and `kari` and a help desk account `desk`.
fn library_with_staff(env: &[(&str, &str)]) -> TestServer {
    use crate::support::admin::{create_admin, PASSWORD};
    let server = library_server_with(env);
    create_admin(&server.data_dir, "ola", PASSWORD);
    create_admin(&server.data_dir, "kari", PASSWORD);
    let desk = crate::support::cli_input(
        &server.data_dir,
        &[
            "admin",
            "create",
            "--username",
            "desk",
            "--password-stdin",
            "--role",
            "helpdesk",
        ],
        format!("{PASSWORD}\n").as_bytes(),
    );
    assert!(desk.status.success(), "{desk:?}");
    server
}

/// The console's SMS alert texts page: the library's versions and subscribers; an admin
/// adds a name's next version and closes the library (then recipient requests get 3155),
/// both audited; a text the API would refuse is refused here too.
#[test]
fn the_console_shows_the_library_and_lets_an_admin_version_texts_and_close_it() {
    use crate::support::admin::{AdminClient, PASSWORD};
    let server = library_with_staff(&[]);
    let admin = AdminClient::signed_in(&server, "ola", PASSWORD);
    let page = admin.get("/admin/alerts");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<strong>open</strong>"), "{}", page.body);
    let rows: Vec<&str> = page
        .body
        .split("<tr class=\"alert-text\">")
        .skip(1)
        .collect();
    assert_eq!(rows.len(), 3, "Login v1, v2 and Wire: {}", page.body);
    assert!(rows
        .iter()
        .any(|r| r.contains("Login") && r.contains("(v2)") && r.contains("1: <small>ann")));
    let csrf = page.csrf();
    let add = |text: &str| {
        admin.post(
            "/admin/alerts",
            &[("csrf", &csrf), ("name", "Login"), ("text", text)],
        )
    };
    let added = add("FirstBank code <%$otp%> (v3)");
    assert!(admin
        .follow(&added)
        .body
        .contains("Alert Login PubVer 3 is added."));
    assert_eq!(add("<%$otp%> <%$otpa%>").status, 303);
    assert!(
        !admin.get("/admin/alerts").body.contains("<td>4</td>"),
        "nothing added"
    );
    let closed = admin.post(
        "/admin/alerts/oob",
        &[("csrf", &csrf), ("enabled", "false")],
    );
    assert!(admin.follow(&closed).body.contains("closed to OOB"));
    let key = server.key.clone();
    refused(
        &server,
        &key,
        r#"{"ConsmRecipId": "ann"}"#,
        (403, "3155", "ConsmRecipId"),
    );
    let audit = admin.get("/admin/audit?action=alert.add").body;
    assert!(audit.contains("Login PubVer 3"), "{audit}");
    let audit = admin.get("/admin/audit?action=alert.library").body;
    assert!(audit.contains("OOB disabled"), "{audit}");
}

/// The help desk reads the page, without its forms, and is refused an edit (403 naming
/// `alert.edit`); nothing changes.
#[test]
fn the_help_desk_reads_the_alert_texts_and_is_refused_an_edit() {
    use crate::support::admin::{AdminClient, PASSWORD};
    let server = library_with_staff(&[]);
    let desk = AdminClient::signed_in(&server, "desk", PASSWORD);
    let seen = desk.get("/admin/alerts");
    assert_eq!(seen.status, 200);
    assert!(seen.body.contains("(v2)") && !seen.body.contains("action=\"/admin/alerts\""));
    for (path, fields) in [
        (
            "/admin/alerts",
            &[("name", "Wire"), ("text", "x <%$otp%>")][..],
        ),
        ("/admin/alerts/oob", &[("enabled", "false")][..]),
    ] {
        let csrf = seen.csrf();
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        let rs = desk.post(path, &form);
        assert_eq!(rs.status, 403, "{}", rs.body);
        assert!(rs.body.contains("alert.edit"), "{}", rs.body);
    }
    let after = desk.get("/admin/alerts").body;
    assert!(after.contains("<strong>open</strong>") && !after.contains("x &lt;%$otp%&gt;"));
}

/// Under dual control (`dual_control = ["alert.edit"]`) a text change is a request: it
/// takes effect only when a second admin approves it, and the flash says what it did.
#[test]
fn under_dual_control_an_alert_text_waits_for_a_second_admin() {
    use crate::support::admin::{AdminClient, PASSWORD};
    let server = library_with_staff(&[("ROCKET_DUAL_CONTROL", r#"["alert.edit"]"#)]);
    let maker = AdminClient::signed_in(&server, "ola", PASSWORD);
    let page = maker.get("/admin/alerts");
    assert!(
        page.body.contains("Reason for the approver"),
        "{}",
        page.body
    );
    let rs = maker.post(
        "/admin/alerts",
        &[
            ("csrf", &page.csrf()),
            ("name", "Login"),
            ("text", "FirstBank code <%$otp%> (v3)"),
            ("reason", "marketing asked for the new wording"),
        ],
    );
    assert!(maker.follow(&rs).body.contains("Request #1 is filed"));
    assert!(!maker.get("/admin/alerts").body.contains("(v3)"), "not yet");
    let checker = AdminClient::signed_in(&server, "kari", PASSWORD);
    let approvals = checker.get("/admin/approvals");
    assert!(
        approvals.body.contains("SMS alert Login"),
        "{}",
        approvals.body
    );
    let rs = checker.post("/admin/approvals/1/approve", &[("csrf", &approvals.csrf())]);
    let said = checker.follow(&rs).body;
    assert!(said.contains("Alert Login PubVer 3 is added."), "{said}");
    assert!(checker.get("/admin/alerts").body.contains("(v3)"));
}
