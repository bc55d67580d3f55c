//! The OpenAPI document passes an OpenAPI linter nobody here wrote (issue 28): Redocly
//! CLI's recommended rules (`tests/openapi-lint/redocly.yaml`) on the document a live
//! server publishes, without an error; and its operationIds are the jXchange-style names
//! the SOAP binding gives the same operations, so a generated client reads alike on both.
//!
//! `.ci/run` installs Redocly CLI (`npm ci` in tests/openapi-lint, pinned by its lock
//! file); the test FAILS, never skips, naming what is missing.

use std::path::PathBuf;
use std::process::Command;

use crate::support::TestServer;

fn lint_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/openapi-lint")
}

/// The live document, parsed.
fn document(server: &TestServer) -> (Vec<u8>, serde_json::Value) {
    let (status, _, _, body) = server.get("/api/v1/openapi.json");
    assert_eq!(status, 200);
    let doc = serde_json::from_slice(&body).unwrap();
    (body, doc)
}

#[test]
fn the_openapi_document_passes_redocly_lint_without_errors() {
    let dir = lint_dir();
    let redocly = dir.join("node_modules/.bin/redocly");
    assert!(
        redocly.is_file(),
        "Redocly CLI is not installed: run `npm ci` in tests/openapi-lint (.ci/run does; it needs node and npm)"
    );
    let server = TestServer::start();
    let (bytes, doc) = document(&server);
    assert!(
        doc["servers"][0]["url"].is_string(),
        "servers: {}",
        doc["servers"]
    );
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("openapi.json");
    std::fs::write(&file, bytes).unwrap();
    let out = Command::new(&redocly)
        .arg("lint")
        .arg(&file)
        .arg("--config")
        .arg(dir.join("redocly.yaml"))
        .arg("--format=summary")
        .env("REDOCLY_TELEMETRY", "off")
        .env("REDOCLY_SUPPRESS_UPDATE_NOTICE", "true")
        .current_dir(&dir)
        .output()
        .expect("node runs Redocly CLI");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "Redocly lint found errors:\n{report}");
    assert!(!report.contains("error "), "{report}");
}

#[test]
fn operation_ids_are_the_soap_operation_names() {
    let server = TestServer::start();
    let (_, doc) = document(&server);
    let id = |method: &str, path: &str| {
        doc["paths"][path][method]["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"))
            .to_owned()
    };
    // Each JSON operation and its SOAP twin (docs/soap.md's table), by one name.
    for (method, path, soap) in [
        ("post", "/api/v1/inquiry", "MFATokenInq"),
        ("post", "/api/v1/tokens", "MFATokenAdd"),
        ("post", "/api/v1/tokens/{TokenId}/modify", "MFATokenMod"),
        ("post", "/api/v1/tokens/{TokenId}/delete", "MFATokenDel"),
        ("post", "/api/v1/tokens/{TokenId}/resync", "MFATokenResync"),
        ("post", "/api/v1/tokens/{TokenId}/activate", "MFATokenActv"),
        ("post", "/api/v1/validate", "MFATokenValidate"),
        ("post", "/api/v1/tempcode", "MFATokenTempPswdInq"),
        ("post", "/api/v1/oob", "OOBValidate"),
        ("post", "/api/v1/oob/{AlrtPkgId}/verify", "OOBVerify"),
        ("post", "/api/v1/oob/{AlrtPkgId}/resend", "OOBResend"),
        ("get", "/api/v1/oob/{AlrtPkgId}", "OOBStatInq"),
        ("post", "/api/v1/users", "MFAUsrAdd"),
        ("get", "/api/v1/users/{UsrName}", "MFAUsrInq"),
        ("post", "/api/v1/users/{UsrName}/phone", "MFAUsrPhoneMod"),
        (
            "post",
            "/api/v1/users/{UsrName}/hold/lift",
            "MFAUsrHoldLift",
        ),
        ("post", "/api/v1/explain", "MFAExplainInq"),
        ("post", "/api/v1/users/{UsrName}/alerts", "MFAUsrAlrtSubMod"),
    ] {
        assert_eq!(id(method, path), soap, "{method} {path}");
    }
    // The SOAP binding's WSDL names the same operations.
    let (_, _, _, wsdl) = server.get("/jxchange?wsdl");
    let wsdl = String::from_utf8(wsdl).unwrap();
    // Every other operationId is in the same style: PascalCase, no handler names.
    let paths = doc["paths"].as_object().unwrap();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(
                id.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                    && id.chars().all(|c| c.is_ascii_alphanumeric()),
                "{method} {path}: {id}"
            );
            let soap_twin = (id.starts_with("MFA") && !id.starts_with("MFATokenQR"))
                || (id.starts_with("OOB") && id != "OOBEventInq");
            if soap_twin {
                assert!(
                    wsdl.contains(&format!("soapAction=\"http://jackhenry.com/ws/{id}\"")),
                    "{id}"
                );
            }
        }
    }
}
