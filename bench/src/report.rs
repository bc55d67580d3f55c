//! The report.

use std::fmt::Write as _;
use std::path::Path;

use crate::run::ModeReport;
use crate::{
    Args, Scenario, SyncArg, TARGET_ENROLL_CPU_US, TARGET_FAILURE_OVER_SUCCESS,
    TARGET_INQUIRY_CPU_US, TARGET_INQUIRY_VS_FLOOR, TARGET_P99_MS, TARGET_RSS_MIB,
    TARGET_SUCCESS_CPU_US, TARGET_SUCCESS_VS_FLOOR,
};

/// The machine the figures come from.
pub(crate) struct Machine {
    pub(crate) cpus: usize,
    pub(crate) model: String,
    pub(crate) memory: String,
    pub(crate) kernel: String,
    /// The file system of the data directories: fsync cost, hence `full` vs `normal`,
    /// depends on it.
    pub(crate) storage: String,
}

impl Machine {
    pub(crate) fn read() -> Machine {
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
pub(crate) fn run_label(args: &Args) -> String {
    let label = format!(
        "tokens={} preload={} synchronous={}",
        args.tokens,
        args.preload.max(args.tokens),
        sync_name(args.synchronous)
    );
    let label = match args.database {
        Some(_) => format!("{label} postgres-nodes={}", args.nodes),
        None => label,
    };
    if args.callgrind {
        format!("{label} callgrind")
    } else {
        label
    }
}

/// Puts `section` between this run's markers in `file`, replacing the previous run of the
/// same label and keeping everything else (other runs, the hand-written analysis);
/// appended at the end the first time.
pub(crate) fn splice(file: &str, label: &str, section: &str) -> String {
    let begin = format!("<!-- tokend-bench begin {label} -->\n");
    let end = format!("<!-- tokend-bench end {label} -->\n");
    let block = format!("{begin}{section}{end}");
    match (file.find(&begin), file.find(&end)) {
        (Some(b), Some(e)) if b < e => format!("{}{block}{}", &file[..b], &file[e + end.len()..]),
        _ if file.is_empty() => format!("# tokend benchmarks\n\n{block}"),
        _ => format!("{}\n{block}", file.trim_end()),
    }
}

pub(crate) fn render_report(args: &Args, machine: &Machine, reports: &[ModeReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Run: {}\n", run_label(args));
    let _ = writeln!(
        out,
        "Measured {} by `cargo run --release --bin tokend-bench -- --tokens {}{} --seconds {} \
         --connections {} --synchronous {}` (bench/).\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        args.tokens,
        if args.preload >= args.tokens {
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
        if args.preload >= args.tokens {
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
- Server: the default window (±1 step), so a validation computes at most 3 HMACs. A code \
is accepted once and only when its step is newer than the token's last accepted one: each \
token was activated with the window's oldest step, and the success scenario spends each \
token's current code once (a token comes round again only after a step boundary), so a \
run needs more tokens than successes.
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
machine runs, so it is the figure to compare between runs (on a quiet machine: another \
process's load still inflates it through shared caches and cores). Switches/req: the \
server's context switches (all its threads, those that end during the scenario included: \
the `context-switches` software event of the same `perf stat`, else /proc) / requests \
answered: the thread hand-offs one request costs, which no other load moves. fsyncs/req: the server's `fsync` + \
`fdatasync` calls (kernel syscall tracepoints through `perf stat`, which stop no thread) / \
requests answered; on PostgreSQL the flushes are the database server's, not counted here. \
pages/req: 4 KiB file pages the server dirtied (`write_bytes` of /proc/PID/io, page-granular: \
the WAL frames and database pages a request costs) / requests answered.
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
    let _ = writeln!(out, "### {}\n", r.mode.label());
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
         server CPU µs/req | PostgreSQL CPU µs/req | switches/req | fsyncs/req | pages/req | \
         peak RSS MiB | WAL MiB | vs floor |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let floor = floor_rps(r);
    for m in &r.rows {
        let _ = writeln!(
            out,
            "| {}{} | {} | {} | {:.2} | {:.2} | {:.2} | {} | {} | {:.0} | {} | {:.1} | {} | {:.2} | {:.1} | {:.1} | {:.2} |",
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
            m.pg_cpu_us_per_request
                .map_or_else(|| "—".to_owned(), |us| format!("{us:.0}")),
            m.switches_per_request,
            m.io.fsyncs.map_or_else(
                || "—".to_owned(),
                |n| format!("{:.2}", n as f64 / m.requests.max(1) as f64)
            ),
            m.io.bytes_written as f64 / 4096.0 / m.requests.max(1) as f64,
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
    let mut out = String::from("\n| target (issues 7 and 16) | measured | |\n|---|---:|---|\n");
    let floor = floor_rps(r);
    let row = |s: Scenario| r.rows.iter().find(|m| m.scenario == s);
    let rps = |s: Scenario| row(s).map_or(0.0, |m| m.rps);
    let p99 = |s: Scenario| row(s).map_or(0.0, |m| m.p99_ms);
    let cpu = |s: Scenario| row(s).map_or(f64::INFINITY, |m| m.cpu_us_per_request);
    let rss_mib = r.peak_rss_n_tokens_kib as f64 / 1024.0;
    let (success_cpu, failure_cpu) = (cpu(Scenario::Success), cpu(Scenario::Failure));
    let targets = [
        cpu_target("successful validations", success_cpu, TARGET_SUCCESS_CPU_US),
        share_target(
            "successful validations",
            rps(Scenario::Success),
            floor,
            TARGET_SUCCESS_VS_FLOOR,
        ),
        (
            "p99 < 5 ms, successful validations".to_owned(),
            format!("{:.2} ms", p99(Scenario::Success)),
            p99(Scenario::Success) < TARGET_P99_MS,
        ),
        (
            "failed validations' CPU within 20% of successful ones".to_owned(),
            format!("{:+.0}%", 100.0 * (failure_cpu / success_cpu - 1.0)),
            failure_cpu <= success_cpu * (1.0 + TARGET_FAILURE_OVER_SUCCESS),
        ),
        cpu_target(
            "inquiries (ReadOnly)",
            cpu(Scenario::Inquiry),
            TARGET_INQUIRY_CPU_US,
        ),
        share_target(
            "inquiries",
            rps(Scenario::Inquiry),
            floor,
            TARGET_INQUIRY_VS_FLOOR,
        ),
        (
            "p99 < 5 ms, inquiries".to_owned(),
            format!("{:.2} ms", p99(Scenario::Inquiry)),
            p99(Scenario::Inquiry) < TARGET_P99_MS,
        ),
        cpu_target("enrollments", cpu(Scenario::Enroll), TARGET_ENROLL_CPU_US),
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

/// A row of the targets table: server CPU per request at most `limit_us`.
fn cpu_target(what: &str, us: f64, limit_us: f64) -> (String, String, bool) {
    (
        format!("{what}: server CPU ≤ {limit_us:.0} µs each"),
        format!("{us:.0} µs"),
        us <= limit_us,
    )
}

/// A row of the targets table: at least `share` of the floor's requests/s.
fn share_target(what: &str, rps: f64, floor: f64, share: f64) -> (String, String, bool) {
    (
        format!("{what} ≥ {:.0}% of the floor", 100.0 * share),
        format!("{:.0}%", 100.0 * rps / floor),
        rps >= share * floor,
    )
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
