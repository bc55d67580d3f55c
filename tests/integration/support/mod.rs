//! Test fixture: the real `tokend` binary on a fresh data directory and an ephemeral port
//! (spawned by the shared `testkit`), HTTP clients that play the consumer, and the kit's
//! independent TOTP (ring's HMAC, not the totp-rs code the server uses) to compute the
//! codes an app would show.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the fixture"
)]

pub mod admin;
pub mod replica;
pub mod schema;
pub mod tls;
pub mod webdriver;

use serde_json::Value;
use std::io::Read as _;
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

pub use testkit::totp;

/// The `tokend` binary of this build, run in the crate directory (its `Rocket.toml`).
pub fn tokend() -> testkit::Tokend {
    testkit::Tokend::new(env!("CARGO_BIN_EXE_tokend"), env!("CARGO_MANIFEST_DIR"))
}

/// A `tokend` command on `data_dir`, to add arguments and pipes to.
pub fn command(data_dir: &Path) -> Command {
    tokend().command(data_dir)
}

/// A running server (the kit's [`testkit::Server`]: `base`, `data_dir`, `stdout`,
/// `first_admin_password`, `stop`, `pid`, `drain_stderr`…) with a key and HTTP helpers.
/// Killed on drop; the data directory lives as long as the server when it owns it.
pub struct TestServer {
    /// Dropped (killed) before the data directory below.
    server: testkit::Server,
    /// A key with scopes manage and validate.
    pub key: String,
    _dir: Option<tempfile::TempDir>,
}

impl Deref for TestServer {
    type Target = testkit::Server;
    fn deref(&self) -> &testkit::Server {
        &self.server
    }
}

impl DerefMut for TestServer {
    fn deref_mut(&mut self) -> &mut testkit::Server {
        &mut self.server
    }
}

/// Runs a `tokend` subcommand on `data_dir` with extra environment variables.
pub fn cli(data_dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    tokend().cli(data_dir, env, args).expect("run tokend")
}

/// Runs a `tokend` subcommand on `data_dir` with `input` on its stdin.
pub fn cli_input(data_dir: &Path, args: &[&str], input: &[u8]) -> Output {
    tokend()
        .cli_input(data_dir, args, input)
        .expect("run tokend")
}

/// Creates an API key through the CLI, as an operator would.
pub fn create_key(data_dir: &Path, name: &str, scopes: &str) -> String {
    tokend()
        .create_key(data_dir, name, scopes)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Creates an API key through the CLI with more `apikey create` arguments (an
/// institution, a registered consumer…); the key.
pub fn create_key_with(data_dir: &Path, name: &str, scopes: &str, extra: &[&str]) -> String {
    let mut args = vec!["apikey", "create", "--name", name, "--scope", scopes];
    args.extend_from_slice(extra);
    let out = cli(data_dir, &[], &args);
    assert!(out.status.success(), "{out:?}");
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
        Ok(TestServer {
            server: tokend().start(data_dir, env)?,
            key,
            _dir: None,
        })
    }

    /// [`TestServer::start_in`] with `env` given to the key's creation too (and to the
    /// install's, when there is none yet): for settings every command needs, such as a
    /// master key kept in an HSM.
    pub fn start_in_env(data_dir: &Path, env: &[(&str, &str)]) -> Result<TestServer, String> {
        let name = format!("test-{}", nanos());
        let args = [
            "apikey",
            "create",
            "--name",
            &name,
            "--scope",
            "manage,validate",
        ];
        let out = tokend()
            .cli(data_dir, env, &args)
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(TestServer {
            server: tokend().start(data_dir, env)?,
            key: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            _dir: None,
        })
    }

    /// Keeps `dir` alive as long as the server.
    pub fn keep_dir(&mut self, dir: tempfile::TempDir) {
        self._dir = Some(dir);
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

/// A connection to the database of a data directory, as someone with access to the
/// database itself (and not to the key) has: the SQLite file, or in a PostgreSQL run
/// (`testkit::pg`) the directory's PostgreSQL database. SQL run on it must be portable.
pub fn database(data_dir: &Path) -> tokend::storage::Conn {
    use diesel::Connection as _;
    use tokend::storage::Conn;
    if testkit::pg::enabled() {
        let url = testkit::pg::database_for(data_dir).unwrap();
        return Conn::Pg(diesel::PgConnection::establish(&url).unwrap());
    }
    let path = data_dir.join("tokend.sqlite");
    assert!(path.exists(), "no database at {}", path.display());
    Conn::Sqlite(diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap())
}

/// The sealed seed bytes stored for a token, read straight from the database.
pub fn sealed_seed_of(data_dir: &Path, token_id: &str) -> Vec<u8> {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Binary)]
        seed_ciphertext: Vec<u8>,
    }
    assert!(token_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    diesel::sql_query(format!(
        "SELECT seed_ciphertext FROM tokens WHERE token_id = '{token_id}'"
    ))
    .get_result::<Row>(&mut database(data_dir))
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

/// A 6-digit code that matches none of the steps around now (so it is surely wrong).
pub fn wrong_code(seed: &[u8]) -> String {
    let step = now_step(30);
    let near: Vec<String> = (-3..=3).map(|d| totp(seed, "SHA1", 6, step + d)).collect();
    (0..)
        .map(|i| format!("{:06}", (123_456 + i * 7919) % 1_000_000))
        .find(|c| !near.contains(c))
        .unwrap()
}

/// The kit's listening lines are the server's.
#[test]
fn the_kit_knows_the_listening_lines() {
    assert_eq!(testkit::LISTENING, tokend::web::LISTENING);
    assert_eq!(testkit::LISTENING_TLS, tokend::web::LISTENING_TLS);
}

/// Runs one SQL statement on a data directory's database, as someone with write access to
/// the file (and not to the key) could; answers the rows it changed.
pub fn tamper(data_dir: &Path, statement: &str) -> usize {
    use diesel::RunQueryDsl as _;
    diesel::sql_query(statement)
        .execute(&mut database(data_dir))
        .unwrap()
}
