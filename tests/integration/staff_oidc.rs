//! Console single sign-on against a real OpenID provider (issue 25): the npm package
//! oidc-provider, started by the test (`tests/oidc/provider.mjs`, installed by `.ci/run`
//! with `npm ci`). Each role signs in; a user with no mapped role, a wrong `state`, a
//! replayed callback, a tampered, expired or wrongly addressed ID token are refused; the
//! provider down fails only its own sign-in.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::admin::{AdminClient, Page};
use crate::support::TestServer;

const SECRET: &str = "s3cret-of-the-test-client";

/// The provider's process, killed on drop.
struct Provider {
    child: Child,
    base: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

fn start_provider(port: u16, redirect_uri: &str) -> Provider {
    let dir = provider_dir();
    assert!(
        dir.join("node_modules/oidc-provider").is_dir(),
        "the OpenID provider is not installed: run `npm ci` in tests/oidc (.ci/run does; it needs node and npm)"
    );
    let mut child = Command::new("node")
        .arg("provider.mjs")
        .current_dir(&dir)
        .env("PORT", port.to_string())
        .env("REDIRECT_URI", redirect_uri)
        .env("CLIENT_ID", "tokend")
        .env("CLIENT_SECRET", SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs (.ci/run installs it)");
    let mut out = child.stdout.take().unwrap();
    let t0 = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("listening") {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the provider did not start"
        );
        let n = std::io::Read::read(&mut out, &mut buf).unwrap();
        assert!(
            n > 0,
            "the provider exited: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    // Drained for the provider's life: a closed pipe would kill it at its next line.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    Provider {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

/// tokend (second factor required) with the provider configured, and the provider.
fn start(extra: &[(&str, &str)]) -> (TestServer, Provider) {
    let port = free_port();
    let oidc = format!(
        r#"{{issuer="http://127.0.0.1:{port}",client_id="tokend",client_secret="{SECRET}",scopes=["profile"],role_map={{it_admins="admin",helpdesk="helpdesk"}},institution_claim="inst",button_label="Sign in with Bank ID"}}"#
    );
    let mut env = vec![
        ("ROCKET_OIDC", oidc.as_str()),
        ("ROCKET_CONSOLE_MFA", "required"),
    ];
    env.extend_from_slice(extra);
    let server = TestServer::start_in(tempfile::tempdir().unwrap().keep().as_path(), &env)
        .expect("server starts");
    let provider = start_provider(port, &format!("{}/admin/oidc/callback", server.base));
    (server, provider)
}

/// Follows the provider's redirects (its own cookies in `p`) until it sends the browser
/// back to tokend; that URL's path and query.
fn through_provider(p: &AdminClient, provider: &Provider, mut url: String) -> String {
    for _ in 0..10 {
        let path = url.strip_prefix(&provider.base).unwrap_or(&url).to_owned();
        let page = p.get(&path);
        let to = page
            .location
            .clone()
            .unwrap_or_else(|| panic!("the provider answered {}: {}", page.status, page.body));
        let to = if to.starts_with('/') {
            format!("{}{to}", provider.base)
        } else {
            to
        };
        if !to.starts_with(&provider.base) {
            return to;
        }
        url = to;
    }
    panic!("the provider kept redirecting");
}

/// Starts a sign-in as `who` in browser `c`; the callback path tokend is sent back to.
fn callback_for(c: &AdminClient, server: &TestServer, provider: &Provider, who: &str) -> String {
    let start = c.get(&format!("/admin/oidc/login?login_hint={who}"));
    assert_eq!(start.status, 303, "{}", start.body);
    let p = AdminClient::with_agent(
        &provider.base,
        ureq::AgentBuilder::new().redirects(0).build(),
    );
    let back = through_provider(&p, provider, start.location.unwrap());
    back.strip_prefix(&server.base).unwrap().to_owned()
}

fn sign_in(server: &TestServer, provider: &Provider, who: &str) -> (AdminClient, Page) {
    let c = AdminClient::new(server);
    let callback = callback_for(&c, server, provider, who);
    let page = c.get(&callback);
    (c, page)
}

fn set_mode(provider: &Provider, mode: &str) {
    ureq::post(&format!("{}/__mode", provider.base))
        .send_string(&format!("{{\"mode\":\"{mode}\"}}"))
        .unwrap();
}

fn audit(server: &TestServer) -> String {
    crate::api_oob::audit_text(server)
}

#[test]
fn staff_sign_in_through_the_provider_with_the_role_and_institution_of_their_claims() {
    let (server, provider) = start(&[]);
    let login = AdminClient::new(&server).get("/admin/login");
    assert!(login.body.contains("Sign in with Bank ID"));
    let (ada, page) = sign_in(&server, &provider, "ada");
    assert_eq!(
        page.location.as_deref(),
        Some("/admin/users"),
        "{}",
        page.body
    );
    // The provider's sign-in stands for the second factor: the console opens at once.
    let users = ada.get("/admin/users");
    assert_eq!(users.status, 200);
    assert!(
        users.body.contains("oidc:ada (admin)")
            && users.body.contains("action=\"/admin/institution\"")
    );
    assert_eq!(ada.get("/admin/staff").status, 200);
    let (hal, _) = sign_in(&server, &provider, "hal");
    assert!(hal.get("/admin/users").body.contains("oidc:hal (helpdesk)"));
    assert_eq!(hal.get("/admin/apikeys").status, 403);
    let (bo, _) = sign_in(&server, &provider, "bo");
    assert!(bo.get("/admin/users").body.contains("021000021"));
    // No mapped role: refused, audited, no session.
    let (eve, page) = sign_in(&server, &provider, "eve");
    assert_eq!(page.status, 403, "{}", page.body);
    assert_eq!(
        eve.get("/admin/users").location.as_deref(),
        Some("/admin/login")
    );
    assert!(audit(&server).contains("no roles value of eve maps to a role"));
}

#[test]
fn a_wrong_state_a_replayed_callback_and_bad_id_tokens_are_refused() {
    let (server, provider) = start(&[]);
    // A wrong state.
    let c = AdminClient::new(&server);
    let callback = callback_for(&c, &server, &provider, "ada");
    let forged = callback.replace("state=", "state=x");
    assert_eq!(c.get(&forged).status, 403);
    assert_eq!(
        c.get("/admin/users").location.as_deref(),
        Some("/admin/login")
    );
    // A replayed callback: once in, the same answer again (same browser, or another) is refused.
    let c = AdminClient::new(&server);
    let callback = callback_for(&c, &server, &provider, "ada");
    assert_eq!(c.get(&callback).status, 303);
    assert_eq!(c.get(&callback).status, 403);
    assert_eq!(AdminClient::new(&server).get(&callback).status, 403);
    // ID tokens the provider signed wrongly, expired, or for another audience.
    for mode in ["tamper", "expired", "audience"] {
        set_mode(&provider, mode);
        let (c, page) = sign_in(&server, &provider, "hal");
        assert_eq!(page.status, 403, "{mode}: {}", page.body);
        assert_eq!(
            c.get("/admin/users").location.as_deref(),
            Some("/admin/login"),
            "{mode}"
        );
    }
    set_mode(&provider, "normal");
    let (_, page) = sign_in(&server, &provider, "hal");
    assert_eq!(page.location.as_deref(), Some("/admin/users"));
    let trail = audit(&server);
    for why in [
        "state does not match",
        "no sign-in in progress",
        "ID token is not valid",
    ] {
        assert!(trail.contains(why), "{why}");
    }
}

#[test]
fn the_provider_down_fails_its_own_sign_in_only_and_local_sign_in_can_be_turned_off() {
    let (server, provider) = start(&[("ROCKET_CONSOLE_LOCAL_SIGN_IN", "false")]);
    drop(provider);
    let c = AdminClient::new(&server);
    let page = c.get("/admin/oidc/login");
    assert_eq!(page.status, 502);
    assert!(page.body.contains("identity provider did not answer"));
    let login = c.get("/admin/login");
    assert_eq!(login.status, 200);
    assert!(
        !login.body.contains("name=\"password\""),
        "local passwords are off"
    );
    let rs = c.post(
        "/admin/login",
        &[("csrf", "x"), ("username", "admin"), ("password", "x")],
    );
    assert_eq!(rs.status, 403);
    let (status, _, _, _) = server.get("/health");
    assert_eq!(status, 200);
}
