//! Logging set-up: `tracing` to stderr, filtered by `TOKEND_LOG`, under a ceiling that no
//! filter can lift, through a writer that redacts credentials.
//!
//! Why a ceiling: Rocket logs through the `log` crate (bridged into tracing), and at
//! `debug` its server prints every request with all of its headers (`received request:`),
//! so `TOKEND_LOG=debug` used to print API keys and admin cookies. The route code Rocket
//! generates prints a failed guard's error by `Debug` (target `<module>::_`, at `warn`),
//! which for a form holds the submitted values (a code, a password). The HTTP client, TLS
//! and HTTP/2 crates print connection and request details at `debug`/`trace`. These
//! targets are capped below, whatever `TOKEND_LOG` asks for: what tokend needs from the
//! HTTP edge it logs itself (`tokend::access`: method, route, status, time, tracking id).
//!
//! Why a redacting writer as well: a ceiling knows targets, not contents. Every formatted
//! line passes [`redact`], which blanks the values of `Authorization`, `Cookie`,
//! `Set-Cookie`, `X-Api-Key` and of `Bearer` tokens wherever they appear. Seeds, codes and
//! phone numbers cannot be recognised in free text: tokend's own log lines never carry
//! them (phones are masked), and the capped targets are the ones that could.

use std::io::{self, Write as _};
use tracing::{Level, Metadata};
use tracing_subscriber::filter::{filter_fn, EnvFilter, FilterExt as _};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer as _;

/// The filter used when `TOKEND_LOG` is unset or invalid.
const DEFAULT_FILTER: &str = "info";

/// Crates (first segment of the log target) that can print request or response details,
/// and the most verbose level let through for them.
const CAPPED_CRATES: &[(&str, Level)] = &[
    ("rocket", Level::WARN),
    ("rocket_http", Level::WARN),
    ("hyper", Level::WARN),
    ("hyper_util", Level::WARN),
    ("h2", Level::WARN),
    ("ureq", Level::WARN),
    ("rustls", Level::WARN),
    ("tokio_rustls", Level::WARN),
];

/// Installs the global subscriber (and the `log` bridge, so Rocket's own logger is never
/// installed and Rocket's `log_level` never decides what is printed).
/// `TOKEND_LOG` is an `EnvFilter` directive list; `TOKEND_LOG_FORMAT=json` prints one
/// JSON object per line, for log shippers.
pub fn init() {
    let filter =
        EnvFilter::try_from_env("TOKEND_LOG").unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let filter = filter.and(filter_fn(within_ceiling));
    let fmt = tracing_subscriber::fmt::layer().with_writer(RedactingStderr);
    let json = std::env::var("TOKEND_LOG_FORMAT").is_ok_and(|f| f == "json");
    let registry = tracing_subscriber::registry();
    if json {
        registry
            .with(fmt.json().flatten_event(true).with_filter(filter))
            .init();
    } else {
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        registry
            .with(fmt.with_ansi(ansi).with_filter(filter))
            .init();
    }
}

/// Whether an event or span is at or below the ceiling of its target (see the module doc).
pub fn within_ceiling(meta: &Metadata<'_>) -> bool {
    ceiling_of(meta.target()).is_none_or(|max| *meta.level() <= max)
}

/// The ceiling of a target, if it has one. Rocket's "indented" log macros, which the route
/// code it generates uses to print failed guards, log under `<module>::_`: only their
/// `error` lines (internal invariants, never request contents) pass.
fn ceiling_of(target: &str) -> Option<Level> {
    // Rocket's launch banner is a WARN; tokend prints its own listening line instead.
    if target == "_" || target.ends_with("::_") || target == "rocket::launch" {
        return Some(Level::ERROR);
    }
    let krate = target.split("::").next().unwrap_or(target);
    CAPPED_CRATES
        .iter()
        .find(|(name, _)| *name == krate)
        .map(|(_, level)| *level)
}

/// Header names whose values are credentials (lowercase).
const SECRET_HEADERS: &[&str] = &[
    "proxy-authorization",
    "authorization",
    "set-cookie",
    "cookie",
    "x-api-key",
];

/// Element names (lowercase) whose values are secrets wherever a JSON or `Debug` rendering
/// of a request, an answer or an SMS would show them: seeds, codes, passwords, phone
/// numbers, the SMS text (it holds the code). Matched only as a quoted key followed by `:`.
const SECRET_FIELDS: &[&str] = &[
    "secret", "seed", "code", "code1", "code2", "otp", "password", "phonenum", "to", "body",
];

/// What a redacted value is replaced by.
const REDACTED: &str = "[redacted]";

/// `line` with every credential value blanked: the value after a secret header name
/// followed by `:` or `=` (quoted or not, as in `Debug` output of header maps, HTTP
/// preludes, `key=value` fields and JSON), and the token after `Bearer `.
pub fn redact(line: &str) -> std::borrow::Cow<'_, str> {
    let lower = line.to_ascii_lowercase();
    let mut out = String::new();
    let (mut copied, mut i) = (0, 0);
    while i < line.len() {
        let Some((start, end)) = secret_value_at(&lower, i) else {
            i += lower[i..].chars().next().map_or(1, char::len_utf8);
            continue;
        };
        out.push_str(&line[copied..start]);
        out.push_str(REDACTED);
        copied = end;
        i = end.max(i + 1);
    }
    if copied == 0 {
        return std::borrow::Cow::Borrowed(line);
    }
    out.push_str(&line[copied..]);
    std::borrow::Cow::Owned(out)
}

/// If a secret header name (with its `:`/`=`) or `bearer ` starts at byte `i` of the
/// lowercased line, the byte range of its value.
fn secret_value_at(lower: &str, i: usize) -> Option<(usize, usize)> {
    let rest = &lower[i..];
    if rest.starts_with("bearer ") {
        let start = i + "bearer ".len();
        let end = value_end(lower, start, true);
        return (end > start).then_some((start, end));
    }
    if let Some(name) = SECRET_HEADERS.iter().find(|h| rest.starts_with(**h)) {
        let j = skip_noise(lower, i + name.len());
        if matches!(lower.as_bytes().get(j), Some(b':' | b'=')) {
            let j = skip_noise(lower, j + 1);
            let end = value_end(lower, j, false);
            return (end > j).then_some((j, end));
        }
    }
    secret_field_at(lower, i)
}

/// If a quoted secret element name (`"Code":`, `\"Secret\":`) starts at byte `i`, the
/// byte range of its value: up to the closing quote when quoted, else the next delimiter.
fn secret_field_at(lower: &str, i: usize) -> Option<(usize, usize)> {
    let b = lower.as_bytes();
    if i == 0 || b[i - 1] != b'"' {
        return None;
    }
    let rest = &lower[i..];
    let name = SECRET_FIELDS.iter().find(|f| {
        rest.strip_prefix(**f)
            .is_some_and(|after| after.starts_with('"') || after.starts_with("\\\""))
    })?;
    let colon = skip_noise(lower, i + name.len());
    if b.get(colon) != Some(&b':') {
        return None;
    }
    let j = skip_noise(lower, colon + 1);
    let quoted = b.get(j.wrapping_sub(1)) == Some(&b'"');
    let end = value_end(lower, j, !quoted);
    (end > j).then_some((j, end))
}

/// Skips quotes, backslashes (JSON escapes), blanks and ANSI colour sequences.
fn skip_noise(s: &str, mut j: usize) -> usize {
    let b = s.as_bytes();
    while j < b.len() {
        match b[j] {
            b'"' | b'\'' | b'\\' | b' ' | b'\t' => j += 1,
            0x1b => {
                while j < b.len() && b[j] != b'm' {
                    j += 1;
                }
                j += 1;
            }
            _ => break,
        }
    }
    j.min(b.len())
}

/// Where a value starting at `j` ends: at a quote, a backslash (JSON escape), a line end
/// or an ANSI sequence; a bearer token also at a blank, comma or semicolon.
fn value_end(s: &str, mut j: usize, token: bool) -> usize {
    let b = s.as_bytes();
    while j < b.len() {
        match b[j] {
            b'"' | b'\'' | b'\\' | b'\r' | b'\n' | 0x1b => break,
            b' ' | b'\t' | b',' | b';' | b'}' | b']' if token => break,
            _ => j += 1,
        }
    }
    j
}

/// Makes one [`RedactingLine`] per event.
struct RedactingStderr;

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingLine;

    fn make_writer(&'a self) -> RedactingLine {
        RedactingLine(Vec::with_capacity(256))
    }
}

/// Collects one formatted event; on drop writes it, redacted, to stderr in one call (so
/// lines of concurrent events never interleave).
struct RedactingLine(Vec<u8>);

impl io::Write for RedactingLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactingLine {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let _ = io::stderr().lock().write_all(redact(&text).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_values_are_blanked_in_every_shape() {
        let cases = [
            (
                r#"headers: {"authorization": "Bearer k3y", "cookie": "a=b; c=d", "host": "x"}"#,
                r#"headers: {"authorization": "[redacted]", "cookie": "[redacted]", "host": "x"}"#,
            ),
            (
                "Authorization: Bearer k3y\r\nCookie: a=b; c=d\r\nHost: x",
                "Authorization: [redacted]\r\nCookie: [redacted]\r\nHost: x",
            ),
            (
                r#"{"message":"Set-Cookie: tokend_admin=s3cr; Path=/admin","x":1}"#,
                r#"{"message":"Set-Cookie: [redacted]","x":1}"#,
            ),
            (
                r#"{"message":"{\"authorization\": \"Bearer k3y\"}"}"#,
                r#"{"message":"{\"authorization\": \"[redacted]\"}"}"#,
            ),
            (
                "sent with bearer k3y, then",
                "sent with bearer [redacted], then",
            ),
            (
                "x_api_key ok, x-api-key=k3y",
                "x_api_key ok, x-api-key=[redacted]",
            ),
        ];
        for (line, want) in cases {
            assert_eq!(redact(line), want, "{line}");
        }
    }

    #[test]
    fn secret_elements_are_blanked_as_quoted_keys_only() {
        let cases = [
            (
                r#"{"Secret":"JBSWY3DP","Code":"123456","ErrCode":"7005"}"#,
                r#"{"Secret":"[redacted]","Code":"[redacted]","ErrCode":"7005"}"#,
            ),
            (
                r#"{"to":"4175556652","body":"your code is 300419. Reply"}"#,
                r#"{"to":"[redacted]","body":"[redacted]"}"#,
            ),
            (
                r#"msg: "{"OTP":"855987","PhoneNumMasked":"******6652"}""#,
                r#"msg: "{"OTP":"[redacted]","PhoneNumMasked":"******6652"}""#,
            ),
            (
                r#"{"Code1": 123456, "Code2": 654321}"#,
                r#"{"Code1": [redacted], "Code2": [redacted]}"#,
            ),
        ];
        for (line, want) in cases {
            assert_eq!(redact(line), want, "{line}");
        }
    }

    #[test]
    fn words_without_a_value_are_left_alone() {
        for line in [
            "authorization failed for key 7",
            "the admin cookie expired",
            "tokend listening on http://127.0.0.1:8000",
            "the code was refused: code 7005 (status code: 400)",
            r#"{"target":"tokend::access","route":"validate","status":200}"#,
        ] {
            assert_eq!(redact(line), line);
        }
    }

    #[test]
    fn request_dumping_targets_are_capped_whatever_the_filter() {
        assert_eq!(ceiling_of("rocket::server"), Some(Level::WARN));
        assert_eq!(ceiling_of("ureq::unit"), Some(Level::WARN));
        assert_eq!(
            ceiling_of("tokend::web::admin::tokens::_"),
            Some(Level::ERROR)
        );
        assert_eq!(ceiling_of("rocketry"), None);
        assert_eq!(ceiling_of("tokend::access"), None);
    }
}
