//! The server under test.

use anyhow::{anyhow, ensure, Context as _, Result};
use ring::rand::SystemRandom;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};
use testkit::Tokend;

use crate::http::{random_seed, unix_secs};
use crate::{Mode, LOCK_AFTER_FAILURES};

/// The server(s) under test: one `tokend` on SQLite, or N nodes on one fresh PostgreSQL
/// database (each with its own data directory); killed and cleaned up on drop, so no
/// error path leaves a server or a database behind.
pub(crate) struct Server {
    /// Spawned by the test kit, which reads their stdout and stderr while they run.
    /// Dropped (killed) before the database and the data directories.
    processes: Vec<testkit::Server>,
    /// Every node's base URL.
    pub(crate) bases: Vec<String>,
    pub(crate) key: String,
    /// The PostgreSQL database, dropped after the nodes.
    database: Option<testkit::pg::Database>,
    dirs: Vec<DirGuard>,
}

impl Server {
    /// Starts the server(s) on fresh data directories with an API key of both scopes.
    pub(crate) fn start(
        exe: &Tokend,
        mode: Mode,
        preload: Option<&Preload>,
        database: Option<&str>,
    ) -> Result<Server> {
        let nodes = match mode {
            Mode::Postgres(n) => n,
            Mode::Full | Mode::Normal | Mode::Hsm => 1,
        };
        let db = match (mode, database) {
            (Mode::Postgres(_), Some(server)) => {
                Some(testkit::pg::Database::fresh_on(server, "bench").map_err(|e| anyhow!(e))?)
            }
            (Mode::Postgres(_), None) => return Err(anyhow!("PostgreSQL needs --database")),
            _ => None,
        };
        let dirs = (0..nodes)
            .map(|i| {
                let dir = std::env::temp_dir().join(format!(
                    "tokend-bench-{}-{}-{i}-{}",
                    std::process::id(),
                    nodes,
                    unix_secs()
                ));
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("create {}", dir.display()))?;
                // From here on, dropping the guard removes the directory whatever fails.
                Ok(DirGuard(dir))
            })
            .collect::<Result<Vec<_>>>()?;
        let lock = LOCK_AFTER_FAILURES.to_string();
        // The window is the server's default (`WINDOW_STEPS`): no override.
        let mut env: Vec<(&str, String)> = vec![
            ("ROCKET_LOCK_AFTER_FAILURES", lock),
            ("ROCKET_SQLITE_SYNCHRONOUS", mode.synchronous().to_owned()),
            // The rate limits would stop a load generator by design; off to measure the path.
            ("ROCKET_RATE_USER_PER_MIN", "0".to_owned()),
            ("ROCKET_RATE_KEY_FAILURES_PER_MIN", "0".to_owned()),
        ];
        if let Some(db) = &db {
            env.push(("ROCKET_DATABASE_URL", db.url.clone()));
            env.push(("ROCKET_SECRET_KEY", testkit::pg::SECRET_KEY.to_owned()));
            env.push(("TOKEND_MASTER_KEY", shared_master_key()?));
        }
        if mode == Mode::Hsm {
            env.extend(softhsm(&dirs[0].0)?);
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        if mode == Mode::Hsm {
            let out = exe.cli_bare(&dirs[0].0, &env, &["hsm", "init"])?;
            ensure!(
                out.status.success(),
                "tokend hsm init failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let key = run_cli(
            exe,
            &dirs[0].0,
            &env,
            &[
                "apikey",
                "create",
                "--name",
                "bench",
                "--scope",
                "manage,validate",
            ],
        )?;
        if let Some(preload) = preload {
            preload.import(exe, &dirs[0].0, &env)?;
        }
        let processes = dirs
            .iter()
            .map(|dir| {
                exe.start(&dir.0, &env)
                    .map_err(|stderr| anyhow!("tokend did not start; its stderr:\n{stderr}"))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Server {
            bases: processes.iter().map(|p| p.base.clone()).collect(),
            processes,
            key,
            database: db,
            dirs,
        })
    }

    /// CPU time of every PostgreSQL process on this machine (user + system), µs; `None`
    /// when this run is not on PostgreSQL. Machine-wide: keep the machine quiet.
    pub(crate) fn postgres_cpu_us(&self) -> Option<u64> {
        self.database.as_ref()?;
        let mut total = 0;
        for entry in std::fs::read_dir("/proc").ok()?.filter_map(Result::ok) {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            if stat.contains("(postgres)") {
                total += stat_cpu_us(&stat).unwrap_or(0);
            }
        }
        Some(total)
    }

    /// The process ids of the nodes.
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.processes.iter().map(testkit::Server::pid).collect()
    }

    /// The server's peak resident set so far, in KiB (`VmHWM`).
    pub(crate) fn peak_rss_kib(&self) -> Result<u64> {
        let mut peak = 0;
        for p in &self.processes {
            peak = peak.max(peak_rss_of(p.pid())?);
        }
        Ok(peak)
    }

    /// CPU time the server has used so far (user + system, all nodes), in microseconds,
    /// from `/proc/PID/stat`. The difference over a scenario divided by its requests is
    /// the server's CPU cost of one request: unlike req/s, it does not depend on what else
    /// the machine is running.
    pub(crate) fn cpu_us(&self) -> Result<u64> {
        let mut total = 0;
        for p in &self.processes {
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", p.pid()))
                .context("read the server's /proc stat")?;
            total += stat_cpu_us(&stat)?;
        }
        Ok(total)
    }

    /// Context switches of the server's threads so far (voluntary + involuntary, every
    /// live thread of every node, from `/proc/PID/task/*/status`). Per request, it counts
    /// the thread hand-offs a request costs: a figure this shared machine's load does not
    /// move, unlike CPU time. Threads that end during a scenario take their count along
    /// (Tokio keeps idle blocking threads 10 s, longer than a scenario).
    pub(crate) fn switches(&self) -> u64 {
        let mut total = 0;
        for p in &self.processes {
            let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", p.pid())) else {
                continue;
            };
            for task in tasks.filter_map(Result::ok) {
                let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
                    continue;
                };
                total += status
                    .lines()
                    .filter(|l| l.contains("ctxt_switches:"))
                    .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                    .sum::<u64>();
            }
        }
        total
    }

    /// Bytes of a file of the (first) data directory (0 when absent): the database and its
    /// WAL, whose growth under sustained writes tells whether checkpoints keep up.
    pub(crate) fn file_bytes(&self, name: &str) -> u64 {
        std::fs::metadata(self.dirs[0].0.join(name)).map_or(0, |m| m.len())
    }
}

/// A process's peak resident set, KiB (`VmHWM`).
fn peak_rss_of(pid: u32) -> Result<u64> {
    {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
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
}

/// User + system CPU time in a `/proc/PID/stat` line, µs (clock ticks of 1/100 s,
/// Linux's `USER_HZ`).
fn stat_cpu_us(stat: &str) -> Result<u64> {
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

/// A SoftHSM2 token made for an HSM run in `dir` (removed with it), and the settings
/// that make tokend keep its master key there.
fn softhsm(dir: &Path) -> Result<Vec<(&'static str, String)>> {
    const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
    const PIN: &str = "246810";
    let tokens = dir.join("softhsm-tokens");
    std::fs::create_dir_all(&tokens).with_context(|| format!("create {}", tokens.display()))?;
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!("directories.tokendir = {}\n", tokens.display()),
    )?;
    let out = std::process::Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args(["--init-token", "--free", "--label", "bench"])
        .args(["--so-pin", "13579246", "--pin", PIN])
        .output()
        .context("softhsm2-util (Debian's softhsm2) is needed for --hsm")?;
    ensure!(out.status.success(), "softhsm2-util --init-token failed");
    Ok(vec![
        ("SOFTHSM2_CONF", conf.display().to_string()),
        ("ROCKET_MASTER_KEY_SOURCE", "pkcs11".to_owned()),
        ("ROCKET_PKCS11_MODULE", MODULE.to_owned()),
        ("ROCKET_PKCS11_TOKEN_LABEL", "bench".to_owned()),
        ("TOKEND_PKCS11_PIN", PIN.to_owned()),
    ])
}

/// The master key every node of a PostgreSQL run shares (32 random bytes, base64).
fn shared_master_key() -> Result<String> {
    use base64::Engine as _;
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow!("no randomness"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// A data directory, removed on drop.
struct DirGuard(PathBuf);

impl Drop for DirGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The release `tokend` beside this executable (or `--tokend`), run in the repository root
/// (its `Rocket.toml`): the bench measures what cargo just built and never builds anything
/// itself.
pub(crate) fn tokend_exe(given: Option<&Path>) -> Result<Tokend> {
    let exe = match given {
        Some(path) => path.to_owned(),
        None => {
            let me = std::env::current_exe().context("locate tokend-bench")?;
            me.parent()
                .ok_or_else(|| anyhow!("tokend-bench has no directory"))?
                .join("tokend")
        }
    };
    ensure!(
        exe.is_file(),
        "{} not found: run `cargo build --release --bins` first",
        exe.display()
    );
    warn_if_stale(&exe);
    Ok(Tokend::new(exe, repository_root()))
}

/// The repository this bench was built from (the parent of its package).
fn repository_root() -> PathBuf {
    let bench = Path::new(env!("CARGO_MANIFEST_DIR"));
    bench.parent().unwrap_or(bench).to_owned()
}

/// `cargo run -p tokend-bench` rebuilds this binary, never the `tokend` binary: say so when
/// a server source is newer than the server binary, since the numbers would then describe
/// older server code.
fn warn_if_stale(server: &Path) {
    let Ok(built) = std::fs::metadata(server).and_then(|m| m.modified()) else {
        return;
    };
    let root = repository_root();
    let sources = ["src", "migrations", "templates", "Cargo.toml"].map(|p| root.join(p));
    if let Some(newer) = sources.iter().find_map(|p| newer_file(p, built)) {
        eprintln!(
            "warning: {} is newer than {}: run `cargo build --release --bins` first, \
             or these figures describe older server code",
            newer.display(),
            server.display()
        );
    }
}

/// A file under `path` (itself included) modified after `than`.
fn newer_file(path: &Path, than: SystemTime) -> Option<PathBuf> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_file() {
        return (meta.modified().ok()? > than).then(|| path.to_owned());
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find_map(|p| newer_file(&p, than))
}

/// Tokens loaded from a seed file before the server starts: the bench's own (whose seeds
/// it keeps) first, then anonymous ones up to `total`.
pub(crate) struct Preload {
    pub(crate) own: Vec<Vec<u8>>,
    pub(crate) total: usize,
}

impl Preload {
    pub(crate) fn new(own: usize, total: usize) -> Result<Preload> {
        let rng = SystemRandom::new();
        let own = (0..own)
            .map(|_| random_seed(&rng))
            .collect::<Result<Vec<_>>>()?;
        Ok(Preload { own, total })
    }

    /// Writes the CSV seed file and runs `tokend import` on it, as an operator would load
    /// a vendor's batch; every token is bound to its own user.
    pub(crate) fn import(&self, exe: &Tokend, dir: &Path, env: &[(&str, &str)]) -> Result<()> {
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
        let out = run_cli(exe, dir, env, &["import", &path_arg])?;
        eprintln!(
            "imported {} tokens in {:.1} s: {out}",
            self.total,
            began.elapsed().as_secs_f64(),
        );
        std::fs::remove_file(&path)?;
        Ok(())
    }
}

pub(crate) fn token_name(i: usize) -> String {
    format!("BENCH-{i:07}")
}

pub(crate) fn user_name(i: usize) -> String {
    format!("bench-user-{i:07}")
}

/// Runs a `tokend` subcommand on the data directory, as an operator would; its stdout.
fn run_cli(exe: &Tokend, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Result<String> {
    let out = exe
        .cli(dir, env, args)
        .with_context(|| format!("run tokend {}", args.join(" ")))?;
    ensure!(
        out.status.success(),
        "tokend {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}
