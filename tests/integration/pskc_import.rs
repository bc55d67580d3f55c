//! PSKC files through both doors, `tokend import` and the console's upload (issue 13):
//! the same file gets the same counts, the same per-key reasons and the same file-level
//! refusal; the exit status tells "all usable keys imported, some skipped by design"
//! (0) from "a key or the file was refused" (1).

use crate::support::admin::server_with_admin;
use crate::support::cli;

const PSK: &str = "12345678901234567890123456789012";

fn path(name: &str) -> String {
    format!("{}/tests/fixtures/pskc/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(path(name)).unwrap()
}

/// What the page shows as text (the few entities tera writes).
fn unescape(html: &str) -> String {
    html.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2F;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// One file, its keys (`psk` hex or none), and the expected CLI summary line (`None`:
/// the whole file is refused, with a message containing the given words).
struct Case {
    file: &'static str,
    psk: Option<String>,
    summary: Result<&'static str, &'static str>,
}

fn cases() -> Vec<Case> {
    let case = |file, psk: Option<&str>, summary| Case {
        file,
        psk: psk.map(str::to_owned),
        summary,
    };
    vec![
        // Real vendor file (LinOTP's test suite): 4 TOTP keys import, 2 HOTP are skipped.
        case(
            "feitian-linotp-file1.xml",
            None,
            Ok("imported 4, already present 0, refused 0, skipped 2"),
        ),
        // multiOTP: Secret, Time and TimeInterval encrypted, each with its own ValueMAC.
        case(
            "multiotp-tokens-totp-aes.xml",
            Some(PSK),
            Ok("imported 2, already present 0, refused 0, skipped 0"),
        ),
        case(
            "policy-dates-totp.xml",
            None,
            Ok("imported 1, already present 0, refused 2, skipped 0"),
        ),
        case(
            "duplicate-serial.xml",
            None,
            Ok("imported 1, already present 0, refused 2, skipped 0"),
        ),
        case(
            "totp-min-utf16le.xml",
            None,
            Ok("imported 1, already present 0, refused 0, skipped 0"),
        ),
        case(
            "encrypted-with-plaintext-secret.xml",
            Some(PSK),
            Ok("imported 1, already present 0, refused 1, skipped 0"),
        ),
        case(
            "pskc-camellia128-cbc.xml",
            Some(PSK),
            Err("camellia128-cbc"),
        ),
        case(
            "pskc-invalid-mac-algorithm.xml",
            Some(PSK),
            Err("hmac-zha9"),
        ),
        case("draft-hoyer-01-non-encrypted.xml", None, Err("draft")),
        case(
            "multiotp-pskc-totp-aes.xml",
            Some(&"9".repeat(32)),
            Err("wrong key or passphrase"),
        ),
    ]
}

/// The CLI's verdict: (exit success, stdout summary, stderr).
fn run_cli(data: &std::path::Path, c: &Case) -> (bool, String, String) {
    let mut args = vec!["import".to_owned(), path(c.file)];
    if let Some(k) = &c.psk {
        args.extend(["--psk-hex".to_owned(), k.clone()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = cli(data, &[], &args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_cli_and_the_console_give_every_file_the_same_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, c) = server_with_admin();
    let csrf = c.get("/admin/hardware").csrf();
    for case in cases() {
        let (ok, summary, stderr) = run_cli(dir.path(), &case);
        let mut fields = vec![("csrf", csrf.as_str())];
        if let Some(k) = &case.psk {
            fields.push(("psk", k.as_str()));
        }
        let page = c.post_file_with(
            "/admin/hardware/import",
            &fields,
            case.file,
            &fixture(case.file),
        );
        let file = case.file;
        match case.summary {
            Ok(expected) => {
                assert_eq!(summary, expected, "{file}: {stderr}");
                let refused = !expected.contains("refused 0");
                assert_eq!(ok, !refused, "{file}: exit 1 exactly when a key is refused");
                let body = unescape(&page.body);
                for n in ["imported", "refused", "skipped"] {
                    let count = expected.split(&format!("{n} ")).nth(1).unwrap();
                    let count = count.split(',').next().unwrap();
                    let dd = format!("<dd id=\"{n}\">{count}</dd>");
                    assert!(body.contains(&dd), "{file}: {dd} in {body}");
                }
                // Every reason the CLI prints is on the page, under the same number.
                for line in stderr.lines().filter(|l| l.starts_with("KeyPackage ")) {
                    let (n, what) = line["KeyPackage ".len()..].split_once(": ").unwrap();
                    let row = format!("<td>{n}</td><td>{what}</td>");
                    assert!(body.contains(&row), "{file}: {row} in {body}");
                }
            }
            Err(words) => {
                assert!(!ok && summary.is_empty(), "{file}: {summary}");
                let why = stderr.split("nothing imported: ").nth(1).unwrap().trim();
                assert!(why.contains(words), "{file}: {why}");
                assert!(!why.contains("7001"), "{file}: no API fault code: {why}");
                let flash = unescape(&c.follow(&page).body);
                assert!(flash.contains(why), "{file}: {why} in {flash}");
            }
        }
    }
}

/// Defect 7 end to end: a file cut after its 5th KeyPackage (from standard input)
/// imports nothing, and the whole file then imports.
#[test]
fn a_truncated_file_imports_nothing_then_the_whole_file_imports() {
    let dir = tempfile::tempdir().unwrap();
    let xml = fixture("feitian-linotp-file1.xml");
    let text = std::str::from_utf8(&xml).unwrap();
    let cut = text.match_indices("</KeyPackage>").nth(4).unwrap().0 + "</KeyPackage>".len();
    let cut_path = dir.path().join("cut.xml");
    std::fs::write(&cut_path, &xml[..cut]).unwrap();
    let out = cli(dir.path(), &[], &["import", cut_path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("truncated"), "{stderr}");
    let out = cli(
        dir.path(),
        &[],
        &["import", &path("feitian-linotp-file1.xml")],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "imported 4, already present 0, refused 0, skipped 2",
        "nothing of the cut file was stored"
    );
    assert!(out.status.success());
}
