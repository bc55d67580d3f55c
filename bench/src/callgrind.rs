//! Instructions per request, counted by valgrind's callgrind (`--callgrind`): the same
//! count for the same binary and input whatever else the machine runs, so a change to the
//! hot path is A/B'd on a number no neighbour moves (server CPU µs on a shared 2-core VM
//! moves by 10–20 % between runs, and this VM has no hardware instruction counter).
//!
//! The server runs under callgrind with instrumentation off (only the `serve` process:
//! the bench's CLI calls run natively); for each scenario the bench switches it on with
//! `callgrind_control -i on`, drives the scenario over ONE connection (so batch sizes and
//! lock hand-offs do not vary with scheduling), switches it off, dumps, and divides the
//! dump's instruction total (every thread, user space) by the requests answered. Under
//! callgrind the server runs some 50 times slower: the figure is a count, never a time.

use anyhow::{anyhow, ensure, Context as _, Result};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use testkit::Tokend;

use crate::http::Target;
use crate::run::run_scenario;
use crate::server::{Preload, Server};
use crate::setup::setup;
use crate::workload::Plan;
use crate::{Args, Mode, Scenario};

/// The scenarios counted (enrollment is not on the hot path).
const COUNTED: [Scenario; 4] = [
    Scenario::Floor,
    Scenario::Success,
    Scenario::Failure,
    Scenario::Inquiry,
];

/// One scenario's count.
pub(crate) struct Counted {
    pub(crate) scenario: Scenario,
    pub(crate) requests: usize,
    pub(crate) instructions_per_request: f64,
}

/// Counts the scenarios on SQLite (`sqlite_synchronous = full`) with `tokens` tokens.
pub(crate) fn count(args: &Args, exe: &Tokend, tokens: usize) -> Result<Vec<Counted>> {
    let dir = std::env::temp_dir().join(format!("tokend-bench-callgrind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).context("create the callgrind directory")?;
    let outcome = count_in(args, exe, tokens, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

fn count_in(args: &Args, exe: &Tokend, tokens: usize, dir: &Path) -> Result<Vec<Counted>> {
    let wrapped = Tokend::new(wrapper(exe.exe(), dir)?, repository_root());
    let preload = Preload::new(tokens, tokens)?;
    let server = Server::start(&wrapped, Mode::Full, Some(&preload), None)?;
    let pid = server.pids()[0];
    let target = Target {
        base: server.bases[0].clone(),
        key: server.key.clone(),
    };
    eprintln!(
        "[callgrind] tokend under callgrind at {}; activating {tokens} tokens",
        target.base
    );
    let bench_tokens = setup(&target, tokens, 1, Some(preload.own.as_slice()))?;
    let plan = Plan {
        targets: vec![target],
        tokens: &bench_tokens,
        connections: 1,
        seconds: args.seconds,
    };
    let mut counted = Vec::new();
    for scenario in COUNTED {
        eprintln!("[callgrind] {} for {} s", scenario.label(), args.seconds);
        control(pid, &["-i", "on"])?;
        let m = run_scenario(&plan, scenario)?;
        control(pid, &["-i", "off"])?;
        let before = dumps(dir)?;
        control(pid, &["-d"])?;
        let total = newest_total(dir, &before)?;
        counted.push(Counted {
            scenario,
            requests: m.requests,
            instructions_per_request: total as f64 / m.requests.max(1) as f64,
        });
    }
    Ok(counted)
}

/// A script that runs `serve` (no arguments) under callgrind and every CLI call natively.
fn wrapper(tokend: &Path, dir: &Path) -> Result<PathBuf> {
    let script = dir.join("tokend-under-callgrind");
    let text = format!(
        "#!/bin/sh\nif [ $# -eq 0 ]; then exec valgrind --tool=callgrind --instr-atstart=no \
         --callgrind-out-file={}/callgrind.out.%p {} ; fi\nexec {} \"$@\"\n",
        dir.display(),
        tokend.display(),
        tokend.display()
    );
    std::fs::write(&script, text).context("write the callgrind wrapper")?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    Ok(script)
}

fn control(pid: u32, args: &[&str]) -> Result<()> {
    let status = Command::new("callgrind_control")
        .args(args)
        .arg(pid.to_string())
        .output()
        .context("run callgrind_control (Debian: valgrind)")?;
    ensure!(
        status.status.success(),
        "callgrind_control {args:?} failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    Ok(())
}

/// The dump files in `dir` now.
fn dumps(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("callgrind.out."))
        .collect())
}

/// The instruction total of the dump written since `before` (its `totals:` line; the
/// `summary:` line above it counts only from the last zeroing, 0 here).
fn newest_total(dir: &Path, before: &[PathBuf]) -> Result<u64> {
    let fresh: Vec<PathBuf> = dumps(dir)?
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    let file = fresh
        .first()
        .ok_or_else(|| anyhow!("callgrind wrote no dump"))?;
    let text = std::fs::read_to_string(file)?;
    text.lines()
        .find_map(|l| l.strip_prefix("totals:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow!("no total in {}", file.display()))
}

/// The repository this bench was built from (the test kit's working directory).
fn repository_root() -> PathBuf {
    let bench = Path::new(env!("CARGO_MANIFEST_DIR"));
    bench.parent().unwrap_or(bench).to_owned()
}

/// The report's section.
pub(crate) fn render(counted: &[Counted], tokens: usize) -> String {
    use std::fmt::Write as _;
    let mut out = format!(
        "### Instructions per request (callgrind, SQLite FULL, {tokens} tokens, 1 connection)\n\n\
         | scenario | requests | instructions/req | vs floor |\n|---|---:|---:|---:|\n"
    );
    let floor = counted
        .iter()
        .find(|c| c.scenario == Scenario::Floor)
        .map_or(1.0, |c| c.instructions_per_request.max(1.0));
    for c in counted {
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.2}× |",
            c.scenario.label(),
            c.requests,
            c.instructions_per_request,
            c.instructions_per_request / floor
        );
    }
    out.push('\n');
    out
}
