//! Institutions (jXchange `InstRtId`): a key bound to one institution acts only there
//! (naming another is fault 2505) and finds nothing of another institution; a
//! cross-institution key acts within the institution it names; the default install needs
//! no configuration.

use serde_json::{json, Value};

use crate::support::{create_key, fault, json_of, now_step, totp, TestServer};

pub const BANK_A: &str = "011000015";
pub const BANK_B: &str = "021000021";

/// The server's own key (bound to the default institution) and keys of banks A and B and
/// a cross-institution one.
pub struct Keys {
    pub a: String,
    pub b: String,
    pub all: String,
}

pub fn keys(server: &TestServer) -> Keys {
    let key = |name: &str, reach: &[&str]| scoped_key(server, name, "manage,validate", reach);
    Keys {
        a: key("bank-a", &["--inst-rt-id", BANK_A]),
        b: key("bank-b", &["--inst-rt-id", BANK_B]),
        all: key("middleware", &["--all-institutions"]),
    }
}

/// An `sms` key (the provider's reply webhook) with the given reach.
pub fn sms_key(server: &TestServer, name: &str, reach: &[&str]) -> String {
    scoped_key(server, name, "sms", reach)
}

/// A key made by `tokend apikey create` with `scopes` and a reach (`--inst-rt-id I` or
/// `--all-institutions`).
fn scoped_key(server: &TestServer, name: &str, scopes: &str, reach: &[&str]) -> String {
    let mut args = vec!["apikey", "create", "--name", name, "--scope", scopes];
    args.extend_from_slice(reach);
    let out = crate::support::cli(&server.data_dir, &[], &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn get_as(server: &TestServer, key: &str, path: &str) -> (u16, Value) {
    json_of(
        ureq::get(&format!("{}{path}", server.base))
            .set("Authorization", &format!("Bearer {key}"))
            .call(),
    )
}

fn hdr(inst: &str) -> Value {
    json!({"jXchangeHdr": {"InstRtId": inst}})
}

/// Enrolls and activates a software token for `usr` with `key`: (TokenId, seed).
fn enroll_active(server: &TestServer, key: &str, usr: &str) -> (String, Vec<u8>) {
    let (status, rs) = server.post_as(
        key,
        "/api/v1/tokens",
        &json!({"UsrName": usr, "TokenType": "Software"}),
    );
    assert_eq!(status, 200, "{rs}");
    let token = rs["TokenId"].as_str().unwrap().to_owned();
    let seed = crate::support::b32(rs["Secret"].as_str().unwrap());
    let code = totp(&seed, "SHA1", 6, now_step(30) - 1);
    let (status, rs) = server.post_as(
        key,
        &format!("/api/v1/tokens/{token}/activate"),
        &json!({ "Code": code }),
    );
    assert_eq!(
        (status, rs["RsStat"].as_str()),
        (200, Some("Success")),
        "{rs}"
    );
    (token, seed)
}

#[test]
fn a_bound_key_finds_nothing_of_another_institution() {
    let server = TestServer::start();
    let k = keys(&server);
    let (token, seed) = enroll_active(&server, &k.a, "olga");
    let inquiry = json!({ "TokenId": token });
    let (status, _) = server.post_as(&k.a, "/api/v1/inquiry", &inquiry);
    assert_eq!(status, 200);
    // Bank B, and the default institution's key, see no such token or user.
    for key in [&k.b, &server.key] {
        let (status, rs) = server.post_as(key, "/api/v1/inquiry", &inquiry);
        assert_eq!((status, fault(&rs).0.as_str()), (404, "7020"), "{rs}");
        let code = totp(&seed, "SHA1", 6, now_step(30));
        let (_, rs) = server.post_as(
            key,
            "/api/v1/validate",
            &json!({"UsrName": "olga", "Code": code}),
        );
        assert_ne!(rs["RsStat"], "Success", "{rs}");
        let (_, rs) = server.post_as(
            key,
            "/api/v1/validate",
            &json!({"TokenId": token, "Code": code}),
        );
        assert_ne!(rs["RsStat"], "Success", "{rs}");
        for (path, body) in [
            ("resync", json!({"Code1": "123456", "Code2": "234567"})),
            ("delete", json!({"ActIntentKey": "x"})),
            (
                "modify",
                json!({"ActIntentKey": "x", "UsrTokenStat": "InAct"}),
            ),
        ] {
            let (status, rs) =
                server.post_as(key, &format!("/api/v1/tokens/{token}/{path}"), &body);
            assert_eq!(
                (status, fault(&rs).0.as_str()),
                (404, "7020"),
                "{path}: {rs}"
            );
        }
        let (status, _) = get_as(&server, key, &format!("/api/v1/tokens/{token}/qr.svg"));
        assert_eq!(status, 404);
    }
    // Bank A's code still works: nothing above touched its token.
    let code = totp(&seed, "SHA1", 6, now_step(30));
    let (_, rs) = server.post_as(
        &k.a,
        "/api/v1/validate",
        &json!({"UsrName": "olga", "Code": code}),
    );
    assert_eq!(rs["RsStat"], "Success", "{rs}");
}

#[test]
fn naming_another_institution_is_fault_2505_and_a_bad_one_7001() {
    let server = TestServer::start();
    let k = keys(&server);
    let (token, _) = enroll_active(&server, &k.a, "olga");
    let (status, rs) = server.post_as(
        &k.a,
        "/api/v1/inquiry",
        &json!({"MsgRqHdr": hdr(BANK_B), "TokenId": token}),
    );
    assert_eq!(status, 403, "{rs}");
    assert_eq!(
        fault(&rs),
        ("2505".into(), Some("MsgRqHdr.jXchangeHdr.InstRtId".into()))
    );
    assert_eq!(
        rs["MsgRsHdr"]["MsgRecInfoArray"][0]["ErrDesc"],
        "Access was denied."
    );
    // Its own InstRtId, named or not, is fine; so is an empty one.
    for named in [hdr(BANK_A), hdr("")] {
        let (status, rs) = server.post_as(
            &k.a,
            "/api/v1/inquiry",
            &json!({"MsgRqHdr": named, "TokenId": token}),
        );
        assert_eq!(status, 200, "{rs}");
    }
    let (status, rs) = get_as(&server, &k.a, &format!("/api/v1/audit?InstRtId={BANK_B}"));
    assert_eq!((status, fault(&rs).0.as_str()), (403, "2505"));
    let (status, rs) = get_as(&server, &k.a, &format!("/api/v1/events?InstRtId={BANK_B}"));
    assert_eq!((status, fault(&rs).0.as_str()), (403, "2505"));
    let (status, rs) = server.post_as(
        &k.a,
        "/api/v1/oob",
        &json!({"PhoneNum": "4175550100", "InstRtId": BANK_B}),
    );
    assert_eq!((status, fault(&rs).0.as_str()), (403, "2505"), "{rs}");
    let (status, rs) = server.post_as(
        &k.all,
        "/api/v1/inquiry",
        &json!({"MsgRqHdr": hdr("bad id!"), "TokenId": token}),
    );
    assert_eq!(
        (status, fault(&rs)),
        (
            400,
            ("7001".into(), Some("MsgRqHdr.jXchangeHdr.InstRtId".into()))
        )
    );
}

#[test]
fn a_cross_institution_key_acts_within_the_institution_it_names() {
    let server = TestServer::start();
    let k = keys(&server);
    let (token_a, _) = enroll_active(&server, &k.a, "olga");
    let inquiry = |inst: Option<&str>| {
        let mut body = json!({ "TokenId": token_a });
        if let Some(i) = inst {
            body["MsgRqHdr"] = hdr(i);
        }
        server.post_as(&k.all, "/api/v1/inquiry", &body).0
    };
    assert_eq!(inquiry(Some(BANK_A)), 200);
    assert_eq!(inquiry(Some(BANK_B)), 404);
    assert_eq!(inquiry(None), 404, "naming none acts within the default");
    // The same UsrName in two institutions is two users with their own tokens.
    let (status, rs) = server.post_as(
        &k.all,
        "/api/v1/tokens",
        &json!({"MsgRqHdr": hdr(BANK_B), "UsrName": "olga", "TokenType": "Software"}),
    );
    assert_eq!(status, 200, "{rs}");
    let token_b = rs["TokenId"].as_str().unwrap();
    let (_, rs) = server.post_as(&k.b, "/api/v1/inquiry", &json!({ "TokenId": token_b }));
    assert_eq!(rs["MFATokenInqInfo"]["UsrTokenStat"], "Init", "{rs}");
    let (status, _) = server.post_as(&k.a, "/api/v1/inquiry", &json!({ "TokenId": token_b }));
    assert_eq!(status, 404);
}

fn audit_tokens(server: &TestServer, key: &str, query: &str) -> Vec<String> {
    let (status, rs) = get_as(server, key, &format!("/api/v1/audit{query}"));
    assert_eq!(status, 200, "{rs}");
    rs["AuditArray"]
        .as_array()
        .unwrap_or_else(|| panic!("no AuditArray in {rs}"))
        .iter()
        .filter_map(|r| r["TokenId"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn audit_events_and_outbox_show_a_bound_key_its_own_institution_only() {
    let server = TestServer::start();
    let k = keys(&server);
    let (token_a, _) = enroll_active(&server, &k.a, "olga");
    let (token_b, _) = enroll_active(&server, &k.b, "olga");
    let (token_default, _, _) = server.enroll_active("dina");
    let seen_by_a = audit_tokens(&server, &k.a, "");
    assert!(seen_by_a.contains(&token_a), "{seen_by_a:?}");
    assert!(!seen_by_a.contains(&token_b) && !seen_by_a.contains(&token_default));
    let seen_by_default = audit_tokens(&server, &server.key, "");
    assert!(seen_by_default.contains(&token_default));
    assert!(!seen_by_default.contains(&token_a) && !seen_by_default.contains(&token_b));
    let everything = audit_tokens(&server, &k.all, "");
    for t in [&token_a, &token_b, &token_default] {
        assert!(everything.contains(t), "{t} in {everything:?}");
    }
    assert_eq!(
        audit_tokens(&server, &k.all, &format!("?InstRtId={BANK_B}")),
        audit_tokens(&server, &k.b, "")
    );

    // An OOB session of bank A: its SMS and its result event are A's alone.
    let (status, rs) = server.post_as(
        &k.a,
        "/api/v1/oob",
        &json!({"PhoneNum": "4175550100", "OOBModeType": "TwoWay"}),
    );
    assert_eq!(status, 200, "{rs}");
    let alrt = rs["AlrtPkgId"].as_str().unwrap().to_owned();
    let otp = rs["OTP"].as_str().unwrap().to_owned();
    let outbox = |key: &str| get_as(&server, key, "/api/v1/sms/outbox").1["Messages"].clone();
    assert_eq!(outbox(&k.a).as_array().unwrap().len(), 1);
    assert_eq!(outbox(&k.b).as_array().unwrap().len(), 0);
    assert_eq!(outbox(&k.all).as_array().unwrap().len(), 1);
    // Bank B cannot see, verify or resend A's session.
    let (status, _) = get_as(&server, &k.b, &format!("/api/v1/oob/{alrt}"));
    assert_eq!(status, 404);
    for (op, body) in [("verify", json!({ "OTP": otp })), ("resend", json!({}))] {
        let (status, rs) = server.post_as(&k.b, &format!("/api/v1/oob/{alrt}/{op}"), &body);
        assert_eq!((status, fault(&rs).0.as_str()), (404, "7050"), "{op}: {rs}");
    }
    let (_, rs) = server.post_as(
        &k.a,
        &format!("/api/v1/oob/{alrt}/verify"),
        &json!({ "OTP": otp }),
    );
    assert_eq!(
        rs["RsStat"], "Success",
        "B's attempts did not burn A's code: {rs}"
    );
    let events = |key: &str| get_as(&server, key, "/api/v1/events").1["Events"].clone();
    assert_eq!(events(&k.a).as_array().unwrap().len(), 1);
    assert_eq!(events(&k.b).as_array().unwrap().len(), 0);
    assert_eq!(events(&server.key).as_array().unwrap().len(), 0);
}

#[test]
fn keys_are_created_bound_to_the_default_institution_unless_told_otherwise() {
    let server = TestServer::start();
    let bad = crate::support::cli(
        &server.data_dir,
        &[],
        &[
            "apikey",
            "create",
            "--name",
            "x",
            "--scope",
            "manage",
            "--inst-rt-id",
            "no spaces",
        ],
    );
    assert!(!bad.status.success());
    let both = crate::support::cli(
        &server.data_dir,
        &[],
        &[
            "apikey",
            "create",
            "--name",
            "y",
            "--scope",
            "manage",
            "--inst-rt-id",
            BANK_A,
            "--all-institutions",
        ],
    );
    assert!(!both.status.success(), "one or the other");
    // The fixture's key was made without either: it acts within the default, `tokend`.
    let default_key = create_key(&server.data_dir, "plain", "manage,validate");
    let (token, _) = enroll_active(&server, &default_key, "uma");
    let (status, rs) = server.post_as(
        &default_key,
        "/api/v1/inquiry",
        &json!({"MsgRqHdr": hdr("tokend"), "TokenId": token}),
    );
    assert_eq!(status, 200, "{rs}");
    let (status, _) = server.post_as(
        &default_key,
        "/api/v1/inquiry",
        &json!({"MsgRqHdr": hdr(BANK_A), "TokenId": token}),
    );
    assert_eq!(status, 403);
}

#[test]
fn tokend_import_places_a_batch_in_the_institution_it_is_told() {
    let server = TestServer::start();
    let k = keys(&server);
    let file = server.data_dir.join("batch.csv");
    std::fs::write(
        &file,
        "serial,seed,algorithm,digits,period\n\
         HW-A-1,3132333435363738393031323334353637383930,SHA1,6,30\n",
    )
    .unwrap();
    let out = crate::support::cli(
        &server.data_dir,
        &[],
        &["import", file.to_str().unwrap(), "--inst-rt-id", BANK_A],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inquiry = json!({ "TokenId": "HW-A-1" });
    assert_eq!(server.post_as(&k.a, "/api/v1/inquiry", &inquiry).0, 200);
    assert_eq!(
        server.post_as(&server.key, "/api/v1/inquiry", &inquiry).0,
        404
    );
}

/// The console acts within one institution at a time: the default, until an admin
/// switches (CSRF-checked); what it enrolls then belongs to that institution.
#[test]
fn the_console_switches_institution_and_enrolls_there() {
    let (server, c) = crate::support::admin::server_with_admin();
    let k = keys(&server);
    let users = c.get("/admin/users");
    assert!(
        users.body.contains("value=\"tokend\""),
        "the default is shown"
    );
    let no_csrf = c.post("/admin/institution", &[("inst_rt_id", BANK_A)]);
    assert_eq!(no_csrf.status, 403);
    let bad = c.submit(
        "/admin/users",
        "/admin/institution",
        &[("inst_rt_id", "a b")],
    );
    assert!(c.follow(&bad).body.contains("InstRtId"));
    let switched = c.submit(
        "/admin/users",
        "/admin/institution",
        &[("inst_rt_id", BANK_A)],
    );
    let page = c.follow(&switched);
    assert!(
        page.body.contains(&format!("now acts within {BANK_A}")),
        "{}",
        page.body
    );
    assert!(page.body.contains(&format!("value=\"{BANK_A}\"")));
    let created = c.submit(
        "/admin/users/new",
        "/admin/users",
        &[("usr_name", "Kari"), ("phone", "")],
    );
    assert!(created.location.is_some(), "{}", created.body);
    let enrolled = c.submit(
        "/admin/enroll?name=Kari",
        "/admin/enroll",
        &[("usr_name", "Kari"), ("description", "")],
    );
    assert_eq!(enrolled.status, 200, "{}", enrolled.body);
    let token = enrolled.body.split("id=\"token-id\">").nth(1).unwrap();
    let token = token.split('<').next().unwrap().to_owned();
    let inquiry = json!({ "TokenId": token });
    assert_eq!(server.post_as(&k.a, "/api/v1/inquiry", &inquiry).0, 200);
    assert_eq!(
        server.post_as(&server.key, "/api/v1/inquiry", &inquiry).0,
        404
    );
    assert!(c.get("/admin/users?q=Kari").body.contains(">Kari</a>"));
    // A help desk types it in lower case: the search is case-insensitive.
    assert!(c.get("/admin/users?q=kar").body.contains(">Kari</a>"));
    // Back to the default: Kari is not one of its users.
    let back = c.submit("/admin/users", "/admin/institution", &[("inst_rt_id", "")]);
    assert!(c.follow(&back).body.contains("the default institution"));
    assert!(!c.get("/admin/users?q=Kari").body.contains(">Kari</a>"));
}

/// A session's end belongs to its institution whoever ends it: here the SMS provider's
/// reply webhook, whose key is the default institution's.
#[test]
fn the_end_of_a_session_is_audited_in_its_institution() {
    let server = TestServer::start();
    let k = keys(&server);
    // One provider webhook serves every institution: a cross-institution key.
    let sms = sms_key(&server, "provider", &["--all-institutions"]);
    let (status, rs) = server.post_as(
        &k.a,
        "/api/v1/oob",
        &json!({"PhoneNum": "4175550100", "OOBModeType": "TwoWay"}),
    );
    assert_eq!(status, 200, "{rs}");
    let otp = rs["OTP"].as_str().unwrap();
    let (status, rs) = server.post_as(
        &sms,
        "/api/v1/sms/inbound",
        &json!({"From": "+14175550100", "Body": otp}),
    );
    assert_eq!(
        (status, rs["RsStat"].as_str()),
        (200, Some("Success")),
        "{rs}"
    );
    let inbound = |key: &str| {
        let (status, rs) = get_as(&server, key, "/api/v1/audit?Action=oob.inbound");
        assert_eq!(status, 200, "{rs}");
        rs["AuditArray"].as_array().unwrap().len()
    };
    assert_eq!(inbound(&k.a), 1);
    assert_eq!(inbound(&server.key), 0);
}
