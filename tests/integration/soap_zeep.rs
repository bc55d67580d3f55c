//! A SOAP client nobody here wrote: Python's zeep (pinned, from PyPI, in a venv cached
//! under `target/zeep-venv`) builds its client from the live `/jxchange?wsdl` and runs
//! `tests/soap/zeep_flow.py`: enroll → QR → activate → validate → inquiry (Upd) → modify
//! with the ActIntentKey → lock → OOBValidate two-way → verify → tokend's own user
//! operations (add, inquire, phone change, stale key, hold lift) and explain, then the seed's own
//! OOBValidate request byte for byte. FAILS (never skips) when python3, its venv module
//! or zeep cannot be had, naming what is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::TestServer;

/// The zeep release the flow is written against.
const ZEEP: &str = "4.3.1";

/// The venv's python with zeep installed, made once and reused across runs.
fn zeep_python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join("target").join("zeep-venv");
    let python = venv.join("bin").join("python");
    let check = format!("import zeep, sys; sys.exit(zeep.__version__ != '{ZEEP}')");
    let ready = |p: &Path| {
        Command::new(p)
            .args(["-c", &check])
            .status()
            .is_ok_and(|s| s.success())
    };
    if ready(&python) {
        return python;
    }
    // The suite's second run (on PostgreSQL: tests/integration/postgres.rs) may get here
    // at the same moment: one process makes the venv, the other waits and reuses it.
    std::fs::create_dir_all(root.join("target")).unwrap();
    let lock = std::fs::File::create(root.join("target").join("zeep-venv.lock")).unwrap();
    lock.lock().unwrap();
    if ready(&python) {
        return python;
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .unwrap_or_else(|e| panic!("python3 is missing (needed for the zeep SOAP test): {e}"));
    assert!(
        made.status.success(),
        "python3 -m venv failed (install python3-venv): {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let pip = Command::new(&python)
        .args(["-m", "pip", "install", "--disable-pip-version-check", "-q"])
        .arg(format!("zeep=={ZEEP}"))
        .output()
        .expect("run pip");
    assert!(
        pip.status.success(),
        "pip install zeep=={ZEEP} failed (PyPI unreachable?): {}",
        String::from_utf8_lossy(&pip.stderr)
    );
    assert!(
        ready(&python),
        "zeep {ZEEP} is not importable after pip install"
    );
    python
}

/// A key made by `tokend apikey create` for institution 003003003 and a consumer.
fn consumer_key(server: &TestServer, name: &str, consumer: &str, prod: &str) -> String {
    let extra = [
        "--inst-rt-id",
        "003003003",
        "--consumer-name",
        consumer,
        "--consumer-prod",
        prod,
    ];
    crate::support::create_key_with(&server.data_dir, name, "manage,validate", &extra)
}

#[test]
fn a_zeep_client_from_the_live_wsdl_runs_the_whole_flow() {
    let python = zeep_python();
    let server = TestServer::start();
    let flow = consumer_key(&server, "zeep-flow", "FirstBank", "Teller");
    // The seed's request says {Insert} for both; it is sent unchanged.
    let seed = consumer_key(&server, "seed", "{Insert}", "{Insert}");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("soap");
    let out = Command::new(&python)
        .arg(dir.join("zeep_flow.py"))
        .args([&server.base, &flow, &seed])
        .arg(&dir)
        .output()
        .expect("run the zeep flow");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("all steps passed"),
        "zeep flow failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
