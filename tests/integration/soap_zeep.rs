//! A SOAP client nobody here wrote: Python's zeep builds its client from the live
//! `/jxchange?wsdl` and runs `tests/soap/zeep_flow.py`: enroll → QR → activate → validate
//! → inquiry (Upd) → modify with the ActIntentKey → lock → OOBValidate two-way → verify →
//! tokend's own user operations (add, inquire, phone change, stale key, hold lift) and
//! explain, then the seed's own OOBValidate request byte for byte.
//!
//! The test installs nothing: `.ci/run` installs zeep (the range in
//! `.ci/test-requirements.txt`) into `target/test-venv` before `cargo test`. The test
//! takes the first Python that has a zeep in that range — `TOKEND_TEST_PYTHON`, that
//! venv's, then `python3` — and FAILS (never skips) naming what is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::TestServer;

/// The requirement line of `package` in `.ci/test-requirements.txt` (e.g.
/// `zeep>=4.3,<4.4`).
fn requirement(package: &str) -> String {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/test-requirements.txt");
    let text = std::fs::read_to_string(&file).unwrap();
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with(package) && !l.starts_with('#'))
        .unwrap_or_else(|| panic!("{} names no {package}", file.display()))
        .to_owned()
}

/// A Python check that exits 0 when `package` is importable in a version the clauses of
/// `spec` (`>=`, `<`, `==`, comma-separated) allow.
fn version_check(package: &str, spec: &str) -> String {
    format!(
        "import importlib.metadata as m, sys\n\
         v = tuple(int(x) for x in m.version('{package}').split('.')[:3])\n\
         t = lambda s: tuple(int(x) for x in s.split('.'))\n\
         ok = {{'>=': lambda b: v >= t(b), '<': lambda b: v < t(b), '==': lambda b: v[:len(t(b))] == t(b)}}\n\
         clauses = [c.strip() for c in '{spec}'.split(',') if c.strip()]\n\
         sys.exit(0 if all(ok[op](c[len(op):]) for c in clauses for op in ['>=', '==', '<'] if c.startswith(op)) else 1)\n"
    )
}

/// The first Python that has `package` in the range `.ci/test-requirements.txt` gives
/// (extras such as `[cli]` aside); panics naming what is missing.
pub fn python_with(package: &str) -> PathBuf {
    let line = requirement(package);
    let spec = line.trim_start_matches(package);
    let spec = spec.find(']').map_or(spec, |end| &spec[end + 1..]);
    let check = version_check(package, spec);
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python");
    let candidates: Vec<PathBuf> = std::env::var_os("TOKEND_TEST_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([venv, PathBuf::from("python3")])
        .collect();
    let found = candidates.iter().find(|p| {
        Command::new(p)
            .args(["-c", &check])
            .status()
            .is_ok_and(|s| s.success())
    });
    found.cloned().unwrap_or_else(|| {
        panic!(
            "{line} (.ci/test-requirements.txt) is not installed for any of {candidates:?}: \
             run .ci/run, which installs it into target/test-venv, or \
             python3 -m venv target/test-venv && target/test-venv/bin/pip install -r \
             .ci/test-requirements.txt"
        )
    })
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
    let python = python_with("zeep");
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
