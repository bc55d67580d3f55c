//! Test fixture: the real `tokend` binary on a fresh data directory and an ephemeral port,
//! HTTP clients that play the consumer, and an independent TOTP implementation (ring's
//! HMAC, not the totp-rs code the server uses) to compute the codes an app would show.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the fixture"
)]

pub mod admin;
pub mod schema;
pub mod tls;
pub mod webdriver;

use serde_json::Value;
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const LISTENING: &str = "tokend listening on http://";
const LISTENING_TLS: &str = "tokend listening on https://";
const FIRST_ADMIN: &str = "tokend first admin: ";

/// A running server. Killed on drop; the data directory lives as long as `dir`.
pub struct TestServer {
    child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    /// A key with scopes manage and validate.
    pub key: String,
    /// The bootstrap admin's one-time password, when this start created it.
    pub first_admin_password: Option<String>,
    /// Everything the server printed on stdout so far.
    pub stdout: Arc<Mutex<String>>,
    _dir: Option<tempfile::TempDir>,
}

/// Runs a `tokend` subcommand on `data_dir` with extra environment variables.
pub fn cli(data_dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tokend"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("ROCKET_DATA_DIR", data_dir)
        .env("TOKEND_LOG", "warn")
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run tokend")
}

/// Creates an API key through the CLI, as an operator would.
pub fn create_key(data_dir: &Path, name: &str, scopes: &str) -> String {
    let out = cli(
        data_dir,
        &[],
        &["apikey", "create", "--name", name, "--scope", scopes],
    );
    assert!(
        out.status.success(),
        "apikey create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

impl TestServer {
    /// A server on a fresh data directory, with a manage+validate key.
    pub fn start() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut server = TestServer::start_in(dir.path(), &[]).expect("server starts");
        server._dir = Some(dir);
        server
    }

    /// A server on `data_dir` with extra environment; `Err(stderr)` if it exits instead.
    pub fn start_in(data_dir: &Path, env: &[(&str, &str)]) -> Result<TestServer, String> {
        let key = create_key(data_dir, &format!("test-{}", nanos()), "manage,validate");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tokend"));
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("ROCKET_DATA_DIR", data_dir)
            .env("ROCKET_PORT", "0")
            .env("TOKEND_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn tokend");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let printed: Arc<Mutex<String>> = Arc::default();
        let copy = Arc::clone(&printed);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                copy.lock().unwrap().push_str(&format!("{line}\n"));
                if let Some(addr) = line.strip_prefix(LISTENING) {
                    let _ = tx.send((true, format!("http://{addr}")));
                } else if let Some(addr) = line.strip_prefix(LISTENING_TLS) {
                    let _ = tx.send((true, format!("https://{addr}")));
                } else if let Some(rest) = line.strip_prefix(FIRST_ADMIN) {
                    let pw = rest.split("one-time password: ").nth(1).unwrap_or_default();
                    let pw = pw.split(' ').next().unwrap_or_default();
                    let _ = tx.send((false, pw.to_owned()));
                }
            }
        });
        let mut first_admin_password = None;
        let listening = loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok((true, addr)) => break Some(addr),
                Ok((false, pw)) => first_admin_password = Some(pw),
                Err(_) => break None,
            }
        };
        match listening {
            Some(base) => Ok(TestServer {
                child,
                base,
                data_dir: data_dir.to_owned(),
                key,
                first_admin_password,
                stdout: printed,
                _dir: None,
            }),
            None => {
                let _ = child.kill();
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                let _ = child.wait();
                Err(err)
            }
        }
    }

    /// Keeps `dir` alive as long as the server.
    pub fn keep_dir(&mut self, dir: tempfile::TempDir) {
        self._dir = Some(dir);
    }

    /// Stops the server (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The server's process id (to send it a signal).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `limit` for the server to exit by itself; its exit status.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let t0 = std::time::Instant::now();
        while t0.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Reads the server's stderr from now on into the answered buffer, so a server that
    /// logs a lot never blocks on a full pipe. (`stop_and_logs` then answers nothing.)
    pub fn drain_stderr(&mut self) -> Arc<Mutex<String>> {
        let logs: Arc<Mutex<String>> = Arc::default();
        let copy = Arc::clone(&logs);
        let stderr = self.child.stderr.take().expect("stderr not drained yet");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                copy.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        logs
    }

    /// Stops the server and answers what it wrote on stderr (its logs). Only for servers
    /// that log little: nobody drains the pipe while the server runs.
    pub fn stop_and_logs(&mut self) -> String {
        self.stop();
        let mut logs = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut logs);
        }
        logs
    }

    /// POSTs JSON with a key; answers status and parsed body.
    pub fn post_as(&self, key: &str, path: &str, body: &Value) -> (u16, Value) {
        let rs = ureq::post(&format!("{}{path}", self.base))
            .set("Authorization", &format!("Bearer {key}"))
            .set("Content-Type", "application/json")
            .send_string(&body.to_string());
        json_of(rs)
    }

    /// POSTs JSON with the fixture's key.
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_as(&self.key, path, body)
    }

    /// GETs with the fixture's key; answers status, content type, cache-control and bytes.
    pub fn get(&self, path: &str) -> (u16, String, String, Vec<u8>) {
        let rs = response(
            ureq::get(&format!("{}{path}", self.base))
                .set("Authorization", &format!("Bearer {}", self.key))
                .call(),
        );
        let status = rs.status();
        let ct = rs.header("Content-Type").unwrap_or_default().to_owned();
        let cc = rs.header("Cache-Control").unwrap_or_default().to_owned();
        let mut bytes = Vec::new();
        rs.into_reader().read_to_end(&mut bytes).unwrap();
        (status, ct, cc, bytes)
    }

    /// Enrolls a software SHA1/6/30 token for `usr` and answers (TokenId, seed bytes).
    pub fn enroll(&self, usr: &str) -> (String, Vec<u8>) {
        let (status, rs) = self.post(
            "/api/v1/tokens",
            &serde_json::json!({"UsrName": usr, "TokenType": "Software"}),
        );
        assert_eq!(status, 200, "{rs}");
        let seed = b32(rs["Secret"].as_str().unwrap());
        (rs["TokenId"].as_str().unwrap().to_owned(), seed)
    }

    /// Enrolls and activates a software token; answers (TokenId, seed, activation step).
    /// Activation uses the code of the step BEFORE now (inside the ±1 window), so the
    /// codes of `step + 1` and `step + 2` remain usable for two more successes.
    pub fn enroll_active(&self, usr: &str) -> (String, Vec<u8>, i64) {
        let (token, seed) = self.enroll(usr);
        let step = now_step(30) - 1;
        self.activate(&token, &seed, step);
        (token, seed, step)
    }

    /// Activates a SHA1/6/30 token with its code of `step`; the activation must succeed.
    pub fn activate(&self, token: &str, seed: &[u8], step: i64) {
        let (status, rs) = self.post(
            &format!("/api/v1/tokens/{token}/activate"),
            &serde_json::json!({"Code": totp(seed, "SHA1", 6, step)}),
        );
        assert_eq!(
            (status, rs["RsStat"].as_str()),
            (200, Some("Success")),
            "{rs}"
        );
    }

    /// Validates a code for a user.
    pub fn validate(&self, usr: &str, code: &str) -> Value {
        let (status, rs) = self.post(
            "/api/v1/validate",
            &serde_json::json!({"UsrName": usr, "Code": code}),
        );
        assert_eq!(status, 200, "{rs}");
        rs
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The answer, whatever its status (ureq reports 4xx/5xx as errors).
pub fn response(rs: Result<ureq::Response, ureq::Error>) -> ureq::Response {
    match rs {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport error: {e}"),
    }
}

/// Status and JSON body of an answer, whatever its status.
pub fn json_of(rs: Result<ureq::Response, ureq::Error>) -> (u16, Value) {
    let rs = response(rs);
    let status = rs.status();
    let ct = rs.header("Content-Type").unwrap_or_default().to_owned();
    let text = rs.into_string().unwrap();
    assert!(
        ct.starts_with("application/json"),
        "not JSON ({ct}): {text}"
    );
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad JSON {e}: {text}")),
    )
}

/// The first fault record of an answer: (ErrCode, ErrElem).
pub fn fault(rs: &Value) -> (String, Option<String>) {
    let rec = &rs["MsgRsHdr"]["MsgRecInfoArray"][0];
    (
        rec["ErrCode"]
            .as_str()
            .unwrap_or_else(|| panic!("no fault in {rs}"))
            .to_owned(),
        rec["ErrElem"].as_str().map(str::to_owned),
    )
}

/// The sealed seed bytes stored for a token, read straight from the database file.
pub fn sealed_seed_of(data_dir: &Path, token_id: &str) -> Vec<u8> {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Binary)]
        seed_ciphertext: Vec<u8>,
    }
    let path = data_dir.join("tokend.sqlite");
    let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    diesel::sql_query("SELECT seed_ciphertext FROM tokens WHERE token_id = ?")
        .bind::<diesel::sql_types::Text, _>(token_id)
        .get_result::<Row>(&mut conn)
        .unwrap()
        .seed_ciphertext
}

/// The bytes of the database and its WAL.
pub fn database_files(data_dir: &Path) -> Vec<Vec<u8>> {
    std::fs::read_dir(data_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("tokend.sqlite")
        })
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

fn nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Decodes base32 (RFC 4648, no padding).
pub fn b32(s: &str) -> Vec<u8> {
    base32::decode(base32::Alphabet::Rfc4648 { padding: false }, s).expect("base32")
}

/// The current RFC 6238 step.
///
/// When less than 3 s of the current step remain, it first waits for the next step: a
/// code computed now must still be inside the server's window when the request arrives,
/// and a step boundary crossed in between would make a test fail by chance.
pub fn now_step(period: u64) -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let into_step = now.as_secs_f64() % period as f64;
    if period as f64 - into_step < 3.0 {
        std::thread::sleep(std::time::Duration::from_secs_f64(
            period as f64 - into_step + 0.05,
        ));
    }
    (SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / period) as i64
}

/// Independent HOTP/TOTP (RFC 4226 dynamic truncation over ring's HMAC).
pub fn totp(seed: &[u8], algorithm: &str, digits: u32, step: i64) -> String {
    use ring::hmac;
    let alg = match algorithm {
        "SHA1" => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        "SHA256" => hmac::HMAC_SHA256,
        "SHA512" => hmac::HMAC_SHA512,
        other => panic!("algorithm {other}"),
    };
    let tag = hmac::sign(&hmac::Key::new(alg, seed), &(step as u64).to_be_bytes());
    let h = tag.as_ref();
    let o = usize::from(h[h.len() - 1] & 0x0f);
    let v = u32::from_be_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]) & 0x7fff_ffff;
    format!("{:0width$}", v % 10u32.pow(digits), width = digits as usize)
}

/// A 6-digit code that matches none of the steps around now (so it is surely wrong).
pub fn wrong_code(seed: &[u8]) -> String {
    let step = now_step(30);
    let near: Vec<String> = (-3..=3).map(|d| totp(seed, "SHA1", 6, step + d)).collect();
    (0..)
        .map(|i| format!("{:06}", (123_456 + i * 7919) % 1_000_000))
        .find(|c| !near.contains(c))
        .unwrap()
}

#[test]
fn independent_totp_matches_rfc6238_vectors() {
    assert_eq!(
        totp(b"12345678901234567890", "SHA1", 8, 59 / 30),
        "94287082"
    );
    assert_eq!(
        totp(
            b"12345678901234567890123456789012",
            "SHA256",
            8,
            1111111109 / 30
        ),
        "68084774"
    );
    assert_eq!(
        totp(
            b"1234567890123456789012345678901234567890123456789012345678901234",
            "SHA512",
            8,
            20000000000 / 30
        ),
        "47863826"
    );
    assert_eq!(
        totp(b"12345678901234567890", "SHA1", 6, 1234567890 / 30),
        "005924"
    );
}

/// Runs one SQL statement on a data directory's database, as someone with write access to
/// the file (and not to the key) could; answers the rows it changed.
pub fn tamper(data_dir: &Path, statement: &str) -> usize {
    use diesel::prelude::*;
    let path = data_dir.join("tokend.sqlite");
    let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    diesel::sql_query(statement).execute(&mut conn).unwrap()
}
