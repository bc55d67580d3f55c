//! A second SOAP toolkit beside zeep (issue 28): xsdata generates typed Python classes
//! from the live `/jxchange?wsdl` with its own `generate` command and runs
//! `tests/soap/xsdata_flow.py`: one enum class per value list with the seeds' values,
//! `xsd:dateTime` times and `xsd:int` counts as the generated code sees them, the one
//! `jXchangeHdr` type, the seed's `MFATokenInqInfoRec` without a `Custom`, and a flow
//! (user, token, inquiry, OOBValidate, status, a fault) whose every answer parses into
//! its generated class — xsdata refuses an undeclared element, a value outside its list
//! or a time that is not an `xsd:dateTime`.
//!
//! `.ci/run` installs xsdata (`.ci/test-requirements.txt`) into `target/test-venv`; the
//! test FAILS, never skips, naming what is missing.

use std::process::Command;

use crate::soap_zeep::python_with;
use crate::support::TestServer;

#[test]
fn an_xsdata_client_generated_from_the_wsdl_sees_typed_elements_and_parses_every_answer() {
    let python = python_with("xsdata");
    let server = TestServer::start();
    let work = tempfile::tempdir().unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/soap/xsdata_flow.py");
    let out = Command::new(&python)
        .arg(script)
        .args([&server.base, &server.key])
        .arg(work.path())
        .output()
        .expect("run the xsdata flow");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("all steps passed"),
        "xsdata flow failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
