//! Sandbox institutions with a test clock (issue 29), as an integrator uses them: a
//! `tk_test_` key bound to a sandbox, whose clock every time rule reads and which moves
//! only when told; no SMS leaves it; production stays on the real clock and refuses the
//! sandbox's keys (and the other way round).

use serde_json::{json, Value};

use crate::sink::{Mode, Sink};
use crate::support::{b32, cli, create_key_with, fault, json_of, now_step, totp, TestServer};

/// The sandbox every test here registers.
pub const SANDBOX: &str = "sbx-bank";

/// A server whose data directory has the sandbox institution [`SANDBOX`] and a
/// manage+validate `tk_test_` key bound to it; with extra environment.
pub struct Sandbox {
    pub server: TestServer,
    pub key: String,
}

impl Sandbox {
    pub fn start(env: &[(&str, &str)]) -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let out = cli(
            dir.path(),
            &[],
            &[
                "institution",
                "create",
                "--inst-rt-id",
                SANDBOX,
                "--sandbox",
            ],
        );
        assert!(out.status.success(), "{out:?}");
        let key = create_key_with(
            dir.path(),
            "integrator",
            "manage,validate",
            &["--inst-rt-id", SANDBOX],
        );
        let mut server = TestServer::start_in(dir.path(), env).expect("server starts");
        server.keep_dir(dir);
        Sandbox { server, key }
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.server.post_as(&self.key, path, body)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        get_as(&self.server, &self.key, path)
    }

    /// The sandbox clock, as seconds since the epoch.
    pub fn clock(&self) -> i64 {
        let (status, rs) = self.get("/api/v1/sandbox/clock");
        assert_eq!(status, 200, "{rs}");
        let dt = rs["ClockDt"].as_str().unwrap();
        chrono::DateTime::parse_from_rfc3339(dt)
            .unwrap()
            .timestamp()
    }

    /// Moves the clock forwards by `secs`.
    pub fn advance(&self, secs: i64) {
        let (status, rs) = self.post("/api/v1/sandbox/clock", &json!({"AdvanceSecs": secs}));
        assert_eq!(status, 200, "{rs}");
    }

    /// The TOTP step the sandbox is at.
    pub fn step(&self) -> i64 {
        self.clock() / 30
    }

    /// Enrolls and activates a software token for `usr` at the sandbox's time; its seed.
    pub fn enroll_active(&self, usr: &str) -> (String, Vec<u8>) {
        let (status, rs) = self.post(
            "/api/v1/tokens",
            &json!({"UsrName": usr, "TokenType": "Software"}),
        );
        assert_eq!(status, 200, "{rs}");
        let (token, seed) = (
            rs["TokenId"].as_str().unwrap().to_owned(),
            b32(rs["Secret"].as_str().unwrap()),
        );
        let code = totp(&seed, "SHA1", 6, self.step());
        let (_, rs) = self.post(
            &format!("/api/v1/tokens/{token}/activate"),
            &json!({"Code": code}),
        );
        assert_eq!(rs["RsStat"], "Success", "{rs}");
        (token, seed)
    }

    pub fn validate(&self, usr: &str, code: &str) -> Value {
        let (status, rs) = self.post("/api/v1/validate", &json!({"UsrName": usr, "Code": code}));
        assert_eq!(status, 200, "{rs}");
        rs
    }
}

pub fn get_as(server: &TestServer, key: &str, path: &str) -> (u16, Value) {
    json_of(
        ureq::get(&format!("{}{path}", server.base))
            .set("Authorization", &format!("Bearer {key}"))
            .call(),
    )
}

#[test]
fn an_integrator_locks_a_sandbox_token_advances_past_auto_unlock_and_validates_again() {
    let sbx = Sandbox::start(&[("ROCKET_AUTO_UNLOCK_AFTER_SECS", "900")]);
    assert!(sbx.key.starts_with("tk_test_"), "a sandbox key says so");
    let (_, seed) = sbx.enroll_active("ivy");
    let wrong = crate::support::wrong_code(&seed);
    for _ in 0..5 {
        sbx.validate("ivy", &wrong);
    }
    sbx.advance(30);
    let right = totp(&seed, "SHA1", 6, sbx.step());
    assert_eq!(sbx.validate("ivy", &right)["RsStat"], "Locked");
    let before = sbx.clock();
    sbx.advance(900);
    assert_eq!(sbx.clock(), before + 900);
    // The code an authenticator whose clock was set to the sandbox time would show.
    let rs = sbx.validate("ivy", &totp(&seed, "SHA1", 6, sbx.step()));
    assert_eq!(rs["RsStat"], "Success", "unlocked by the clock: {rs}");
    let (status, audit) = sbx.get("/api/v1/audit?Action=sandbox.clock");
    assert_eq!(status, 200, "{audit}");
    assert_eq!(audit["AuditArray"].as_array().unwrap().len(), 2, "{audit}");
}

#[test]
fn an_oob_session_expires_by_the_sandbox_clock_and_its_sms_never_leaves() {
    let gateway = Sink::start(Mode::Ok);
    let url = format!("{}/sms", gateway.url);
    let sbx = Sandbox::start(&[
        ("ROCKET_SMS_PROVIDER", "http"),
        ("ROCKET_SMS_HTTP_URL", &url),
    ]);
    let start = json!({"PhoneNum": "5552345678", "OOBModeType": "TwoWay", "ExpSec": 60});
    let (status, first) = sbx.post("/api/v1/oob", &start);
    assert_eq!(status, 200, "{first}");
    let (status, outbox) = sbx.get("/api/v1/sandbox/sms");
    assert_eq!(status, 200, "{outbox}");
    let messages = outbox["Messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{outbox}");
    assert_eq!(messages[0]["Provider"], "outbox", "{outbox}");
    let code = first["OTP"].as_str().unwrap();
    assert!(messages[0]["Body"].as_str().unwrap().contains(code));
    let alrt = first["AlrtPkgId"].as_str().unwrap();
    sbx.advance(61);
    // Moving the clock runs the sandbox's sweep: the session ended, its event is out.
    let (_, session) = sbx.get(&format!("/api/v1/oob/{alrt}"));
    assert_eq!(session["OOBStat"], "Expired", "{session}");
    let (status, rs) = sbx.post(&format!("/api/v1/oob/{alrt}/verify"), &json!({"OTP": code}));
    assert_eq!(
        (status, rs["RsStat"].as_str()),
        (200, Some("Expired")),
        "{rs}"
    );
    assert!(gateway.received().is_empty(), "no SMS left the sandbox");
}

#[test]
fn production_keeps_the_real_clock_and_keys_stay_on_their_side() {
    let sbx = Sandbox::start(&[]);
    sbx.advance(86_400 * 3);
    assert!(sbx.clock() > chrono::Utc::now().timestamp() + 86_400 * 2);
    // Production (the fixture's own key, the default institution) is on the real clock.
    let prod = &sbx.server;
    let (_, seed, _) = prod.enroll_active("zed");
    let rs = prod.validate("zed", &totp(&seed, "SHA1", 6, now_step(30) + 1));
    assert_eq!(rs["RsStat"], "Success", "{rs}");
    let (status, rs) = get_as(prod, &prod.key, "/api/v1/sandbox/clock");
    assert_eq!((status, fault(&rs).0.as_str()), (403, "2505"), "{rs}");
    let (status, rs) = prod.post("/api/v1/sandbox/clock", &json!({"AdvanceSecs": 60}));
    assert_eq!((status, fault(&rs).0.as_str()), (403, "2505"), "{rs}");
    // A sandbox key naming production, and a cross-institution key naming the sandbox.
    let hdr = |inst: &str| json!({"jXchangeHdr": {"InstRtId": inst}});
    let (status, rs) = sbx.post(
        "/api/v1/users",
        &json!({"MsgRqHdr": hdr("tokend"), "UsrName": "x"}),
    );
    assert_eq!((status, fault(&rs).0.as_str()), (403, "2505"), "{rs}");
    let all = create_key_with(
        &prod.data_dir,
        "middleware",
        "manage",
        &["--all-institutions"],
    );
    assert!(all.starts_with("tkd_"));
    let (status, rs) = prod.post_as(
        &all,
        "/api/v1/users",
        &json!({"MsgRqHdr": hdr(SANDBOX), "UsrName": "x"}),
    );
    assert_eq!((status, fault(&rs).0.as_str()), (403, "2505"), "{rs}");
}

#[test]
fn the_sandbox_clock_never_goes_backwards() {
    let sbx = Sandbox::start(&[]);
    let now = sbx.clock();
    let back = chrono::DateTime::from_timestamp(now - 10, 0)
        .unwrap()
        .to_rfc3339();
    let (status, rs) = sbx.post("/api/v1/sandbox/clock", &json!({"SetDt": back}));
    assert_eq!(
        (status, fault(&rs)),
        (400, ("7001".into(), Some("SetDt".into()))),
        "{rs}"
    );
    let ahead = chrono::DateTime::from_timestamp(now + 3_600, 0)
        .unwrap()
        .to_rfc3339();
    let (status, rs) = sbx.post("/api/v1/sandbox/clock", &json!({"SetDt": ahead}));
    assert_eq!(status, 200, "{rs}");
    assert_eq!(sbx.clock(), now + 3_600);
    for bad in [
        json!({}),
        json!({"AdvanceSecs": 0}),
        json!({"AdvanceSecs": 5, "SetDt": ahead}),
    ] {
        let (status, rs) = sbx.post("/api/v1/sandbox/clock", &bad);
        assert_eq!(status, 400, "{bad}: {rs}");
    }
}

#[test]
fn institutions_are_listed_and_production_ones_never_become_sandboxes() {
    let sbx = Sandbox::start(&[]);
    let dir = sbx.server.data_dir.clone();
    let run = |args: &[&str]| cli(&dir, &[], args);
    let listed = String::from_utf8(run(&["institution", "list"]).stdout).unwrap();
    assert!(listed.contains("sbx-bank sandbox clock "), "{listed}");
    for inst in ["tokend", "sbx-bank"] {
        let out = run(&["institution", "create", "--inst-rt-id", inst, "--sandbox"]);
        assert!(!out.status.success(), "{inst}: {out:?}");
    }
    // An institution with data (a key bound to it) is a production one.
    create_key_with(&dir, "branch", "manage", &["--inst-rt-id", "branch-7"]);
    let out = run(&[
        "institution",
        "create",
        "--inst-rt-id",
        "branch-7",
        "--sandbox",
    ]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("cannot become a sandbox"),
        "{said}"
    );
    assert!(run(&["institution", "create", "--inst-rt-id", "branch-7"])
        .status
        .success());
}

#[test]
fn magic_numbers_play_a_refusing_a_slow_and_an_unreachable_gateway() {
    let sbx = Sandbox::start(&[("ROCKET_SMS_ANSWER_WAIT_MS", "200")]);
    let start = |phone: &str| {
        let (status, rs) = sbx.post(
            "/api/v1/oob",
            &json!({"PhoneNum": phone, "OOBModeType": "TwoWay"}),
        );
        assert_eq!(status, 200, "{rs}");
        rs
    };
    assert_eq!(start("4175550100")["SendStat"], "Failed");
    assert_eq!(start("4175550102")["SendStat"], "Failed");
    let slow = start("4175550101");
    assert_eq!(slow["SendStat"], "Pending");
    assert_eq!(start("4175550177")["SendStat"], "Sent", "any other number");
    let (_, outbox) = sbx.get("/api/v1/sandbox/sms");
    let errors: Vec<&str> = outbox["Messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["LastErr"].as_str())
        .collect();
    assert_eq!(errors.len(), 2, "{outbox}");
    assert!(
        errors[0].contains("refused") && errors[1].contains("unreachable"),
        "{errors:?}"
    );
    sbx.advance(30);
    let alrt = slow["AlrtPkgId"].as_str().unwrap();
    let (_, session) = sbx.get(&format!("/api/v1/oob/{alrt}"));
    assert_eq!(
        session["SendStat"], "Sent",
        "the slow gateway accepted it: {session}"
    );
    // A sandbox far in the future does not make the real clock look set back.
    sbx.advance(86_400 * 30);
    let (status, _, _, body) = sbx.server.get("/health");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}
