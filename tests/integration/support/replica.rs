//! A PostgreSQL primary with a streaming standby, built on this machine for a test: two
//! fresh clusters of the machine's own PostgreSQL 15 binaries (initdb, pg_basebackup),
//! on their own ports under a temporary directory, replication synchronous or not. The
//! test kills the primary (`kill -9`) and promotes the standby, as an operator's
//! failover would. Run as root, the PostgreSQL commands run as the `postgres` user
//! (initdb refuses root).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = "/usr/lib/postgresql/15/bin";

/// The two clusters; both are stopped when dropped.
pub struct Replicated {
    dir: tempfile::TempDir,
    /// The primary's port.
    pub primary_port: u16,
    /// The standby's port.
    pub standby_port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_root() -> bool {
    rustix::process::getuid().is_root()
}

/// Runs a PostgreSQL command, as the `postgres` user when running as root.
fn run_pg(tool: &str, args: &[&str]) -> std::io::Result<Output> {
    let exe = format!("{BIN}/{tool}");
    if is_root() {
        Command::new("runuser")
            .args(["-u", "postgres", "--", &exe])
            .args(args)
            .output()
    } else {
        Command::new(&exe).args(args).output()
    }
}

/// A PostgreSQL command that must succeed.
fn pg(tool: &str, args: &[&str]) -> Output {
    let out = run_pg(tool, args);
    let out = out.unwrap_or_else(|e| {
        panic!("{tool} does not run ({e}): PostgreSQL 15's binaries are needed in {BIN}")
    });
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn append(path: &Path, text: &str) {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

impl Replicated {
    /// Builds and starts a primary and its standby; `synchronous`: a commit waits for the
    /// standby (`synchronous_standby_names`), else replication is asynchronous.
    pub fn start(synchronous: bool) -> Replicated {
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            let ok = Command::new("chown")
                .args(["postgres:postgres", dir.path().to_str().unwrap()])
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let (primary_port, standby_port) = (free_port(), free_port());
        let r = Replicated {
            dir,
            primary_port,
            standby_port,
        };
        let primary = r.primary_dir();
        pg(
            "initdb",
            &[
                "-D",
                primary.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        // Promoted, the standby is alone: it waits for no standby of its own.
        let sync = if synchronous { "'*'" } else { "''" };
        append(
            &primary.join("postgresql.conf"),
            &format!(
                "\nport = {primary_port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
                 wal_level = replica\nmax_wal_senders = 5\nsynchronous_standby_names = {sync}\n\
                 fsync = off\nmax_connections = 60\n",
                r.dir.path().display()
            ),
        );
        append(
            &primary.join("pg_hba.conf"),
            "\nhost replication all 127.0.0.1/32 trust\n",
        );
        r.ctl(&primary, "start");
        let standby = r.standby_dir();
        pg(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &primary_port.to_string(),
                "-U",
                "postgres",
                "-D",
                standby.to_str().unwrap(),
                "-R",
                "-X",
                "stream",
            ],
        );
        append(
            &standby.join("postgresql.conf"),
            &format!(
                "\nport = {standby_port}\nprimary_conninfo = 'host=127.0.0.1 port={primary_port} user=postgres application_name=standby1'\n\
                 synchronous_standby_names = ''\n"
            ),
        );
        r.ctl(&standby, "start");
        r.psql(primary_port, "CREATE DATABASE tokend");
        r
    }

    fn primary_dir(&self) -> PathBuf {
        self.dir.path().join("primary")
    }

    fn standby_dir(&self) -> PathBuf {
        self.dir.path().join("standby")
    }

    fn ctl(&self, data: &Path, action: &str) {
        let log = data.with_extension("log");
        pg(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
                action,
            ],
        );
    }

    fn psql(&self, port: u16, sql: &str) {
        let exe = "/usr/bin/psql";
        let out = Command::new(exe)
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The URL nodes use: both hosts, the writable one chosen by libpq.
    pub fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/tokend?target_session_attrs=read-write&connect_timeout=2",
            self.primary_port, self.standby_port
        )
    }

    /// Kills the primary's postmaster with SIGKILL (no shutdown of any kind).
    pub fn kill_primary(&self) {
        let pid = std::fs::read_to_string(self.primary_dir().join("postmaster.pid")).unwrap();
        let pid = pid.lines().next().unwrap().trim().to_owned();
        let ok = Command::new("kill").args(["-9", &pid]).status().unwrap();
        assert!(ok.success());
    }

    /// Promotes the standby to primary; waits until it takes writes.
    pub fn promote_standby(&self) {
        self.ctl(&self.standby_dir(), "promote");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = Command::new("/usr/bin/psql")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.standby_port.to_string(),
                    "-U",
                    "postgres",
                    "-tAc",
                    "SELECT pg_is_in_recovery()",
                ])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&out.stdout).trim() == "f" {
                return;
            }
            assert!(Instant::now() < deadline, "the standby was not promoted");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Replicated {
    fn drop(&mut self) {
        for data in [self.standby_dir(), self.primary_dir()] {
            if data.join("postmaster.pid").exists() {
                let log = data.with_extension("log");
                let args = [
                    "-D",
                    data.to_str().unwrap(),
                    "-l",
                    log.to_str().unwrap(),
                    "-m",
                    "immediate",
                    "stop",
                ];
                let _ = run_pg("pg_ctl", &args);
            }
        }
    }
}
