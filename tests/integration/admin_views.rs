//! Console views: API keys (shown once, revocation effective at once), the SMS outbox with
//! codes masked, OOB events.

use crate::support::admin::server_with_admin;

#[test]
fn api_keys_are_created_once_listed_and_revoked() {
    let (server, c) = server_with_admin();
    let page = c.get("/admin/apikeys");
    assert!(page.body.contains("test-"), "the fixture's key is listed");
    let created = c.post(
        "/admin/apikeys",
        &[
            ("csrf", &page.csrf()),
            ("name", "core-banking"),
            ("scope", "manage"),
            ("scope", "validate"),
            ("consumer_name", "FirstBank"),
            ("consumer_prod", "Teller"),
        ],
    );
    assert_eq!(created.status, 200);
    assert!(
        created.body.contains("FirstBank, Teller"),
        "the registration is listed"
    );
    assert_eq!(created.headers["cache-control"], "no-store");
    let key = created.body.split("id=\"new-key\">").nth(1).unwrap();
    let key = key.split('<').next().unwrap().to_owned();
    assert!(key.starts_with("tkd_"));
    let (status, _) = server.post_as(
        &key,
        "/api/v1/tempcode",
        &serde_json::json!({"UsrName": "nobody"}),
    );
    assert_eq!(status, 404, "the key works (unknown user, not 401)");
    let other = serde_json::json!({"MsgRqHdr": {"jXchangeHdr": {"ValidConsmName": "Other"}},
                                   "UsrName": "nobody"});
    let (status, _) = server.post_as(&key, "/api/v1/tempcode", &other);
    assert_eq!(
        status, 403,
        "registered for FirstBank: another ValidConsmName is 2505"
    );
    assert!(!c.get("/admin/apikeys").body.contains(&key), "shown once");
    let dup = c.post(
        "/admin/apikeys",
        &[
            ("csrf", &page.csrf()),
            ("name", "core-banking"),
            ("scope", "manage"),
        ],
    );
    assert!(c.follow(&dup).body.contains("exists"));
    let bad_scope = c.post(
        "/admin/apikeys",
        &[("csrf", &page.csrf()), ("name", "x"), ("scope", "root")],
    );
    assert!(c.follow(&bad_scope).body.contains("unknown scope"));
    assert_eq!(
        c.post(
            "/admin/apikeys/revoke",
            &[("csrf", "bad"), ("name", "core-banking")]
        )
        .status,
        403
    );
    let revoked = c.post(
        "/admin/apikeys/revoke",
        &[("csrf", &page.csrf()), ("name", "core-banking")],
    );
    assert!(c.follow(&revoked).body.contains("is revoked"));
    let (status, _) = server.post_as(
        &key,
        "/api/v1/tempcode",
        &serde_json::json!({"UsrName": "nobody"}),
    );
    assert_eq!(status, 401, "revoked at once");
    let again = c.post(
        "/admin/apikeys/revoke",
        &[("csrf", &page.csrf()), ("name", "core-banking")],
    );
    assert!(c.follow(&again).body.contains("revoked already"));
}

#[test]
fn the_outbox_masks_codes_and_events_show_results() {
    let (server, c) = server_with_admin();
    let (status, rs) = server.post(
        "/api/v1/oob",
        &serde_json::json!({"PhoneNum": "4175556652", "OOBModeType": "TwoWay"}),
    );
    assert_eq!(status, 200, "{rs}");
    let otp = rs["OTP"].as_str().unwrap().to_owned();
    let id = rs["AlrtPkgId"].as_str().unwrap().to_owned();
    let outbox = c.get("/admin/outbox");
    assert_eq!(outbox.status, 200);
    assert!(outbox.body.contains("******6652"));
    assert!(outbox.body.contains("******"), "{}", outbox.body);
    assert!(!outbox.body.contains(&otp), "the code is masked");
    assert!(!outbox.body.contains("4175556652"));
    let wrong = if otp == "000000" { "111111" } else { "000000" };
    let (status, _) = server.post(
        &format!("/api/v1/oob/{id}/verify"),
        &serde_json::json!({ "OTP": wrong }),
    );
    assert_eq!(status, 200);
    let sessions = c.get("/admin/oob");
    assert!(sessions.body.contains(&id), "{}", sessions.body);
    assert!(sessions.body.contains("TwoWay") && sessions.body.contains("******6652"));
    assert!(!sessions.body.contains(&otp));
    let events = c.get("/admin/events");
    assert!(events.body.contains(&id), "{}", events.body);
    assert!(events.body.contains("Failed"));
    assert!(
        c.get("/admin/oob").body.contains("Failed"),
        "the session ended Failed"
    );
    assert_eq!(
        c.get("/admin/outbox?before=abc").status,
        200,
        "a bad query is ignored, no 500"
    );
}

#[test]
fn the_audit_log_filters_by_user_token_action_and_date() {
    let (server, c) = server_with_admin();
    let (token, _seed, _step) = server.enroll_active("Jane Doe");
    server.validate("Jane Doe", "000000");
    let by_user = c.get("/admin/audit?user=Jane+Doe");
    assert_eq!(by_user.status, 200);
    assert!(
        by_user.body.contains("<td>validate</td>"),
        "{}",
        by_user.body
    );
    assert!(by_user.body.contains("<td>enroll</td>"));
    assert!(!by_user.body.contains("<td>admin.signin</td>"));
    let by_action = c.get("/admin/audit?action=admin.signin");
    assert!(by_action.body.contains("admin:ola"));
    assert!(!by_action.body.contains("<td>validate</td>"));
    let by_token = c.get(&format!("/admin/audit?token={token}&action=validate"));
    assert!(by_token.body.contains("Failed"));
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let dated = c.get(&format!(
        "/admin/audit?user=Jane+Doe&from={today}&to={today}"
    ));
    assert!(dated.body.contains("<td>validate</td>"));
    let past = c.get("/admin/audit?from=2001-01-01&to=2001-01-02");
    assert!(past.body.contains("No audit record matches"));
    let junk = c.get("/admin/audit?from=not-a-date&before=x&user=%00");
    assert_eq!(junk.status, 200, "junk filters are ignored, never a 500");
    assert!(
        !by_user.body.contains("000000"),
        "never a code in the audit"
    );
}

#[test]
fn a_test_sms_goes_to_the_phone_on_file_and_refuses_without_one() {
    let (_server, c) = server_with_admin();
    let created = c.submit(
        "/admin/users/new",
        "/admin/users",
        &[("usr_name", "Jane Doe"), ("phone", "4175556652")],
    );
    let page = c.follow(&created);
    let sent = c.post(
        "/admin/users/testsms",
        &[("csrf", &page.csrf()), ("usr_name", "Jane Doe")],
    );
    let shown = c.follow(&sent).body;
    assert!(shown.contains("Test SMS to ******6652: Sent"), "{shown}");
    assert!(c
        .get("/admin/outbox")
        .body
        .contains("This is a test message"));
    c.submit(
        "/admin/users/new",
        "/admin/users",
        &[("usr_name", "Ola"), ("phone", "")],
    );
    let none = c.post(
        "/admin/users/testsms",
        &[("csrf", &page.csrf()), ("usr_name", "Ola")],
    );
    assert!(
        c.follow(&none)
            .body
            .contains("The user has no phone on file"),
        "no phone on file"
    );
    assert_eq!(
        c.post(
            "/admin/users/testsms",
            &[("csrf", "x"), ("usr_name", "Ola")]
        )
        .status,
        403
    );
}

/// A key made in the console takes an institution (blank: the default) or all of them,
/// and acts accordingly.
#[test]
fn console_keys_are_bound_to_an_institution_or_to_all() {
    let (server, c) = server_with_admin();
    let page = c.get("/admin/apikeys");
    assert!(page.body.contains("blank: tokend"), "the default is named");
    let create = |name: &str, extra: &[(&str, &str)]| {
        let mut fields = vec![("csrf", page.csrf()), ("name", name.to_owned())];
        fields.push(("scope", "manage".to_owned()));
        fields.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let rs = c.post("/admin/apikeys", &fields);
        let key = rs.body.split("id=\"new-key\">").nth(1).unwrap();
        key.split('<').next().unwrap().to_owned()
    };
    let bank_a = create("bank-a", &[("inst_rt_id", "011000015")]);
    let all = create("middleware", &[("all_institutions", "true")]);
    let listed = c.get("/admin/apikeys").body;
    assert!(listed.contains("<td>011000015</td>") && listed.contains("all institutions"));
    let inquiry = |key: &str, inst: &str| {
        server
            .post_as(
                key,
                "/api/v1/inquiry",
                &serde_json::json!({"MsgRqHdr": {"jXchangeHdr": {"InstRtId": inst}},
                                    "TokenId": "NONE"}),
            )
            .0
    };
    assert_eq!(inquiry(&bank_a, "021000021"), 403);
    assert_eq!(inquiry(&bank_a, "011000015"), 404);
    assert_eq!(inquiry(&all, "021000021"), 404);
}

/// The console's outbox and event log read like logs: newest first.
#[test]
fn the_outbox_and_events_show_the_newest_first() {
    let (server, c) = server_with_admin();
    let mut ids = Vec::new();
    for phone in ["4175556652", "4175556653"] {
        let (status, rs) = server.post(
            "/api/v1/oob",
            &serde_json::json!({"PhoneNum": phone, "OOBModeType": "TwoWay"}),
        );
        assert_eq!(status, 200, "{rs}");
        let id = rs["AlrtPkgId"].as_str().unwrap().to_owned();
        let (_, rs) = server.post(
            &format!("/api/v1/oob/{id}/verify"),
            &serde_json::json!({"OTP": "000000"}),
        );
        assert_eq!(rs["RsStat"], "Failed");
        ids.push(id);
    }
    for page in ["/admin/outbox", "/admin/events"] {
        let body = c.get(page).body;
        let at = |id: &str| body.find(id).unwrap_or_else(|| panic!("{id} on {page}"));
        assert!(at(&ids[1]) < at(&ids[0]), "{page}: newest first");
    }
}
