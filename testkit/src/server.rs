//! A running `tokend` server: its address, what it printed, and its process.

use std::io::{BufRead as _, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{FIRST_ADMIN, LISTENING, LISTENING_TLS};

/// Text a reader thread appends to while the server runs.
pub type Printed = Arc<Mutex<String>>;

/// A running server, killed on drop. Its stdout and its stderr are read by threads of
/// their own for as long as it runs, so a chatty server never blocks on a full pipe.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT` (or `https://…` when it serves TLS).
    pub base: String,
    /// The data directory it runs on.
    pub data_dir: PathBuf,
    /// The bootstrap admin's one-time password, when this start created it.
    pub first_admin_password: Option<String>,
    /// Everything the server printed on stdout so far.
    pub stdout: Printed,
    stderr: Printed,
    stderr_reader: Option<JoinHandle<()>>,
}

impl Server {
    /// Spawns `cmd` (a server command: port, data directory and environment already set)
    /// and waits up to 60 s for its listening line; `Err(stderr)` if it exits or is silent.
    pub(crate) fn spawn(mut cmd: Command, data_dir: &Path) -> Result<Server, String> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = spawn_retrying(&mut cmd)?;
        let stderr: Printed = Arc::default();
        let stderr_reader = child.stderr.take().map(|pipe| copy_lines(pipe, &stderr));
        let stdout: Printed = Arc::default();
        let (tx, rx) = mpsc::channel();
        if let Some(pipe) = child.stdout.take() {
            let copy = Arc::clone(&stdout);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    append(&copy, &line);
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
        }
        let mut first_admin_password = None;
        let listening = loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok((true, addr)) => break Some(addr),
                Ok((false, pw)) => first_admin_password = Some(pw),
                Err(_) => break None,
            }
        };
        let mut server = Server {
            child,
            base: listening.clone().unwrap_or_default(),
            data_dir: data_dir.to_owned(),
            first_admin_password,
            stdout,
            stderr,
            stderr_reader,
        };
        match listening {
            Some(_) => Ok(server),
            None => Err(server.stop_and_logs()),
        }
    }

    /// Stops the server (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The server's process id (to send it a signal, to read its /proc files).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `limit` for the server to exit by itself; its exit status.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// What the server writes on stderr (its logs), growing while it runs.
    pub fn drain_stderr(&mut self) -> Printed {
        Arc::clone(&self.stderr)
    }

    /// Stops the server and answers everything it wrote on stderr (its logs).
    pub fn stop_and_logs(&mut self) -> String {
        self.stop();
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        self.stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A thread that appends every line of `pipe` to `to` until the pipe closes.
fn copy_lines(pipe: impl Read + Send + 'static, to: &Printed) -> JoinHandle<()> {
    let copy = Arc::clone(to);
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            append(&copy, &line);
        }
    })
}

fn append(to: &Printed, line: &str) {
    let mut text = to.lock().unwrap_or_else(PoisonError::into_inner);
    text.push_str(line);
    text.push('\n');
}

/// Spawns `cmd`, retrying a few times on ETXTBSY: an executable written just before
/// (a test's stand-in script) can still be open for writing in a child that another
/// thread forked meanwhile, until that child execs.
fn spawn_retrying(cmd: &mut Command) -> Result<Child, String> {
    const ETXTBSY: i32 = 26;
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Ok(child) => return Ok(child),
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && tries < 50 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(format!("cannot spawn: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Tokend;
    use std::os::unix::fs::PermissionsExt as _;
    use std::path::PathBuf;

    /// A stand-in for the server: a shell script, in a directory of its own.
    fn fake_server(name: &str, body: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("testkit-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let exe = dir.join("tokend");
        std::fs::write(&exe, format!("#!/bin/sh\n{body}")).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    /// 300 KB of logs before the listening line: far more than a pipe holds, so a
    /// spawner that did not read stderr while waiting would never see the line.
    #[test]
    fn a_chatty_server_starts_and_every_log_line_is_kept() {
        let dir = fake_server(
            "chatty",
            "i=0\n\
             while [ $i -lt 6000 ]; do echo \"log line $i of a rather chatty server\" >&2; i=$((i+1)); done\n\
             echo 'tokend first admin: admin, one-time password: Pw-123 (shown once)'\n\
             echo 'tokend listening on http://127.0.0.1:9'\n\
             exec sleep 60\n",
        );
        let kit = Tokend::new(dir.join("tokend"), &dir);
        let mut server = kit.start(&dir, &[("EXTRA", "1")]).unwrap();
        assert_eq!(server.base, "http://127.0.0.1:9");
        assert_eq!(server.first_admin_password.as_deref(), Some("Pw-123"));
        assert!(server
            .stdout
            .lock()
            .unwrap()
            .contains("tokend listening on"));
        let logs = server.stop_and_logs();
        assert!(logs.starts_with("log line 0 "), "{}", &logs[..80]);
        assert!(logs.contains("log line 5999 "));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_server_that_exits_answers_its_stderr() {
        let dir = fake_server("exits", "echo 'no master key' >&2\nexit 1\n");
        let kit = Tokend::new(dir.join("tokend"), &dir);
        let err = kit.start(&dir, &[]).err().unwrap();
        assert_eq!(err, "no master key\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
