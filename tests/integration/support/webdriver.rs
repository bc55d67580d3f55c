//! A minimal W3C WebDriver client over `ureq` (already a dependency) driving a real
//! headless Chromium through `chromedriver`. A dozen endpoints are all the end-to-end test
//! needs; a WebDriver crate would add an async HTTP stack to compile on a 2-core CI.
//!
//! The browser test FAILS (never skips) when Chromium or chromedriver is missing: `.ci/run`
//! installs them (Debian packages `chromium`, `chromium-driver`).

use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A headless Chromium session.
pub struct Browser {
    driver: Child,
    url: String,
    session: String,
}

fn find_program(env_var: &str, names: &[&str]) -> Option<String> {
    if let Ok(p) = std::env::var(env_var) {
        return Some(p);
    }
    let path = std::env::var("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate.to_string_lossy().into_owned());
            }
        }
    }
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn answer(rs: Result<ureq::Response, ureq::Error>, what: &str) -> Value {
    let rs = match rs {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("webdriver {what}: {e}"),
    };
    let status = rs.status();
    let body: Value = rs.into_json().unwrap_or(Value::Null);
    assert!(status < 300, "webdriver {what} answered {status}: {body}");
    body["value"].clone()
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium session.
    pub fn start() -> Browser {
        let driver_bin = find_program("CHROMEDRIVER", &["chromedriver"]).unwrap_or_else(|| {
            panic!(
                "chromedriver is not installed: the browser test needs Chromium and \
                 chromedriver (Debian: apt-get install chromium chromium-driver; \
                 .ci/run installs them), or set CHROMEDRIVER"
            )
        });
        let chromium = find_program(
            "CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        )
        .unwrap_or_else(|| {
            panic!(
                "Chromium is not installed: the browser test needs it (Debian: apt-get \
                     install chromium chromium-driver; .ci/run installs them), or set CHROMIUM"
            )
        });
        let port = free_port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {driver_bin}: {e}"));
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = ureq::get(&format!("{url}/status"))
                .call()
                .ok()
                .and_then(|r| r.into_json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,900",
                         "--force-device-scale-factor=1"]
            }
        }}});
        let mut browser = Browser {
            driver,
            url,
            session: String::new(),
        };
        let created = answer(
            ureq::post(&format!("{}/session", browser.url)).send_json(caps),
            "new session",
        );
        browser.session = created["sessionId"].as_str().unwrap().to_owned();
        browser
    }

    fn at(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.url, self.session)
    }

    fn post(&self, path: &str, body: Value) -> Value {
        answer(ureq::post(&self.at(path)).send_json(body), path)
    }

    /// Adds Chromium's virtual WebAuthn authenticator (the W3C WebDriver extension): a
    /// CTAP2 platform authenticator that verifies its user and consents at once.
    pub fn add_virtual_authenticator(&self) -> String {
        let added = self.post(
            "/webauthn/authenticator",
            json!({"protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
                   "hasUserVerification": true, "isUserConsenting": true, "isUserVerified": true}),
        );
        added.as_str().unwrap_or_default().to_owned()
    }

    /// The page's HTML, for failure messages.
    pub fn source(&self) -> String {
        self.get("/source").as_str().unwrap_or_default().to_owned()
    }

    fn get(&self, path: &str) -> Value {
        answer(ureq::get(&self.at(path)).call(), path)
    }

    /// Loads a page and waits for it.
    pub fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url }));
    }

    /// The element matching a CSS selector.
    pub fn find(&self, css: &str) -> String {
        let rs = ureq::post(&self.at("/element"))
            .send_json(json!({"using": "css selector", "value": css}));
        let found = matches!(&rs, Ok(r) if r.status() < 300);
        if !found {
            panic!(
                "no element {css} on {}:\n{}",
                self.current_url(),
                self.source()
            );
        }
        let el = answer(rs, "/element");
        el.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css} on {}", self.current_url()))
            .to_owned()
    }

    /// Types into an input.
    pub fn fill(&self, css: &str, text: &str) {
        let el = self.find(css);
        self.post(&format!("/element/{el}/clear"), json!({}));
        self.post(&format!("/element/{el}/value"), json!({ "text": text }));
    }

    /// Clicks an element (a submit button: the browser posts the form and loads the answer).
    pub fn click(&self, css: &str) {
        let el = self.find(css);
        self.post(&format!("/element/{el}/click"), json!({}));
    }

    /// The visible text of an element.
    pub fn text(&self, css: &str) -> String {
        let el = self.find(css);
        self.get(&format!("/element/{el}/text"))
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits (up to 15 s) until the element matching `css` shows `needle`: a click that
    /// posts a form returns before the next page has loaded.
    pub fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let rs = ureq::post(&self.at("/elements"))
                .send_json(json!({"using": "css selector", "value": css}));
            let seen = rs
                .ok()
                .and_then(|r| r.into_json::<Value>().ok())
                .and_then(|v| {
                    let el = v["value"]
                        .as_array()?
                        .first()?
                        .as_object()?
                        .values()
                        .next()?
                        .as_str()?
                        .to_owned();
                    let t = ureq::get(&self.at(&format!("/element/{el}/text")))
                        .call()
                        .ok()?;
                    t.into_json::<Value>().ok()?["value"]
                        .as_str()
                        .map(str::to_owned)
                });
            if let Some(text) = seen.filter(|t| t.contains(needle)) {
                return text;
            }
            if Instant::now() > deadline {
                panic!(
                    "{css} never showed {needle:?} on {}:\n{}",
                    self.current_url(),
                    self.source()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the URL ends with `suffix`.
    pub fn wait_url(&self, suffix: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.current_url().ends_with(suffix) {
            assert!(
                Instant::now() < deadline,
                "never reached {suffix}: at {}",
                self.current_url()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The current URL.
    pub fn current_url(&self) -> String {
        self.get("/url").as_str().unwrap_or_default().to_owned()
    }

    /// Runs a script in the page and answers what it returns.
    pub fn script(&self, js: &str) -> Value {
        self.post("/execute/sync", json!({"script": js, "args": []}))
    }

    /// Saves a PNG of the viewport.
    pub fn screenshot(&self, path: &Path) {
        use base64::Engine as _;
        let b64 = self.get("/screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = ureq::delete(&format!("{}/session/{}", self.url, self.session)).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
