//! The test kit of tokend, shared by its integration tests and by the load benchmark:
//! [`Tokend`] runs the real binary (CLI subcommands, or a server on an ephemeral port as
//! a [`Server`]), and [`otp`] is an RFC 6238 implementation independent of the server's
//! (ring's HMAC, not totp-rs), so a shared mistake cannot make a test agree with it.
//!
//! The kit cannot see `env!("CARGO_BIN_EXE_tokend")` (only tokend's own tests can), so the
//! binary's path is a parameter: tests pass that, the bench the binary beside itself.

pub mod otp;
pub mod pg;
mod server;

pub use otp::{totp, Hotp};
pub use server::{Printed, Server};

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The line the server prints on stdout once it listens over HTTP (`web::LISTENING`).
pub const LISTENING: &str = "tokend listening on http://";
/// The same over HTTPS (`web::LISTENING_TLS`).
pub const LISTENING_TLS: &str = "tokend listening on https://";
/// The start of the line that announces the bootstrap admin and its one-time password.
pub const FIRST_ADMIN: &str = "tokend first admin: ";

/// How to run tokend: its binary, the working directory (where its `Rocket.toml` is), and
/// `TOKEND_LOG=warn` unless the caller's environment says otherwise.
#[derive(Debug, Clone)]
pub struct Tokend {
    exe: PathBuf,
    workdir: PathBuf,
}

impl Tokend {
    /// The binary `exe`, run in `workdir`.
    pub fn new(exe: impl Into<PathBuf>, workdir: impl Into<PathBuf>) -> Tokend {
        Tokend {
            exe: exe.into(),
            workdir: workdir.into(),
        }
    }

    /// The binary.
    pub fn exe(&self) -> &Path {
        &self.exe
    }

    /// A command on `data_dir`, to add arguments and pipes to. In a PostgreSQL run
    /// (`pg::enabled`), on the database of that data directory (see [`pg::database_for`]).
    pub fn command(&self, data_dir: &Path) -> Command {
        let mut cmd = Command::new(&self.exe);
        cmd.current_dir(&self.workdir)
            .env("ROCKET_DATA_DIR", data_dir)
            .env("TOKEND_LOG", "warn")
            // The suite's console tests act alone; the dual-control tests (and a caller's
            // `env`) name the actions they hold.
            .env("ROCKET_DUAL_CONTROL", "[]")
            // Likewise they sign in with a password alone; the second-factor tests turn
            // `console_mfa` back on.
            .env("ROCKET_CONSOLE_MFA", "off");
        if pg::enabled() {
            let url = pg::database_for(data_dir).unwrap_or_else(|e| {
                eprintln!("{e}");
                "postgres://no-test-database.invalid/none".to_owned()
            });
            // A small pool: the suite runs many servers at once against one PostgreSQL
            // (100 connections by default).
            cmd.env("ROCKET_DATABASE_URL", url)
                .env("ROCKET_SECRET_KEY", pg::SECRET_KEY)
                .env("ROCKET_DB_POOL_SIZE", "8");
        }
        cmd
    }

    /// Makes the install on `data_dir` with `tokend migrate` (and `env`) when there is
    /// none yet, as an operator does before the first subcommand: every subcommand but
    /// `serve` and `migrate` refuses a data directory without a database.
    pub fn ensure_install(&self, data_dir: &Path, env: &[(&str, &str)]) -> std::io::Result<()> {
        let made = data_dir.join("tokend.sqlite").exists() || data_dir.join("master.key").exists();
        if made {
            return Ok(());
        }
        let mut cmd = self.command(data_dir);
        cmd.arg("migrate").stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output()?;
        if out.status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "tokend migrate failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )))
        }
    }

    /// Runs a subcommand on `data_dir` with extra environment, on an install made first
    /// if needed ([`Tokend::ensure_install`]); its output, whatever its status (`Err`
    /// only when it could not run). [`Tokend::cli_bare`] runs it without that.
    pub fn cli(
        &self,
        data_dir: &Path,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> std::io::Result<Output> {
        self.ensure_install(data_dir, env)?;
        self.cli_bare(data_dir, env, args)
    }

    /// Runs a subcommand on `data_dir` as it is (no install is made first).
    pub fn cli_bare(
        &self,
        data_dir: &Path,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> std::io::Result<Output> {
        let mut cmd = self.command(data_dir);
        cmd.args(args).stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output()
    }

    /// Runs a subcommand on `data_dir` with `input` on its stdin (a password, a passphrase).
    pub fn cli_input(
        &self,
        data_dir: &Path,
        args: &[&str],
        input: &[u8],
    ) -> std::io::Result<Output> {
        self.ensure_install(data_dir, &[])?;
        let mut child = self
            .command(data_dir)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input)?;
        }
        child.wait_with_output()
    }

    /// Creates an API key through the CLI, as an operator would; the key, or why not.
    pub fn create_key(&self, data_dir: &Path, name: &str, scopes: &str) -> Result<String, String> {
        let args = ["apikey", "create", "--name", name, "--scope", scopes];
        let out = self
            .cli(data_dir, &[], &args)
            .map_err(|e| format!("cannot run {}: {e}", self.exe.display()))?;
        if !out.status.success() {
            return Err(format!(
                "apikey create failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        String::from_utf8(out.stdout)
            .map(|s| s.trim().to_owned())
            .map_err(|e| format!("apikey create printed no text: {e}"))
    }

    /// Starts the server on `data_dir` and an ephemeral port, with extra environment, and
    /// waits (60 s at most) for its listening line; `Err` with its stderr if it does not
    /// listen. See [`Server`] for what it keeps.
    pub fn start(&self, data_dir: &Path, env: &[(&str, &str)]) -> Result<Server, String> {
        self.start_as(data_dir, env, None)
    }

    /// [`Tokend::start`] as another OS user `(uid, gid)` (this process must be root): a
    /// service running as its own user, as under systemd, beside a CLI run as root.
    pub fn start_as(
        &self,
        data_dir: &Path,
        env: &[(&str, &str)],
        user: Option<(u32, u32)>,
    ) -> Result<Server, String> {
        use std::os::unix::process::CommandExt as _;
        let mut cmd = self.command(data_dir);
        cmd.env("ROCKET_PORT", "0");
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some((uid, gid)) = user {
            // std drops root's supplementary groups when it sets the uid.
            cmd.uid(uid).gid(gid);
        }
        Server::spawn(cmd, data_dir)
    }
}
