//! Driving a scenario.

use anyhow::{anyhow, Result};
use serde_json::Value;
use std::sync::Barrier;
use std::time::{Duration, Instant};
use testkit::Tokend;

use crate::http::{agent, send, Target};
use crate::io::{IoCount, IoUsed};
use crate::server::{Preload, Server};
use crate::setup::setup;
use crate::workload::{workload, Plan, Workload};
use crate::{Args, Mode, Scenario, DATABASE_FILE, ORDER, WAL_FILE};

/// What one connection saw.
struct Tally {
    pub(crate) latencies_us: Vec<u32>,
    pub(crate) errors: u64,
    pub(crate) wrong: u64,
    pub(crate) exhausted: bool,
    pub(crate) end: Instant,
    pub(crate) first_problem: Option<String>,
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
    drive(&agent, plan.target(w), load.as_mut(), until)
}

/// A scenario's figures.
pub(crate) struct Measured {
    pub(crate) scenario: Scenario,
    pub(crate) requests: usize,
    pub(crate) rps: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
    pub(crate) errors: u64,
    pub(crate) wrong: u64,
    pub(crate) exhausted: bool,
    pub(crate) peak_rss_kib: u64,
    pub(crate) wal_bytes: u64,
    /// Server CPU time per request, in microseconds (all nodes together).
    pub(crate) cpu_us_per_request: f64,
    /// PostgreSQL's CPU time per request (all its processes), on PostgreSQL.
    pub(crate) pg_cpu_us_per_request: Option<f64>,
    /// The server's context switches per request (thread hand-offs).
    pub(crate) switches_per_request: f64,
    /// What the scenario wrote (`io`): fsyncs and bytes, all nodes together.
    pub(crate) io: IoUsed,
}

pub(crate) fn run_scenario(plan: &Plan<'_>, scenario: Scenario) -> Result<Measured> {
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
        pg_cpu_us_per_request: None,
        switches_per_request: 0.0,
        io: IoUsed::default(),
    }
}

// ---------------------------------------------------------------------------------------
// One configuration, end to end
// ---------------------------------------------------------------------------------------

/// Everything measured for one configuration (SQLite mode, or PostgreSQL with N nodes).
pub(crate) struct ModeReport {
    pub(crate) mode: Mode,
    pub(crate) setup_secs: f64,
    pub(crate) wal_after_setup: u64,
    pub(crate) database_bytes: u64,
    pub(crate) rows: Vec<Measured>,
    /// `VmHWM` after the scenarios that run on exactly N tokens (before enrollments add
    /// more): the figure the RSS target speaks about.
    pub(crate) peak_rss_n_tokens_kib: u64,
}

pub(crate) fn run_mode(args: &Args, exe: &Tokend, mode: Mode) -> Result<ModeReport> {
    let preload = (args.preload >= args.tokens && args.preload > 0)
        .then(|| Preload::new(args.tokens, args.preload))
        .transpose()?;
    let server = Server::start(exe, mode, preload.as_ref(), args.database.as_deref())?;
    eprintln!(
        "[{}] tokend at {}; enrolling and activating {} tokens over {} connections",
        mode.label(),
        server.bases.join(", "),
        args.tokens,
        args.connections
    );
    let targets: Vec<Target> = server
        .bases
        .iter()
        .map(|base| Target {
            base: base.clone(),
            key: server.key.clone(),
        })
        .collect();
    let target = targets[0].clone();
    let began = Instant::now();
    let own = preload.as_ref().map(|p| p.own.as_slice());
    let tokens = setup(&target, args.tokens, args.connections, own)?;
    let setup_secs = began.elapsed().as_secs_f64();
    let wal_after_setup = server.file_bytes(WAL_FILE);
    let plan = Plan {
        targets,
        tokens: &tokens,
        connections: args.connections,
        seconds: args.seconds,
    };
    let mut rows = Vec::new();
    let mut peak_rss_n_tokens_kib = 0;
    for scenario in ORDER {
        eprintln!(
            "[{}] {} for {} s",
            mode.label(),
            scenario.label(),
            args.seconds
        );
        let cpu_before = server.cpu_us()?;
        let pg_before = server.postgres_cpu_us();
        let switches_before = server.switches();
        let io = IoCount::start(&server.pids());
        let mut m = run_scenario(&plan, scenario)?;
        m.io = io.finish();
        let per_request = |us: u64| us as f64 / (m.requests.max(1) as f64);
        m.cpu_us_per_request = per_request(server.cpu_us()? - cpu_before);
        let switches =
            m.io.switches
                .unwrap_or_else(|| server.switches().saturating_sub(switches_before));
        m.switches_per_request = switches as f64 / (m.requests.max(1) as f64);
        m.pg_cpu_us_per_request = pg_before
            .zip(server.postgres_cpu_us())
            .map(|(before, after)| per_request(after.saturating_sub(before)));
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
