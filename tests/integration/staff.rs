//! Staff trust over the real binary (issue 24): each role's allowed and refused console
//! actions, one institution per account, and dual control (maker–checker).

use serde_json::json;
use std::path::Path;

use crate::support::admin::{hidden, AdminClient, Page, PASSWORD};
use crate::support::{cli, cli_input, create_key_with, wrong_code, TestServer};

const OTHER_INST: &str = "021000021";
/// The default dual-control list, as a bank would write it.
const DUAL: &str = r#"["phone.change","hold.lift","token.delete","token.bind","apikey.create","staff.create","staff.role"]"#;

/// Creates a staff account through the CLI (the break-glass path).
fn staff(dir: &Path, username: &str, role: &str, reach: &[&str]) {
    let mut args = vec![
        "admin",
        "create",
        "--username",
        username,
        "--password-stdin",
        "--role",
        role,
    ];
    args.extend_from_slice(reach);
    let out = cli_input(dir, &args, format!("{PASSWORD}\n").as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A server with these staff accounts, and its data directory.
fn server(
    env: &[(&str, &str)],
    accounts: &[(&str, &str, &[&str])],
) -> (TestServer, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for (name, role, reach) in accounts {
        staff(dir.path(), name, role, reach);
    }
    let path = dir.path().to_owned();
    let mut server = TestServer::start_in(dir.path(), env).expect("server starts");
    server.keep_dir(dir);
    (server, path)
}

/// The audit page of the console's institution as `who` sees it, filtered by action.
fn audit(who: &AdminClient, action: &str) -> String {
    who.get(&format!("/admin/audit?action={action}")).body
}

/// A flash message after a redirect.
fn flash(who: &AdminClient, rs: &Page) -> String {
    assert_eq!(rs.status, 303, "{}", rs.body);
    who.follow(rs).body
}

/// One console action: method and path, form fields, the weakest role allowed.
type Action<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

#[test]
#[expect(clippy::too_many_lines, reason = "a table: one row per console action")]
fn each_role_may_do_what_the_table_says_and_is_refused_the_rest_with_an_audit_row() {
    let all: &[&str] = &["--all-institutions"];
    let (server, _dir) = server(
        &[],
        &[
            ("boss", "admin", all),
            ("aud", "auditor", &[]),
            ("desk", "helpdesk", &[]),
            ("off", "officer", &[]),
            ("adm", "admin", &[]),
        ],
    );
    let (token, seed, _) = server.enroll_active("carol");
    for _ in 0..5 {
        server.validate("carol", &wrong_code(&seed));
    }
    let (status, _) = server.post(
        "/api/v1/users",
        &json!({"UsrName": "dan", "PhoneNum": "5552234567"}),
    );
    assert_eq!(status, 200);
    // (method and path, fields, the weakest role allowed). The modify unlocks carol's
    // locked binding: the help desk's action while it is locked.
    let table: &[Action<'_>] = &[
        ("GET /admin/users", &[], "auditor"),
        ("GET /admin/user?name=carol", &[], "auditor"),
        ("GET /admin/audit", &[], "auditor"),
        ("GET /admin/outbox", &[], "auditor"),
        ("GET /admin/oob", &[], "auditor"),
        ("GET /admin/events", &[], "auditor"),
        ("GET /admin/drift", &[], "auditor"),
        ("GET /admin/hardware", &[], "auditor"),
        ("GET /admin/approvals", &[], "auditor"),
        (
            "POST /admin/tokens/modify",
            &[
                ("token_id", &token),
                ("usr_name", "carol"),
                ("key", "k"),
                ("target", "binding"),
                ("status", "Act"),
            ],
            "helpdesk",
        ),
        (
            "GET /admin/tokens/resync?token=T&name=carol",
            &[],
            "helpdesk",
        ),
        (
            "POST /admin/tokens/resync",
            &[
                ("token_id", &token),
                ("usr_name", "carol"),
                ("code1", "000000"),
                ("code2", "000001"),
            ],
            "helpdesk",
        ),
        (
            "POST /admin/users/tempcode",
            &[("usr_name", "nobody")],
            "helpdesk",
        ),
        (
            "POST /admin/users/testsms",
            &[("usr_name", "nobody")],
            "helpdesk",
        ),
        ("GET /admin/users/new", &[], "officer"),
        (
            "POST /admin/users",
            &[("usr_name", "erin"), ("phone", "")],
            "officer",
        ),
        ("GET /admin/enroll?name=dan", &[], "officer"),
        ("POST /admin/enroll", &[("usr_name", "nobody:")], "officer"),
        (
            "POST /admin/hardware/bind",
            &[("token_id", "NOSUCH"), ("usr_name", "dan")],
            "officer",
        ),
        ("GET /admin/users/phone?name=dan&key=k", &[], "officer"),
        (
            "POST /admin/users/phone",
            &[
                ("usr_name", "dan"),
                ("key", "k"),
                ("phone", "5559876543"),
                ("confirmed", "true"),
            ],
            "officer",
        ),
        (
            "POST /admin/users/hold/lift",
            &[("usr_name", "dan"), ("reason", "called back")],
            "officer",
        ),
        (
            "GET /admin/tokens/delete?token=T&name=carol&key=k",
            &[],
            "officer",
        ),
        (
            "POST /admin/tokens/delete",
            &[("token_id", "NOSUCH"), ("usr_name", "carol"), ("key", "k")],
            "officer",
        ),
        ("GET /admin/apikeys", &[], "admin"),
        (
            "POST /admin/apikeys",
            &[("name", "core"), ("scope", "validate")],
            "admin",
        ),
        ("POST /admin/apikeys/revoke", &[("name", "nosuch")], "admin"),
        ("GET /admin/staff", &[], "admin"),
        (
            "POST /admin/staff",
            &[("username", "newbie"), ("role", "auditor")],
            "admin",
        ),
        (
            "POST /admin/staff/role",
            &[("username", "nosuch"), ("role", "admin")],
            "admin",
        ),
        (
            "POST /admin/staff/disable",
            &[("username", "nosuch")],
            "admin",
        ),
    ];
    let ranks = ["auditor", "helpdesk", "officer", "admin"];
    let rank = |r: &str| ranks.iter().position(|x| *x == r).unwrap();
    for (who, role) in [
        ("aud", "auditor"),
        ("desk", "helpdesk"),
        ("off", "officer"),
        ("adm", "admin"),
    ] {
        let c = AdminClient::signed_in(&server, who, PASSWORD);
        let csrf = c.get("/admin/users").csrf();
        for (call, fields, needs) in table {
            let (method, path) = call.split_once(' ').unwrap();
            let rs = if method == "GET" {
                c.get(path)
            } else {
                let mut all = vec![("csrf", csrf.as_str())];
                all.extend_from_slice(fields);
                c.post(path, &all)
            };
            let allowed = rank(role) >= rank(needs);
            assert_eq!(
                rs.status == 403,
                !allowed,
                "{who} {call}: {} {}",
                rs.status,
                rs.body
            );
            if !allowed {
                assert!(
                    rs.body.contains(&format!("needs the {needs} role")),
                    "{who} {call}: {}",
                    rs.body
                );
            }
        }
        // The page offers only what the role may do.
        let carol = c.get("/admin/user?name=carol").body;
        assert_eq!(carol.contains("Delete…"), rank(role) >= 2, "{who}");
        assert_eq!(
            c.get("/admin/users").body.contains("/admin/staff"),
            role == "admin"
        );
        // One institution: no switch, for any role.
        let rs = c.post(
            "/admin/institution",
            &[("csrf", &csrf), ("inst_rt_id", OTHER_INST)],
        );
        assert_eq!(rs.status, 403, "{who}");
    }
    let boss = AdminClient::signed_in(&server, "boss", PASSWORD);
    let denied = audit(&boss, "console.denied");
    for line in [
        "token.unlock refused: it needs helpdesk; aud is auditor",
        "token.delete refused: it needs officer; desk is helpdesk",
        "apikey.create refused: it needs admin; off is officer",
    ] {
        assert!(denied.contains(line), "{line}");
    }
}

#[test]
fn staff_of_one_institution_reach_nothing_of_another() {
    let (server, dir) = server(
        &[],
        &[
            ("boss", "admin", &["--all-institutions"]),
            ("bdesk", "admin", &["--inst-rt-id", OTHER_INST]),
        ],
    );
    // alice and her SMS live in the default institution; bob in the other.
    let (status, _) = server.post(
        "/api/v1/users",
        &json!({"UsrName": "alice", "PhoneNum": "5552234567"}),
    );
    assert_eq!(status, 200);
    let (status, rs) = server.post(
        "/api/v1/oob",
        &json!({"UsrName": "alice", "PhoneNum": "5552234567", "OOBModeType": "TwoWay"}),
    );
    assert_eq!(status, 200, "{rs}");
    let b_key = create_key_with(
        &dir,
        "b-core",
        "manage,validate",
        &["--inst-rt-id", OTHER_INST],
    );
    let (status, _) = server.post_as(&b_key, "/api/v1/users", &json!({"UsrName": "bob"}));
    assert_eq!(status, 200);
    let b = AdminClient::signed_in(&server, "bdesk", PASSWORD);
    assert_eq!(b.get("/admin/user?name=bob").status, 200);
    let alice = b.get("/admin/user?name=alice");
    assert_eq!(alice.status, 404, "{}", alice.body);
    assert!(!alice.body.contains("alice"));
    for page in [
        "/admin/users",
        "/admin/outbox",
        "/admin/oob",
        "/admin/events",
        "/admin/apikeys",
        "/admin/staff",
    ] {
        let body = b.get(page).body;
        assert!(
            !body.contains("alice") && !body.contains("boss"),
            "{page} shows the default institution's data"
        );
    }
    // B's trail holds B's rows only (with the probe of alice below), never A's.
    let trail = b.get("/admin/audit").body;
    assert!(
        trail.contains("bob") && !trail.contains("oob.start"),
        "{trail}"
    );
    let users = b.get("/admin/users").body;
    assert!(users.contains("bob"));
    assert!(b.get("/admin/apikeys").body.contains("b-core"));
    // A form naming alice finds nothing; the switch is gone and refused.
    let csrf = b.get("/admin/users").csrf();
    let rs = b.post(
        "/admin/users/tempcode",
        &[("csrf", &csrf), ("usr_name", "alice")],
    );
    let back = b.follow(&rs);
    assert_eq!(back.status, 404, "{}", back.body);
    assert!(!b
        .get("/admin/users")
        .body
        .contains("action=\"/admin/institution\""));
    let rs = b.post(
        "/admin/institution",
        &[("csrf", &csrf), ("inst_rt_id", "tokend")],
    );
    assert_eq!(rs.status, 403);
    assert!(!b.get("/admin/users").body.contains("alice"));
    // Staff of every institution keep the switch; the probe is in B's trail.
    let boss = AdminClient::signed_in(&server, "boss", PASSWORD);
    assert!(boss.get("/admin/user?name=alice").status == 200);
    let csrf = boss.get("/admin/users").csrf();
    boss.post(
        "/admin/institution",
        &[("csrf", &csrf), ("inst_rt_id", OTHER_INST)],
    );
    assert!(
        audit(&boss, "console.denied").contains(&format!("not found in {OTHER_INST}: user alice"))
    );
}

fn key_of(page: &str) -> String {
    hidden(page, "key").expect("a key field")
}

#[test]
fn dual_control_holds_an_action_until_a_second_staff_member_approves_it() {
    let (server, _dir) = server(
        &[("ROCKET_DUAL_CONTROL", DUAL)],
        &[
            ("maker", "officer", &[]),
            ("checker", "officer", &[]),
            ("desk", "helpdesk", &[]),
            ("boss", "admin", &[]),
        ],
    );
    let (status, _) = server.post(
        "/api/v1/users",
        &json!({"UsrName": "alice", "PhoneNum": "5552234567"}),
    );
    assert_eq!(status, 200);
    let maker = AdminClient::signed_in(&server, "maker", PASSWORD);
    let (_, user) = crate::api_oob::get_json(&server, "/api/v1/users/alice");
    let key = user["ActIntentKey"].as_str().unwrap().to_owned();
    let fields = [
        ("usr_name", "alice"),
        ("key", key.as_str()),
        ("phone", "5559876543"),
        ("confirmed", "true"),
    ];
    // No reason: refused, nothing filed.
    let rs = maker.submit("/admin/user?name=alice", "/admin/users/phone", &fields);
    assert!(flash(&maker, &rs).contains("reason"));
    let mut with_reason = fields.to_vec();
    with_reason.push(("reason", "customer called from the number on file"));
    let rs = maker.submit("/admin/user?name=alice", "/admin/users/phone", &with_reason);
    assert!(flash(&maker, &rs).contains("Request #1 is filed"));
    assert!(
        maker
            .get("/admin/user?name=alice")
            .body
            .contains("******4567"),
        "not changed yet"
    );
    // The maker cannot approve; the help desk's role does not allow the action.
    let page = maker.get("/admin/approvals");
    assert!(!page.body.contains("id=\"approve-1\""));
    let rs = maker.post("/admin/approvals/1/approve", &[("csrf", &page.csrf())]);
    assert!(flash(&maker, &rs).contains("maker of a request cannot approve it"));
    let desk = AdminClient::signed_in(&server, "desk", PASSWORD);
    let rs = desk.post(
        "/admin/approvals/1/approve",
        &[("csrf", &desk.get("/admin/approvals").csrf())],
    );
    assert!(flash(&desk, &rs).contains("officer role"));
    // Another officer approves: it runs now.
    let checker = AdminClient::signed_in(&server, "checker", PASSWORD);
    let page = checker.get("/admin/approvals");
    assert!(page.body.contains("id=\"approve-1\""), "{}", page.body);
    let rs = checker.post("/admin/approvals/1/approve", &[("csrf", &page.csrf())]);
    let said = flash(&checker, &rs);
    assert!(said.contains("Phone changed to ******6543"), "{said}");
    assert!(checker
        .get("/admin/user?name=alice")
        .body
        .contains("******6543"));
    // Decided once: a second approval is refused.
    let rs = checker.post("/admin/approvals/1/approve", &[("csrf", &page.csrf())]);
    assert!(flash(&checker, &rs).contains("approved already"));
    // The trail links request, approval and change by the tracking id approval-1.
    let boss = AdminClient::signed_in(&server, "boss", PASSWORD);
    let trail = boss.get("/admin/audit").body;
    for row in ["approval.request", "approval.approve", "user.phone"] {
        let line = trail
            .lines()
            .find(|l| l.contains(&format!("<td>{row}</td>")))
            .unwrap_or_else(|| panic!("{row}"));
        let _ = line;
    }
    assert!(trail.matches("approval-1").count() >= 3, "{trail}");
    assert!(audit(&boss, "approval.request").contains("Requested"));
}

#[test]
fn a_stale_request_is_refused_and_an_expired_one_cannot_be_approved() {
    let (server, _dir) = server(
        &[
            ("ROCKET_DUAL_CONTROL", DUAL),
            ("ROCKET_DUAL_CONTROL_EXPIRY_SECS", "3"),
        ],
        &[("maker", "officer", &[]), ("boss", "admin", &[])],
    );
    let (token, _seed, _) = server.enroll_active("carol");
    let maker = AdminClient::signed_in(&server, "maker", PASSWORD);
    let page = maker.get("/admin/user?name=carol").body;
    let marker = "&amp;key=";
    let at = page.find("/admin/tokens/delete?").unwrap();
    let start = page[at..].find(marker).unwrap() + at + marker.len();
    let end = page[start..].find('"').unwrap() + start;
    let confirm = format!(
        "/admin/tokens/delete?token={token}&name=carol&key={}",
        &page[start..end]
    );
    let dkey = key_of(&maker.get(&confirm).body);
    let rs = maker.submit(
        &confirm,
        "/admin/tokens/delete",
        &[
            ("token_id", &token),
            ("usr_name", "carol"),
            ("key", &dkey),
            ("reason", "lost"),
        ],
    );
    assert!(flash(&maker, &rs).contains("Request #1 is filed"));
    // The token changes before the approval: the approval is refused and says why.
    let boss = AdminClient::signed_in(&server, "boss", PASSWORD);
    let (status, rs) = server.post(
        "/api/v1/inquiry",
        &json!({"TokenId": token, "ActIntent": "Upd"}),
    );
    assert_eq!(status, 200, "{rs}");
    let upd = rs["ActIntentKey"].as_str().unwrap().to_owned();
    let (status, rs) = server.post(
        &format!("/api/v1/tokens/{token}/modify"),
        &json!({"ActIntentKey": upd, "UsrTokenStat": "Disable"}),
    );
    assert_eq!(status, 200, "{rs}");
    let rs = boss.post(
        "/admin/approvals/1/approve",
        &[("csrf", &boss.get("/admin/approvals").csrf())],
    );
    assert!(flash(&boss, &rs).contains("Someone changed this record meanwhile"));
    let approvals = boss.get("/admin/approvals").body;
    assert!(approvals.contains(">failed<"), "{approvals}");
    assert!(!boss.get("/admin/user?name=carol").body.contains(">Del<"));
    // A request left undecided lapses: marked expired, and no longer approvable.
    let rs = maker.submit(
        &confirm,
        "/admin/tokens/delete",
        &[
            ("token_id", &token),
            ("usr_name", "carol"),
            ("key", &dkey),
            ("reason", "lost"),
        ],
    );
    assert!(flash(&maker, &rs).contains("Request #2 is filed"));
    // Real time, kept (issue 29): dual-control requests lapse on the console's real clock.
    std::thread::sleep(std::time::Duration::from_millis(3_500));
    let rs = boss.post(
        "/admin/approvals/2/approve",
        &[("csrf", &boss.get("/admin/approvals").csrf())],
    );
    assert!(flash(&boss, &rs).contains("expired already"));
    assert!(audit(&boss, "approval.expire").contains("#2 token.delete"));
}

#[test]
fn an_approved_key_or_account_is_shown_once_to_the_approver() {
    let (server, dir) = server(
        &[("ROCKET_DUAL_CONTROL", DUAL)],
        &[("ann", "admin", &[]), ("ben", "admin", &[])],
    );
    let ann = AdminClient::signed_in(&server, "ann", PASSWORD);
    let rs = ann.submit(
        "/admin/apikeys",
        "/admin/apikeys",
        &[
            ("name", "core"),
            ("scope", "validate"),
            ("reason", "online banking"),
        ],
    );
    assert!(flash(&ann, &rs).contains("Request #1 is filed"));
    let rs = ann.submit(
        "/admin/staff",
        "/admin/staff",
        &[
            ("username", "kari"),
            ("role", "helpdesk"),
            ("reason", "new hire"),
        ],
    );
    assert!(flash(&ann, &rs).contains("Request #2 is filed"));
    let ben = AdminClient::signed_in(&server, "ben", PASSWORD);
    let rs = ben.post(
        "/admin/approvals/1/approve",
        &[("csrf", &ben.get("/admin/approvals").csrf())],
    );
    assert_eq!(rs.status, 200);
    let key = rs
        .body
        .split("id=\"secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    let (status, _) = server.post_as(
        &key,
        "/api/v1/validate",
        &json!({"UsrName": "nobody", "Code": "123456"}),
    );
    assert_ne!(status, 401, "the approved key works");
    let rs = ben.post(
        "/admin/approvals/2/approve",
        &[("csrf", &ben.get("/admin/approvals").csrf())],
    );
    assert!(rs.body.contains("One-time password of kari"));
    let listed = String::from_utf8_lossy(&cli(&dir, &[], &["admin", "list"]).stdout).to_string();
    assert!(listed.contains("kari\thelpdesk\ttokend"), "{listed}");
}

#[test]
fn the_cli_lists_staff_changes_roles_and_disables_accounts_at_once() {
    let (server, dir) = server(&[("ROCKET_DUAL_CONTROL", DUAL)], &[("ben", "admin", &[])]);
    let ben = AdminClient::signed_in(&server, "ben", PASSWORD);
    // The CLI: list, set-role (no dual control), disable (its sessions end at once).
    let out = cli(
        &dir,
        &[],
        &[
            "admin",
            "set-role",
            "--username",
            "ben",
            "--role",
            "auditor",
        ],
    );
    assert!(out.status.success());
    assert_eq!(
        ben.get("/admin/apikeys").status,
        403,
        "a role change takes effect at once"
    );
    let out = cli(&dir, &[], &["admin", "disable", "--username", "ben"]);
    assert!(out.status.success());
    assert_eq!(ben.get("/admin/users").status, 303, "signed out");
    let again = ben.sign_in("ben", PASSWORD);
    assert_eq!(
        again.location.as_deref(),
        Some("/admin/login"),
        "cannot sign in again"
    );
    let listed = String::from_utf8_lossy(&cli(&dir, &[], &["admin", "list"]).stdout).to_string();
    let ben_line = listed.lines().find(|l| l.starts_with("ben\t")).unwrap();
    assert!(
        ben_line.starts_with("ben\tauditor\ttokend") && !ben_line.ends_with("\t-"),
        "{ben_line}"
    );
}
