//! `tokend-bench`: the load benchmark (issue 7).
//!
//! It starts the release `tokend` that sits next to this executable on a fresh data
//! directory, enrolls and activates N hardware tokens whose seeds it made itself, then
//! drives each scenario for a fixed time over C keep-alive connections (one thread and one
//! ureq agent each) and writes a markdown report to stdout and to `--out`.
//!
//! ```text
//! cargo build --release --bins
//! cargo run --release --bin tokend-bench -- --synchronous both
//! ```
//!
//! Choices that shape the numbers (the report repeats them):
//! - `ROCKET_WINDOW_STEPS=10`. A code is accepted once and only if its step is newer than
//!   the token's last accepted one, so a token offers as many successes as steps in its
//!   window. ±10 steps gives 21 usable steps per token instead of 3, enough for a 5 s run
//!   on 10,000 tokens; the price is that every validation computes 21 HMACs instead of 3,
//!   so the validation figures are conservative.
//! - `ROCKET_LOCK_AFTER_FAILURES=100`. Failures go round-robin over all tokens, at most 99
//!   per token, so no binding locks and the failure scenario measures the wrong-code path
//!   (count, audit), never the cheaper `Locked` path.
//! - Validations name the user (`UsrName`), as an online-banking consumer does.
//! - The load generator runs on the same machine as the server and shares its cores.
//!
//! The codes come from an independent RFC 6238 implementation over ring's HMAC, not from
//! the server's totp-rs code, so a shared mistake cannot make the benchmark agree with it.

use anyhow::{anyhow, ensure, Context as _, Result};
use clap::Parser;
use ring::hmac;
use ring::rand::{SecureRandom as _, SystemRandom};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Barrier};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Window the server runs with (see the module doc: usable steps per token).
const WINDOW_STEPS: i64 = 10;
/// Lock threshold the server runs with; failures per token stay below it.
const LOCK_AFTER_FAILURES: usize = 100;
/// The server's database and its write-ahead log, in its data directory.
const DATABASE_FILE: &str = "tokend.sqlite";
const WAL_FILE: &str = "tokend.sqlite-wal";
/// TOTP period of every bench token (SHA1/6/30, the server's defaults).
const PERIOD_SECS: u64 = 30;
/// The issue's targets.
const TARGET_SUCCESS_VS_FLOOR: f64 = 0.5;
const TARGET_SUCCESS_RPS: f64 = 20_000.0;
const TARGET_INQUIRY_VS_FLOOR: f64 = 0.7;
const TARGET_P99_MS: f64 = 5.0;
const TARGET_RSS_MIB: f64 = 64.0;

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "Load benchmark of tokend (issue 7): throughput, latency and RSS per route")]
struct Args {
    /// Hardware tokens enrolled and activated before the scenarios.
    #[arg(long, default_value_t = 10_000)]
    tokens: usize,
    /// Seconds each scenario runs.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrent keep-alive connections, one client thread each.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// The server's `sqlite_synchronous`; `both` runs everything twice (full, normal).
    #[arg(long, value_enum, default_value_t = SyncArg::Full)]
    synchronous: SyncArg,
    /// Tokens in the database in all: the first `--tokens` are the bench's own, the rest are
    /// bulk-loaded with `tokend import` before the server starts, to measure at scale
    /// (e.g. 1000000). 0: only the bench's own.
    #[arg(long, default_value_t = 0)]
    preload: usize,
    /// Where the markdown report is written.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
}

/// `--synchronous` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SyncArg {
    Full,
    Normal,
    Both,
}

/// One server configuration measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Full,
    Normal,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Normal => "normal",
        }
    }
}

/// The measured scenarios, in the order they run. The floor runs first so every later
/// ratio compares against the same, freshly measured, HTTP stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Floor,
    Success,
    Failure,
    Inquiry,
    Enroll,
}

const ORDER: [Scenario; 5] = [
    Scenario::Floor,
    Scenario::Success,
    Scenario::Failure,
    Scenario::Inquiry,
    Scenario::Enroll,
];

impl Scenario {
    fn label(self) -> &'static str {
        match self {
            Scenario::Floor => "`GET /` (floor)",
            Scenario::Success => "validate, success",
            Scenario::Failure => "validate, wrong code",
            Scenario::Inquiry => "inquiry (ReadOnly)",
            Scenario::Enroll => "enroll (new hardware token)",
        }
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(args.seconds > 0, "--seconds must be at least 1");
    ensure!(args.connections > 0, "--connections must be at least 1");
    ensure!(
        args.tokens >= args.connections,
        "--tokens must be at least --connections (every connection needs tokens of its own)"
    );
    let modes = match args.synchronous {
        SyncArg::Full => vec![Mode::Full],
        SyncArg::Normal => vec![Mode::Normal],
        SyncArg::Both => vec![Mode::Full, Mode::Normal],
    };
    let exe = tokend_exe()?;
    let machine = Machine::read();
    let mut reports = Vec::new();
    for mode in modes {
        reports.push(run_mode(&args, &exe, mode)?);
    }
    let text = render_report(&args, &machine, &reports);
    print!("{text}");
    let previous = std::fs::read_to_string(&args.out).unwrap_or_default();
    std::fs::write(&args.out, splice(&previous, &run_label(&args), &text))
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!("report written to {}", args.out.display());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------------------

/// A running `tokend` on its own data directory; killed and cleaned up on drop, so no
/// error path leaves a server behind.
struct Server {
    child: Child,
    base: String,
    key: String,
    dir: PathBuf,
}

impl Server {
    /// Starts the server on a fresh data directory with an API key of both scopes.
    fn start(exe: &Path, mode: Mode, preload: Option<&Preload>) -> Result<Server> {
        let dir = std::env::temp_dir().join(format!(
            "tokend-bench-{}-{}-{}",
            std::process::id(),
            mode.as_str(),
            unix_secs()
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let key = create_key(exe, &dir)?;
        if let Some(preload) = preload {
            preload.import(exe, &dir)?;
        }
        let stderr = std::fs::File::create(dir.join("server.stderr"))?;
        let child = Command::new(exe)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("ROCKET_DATA_DIR", &dir)
            .env("ROCKET_PORT", "0")
            .env("ROCKET_WINDOW_STEPS", WINDOW_STEPS.to_string())
            .env(
                "ROCKET_LOCK_AFTER_FAILURES",
                LOCK_AFTER_FAILURES.to_string(),
            )
            .env("ROCKET_SQLITE_SYNCHRONOUS", mode.as_str())
            // The rate limits would stop a load generator by design; off to measure the path.
            .env("ROCKET_RATE_USER_PER_MIN", "0")
            .env("ROCKET_RATE_KEY_FAILURES_PER_MIN", "0")
            .env("TOKEND_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("spawn {}", exe.display()))?;
        let mut server = Server {
            child,
            base: String::new(),
            key,
            dir,
        };
        let addr = listening_addr(&mut server.child).with_context(|| {
            format!(
                "tokend did not start; its stderr: {}",
                server.dir.join("server.stderr").display()
            )
        })?;
        server.base = format!("http://{addr}");
        Ok(server)
    }

    /// The server's peak resident set so far, in KiB (`VmHWM`).
    fn peak_rss_kib(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .context("read the server's /proc status")?;
        let field = |name: &str| -> Result<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| anyhow!("no {name} in /proc status"))
        };
        field("VmHWM:")
    }

    /// CPU time the server has used so far (user + system), in microseconds, from
    /// `/proc/PID/stat` (clock ticks of 1/100 s, Linux's `USER_HZ`). The difference over a
    /// scenario divided by its requests is the server's CPU cost of one request: unlike
    /// req/s, it does not depend on what else the machine is running.
    fn cpu_us(&self) -> Result<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .context("read the server's /proc stat")?;
        // Fields after the parenthesised command name, which may itself hold spaces.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, r)| r)
            .ok_or_else(|| anyhow!("malformed /proc stat"))?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
        let tick = |i: usize| -> Result<u64> {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| anyhow!("no CPU time in /proc stat"))
        };
        Ok((tick(11)? + tick(12)?) * 10_000)
    }

    /// Bytes of a file of the data directory (0 when absent): the database and its WAL,
    /// whose growth under sustained writes tells whether checkpoints keep up.
    fn file_bytes(&self, name: &str) -> u64 {
        std::fs::metadata(self.dir.join(name)).map_or(0, |m| m.len())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The release `tokend` beside this executable: the bench measures what cargo just built
/// and never builds anything itself.
fn tokend_exe() -> Result<PathBuf> {
    let me = std::env::current_exe().context("locate tokend-bench")?;
    let exe = me
        .parent()
        .ok_or_else(|| anyhow!("tokend-bench has no directory"))?
        .join("tokend");
    ensure!(
        exe.is_file(),
        "{} not found: run `cargo build --release --bins` first",
        exe.display()
    );
    warn_if_stale(&exe);
    Ok(exe)
}

/// `cargo run --bin tokend-bench` rebuilds this binary and the library, never the `tokend`
/// binary: say so when a server source is newer than the server binary, since the numbers
/// would then describe older server code.
fn warn_if_stale(server: &Path) {
    let Ok(built) = std::fs::metadata(server).and_then(|m| m.modified()) else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sources = ["src", "migrations", "Cargo.toml", "Cargo.lock"].map(|p| root.join(p));
    let skip = root.join("src").join("bin");
    if let Some(newer) = sources.iter().find_map(|p| newer_file(p, &skip, built)) {
        eprintln!(
            "warning: {} is newer than {}: run `cargo build --release --bins` first, or these \
             figures describe older server code",
            newer.display(),
            server.display()
        );
    }
}

/// A file under `path` (itself included, `skip` excluded) modified after `than`.
fn newer_file(path: &Path, skip: &Path, than: SystemTime) -> Option<PathBuf> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_file() {
        return (meta.modified().ok()? > than).then(|| path.to_owned());
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p != skip)
        .find_map(|p| newer_file(&p, skip, than))
}

/// Tokens loaded from a seed file before the server starts: the bench's own (whose seeds
/// it keeps) first, then anonymous ones up to `total`.
struct Preload {
    own: Vec<Vec<u8>>,
    total: usize,
}

impl Preload {
    fn new(own: usize, total: usize) -> Result<Preload> {
        let rng = SystemRandom::new();
        let own = (0..own)
            .map(|_| random_seed(&rng))
            .collect::<Result<Vec<_>>>()?;
        Ok(Preload { own, total })
    }

    /// Writes the CSV seed file and runs `tokend import` on it, as an operator would load
    /// a vendor's batch; every token is bound to its own user.
    fn import(&self, exe: &Path, dir: &Path) -> Result<()> {
        use std::io::Write as _;
        let path = dir.join("preload.csv");
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let rng = SystemRandom::new();
        for i in 0..self.total {
            let seed = match self.own.get(i) {
                Some(seed) => seed.clone(),
                None => random_seed(&rng)?,
            };
            let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
            writeln!(file, "{},{hex},SHA1,6,30,{}", token_name(i), user_name(i))?;
        }
        file.flush()?;
        drop(file);
        let began = Instant::now();
        let path_arg = path.to_string_lossy();
        let out = run_cli(exe, dir, &["import", &path_arg])?;
        eprintln!(
            "imported {} tokens in {:.1} s: {out}",
            self.total,
            began.elapsed().as_secs_f64(),
        );
        std::fs::remove_file(&path)?;
        Ok(())
    }
}

fn token_name(i: usize) -> String {
    format!("BENCH-{i:07}")
}

fn user_name(i: usize) -> String {
    format!("bench-user-{i:07}")
}

/// Runs a `tokend` subcommand on the data directory, as an operator would; its stdout.
fn run_cli(exe: &Path, dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(exe)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("ROCKET_DATA_DIR", dir)
        .env("TOKEND_LOG", "warn")
        .args(args)
        .output()
        .with_context(|| format!("run tokend {}", args.join(" ")))?;
    ensure!(
        out.status.success(),
        "tokend {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

/// Creates the bench's API key through the CLI.
fn create_key(exe: &Path, dir: &Path) -> Result<String> {
    let args = [
        "apikey",
        "create",
        "--name",
        "bench",
        "--scope",
        "manage,validate",
    ];
    run_cli(exe, dir, &args)
}

/// Reads the server's stdout until the listening line; keeps draining it afterwards so
/// the server never blocks on a full pipe.
fn listening_addr(child: &mut Child) -> Result<String> {
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("no stdout pipe"))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix(tokend::web::LISTENING) {
                let _ = tx.send(addr.to_owned());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .context("no listening line within 60 s")
}

// ---------------------------------------------------------------------------------------
// HTTP and TOTP
// ---------------------------------------------------------------------------------------

/// Where requests go and with which key.
struct Target {
    base: String,
    key: String,
}

/// One request: a GET without body, or a POST of JSON.
struct Call {
    path: String,
    body: Option<String>,
}

impl Call {
    fn get(path: &str) -> Call {
        Call {
            path: path.to_owned(),
            body: None,
        }
    }

    fn post(path: impl Into<String>, body: &Value) -> Call {
        Call {
            path: path.into(),
            body: Some(body.to_string()),
        }
    }
}

/// A client with one keep-alive connection: one per worker thread, like one consumer
/// system's connection.
fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .max_idle_connections_per_host(1)
        .build()
}

/// Sends a call and reads the whole answer (so the connection is reused), whatever its
/// status; `Err` only when no HTTP answer came.
fn send(agent: &ureq::Agent, target: &Target, call: &Call) -> Result<(u16, String)> {
    let url = format!("{}{}", target.base, call.path);
    let result = match &call.body {
        None => agent.get(&url).call(),
        Some(body) => agent
            .post(&url)
            .set("Authorization", &format!("Bearer {}", target.key))
            .set("Content-Type", "application/json")
            .send_string(body),
    };
    let response = match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return Err(e.into()),
    };
    let status = response.status();
    Ok((status, response.into_string()?))
}

/// The current RFC 6238 step of the bench's clock (the server reads the same clock).
fn now_step() -> i64 {
    i64::try_from(unix_secs() / PERIOD_SECS).unwrap_or(i64::MAX)
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// RFC 4226 HOTP with 6 digits, as a number.
fn hotp(key: &hmac::Key, step: i64) -> u32 {
    let counter = u64::try_from(step).unwrap_or(0);
    let tag = hmac::sign(key, &counter.to_be_bytes());
    let h = tag.as_ref();
    let o = usize::from(h[h.len() - 1] & 0x0f);
    let v = u32::from_be_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]) & 0x7fff_ffff;
    v % 1_000_000
}

fn code_text(code: u32) -> String {
    format!("{code:06}")
}

/// A token's codes over the steps a scenario can reach, computed before the clock starts
/// so the load generator spends its share of the CPU on requests, not on HMACs.
struct Codes {
    key: hmac::Key,
    base: i64,
    table: Vec<u32>,
}

impl Codes {
    /// Steps from 25 before now to far enough after it for a run of `seconds`.
    fn new(seed: &[u8], seconds: u64) -> Codes {
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, seed);
        let base = now_step() - 25;
        let len = 60 + 2 * (seconds / PERIOD_SECS);
        let table = (0..len)
            .map(|i| hotp(&key, base + i64::try_from(i).unwrap_or(0)))
            .collect();
        Codes { key, base, table }
    }

    fn at(&self, step: i64) -> u32 {
        usize::try_from(step - self.base)
            .ok()
            .and_then(|i| self.table.get(i).copied())
            .unwrap_or_else(|| hotp(&self.key, step))
    }

    /// Whether a later step within the server's reach shows the same code. The server takes
    /// the newest matching step, so it would accept that later step and turn our later use
    /// of it into a replay (a wrong answer that would be the bench's fault).
    fn shadowed(&self, step: i64) -> bool {
        let code = self.at(step);
        (step + 1..=step + 2 * WINDOW_STEPS + 1).any(|s| self.at(s) == code)
    }
}

/// 20 random bytes: a 160-bit SHA1 seed, as a hardware token vendor would ship.
fn random_seed(rng: &SystemRandom) -> Result<Vec<u8>> {
    let mut seed = vec![0u8; 20];
    rng.fill(&mut seed)
        .map_err(|_| anyhow!("system random generator failed"))?;
    Ok(seed)
}

/// The enrollment (MFATokenAdd) of a hardware token with a seed of ours.
fn enroll_call(usr: &str, token_id: &str, seed: &[u8]) -> Call {
    let seed = base32::encode(base32::Alphabet::Rfc4648 { padding: false }, seed);
    Call::post(
        "/api/v1/tokens",
        &json!({"UsrName": usr, "TokenType": "Hardware", "TokenId": token_id, "Seed": seed}),
    )
}

// ---------------------------------------------------------------------------------------
// Setup: enroll and activate N tokens
// ---------------------------------------------------------------------------------------

/// A token the bench enrolled, with the step its activation consumed.
struct BenchToken {
    id: String,
    usr: String,
    seed: Vec<u8>,
    activated_step: i64,
}

/// Enrolls and activates `n` tokens over `c` connections; any refusal stops the run,
/// since every later figure assumes these tokens exist and are Act.
fn setup(
    target: &Target,
    n: usize,
    c: usize,
    preloaded: Option<&[Vec<u8>]>,
) -> Result<Vec<BenchToken>> {
    let parts: Vec<Result<Vec<BenchToken>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..c)
            .map(|w| s.spawn(move || setup_part(target, (w..n).step_by(c), preloaded)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("setup thread panicked")))
            })
            .collect()
    });
    let mut tokens = Vec::with_capacity(n);
    for part in parts {
        tokens.extend(part?);
    }
    Ok(tokens)
}

fn setup_part(
    target: &Target,
    indices: impl Iterator<Item = usize>,
    preloaded: Option<&[Vec<u8>]>,
) -> Result<Vec<BenchToken>> {
    let agent = agent();
    let rng = SystemRandom::new();
    indices
        .map(|i| {
            let seed = preloaded.and_then(|p| p.get(i)).cloned();
            enroll_and_activate(&agent, target, &rng, i, seed)
        })
        .collect()
}

/// Activation uses the code of 9 steps ago (inside the ±10 window, one step of margin), so
/// the 18 steps after it stay usable for the success scenario; a later step if that code
/// repeats within the window (the server would record the later step as used).
fn enroll_and_activate(
    agent: &ureq::Agent,
    target: &Target,
    rng: &SystemRandom,
    i: usize,
    imported: Option<Vec<u8>>,
) -> Result<BenchToken> {
    let (id, usr) = (token_name(i), user_name(i));
    let seed = match imported {
        Some(seed) => seed,
        None => {
            let seed = random_seed(rng)?;
            let (status, body) = send(agent, target, &enroll_call(&usr, &id, &seed))?;
            ensure!(status == 200, "enroll {id}: HTTP {status}: {body}");
            seed
        }
    };
    let codes = Codes::new(&seed, 0);
    let now = now_step();
    let reach = WINDOW_STEPS - 1;
    let step = (now - reach..=now + reach)
        .find(|&s| !codes.shadowed(s))
        .ok_or_else(|| anyhow!("{id}: every code of the window repeats"))?;
    let call = Call::post(
        format!("/api/v1/tokens/{id}/activate"),
        &json!({"Code": code_text(codes.at(step))}),
    );
    let (status, body) = send(agent, target, &call)?;
    ensure!(
        status == 200 && body.contains(r#""RsStat":"Success""#),
        "activate {id}: HTTP {status}: {body}"
    );
    Ok(BenchToken {
        id,
        usr,
        seed,
        activated_step: step,
    })
}

// ---------------------------------------------------------------------------------------
// Workloads: what one connection sends, and how its answers are judged
// ---------------------------------------------------------------------------------------

/// One connection's stream of requests in a scenario.
trait Workload {
    /// The next request; `None` when this connection has nothing valid left to send.
    fn next(&mut self) -> Option<Call>;
    /// Whether a 200 answer to the last request is the right one; `Err` says what was
    /// expected, for the report's diagnostics.
    fn judge(&mut self, answer: &Value) -> Result<(), String>;
}

/// What every workload of a scenario shares.
struct Plan<'a> {
    target: Target,
    tokens: &'a [BenchToken],
    connections: usize,
    seconds: u64,
}

impl Plan<'_> {
    /// Connection `w`'s own tokens: no two connections ever use one token, so the order
    /// in which each token's codes are spent is the order in which they are sent.
    fn share(&self, w: usize) -> impl Iterator<Item = &BenchToken> {
        self.tokens.iter().skip(w).step_by(self.connections)
    }
}

fn workload<'a>(plan: &'a Plan<'a>, scenario: Scenario, w: usize) -> Box<dyn Workload + 'a> {
    match scenario {
        Scenario::Floor => Box::new(Floor),
        Scenario::Success => Box::new(Successes::new(plan, w)),
        Scenario::Failure => Box::new(Failures::new(plan, w)),
        Scenario::Inquiry => Box::new(Inquiries {
            tokens: plan.share(w).collect(),
            at: 0,
        }),
        Scenario::Enroll => Box::new(Enrollments {
            worker: w,
            count: 0,
            rng: SystemRandom::new(),
            expected: String::new(),
        }),
    }
}

/// `GET /`: the cheapest route, the cost of the HTTP stack alone.
struct Floor;

impl Workload for Floor {
    fn next(&mut self) -> Option<Call> {
        Some(Call::get("/"))
    }

    fn judge(&mut self, answer: &Value) -> Result<(), String> {
        expect(answer["Service"] == "tokend", "Service tokend")
    }
}

/// A token's position in its codes during the success scenario.
struct Cursor<'a> {
    token: &'a BenchToken,
    codes: Codes,
    /// The oldest step not yet sent.
    next: i64,
    /// The drift the server learned at our last success (its window centres on it).
    drift: i64,
}

impl Cursor<'_> {
    /// The oldest unsent step the server surely accepts now. The server centres its ±10
    /// window on now + drift; a step boundary may pass between our clock and the server's
    /// (and did at the success that taught the drift), so one step of margin on each side.
    fn pick(&self, now: i64) -> Option<i64> {
        let reach = WINDOW_STEPS - 1;
        let lo = self.next.max(now - reach + self.drift.max(0));
        let hi = now + reach + self.drift.min(0);
        (lo..=hi).find(|&s| !self.codes.shadowed(s))
    }
}

/// Successful validations: each request spends the oldest usable step of the next token.
struct Successes<'a> {
    cursors: Vec<Cursor<'a>>,
    at: usize,
    /// (cursor, step, our step at sending) of the request in flight.
    pending: Option<(usize, i64, i64)>,
}

impl<'a> Successes<'a> {
    fn new(plan: &'a Plan<'a>, w: usize) -> Successes<'a> {
        let cursors = plan
            .share(w)
            .map(|token| Cursor {
                token,
                codes: Codes::new(&token.seed, plan.seconds),
                next: token.activated_step + 1,
                drift: 0,
            })
            .collect();
        Successes {
            cursors,
            at: 0,
            pending: None,
        }
    }
}

impl Workload for Successes<'_> {
    fn next(&mut self) -> Option<Call> {
        let now = now_step();
        for _ in 0..self.cursors.len() {
            let i = self.at;
            self.at = (self.at + 1) % self.cursors.len();
            let cursor = &mut self.cursors[i];
            if let Some(step) = cursor.pick(now) {
                cursor.next = step + 1;
                self.pending = Some((i, step, now));
                let code = code_text(cursor.codes.at(step));
                let body = json!({"UsrName": cursor.token.usr, "Code": code});
                return Some(Call::post("/api/v1/validate", &body));
            }
        }
        None
    }

    fn judge(&mut self, answer: &Value) -> Result<(), String> {
        let Some((i, step, now)) = self.pending.take() else {
            return Err("no request in flight".to_owned());
        };
        let cursor = &mut self.cursors[i];
        let right = answer["RsStat"] == "Success" && answer["TokenId"] == cursor.token.id.as_str();
        if right {
            cursor.drift = step - now;
            return Ok(());
        }
        Err(format!(
            "expected Success for {} at step now{:+} (activation now{:+}, drift {})",
            cursor.token.id,
            step - now,
            cursor.token.activated_step - now,
            cursor.drift
        ))
    }
}

/// Validations with a wrong code, round-robin over the connection's tokens, at most
/// `LOCK_AFTER_FAILURES - 1` per token so none locks.
struct Failures<'a> {
    targets: Vec<(&'a BenchToken, String)>,
    at: usize,
    rounds: usize,
}

impl<'a> Failures<'a> {
    fn new(plan: &'a Plan<'a>, w: usize) -> Failures<'a> {
        let targets = plan
            .share(w)
            .map(|t| (t, code_text(wrong_code(&Codes::new(&t.seed, plan.seconds)))))
            .collect();
        Failures {
            targets,
            at: 0,
            rounds: 0,
        }
    }
}

/// A code that matches none of the steps the server may search during the run.
fn wrong_code(codes: &Codes) -> u32 {
    let mut candidate = (codes.at(codes.base) + 500_000) % 1_000_000;
    while codes.table.contains(&candidate) {
        candidate = (candidate + 7_919) % 1_000_000;
    }
    candidate
}

impl Workload for Failures<'_> {
    fn next(&mut self) -> Option<Call> {
        if self.at == self.targets.len() {
            self.at = 0;
            self.rounds += 1;
        }
        if self.rounds >= LOCK_AFTER_FAILURES - 1 {
            return None;
        }
        let (token, code) = self.targets.get(self.at)?;
        self.at += 1;
        let body = json!({"UsrName": token.usr, "Code": code});
        Some(Call::post("/api/v1/validate", &body))
    }

    fn judge(&mut self, answer: &Value) -> Result<(), String> {
        expect(answer["RsStat"] == "Failed", "RsStat Failed")
    }
}

/// ReadOnly inquiries round-robin over the connection's tokens.
struct Inquiries<'a> {
    tokens: Vec<&'a BenchToken>,
    at: usize,
}

impl Workload for Inquiries<'_> {
    fn next(&mut self) -> Option<Call> {
        self.at = (self.at + 1) % self.tokens.len().max(1);
        let token = self.tokens.get(self.at)?;
        let body = json!({"TokenId": token.id, "ActIntent": "ReadOnly"});
        Some(Call::post("/api/v1/inquiry", &body))
    }

    fn judge(&mut self, answer: &Value) -> Result<(), String> {
        let right = self
            .tokens
            .get(self.at)
            .is_some_and(|t| answer["TokenId"] == t.id.as_str());
        expect(right, "the TokenId asked about")
    }
}

/// Enrollments of new hardware tokens, each for a new user, with fresh random seeds.
struct Enrollments {
    worker: usize,
    count: usize,
    rng: SystemRandom,
    expected: String,
}

impl Workload for Enrollments {
    fn next(&mut self) -> Option<Call> {
        self.count += 1;
        let seed = random_seed(&self.rng).ok()?;
        self.expected = format!("NEW-{:02}-{:07}", self.worker, self.count);
        let usr = format!("new-user-{:02}-{:07}", self.worker, self.count);
        Some(enroll_call(&usr, &self.expected, &seed))
    }

    fn judge(&mut self, answer: &Value) -> Result<(), String> {
        let right = answer["TokenId"] == self.expected.as_str() && answer["UsrTokenStat"] == "Init";
        expect(right, &format!("{} in Init", self.expected))
    }
}

fn expect(right: bool, what: &str) -> Result<(), String> {
    if right {
        Ok(())
    } else {
        Err(format!("expected {what}"))
    }
}

// ---------------------------------------------------------------------------------------
// Driving a scenario
// ---------------------------------------------------------------------------------------

/// What one connection saw.
struct Tally {
    latencies_us: Vec<u32>,
    errors: u64,
    wrong: u64,
    exhausted: bool,
    end: Instant,
    first_problem: Option<String>,
}

/// Sends until the deadline (or until the workload has nothing valid left), timing each
/// request from just before sending to the last byte of the answer.
fn drive(agent: &ureq::Agent, target: &Target, load: &mut dyn Workload, until: Instant) -> Tally {
    let mut t = Tally {
        latencies_us: Vec::new(),
        errors: 0,
        wrong: 0,
        exhausted: false,
        end: Instant::now(),
        first_problem: None,
    };
    while Instant::now() < until {
        let Some(call) = load.next() else {
            t.exhausted = true;
            break;
        };
        let started = Instant::now();
        let answer = send(agent, target, &call);
        let micros = started.elapsed().as_micros();
        t.latencies_us
            .push(u32::try_from(micros).unwrap_or(u32::MAX));
        let problem = match answer {
            Ok((200, body)) => {
                let verdict = serde_json::from_str::<Value>(&body)
                    .map_err(|e| format!("not JSON: {e}"))
                    .and_then(|v| load.judge(&v));
                verdict.err().map(|why| {
                    t.wrong += 1;
                    format!("wrong answer to {} ({why}): {body}", call.path)
                })
            }
            Ok((status, body)) => {
                t.errors += 1;
                Some(format!("HTTP {status} from {}: {body}", call.path))
            }
            Err(e) => {
                t.errors += 1;
                Some(format!("{}: {e:#}", call.path))
            }
        };
        if t.first_problem.is_none() {
            t.first_problem = problem;
        }
    }
    t.end = Instant::now();
    t
}

/// One connection: prepare (codes, outside the clock), wait for the others, run.
fn connection(plan: &Plan<'_>, scenario: Scenario, w: usize, start: &Barrier) -> Tally {
    let mut load = workload(plan, scenario, w);
    let agent = agent();
    start.wait();
    let until = Instant::now() + Duration::from_secs(plan.seconds);
    drive(&agent, &plan.target, load.as_mut(), until)
}

/// A scenario's figures.
struct Measured {
    scenario: Scenario,
    requests: usize,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    errors: u64,
    wrong: u64,
    exhausted: bool,
    peak_rss_kib: u64,
    wal_bytes: u64,
    /// Server CPU time per request, in microseconds.
    cpu_us_per_request: f64,
}

fn run_scenario(plan: &Plan<'_>, scenario: Scenario) -> Result<Measured> {
    let c = plan.connections;
    let start = Barrier::new(c + 1);
    let (began, tallies) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..c)
            .map(|w| {
                let start = &start;
                s.spawn(move || connection(plan, scenario, w, start))
            })
            .collect();
        start.wait();
        let began = Instant::now();
        let tallies: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
        (began, tallies)
    });
    let tallies = tallies
        .into_iter()
        .collect::<Result<Vec<Tally>, _>>()
        .map_err(|_| anyhow!("a connection thread panicked"))?;
    Ok(summarize(scenario, began, &tallies))
}

fn summarize(scenario: Scenario, began: Instant, tallies: &[Tally]) -> Measured {
    for problem in tallies.iter().filter_map(|t| t.first_problem.as_deref()) {
        eprintln!("  {}: {problem}", scenario.label());
    }
    let mut lat: Vec<u32> = tallies
        .iter()
        .flat_map(|t| t.latencies_us.iter().copied())
        .collect();
    lat.sort_unstable();
    let end = tallies.iter().map(|t| t.end).max().unwrap_or(began);
    let secs = end.duration_since(began).as_secs_f64().max(1e-9);
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        // Nearest rank; the index is within 0..len by construction.
        let rank = ((lat.len() - 1) as f64 * p).round() as usize;
        f64::from(lat[rank.min(lat.len() - 1)]) / 1000.0
    };
    Measured {
        scenario,
        requests: lat.len(),
        rps: lat.len() as f64 / secs,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: pct(1.0),
        errors: tallies.iter().map(|t| t.errors).sum(),
        wrong: tallies.iter().map(|t| t.wrong).sum(),
        exhausted: tallies.iter().any(|t| t.exhausted),
        peak_rss_kib: 0,
        wal_bytes: 0,
        cpu_us_per_request: 0.0,
    }
}

// ---------------------------------------------------------------------------------------
// One configuration, end to end
// ---------------------------------------------------------------------------------------

/// Everything measured for one `sqlite_synchronous` mode.
struct ModeReport {
    mode: Mode,
    setup_secs: f64,
    wal_after_setup: u64,
    database_bytes: u64,
    rows: Vec<Measured>,
    /// `VmHWM` after the scenarios that run on exactly N tokens (before enrollments add
    /// more): the figure the RSS target speaks about.
    peak_rss_n_tokens_kib: u64,
}

fn run_mode(args: &Args, exe: &Path, mode: Mode) -> Result<ModeReport> {
    let preload = (args.preload > args.tokens)
        .then(|| Preload::new(args.tokens, args.preload))
        .transpose()?;
    let server = Server::start(exe, mode, preload.as_ref())?;
    eprintln!(
        "[{}] tokend at {}; enrolling and activating {} tokens over {} connections",
        mode.as_str(),
        server.base,
        args.tokens,
        args.connections
    );
    let target = Target {
        base: server.base.clone(),
        key: server.key.clone(),
    };
    let began = Instant::now();
    let own = preload.as_ref().map(|p| p.own.as_slice());
    let tokens = setup(&target, args.tokens, args.connections, own)?;
    let setup_secs = began.elapsed().as_secs_f64();
    let wal_after_setup = server.file_bytes(WAL_FILE);
    let plan = Plan {
        target,
        tokens: &tokens,
        connections: args.connections,
        seconds: args.seconds,
    };
    let mut rows = Vec::new();
    let mut peak_rss_n_tokens_kib = 0;
    for scenario in ORDER {
        eprintln!(
            "[{}] {} for {} s",
            mode.as_str(),
            scenario.label(),
            args.seconds
        );
        let cpu_before = server.cpu_us()?;
        let mut m = run_scenario(&plan, scenario)?;
        m.cpu_us_per_request = (server.cpu_us()? - cpu_before) as f64 / (m.requests.max(1) as f64);
        m.peak_rss_kib = server.peak_rss_kib()?;
        m.wal_bytes = server.file_bytes(WAL_FILE);
        if scenario != Scenario::Enroll {
            peak_rss_n_tokens_kib = m.peak_rss_kib;
        }
        rows.push(m);
    }
    Ok(ModeReport {
        mode,
        setup_secs,
        wal_after_setup,
        database_bytes: server.file_bytes(DATABASE_FILE),
        rows,
        peak_rss_n_tokens_kib,
    })
}

// ---------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------

/// The machine the figures come from.
struct Machine {
    cpus: usize,
    model: String,
    memory: String,
    kernel: String,
    /// The file system of the data directories: fsync cost, hence `full` vs `normal`,
    /// depends on it.
    storage: String,
}

impl Machine {
    fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown".to_owned(), |(_, v)| v.trim().to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or_else(
                || "unknown".to_owned(),
                |kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0),
            );
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            model,
            memory,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| "unknown".to_owned(), |s| s.trim().to_owned()),
            storage: mount_of(&std::env::temp_dir()),
        }
    }
}

/// The mount holding `path` (longest mount point that prefixes it), as "fstype on device".
fn mount_of(path: &Path) -> String {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let path = path.canonicalize().unwrap_or_else(|_| path.to_owned());
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?, f.next()?, f.next()?))
        })
        .filter(|(_, point, _)| path.starts_with(point))
        .max_by_key(|(_, point, _)| point.len())
        .map_or_else(
            || "unknown".to_owned(),
            |(device, point, fs)| format!("{fs} on {device} (mounted at {point})"),
        )
}

/// Names a run's section of the report file: runs of another size keep their own.
fn run_label(args: &Args) -> String {
    format!(
        "tokens={} preload={} synchronous={}",
        args.tokens,
        args.preload.max(args.tokens),
        sync_name(args.synchronous)
    )
}

/// Puts `section` between this run's markers in `file`, replacing the previous run of the
/// same label and keeping everything else (other runs, the hand-written analysis);
/// appended at the end the first time.
fn splice(file: &str, label: &str, section: &str) -> String {
    let begin = format!("<!-- tokend-bench begin {label} -->\n");
    let end = format!("<!-- tokend-bench end {label} -->\n");
    let block = format!("{begin}{section}{end}");
    match (file.find(&begin), file.find(&end)) {
        (Some(b), Some(e)) if b < e => format!("{}{block}{}", &file[..b], &file[e + end.len()..]),
        _ if file.is_empty() => format!("# tokend benchmarks\n\n{block}"),
        _ => format!("{}\n{block}", file.trim_end()),
    }
}

fn render_report(args: &Args, machine: &Machine, reports: &[ModeReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Run: {}\n", run_label(args));
    let _ = writeln!(
        out,
        "Measured {} by `cargo run --release --bin tokend-bench -- --tokens {}{} --seconds {} \
         --connections {} --synchronous {}` (src/bin/tokend-bench.rs).\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        args.tokens,
        if args.preload > args.tokens {
            format!(" --preload {}", args.preload)
        } else {
            String::new()
        },
        args.seconds,
        args.connections,
        sync_name(args.synchronous),
    );
    let _ = writeln!(
        out,
        "- Machine: {} CPUs ({}), {} RAM, Linux {}; data directory under {} on {}. The load \
         generator runs on the same machine and shares these CPUs with the server.",
        machine.cpus,
        machine.model,
        machine.memory,
        machine.kernel,
        std::env::temp_dir().display(),
        machine.storage
    );
    let _ = writeln!(
        out,
        "- N = {} hardware tokens (SHA1/6/30, 160-bit seeds made by the bench), enrolled and \
         activated before the scenarios; C = {} concurrent keep-alive connections; {} s per \
         scenario.{}",
        args.tokens,
        args.connections,
        args.seconds,
        if args.preload > args.tokens {
            format!(
                " Scale: {} tokens in the database, each bound to its own user, all loaded by \
                 `tokend import` from a CSV seed file before the server starts (the N \
                 exercised are the first of them; only their activation goes over HTTP).",
                thousands(args.preload as f64)
            )
        } else {
            String::new()
        }
    );
    out.push_str(METHOD);
    for report in reports {
        out.push_str(&render_mode(report, args));
    }
    out
}

/// How the figures are made; repeated in the report so it stands on its own.
const METHOD: &str = "\
- Server: `ROCKET_WINDOW_STEPS=10`. A code is accepted once and only when its step is \
newer than the token's last accepted one, so each token offers 21 usable steps around now \
instead of 3; the bench spends them in increasing step order. The price: every validation \
computes 21 HMACs instead of 3, so both validation figures are conservative.
- Server: `ROCKET_LOCK_AFTER_FAILURES=100` (the allowed maximum). Wrong codes go \
round-robin over all tokens, at most 99 per token, so no binding locks and the failure row \
measures the wrong-code path (failure count and audit row committed), not the `Locked` answer.
- Validations name the user (`UsrName`), as an online-banking consumer does. A success \
must answer `\"RsStat\":\"Success\"` with the right TokenId, a wrong code `\"Failed\"`, an \
inquiry 200 with its TokenId, an enrollment the new TokenId in Init; anything else with \
status 200 counts as a wrong answer, any other status or a transport failure as an error.
- Latency: from sending the request to reading the last byte of the answer, over all \
requests of all connections. req/s: requests answered / wall time of the scenario. Peak \
RSS: the server's `VmHWM` from /proc after the scenario (a high-water mark, so it only grows \
down the table). WAL MiB: size of the server's write-ahead log file after the scenario. \
vs floor: req/s of the row / req/s of `GET /`. Server CPU µs/req: the server's user + system CPU time \
over the scenario (from /proc, 10 ms ticks) / requests answered; it does not depend on what else the \
machine runs, so it is the figure to compare between runs.
- The codes come from an independent RFC 6238 implementation over ring's HMAC, computed \
before each scenario's clock starts.

";

fn sync_name(s: SyncArg) -> &'static str {
    match s {
        SyncArg::Full => "full",
        SyncArg::Normal => "normal",
        SyncArg::Both => "both",
    }
}

fn render_mode(r: &ModeReport, args: &Args) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### sqlite_synchronous = {}\n", r.mode.as_str());
    let _ = writeln!(
        out,
        "Setup: {} tokens enrolled and activated in {:.1} s ({} tokens/s, two requests \
         each, or one after an import); WAL after setup {:.1} MiB. Database file at the end: {:.1} MiB.\n",
        args.tokens,
        r.setup_secs,
        thousands(args.tokens as f64 / r.setup_secs.max(1e-9)),
        mib(r.wal_after_setup),
        mib(r.database_bytes)
    );
    out.push_str(
        "| scenario | requests | req/s | p50 ms | p99 ms | max ms | errors | wrong | \
         server CPU µs/req | peak RSS MiB | WAL MiB | vs floor |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let floor = floor_rps(r);
    for m in &r.rows {
        let _ = writeln!(
            out,
            "| {}{} | {} | {} | {:.2} | {:.2} | {:.2} | {} | {} | {:.0} | {:.1} | {:.1} | {:.2} |",
            m.scenario.label(),
            if m.exhausted { " ¹" } else { "" },
            thousands(m.requests as f64),
            thousands(m.rps),
            m.p50_ms,
            m.p99_ms,
            m.max_ms,
            m.errors,
            m.wrong,
            m.cpu_us_per_request,
            m.peak_rss_kib as f64 / 1024.0,
            mib(m.wal_bytes),
            m.rps / floor,
        );
    }
    if r.rows.iter().any(|m| m.exhausted) {
        out.push_str(
            "\n¹ at least one connection ran out of valid requests (usable steps or the \
             per-token failure budget) before the time was up.\n",
        );
    }
    out.push_str(&render_targets(r, args));
    out
}

fn render_targets(r: &ModeReport, args: &Args) -> String {
    let mut out = String::from("\n| target (issue 7) | measured | |\n|---|---:|---|\n");
    let floor = floor_rps(r);
    let row = |s: Scenario| r.rows.iter().find(|m| m.scenario == s);
    let (success_rps, success_p99) =
        row(Scenario::Success).map_or((0.0, 0.0), |m| (m.rps, m.p99_ms));
    let (inquiry_rps, inquiry_p99) =
        row(Scenario::Inquiry).map_or((0.0, 0.0), |m| (m.rps, m.p99_ms));
    let rss_mib = r.peak_rss_n_tokens_kib as f64 / 1024.0;
    let targets = [
        (
            "successful validations ≥ 50% of the floor".to_owned(),
            format!("{:.0}%", 100.0 * success_rps / floor),
            success_rps >= TARGET_SUCCESS_VS_FLOOR * floor,
        ),
        (
            "successful validations ≥ 20,000/s".to_owned(),
            format!("{}/s", thousands(success_rps)),
            success_rps >= TARGET_SUCCESS_RPS,
        ),
        (
            "inquiries ≥ 70% of the floor".to_owned(),
            format!("{:.0}%", 100.0 * inquiry_rps / floor),
            inquiry_rps >= TARGET_INQUIRY_VS_FLOOR * floor,
        ),
        (
            "p99 < 5 ms, successful validations".to_owned(),
            format!("{success_p99:.2} ms"),
            success_p99 < TARGET_P99_MS,
        ),
        (
            "p99 < 5 ms, inquiries".to_owned(),
            format!("{inquiry_p99:.2} ms"),
            inquiry_p99 < TARGET_P99_MS,
        ),
        (
            format!(
                "peak RSS < 64 MiB with 10,000 tokens (here {})",
                thousands(args.tokens as f64)
            ),
            format!("{rss_mib:.1} MiB"),
            rss_mib < TARGET_RSS_MIB,
        ),
    ];
    for (name, measured, met) in targets {
        let verdict = if met { "met" } else { "**not met**" };
        let _ = writeln!(out, "| {name} | {measured} | {verdict} |");
    }
    out.push('\n');
    out
}

fn floor_rps(r: &ModeReport) -> f64 {
    r.rows
        .iter()
        .find(|m| m.scenario == Scenario::Floor)
        .map_or(0.0, |m| m.rps)
        .max(1e-9)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1024.0 / 1024.0
}

/// An integer with thousands separators, for tables read by people.
fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::splice;

    #[test]
    fn a_run_replaces_its_own_section_and_keeps_the_rest() {
        let first = splice("", "a", "one\n");
        assert_eq!(
            first,
            "# tokend benchmarks\n\n<!-- tokend-bench begin a -->\none\n<!-- tokend-bench end a -->\n"
        );
        let with_notes = format!("{first}\n## Where the time goes\nnotes\n");
        let second = splice(&with_notes, "b", "two\n");
        assert!(second.contains("one\n") && second.contains("two\n") && second.contains("notes"));
        let again = splice(&second, "a", "uno\n");
        assert!(!again.contains("one\n") && again.contains("uno\n"));
        assert!(again.contains("two\n") && again.contains("notes"));
        assert!(again.find("uno").unwrap() < again.find("notes").unwrap());
    }
}
