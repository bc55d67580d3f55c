//! The README's examples run as written: the shell blocks marked
//! `<!-- readme-test: NAME -->` ("A first token, end to end" and "Out-of-band SMS
//! fallback") are taken from README.md itself and run with `bash` (`set -euo pipefail`)
//! against the real binary, with only the base URL swapped for the test server's and
//! `$KEY` exported. The answers they print are checked, so README and binary cannot drift.

use std::path::Path;
use std::process::Command;

use crate::support::TestServer;

/// The address the README's examples talk to.
const README_BASE: &str = "http://127.0.0.1:8000";

/// The body of the fenced block right after `<!-- readme-test: NAME -->`.
pub(crate) fn marked_block(readme: &str, name: &str) -> String {
    let marker = format!("<!-- readme-test: {name} -->");
    let mut lines = readme.lines().skip_while(|l| l.trim() != marker).skip(1);
    let fence = lines.next().unwrap_or_default();
    assert_eq!(
        fence, "```sh",
        "README: `{marker}` must precede a ```sh fence"
    );
    let block: Vec<&str> = lines.take_while(|l| !l.starts_with("```")).collect();
    assert!(
        !block.is_empty(),
        "README: the block after `{marker}` is empty"
    );
    block.join("\n") + "\n"
}

/// The README and the docs its runnable examples moved to, as one text to find marked
/// blocks in.
pub(crate) fn documents() -> String {
    ["README.md", "docs/soap.md", "docs/operations.md"]
        .iter()
        .map(|f| {
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(f))
                .unwrap_or_else(|e| panic!("read {f}: {e}"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs the README's (and docs') blocks, in order, in one `bash` in `dir`; answers stdout.
pub(crate) fn run_blocks(server: &TestServer, dir: &Path, names: &[&str]) -> String {
    let readme = documents();
    let mut script = String::from("set -euo pipefail\n");
    for name in names {
        script += &marked_block(&readme, name).replace(README_BASE, &server.base);
    }
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir)
        .env("KEY", &server.key)
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the README's {names:?} examples failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The answers, one JSON object a line, in the order printed.
fn answers(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn readme_first_token_and_sms_fallback_run_as_written() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let stdout = run_blocks(&server, dir.path(), &["first-token", "sms-fallback"]);
    let rs = answers(&stdout);
    let rs_stat: Vec<&str> = rs
        .iter()
        .map(|r| r["RsStat"].as_str().unwrap_or(""))
        .collect();
    let reasons: Vec<&str> = rs
        .iter()
        .map(|r| r["Custom"]["RsStatRsn"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(rs.len(), 16, "{stdout}");

    // A first token: enroll (Init), activate (Act), the same code again is a replay,
    // the next code validates, the inquiry shows the token Act.
    assert_eq!(rs[0]["UsrTokenStat"], "Init", "{stdout}");
    assert_eq!(rs[0]["UsrName"], "Jane Doe", "{stdout}");
    assert!(dir.path().join("qr.png").exists(), "the QR code was saved");
    assert_eq!(
        (rs_stat[1], &rs[1]["UsrTokenStat"]),
        ("Success", &"Act".into())
    );
    assert_eq!((rs_stat[2], reasons[2]), ("Failed", "Replayed"), "{stdout}");
    assert_eq!(rs_stat[3], "Success", "{stdout}");
    assert!(rs[3]["LastTrnRcptId"].is_string(), "{stdout}");
    assert_eq!(rs[4]["MFATokenInqInfo"]["UsrTokenStat"], "Act", "{stdout}");

    // The SMS fallback: activation, four wrong codes, the fifth locks and starts a session.
    assert_eq!(rs_stat[5], "Success", "{stdout}");
    for i in 6..10 {
        assert_eq!(
            (rs_stat[i], reasons[i]),
            ("Failed", "WrongCode"),
            "{stdout}"
        );
    }
    assert_eq!(rs_stat[10], "Locked", "{stdout}");
    let alrt = rs[10]["OOB"]["AlrtPkgId"].as_str().expect("an OOB session");
    assert_eq!(rs[10]["OOB"]["PhoneNumMasked"], "******6652", "{stdout}");
    // The outbox holds the SMS, the code verifies, the event says Success.
    let body = rs[11]["Messages"][0]["Body"].as_str().unwrap_or_default();
    assert!(body.contains("your security code is"), "{stdout}");
    assert_eq!(
        (rs_stat[12], &rs[12]["AlrtPkgId"]),
        ("Success", &alrt.into())
    );
    assert_eq!(rs[13]["Events"][0]["EvtType"], "90040", "{stdout}");
    assert_eq!(rs[13]["Events"][0]["RsStat"], "Success", "{stdout}");
    // The unlock by modify, and the token validates again.
    let binding = &rs[14]["MFATokenInqInfo"]["MFATokenInqArray"][0];
    assert_eq!(binding["MFATokenUsrStat"], "Act", "{stdout}");
    assert_eq!(
        (rs_stat[15], &rs[15]["UsrName"]),
        ("Success", &"Sam Roe".into())
    );
}

#[test]
fn readme_gives_one_install_step_and_one_command_form() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("read README.md");
    assert!(readme.contains("cargo install --path . --locked"));
    assert!(
        !readme.contains("cargo run --release -q --"),
        "examples use `tokend …`, installed once"
    );
    for doc in ["api", "operations", "console", "design", "import", "soap"] {
        let path = format!("{}/docs/{doc}.md", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect("read doc");
        assert!(
            readme.contains(&format!("](docs/{doc}.md)")),
            "README links {path}"
        );
        assert!(
            text.contains("](../README.md)"),
            "{path} links back to the README"
        );
        for forbidden in ["cargo run --release -q --", "../shared/", "ARCHITECTURE.md"] {
            assert!(!text.contains(forbidden), "{path} contains {forbidden}");
        }
    }
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes.
fn anchor_of(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown file's headings (outside code fences).
fn anchors(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut found = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            found.push(anchor_of(line.trim_start_matches('#')));
        }
    }
    found
}

#[test]
fn readme_and_docs_links_resolve() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = [
        "README.md",
        "docs/api.md",
        "docs/operations.md",
        "docs/console.md",
        "docs/design.md",
        "docs/import.md",
        "docs/soap.md",
        "docs/webhooks.md",
    ];
    let mut broken = Vec::new();
    for file in files {
        let path = root.join(file);
        let text = std::fs::read_to_string(&path).expect("read doc");
        let dir = path.parent().unwrap();
        for (_, rest) in text.match_indices("](").map(|(i, _)| text.split_at(i + 2)) {
            let target = &rest[..rest.find(')').unwrap_or(rest.len())];
            if target.starts_with("http") || target.contains(' ') {
                continue;
            }
            let (file_part, anchor) = target.split_once('#').unwrap_or((target, ""));
            let linked = if file_part.is_empty() {
                path.clone()
            } else {
                dir.join(file_part)
            };
            if !linked.exists() {
                broken.push(format!("{file}: {target} (no such file)"));
            } else if !anchor.is_empty() {
                let linked_text = std::fs::read_to_string(&linked).unwrap_or_default();
                if !anchors(&linked_text).iter().any(|a| a == anchor) {
                    broken.push(format!("{file}: {target} (no such heading)"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// Kills the process whose id a README block left in a pid file.
struct KillOnDrop(std::path::PathBuf);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.0) {
            let _ = Command::new("kill").args(["-9", pid.trim()]).status();
        }
    }
}

/// The README's PostgreSQL steps, run as written in the order shown (issue 27: with
/// `ROCKET_DATABASE_URL` exported first, `copy-to` refused to copy): a SQLite install
/// in `data/` is copied into an empty database, and a node started as the block says
/// validates the token enrolled before the move.
#[test]
fn readme_postgres_steps_run_in_the_order_shown() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = TestServer::start_in(&data, &[]).unwrap();
    let (_, seed, step) = server.enroll_active("ann");
    let key = server.key.clone();
    server.stop();
    let db = testkit::pg::Database::fresh("readme").unwrap_or_else(|e| panic!("{e}"));
    let block = marked_block(&documents(), "postgres")
        .replace("postgres://tokend:secret@db.internal:5432/tokend", &db.url);
    // `tokend serve` runs in the background (the block would wait on it for ever) until
    // it listens; every other command runs as written.
    let script = format!(
        "set -euo pipefail\n\
         tokend() {{\n\
           if [ \"$1\" = serve ]; then\n\
             \"$TOKEND_BIN\" serve >serve.log 2>&1 & echo $! >serve.pid\n\
             for _ in $(seq 600); do grep -q 'tokend listening on' serve.log && return 0; sleep 0.1; done\n\
             cat serve.log >&2; return 1\n\
           fi\n\
           \"$TOKEND_BIN\" \"$@\"\n\
         }}\n{block}"
    );
    let _serving = KillOnDrop(dir.path().join("serve.pid"));
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env("TOKEND_BIN", env!("CARGO_BIN_EXE_tokend"))
        .env("ROCKET_PORT", "0")
        .env("TOKEND_LOG", "warn")
        .env_remove("ROCKET_DATABASE_URL")
        .env_remove("ROCKET_DATA_DIR")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the README's PostgreSQL steps failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("copied."), "{stdout}");
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    let base = log
        .lines()
        .find_map(|l| l.strip_prefix("tokend listening on "))
        .unwrap()
        .to_owned();
    let rs: serde_json::Value = ureq::post(&format!("{base}/api/v1/validate"))
        .set("Authorization", &format!("Bearer {key}"))
        .send_json(serde_json::json!({
            "UsrName": "ann",
            "Code": crate::support::totp(&seed, "SHA1", 6, step + 1),
        }))
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(rs["RsStat"], "Success", "{rs}");
}
