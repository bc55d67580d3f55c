//! `tokend-bench`: the load benchmark (issue 7).
//!
//! It starts the release `tokend` that sits next to this executable on a fresh data
//! directory, enrolls and activates N hardware tokens whose seeds it made itself, then
//! drives each scenario for a fixed time over C keep-alive connections (one thread and one
//! ureq agent each) and writes a markdown report to stdout and to `--out`.
//!
//! ```text
//! cargo build --release --bins
//! cargo run --release -p tokend-bench -- --synchronous both
//! ```
//!
//! Choices that shape the numbers (the report repeats them):
//! - The server's default window (±1 step), so a validation computes at most 3 HMACs as in
//!   production. A code is accepted once and only if its step is newer than the token's
//!   last accepted one, so a token offers about one success per 30 s step: the success
//!   scenario spends each token's current code once, and a run needs more tokens than
//!   successes (issue 16: e.g. `--tokens 100000 --preload 100000`, loaded by `tokend import`).
//! - `ROCKET_LOCK_AFTER_FAILURES=100`. Failures go round-robin over all tokens, at most 99
//!   per token, so no binding locks and the failure scenario measures the wrong-code path
//!   (count, audit), never the cheaper `Locked` path.
//! - Validations name the user (`UsrName`), as an online-banking consumer does.
//! - The load generator runs on the same machine as the server and shares its cores.
//!
//! The codes come from the test kit's independent RFC 6238 implementation over ring's HMAC,
//! not from the server's totp-rs code, so a shared mistake cannot make the benchmark agree
//! with it. The kit also spawns the server (the integration tests' spawner).

mod callgrind;
mod http;
mod io;
mod report;
mod run;
mod server;
mod setup;
mod workload;

use anyhow::{ensure, Context as _, Result};
use clap::Parser;
use std::path::PathBuf;

use report::{render_report, run_label, splice, Machine};
use run::run_mode;
use server::tokend_exe;

/// Window the server runs with: its default, ±1 step (see the module doc).
const WINDOW_STEPS: i64 = 1;
/// Lock threshold the server runs with; failures per token stay below it.
const LOCK_AFTER_FAILURES: usize = 100;
/// The server's database and its write-ahead log, in its data directory.
const DATABASE_FILE: &str = "tokend.sqlite";
const WAL_FILE: &str = "tokend.sqlite-wal";
/// TOTP period of every bench token (SHA1/6/30, the server's defaults).
const PERIOD_SECS: u64 = 30;
/// The targets of issues 7 and 16 (server CPU per request, in µs).
const TARGET_SUCCESS_VS_FLOOR: f64 = 0.5;
const TARGET_SUCCESS_CPU_US: f64 = 100.0;
const TARGET_FAILURE_OVER_SUCCESS: f64 = 0.2;
const TARGET_INQUIRY_CPU_US: f64 = 60.0;
const TARGET_ENROLL_CPU_US: f64 = 150.0;
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
    /// Tokens in the database in all, bulk-loaded with `tokend import` before the server
    /// starts (the first `--tokens` are the bench's own, activated over HTTP): to measure at
    /// scale (e.g. 1000000), or equal to `--tokens` to skip their enrollment over HTTP.
    /// 0: the bench enrolls its own over HTTP.
    #[arg(long, default_value_t = 0)]
    preload: usize,
    /// The `tokend` binary to measure; by default the one beside this executable.
    #[arg(long)]
    tokend: Option<PathBuf>,
    /// A PostgreSQL server (e.g. postgres://postgres@127.0.0.1:5432): after SQLite, the
    /// same scenarios run on a fresh database there with 1 node and with `--nodes` nodes,
    /// and the report adds PostgreSQL's own CPU per request. The database is dropped after.
    #[arg(long)]
    database: Option<String>,
    /// Nodes of the largest PostgreSQL run (the load is spread over them round-robin).
    #[arg(long, default_value_t = 2)]
    nodes: usize,
    /// After the timed runs, count instructions per request under valgrind's callgrind
    /// (SQLite FULL, one connection, `--callgrind-tokens` tokens): a figure no other load
    /// on the machine moves. Needs valgrind.
    #[arg(long)]
    callgrind: bool,
    /// Tokens of the callgrind run (each offers one success per 30 s step).
    #[arg(long, default_value_t = 200)]
    callgrind_tokens: usize,
    /// Also measure the first SQLite configuration with the master key in an HSM
    /// (`master_key_source = "pkcs11"`, SoftHSM2 from Debian's softhsm2, a token made for
    /// the run), so the report shows a validation's cost with either key source.
    #[arg(long)]
    hsm: bool,
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
    /// SQLite, `sqlite_synchronous = full`.
    Full,
    /// SQLite, `sqlite_synchronous = normal`.
    Normal,
    /// PostgreSQL with this many nodes.
    Postgres(usize),
    /// SQLite, `full`, the master key in an HSM (SoftHSM2 over PKCS#11).
    Hsm,
}

impl Mode {
    /// `sqlite_synchronous` of the server (PostgreSQL's durability is the server's own).
    fn synchronous(self) -> &'static str {
        match self {
            Mode::Normal => "normal",
            Mode::Full | Mode::Postgres(_) | Mode::Hsm => "full",
        }
    }

    /// How the report and the progress lines name it.
    fn label(self) -> String {
        match self {
            Mode::Full | Mode::Normal => format!("sqlite_synchronous = {}", self.synchronous()),
            Mode::Postgres(1) => "PostgreSQL, 1 node".to_owned(),
            Mode::Postgres(n) => format!("PostgreSQL, {n} nodes"),
            Mode::Hsm => {
                "sqlite_synchronous = full, master key in an HSM (SoftHSM2, PKCS#11)".to_owned()
            }
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
    ensure!(args.nodes >= 1, "--nodes must be at least 1");
    let mut modes = match args.synchronous {
        SyncArg::Full => vec![Mode::Full],
        SyncArg::Normal => vec![Mode::Normal],
        SyncArg::Both => vec![Mode::Full, Mode::Normal],
    };
    if args.hsm {
        modes.insert(1, Mode::Hsm);
    }
    if args.database.is_some() {
        modes.push(Mode::Postgres(1));
        if args.nodes > 1 {
            modes.push(Mode::Postgres(args.nodes));
        }
    }
    let exe = tokend_exe(args.tokend.as_deref())?;
    let machine = Machine::read();
    let mut reports = Vec::new();
    for mode in modes {
        reports.push(run_mode(&args, &exe, mode)?);
    }
    let mut text = render_report(&args, &machine, &reports);
    if args.callgrind {
        let counted = callgrind::count(&args, &exe, args.callgrind_tokens)?;
        text.push_str(&callgrind::render(&counted, args.callgrind_tokens));
    }
    print!("{text}");
    let previous = std::fs::read_to_string(&args.out).unwrap_or_default();
    std::fs::write(&args.out, splice(&previous, &run_label(&args), &text))
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!("report written to {}", args.out.display());
    Ok(())
}
