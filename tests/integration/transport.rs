//! Transport security through the real binary: HTTPS to the SMS provider and the event
//! webhook (a real rustls listener with its own test CA), refusal of untrusted
//! certificates and of plaintext URLs off loopback, Rocket serving TLS itself, and the
//! console cookie's `Secure` attribute directly and behind a TLS proxy.

use serde_json::{json, Value};
use std::time::{Duration, Instant};

use crate::api_oob::{events_of, outbox, verify, PHONE};
use crate::sink::{Mode, Sink};
use crate::support::admin::{create_admin, AdminClient, PASSWORD};
use crate::support::tls::TestCa;
use crate::support::TestServer;

/// Starts a two-way OOB session; answers (AlrtPkgId, OTP, the whole answer).
fn two_way(server: &TestServer) -> (String, String, Value) {
    let (status, rs) = server.post(
        "/api/v1/oob",
        &json!({"PhoneNum": PHONE, "OOBModeType": "TwoWay"}),
    );
    assert_eq!(status, 200, "{rs}");
    let alrt = rs["AlrtPkgId"].as_str().unwrap().to_owned();
    let otp = rs["OTP"].as_str().unwrap().to_owned();
    (alrt, otp, rs)
}

/// A server whose SMS provider and webhook are the HTTPS sinks, trusting `ca_file`.
fn https_server(
    files: &std::path::Path,
    sms: &Sink,
    hook: &Sink,
    ca_file: &std::path::Path,
) -> (tempfile::TempDir, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let (sms_url, hook_url) = (format!("{}/sms", sms.url), format!("{}/events", hook.url));
    let ca = ca_file.to_str().unwrap();
    let env = [
        ("ROCKET_SMS_PROVIDER", "http"),
        ("ROCKET_SMS_HTTP_URL", sms_url.as_str()),
        ("ROCKET_SMS_HTTP_TOKEN", "provider-secret"),
        ("ROCKET_SMS_HTTP_ATTEMPTS", "1"),
        ("ROCKET_SMS_ANSWER_WAIT_MS", "10000"),
        ("ROCKET_EVENT_WEBHOOK_URL", hook_url.as_str()),
        ("ROCKET_EVENT_WEBHOOK_TOKEN", "hook-secret"),
        ("ROCKET_HTTP_CLIENT_CA_FILE", ca),
    ];
    assert!(files.exists());
    let server = TestServer::start_in(dir.path(), &env).unwrap();
    (dir, server)
}

#[test]
fn https_provider_and_webhook_behind_a_private_ca_get_the_sms_and_the_event() {
    let files = tempfile::tempdir().unwrap();
    let ca = TestCa::new("provider CA");
    let cert = ca.issue_server();
    let sms = Sink::start_tls(Mode::Ok, cert.server_config());
    let hook = Sink::start_tls(Mode::Ok, cert.server_config());
    let ca_file = ca.write_pem(files.path(), "ca.pem");
    let (_dir, server) = https_server(files.path(), &sms, &hook, &ca_file);
    assert!(sms.url.starts_with("https://127.0.0.1:"));

    let (alrt, otp, rs) = two_way(&server);
    assert_eq!(rs["SendStat"], "Sent", "delivered over HTTPS: {rs}");
    let got = sms.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].body["to"], PHONE);
    assert!(got[0].body["body"].as_str().unwrap().contains(&otp));
    assert_eq!(
        got[0].authorization.as_deref(),
        Some("Bearer provider-secret")
    );

    assert_eq!(verify(&server, &alrt, &otp)["RsStat"], "Success");
    let events = hook.wait_until(20, |got| {
        got.iter().any(|r| r.body["AlrtPkgId"] == alrt.as_str())
    });
    let event = events
        .iter()
        .find(|r| r.body["AlrtPkgId"] == alrt.as_str())
        .unwrap_or_else(|| panic!("no event over HTTPS: {events:?}"));
    assert_eq!(event.body["RsStat"], "Success");
    assert_eq!(event.authorization.as_deref(), Some("Bearer hook-secret"));
}

#[test]
fn an_untrusted_certificate_is_refused_and_the_deliveries_are_recorded_as_failed() {
    let files = tempfile::tempdir().unwrap();
    let rogue = TestCa::new("rogue CA");
    let cert = rogue.issue_server();
    let sms = Sink::start_tls(Mode::Ok, cert.server_config());
    let hook = Sink::start_tls(Mode::Ok, cert.server_config());
    // tokend trusts another private CA (and the public roots), not the one that signed
    // the listeners' certificate.
    let ca_file = TestCa::new("provider CA").write_pem(files.path(), "ca.pem");
    let (_dir, mut server) = https_server(files.path(), &sms, &hook, &ca_file);
    let logs = server.drain_stderr();

    let (alrt, otp, rs) = two_way(&server);
    assert_eq!(rs["SendStat"], "Failed", "the consumer is told: {rs}");
    let msgs = outbox(&server);
    let last_err = msgs[0]["LastErr"].as_str().unwrap_or_default().to_owned();
    assert!(
        last_err.contains("certificate") || last_err.contains("UnknownIssuer"),
        "the failure says why: {msgs:?}"
    );
    assert_eq!(msgs[0]["SendStat"], "Failed");

    assert_eq!(verify(&server, &alrt, &otp)["RsStat"], "Success");
    let end = Instant::now() + Duration::from_secs(20);
    while !logs.lock().unwrap().contains("webhook attempt failed") && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = logs.lock().unwrap().clone();
    assert!(
        text.lines()
            .any(|l| l.contains("webhook attempt failed") && l.contains("certificate")),
        "the webhook attempt failed on the certificate: {text}"
    );
    assert_eq!(events_of(&server, &alrt)[0]["Delivered"], false);
    assert!(
        sms.received().is_empty() && hook.received().is_empty(),
        "nothing was sent"
    );
}

#[test]
fn plaintext_provider_urls_off_loopback_are_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("ROCKET_SMS_PROVIDER", "http"),
        ("ROCKET_SMS_HTTP_URL", "http://192.0.2.1/sms"),
    ];
    let err = TestServer::start_in(dir.path(), &env)
        .err()
        .expect("start-up refuses a plaintext provider URL");
    assert!(err.contains("http_client_allow_plaintext"), "{err}");
    let hook = [("ROCKET_EVENT_WEBHOOK_URL", "http://192.0.2.1/events")];
    let err = TestServer::start_in(dir.path(), &hook)
        .err()
        .expect("refused");
    assert!(err.contains("event_webhook_url"), "{err}");
    let allowed = [
        ("ROCKET_SMS_PROVIDER", "http"),
        ("ROCKET_SMS_HTTP_URL", "http://192.0.2.1/sms"),
        ("ROCKET_HTTP_CLIENT_ALLOW_PLAINTEXT", "true"),
    ];
    assert!(TestServer::start_in(dir.path(), &allowed).is_ok());
}

/// The `Set-Cookie` line of `name` among a page's cookies.
fn set_cookie<'a>(cookies: &'a [String], name: &str) -> &'a str {
    cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {cookies:?}"))
}

/// Whether a `Set-Cookie` line carries the `Secure` attribute.
fn is_secure(set_cookie: &str) -> bool {
    set_cookie
        .split(';')
        .any(|attr| attr.trim().eq_ignore_ascii_case("secure"))
}

/// Signs in as the fixture admin; answers (login cookie, session cookie) lines.
fn sign_in_cookies(client: &AdminClient) -> (String, String) {
    let login = client.get("/admin/login");
    assert_eq!(login.status, 200, "{}", login.body);
    let login_cookie = set_cookie(&login.set_cookies, "tokend_login").to_owned();
    let page = client.post(
        "/admin/login",
        &[
            ("csrf", &login.csrf()),
            ("username", "ola"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(page.status, 303, "{}", page.body);
    (
        login_cookie,
        set_cookie(&page.set_cookies, "tokend_admin").to_owned(),
    )
}

#[test]
fn rocket_serves_https_with_rocket_tls_and_the_console_cookies_are_secure() {
    let dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let ca = TestCa::new("tokend CA");
    let (cert, key) = ca.issue_server().write(files.path());
    let tls = format!("{{certs=\"{}\",key=\"{}\"}}", cert.display(), key.display());
    create_admin(dir.path(), "ola", PASSWORD);
    let server = TestServer::start_in(dir.path(), &[("ROCKET_TLS", tls.as_str())]).unwrap();
    assert!(server.base.starts_with("https://"), "{}", server.base);

    let agent = ca.agent();
    let health = agent
        .get(&format!("{}/health", server.base))
        .call()
        .unwrap();
    assert_eq!(health.status(), 200);
    let plain = server.base.replacen("https://", "http://", 1);
    assert!(
        ureq::get(&format!("{plain}/health")).call().is_err(),
        "plain HTTP on the TLS port gets no answer"
    );

    let client = AdminClient::with_agent(&server.base, agent);
    let (login, session) = sign_in_cookies(&client);
    assert!(is_secure(&login), "{login}");
    assert!(is_secure(&session), "{session}");
}

/// Adds `X-Forwarded-Proto: https` to every request, as a TLS-terminating proxy does.
struct TlsProxy;

impl ureq::Middleware for TlsProxy {
    fn handle(
        &self,
        rq: ureq::Request,
        next: ureq::MiddlewareNext<'_>,
    ) -> Result<ureq::Response, ureq::Error> {
        next.handle(rq.set("X-Forwarded-Proto", "https"))
    }
}

/// An agent whose requests look as if they came through a TLS-terminating proxy.
fn behind_tls_proxy() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .redirects(0)
        .middleware(TlsProxy)
        .build()
}

#[test]
fn behind_a_tls_proxy_the_proto_header_makes_the_cookie_secure_only_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    create_admin(dir.path(), "ola", PASSWORD);
    let env = [("ROCKET_PROXY_PROTO_HEADER", "X-Forwarded-Proto")];
    let mut server = TestServer::start_in(dir.path(), &env).unwrap();
    assert!(server.base.starts_with("http://"));

    let proxied = AdminClient::with_agent(&server.base, behind_tls_proxy());
    let (login, session) = sign_in_cookies(&proxied);
    assert!(
        is_secure(&login) && is_secure(&session),
        "{login} / {session}"
    );

    let direct = AdminClient::new(&server);
    let (login, session) = sign_in_cookies(&direct);
    assert!(
        !is_secure(&login) && !is_secure(&session),
        "plain http: {session}"
    );

    // Without proxy_proto_header the header is nobody's word: ignored.
    server.stop();
    let server = TestServer::start_in(dir.path(), &[]).unwrap();
    let forged = AdminClient::with_agent(&server.base, behind_tls_proxy());
    let (_, session) = sign_in_cookies(&forged);
    assert!(!is_secure(&session), "{session}");
}
