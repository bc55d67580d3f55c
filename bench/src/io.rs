//! What a scenario costs the disk: the bytes of file pages the server dirtied
//! (`write_bytes` of `/proc/PID/io`: page-granular, a page dirtied again before it is
//! written back counts once, so it is the pages a write costs, not the bytes it asked for)
//! and its `fsync`/`fdatasync` calls, counted by the kernel's syscall
//! tracepoints through `perf stat` attached to the server's threads. A tracepoint count
//! stops no thread (unlike strace's ptrace), so the CPU figures of the same scenario stand.
//! Without `perf` (Debian: linux-perf) the fsync column says "—".

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A count running over one scenario.
pub(crate) struct IoCount {
    perf: Option<(Child, PathBuf)>,
    pids: Vec<u32>,
    written_before: u64,
}

/// What a scenario wrote.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct IoUsed {
    /// `fsync` + `fdatasync` calls of the server; `None` when they could not be counted.
    pub(crate) fsyncs: Option<u64>,
    /// Bytes of file pages dirtied.
    pub(crate) bytes_written: u64,
    /// Context switches of the server's threads, those that ended during the scenario
    /// included (`/proc/PID/task` forgets them: an idle blocking thread that exits
    /// mid-scenario would take its count along); `None` when they could not be counted.
    pub(crate) switches: Option<u64>,
}

const EVENTS: &str = "syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync,context-switches";

impl IoCount {
    /// Starts counting for the processes `pids`.
    pub(crate) fn start(pids: &[u32]) -> IoCount {
        let out = std::env::temp_dir().join(format!("tokend-bench-perf-{}", std::process::id()));
        let list = pids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let perf = Command::new("perf")
            .args(["stat", "-x", ",", "-e", EVENTS, "-p", &list, "-o"])
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()
            .map(|child| (child, out));
        // perf attaches asynchronously; give it a moment before the scenario begins.
        std::thread::sleep(std::time::Duration::from_millis(300));
        IoCount {
            perf,
            pids: pids.to_vec(),
            written_before: written(pids),
        }
    }

    /// Stops counting; what was used since [`IoCount::start`].
    pub(crate) fn finish(self) -> IoUsed {
        let bytes_written = written(&self.pids).saturating_sub(self.written_before);
        let counts = self.perf.and_then(|(mut child, out)| {
            // perf prints its counts when interrupted.
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
            let text = std::fs::read_to_string(&out).ok()?;
            let _ = std::fs::remove_file(&out);
            Some(text)
        });
        let count = |event: &str| -> Vec<u64> {
            counts
                .iter()
                .flat_map(|text| text.lines())
                .filter(|l| l.contains(event))
                .filter_map(|l| l.split(',').next()?.trim().parse().ok())
                .collect()
        };
        let fsyncs = count("sys_enter_f");
        let switches = count("context-switches");
        IoUsed {
            fsyncs: (fsyncs.len() == 2).then(|| fsyncs.iter().sum()),
            bytes_written,
            switches: (switches.len() == 1).then(|| switches[0]),
        }
    }
}

/// `write_bytes` of every process, summed.
fn written(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/io")).ok())
        .filter_map(|io| {
            io.lines()
                .find_map(|l| l.strip_prefix("write_bytes:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
        .sum()
}
