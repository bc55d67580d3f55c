//! `--env-file FILE` (or `TOKEND_ENV_FILE`): a subcommand reads the service's environment
//! file, so that under systemd `sudo tokend --env-file /etc/tokend/tokend.env …` runs
//! with exactly the settings and master key the service has.
//!
//! Without it the CLI could not reach the key in the documented setups: the file is
//! root's (0600) and handed to the service only by systemd. Root reads it here instead,
//! and (see `bootstrap::install`) gives any file it then writes to the service's user.
//!
//! The format is systemd's `EnvironmentFile=`: `KEY=VALUE` lines, `#` or `;` comments,
//! blank lines, an optional `export `, values optionally in single or double quotes. A
//! variable already set in the command's environment wins (as `VAR=… tokend …` should).

use anyhow::{bail, Context as _};
use std::path::Path;

/// Reads `file` and sets each variable it names that the environment does not set yet.
/// Called first thing, before the configuration is read and before any thread starts.
pub fn apply(file: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| {
        format!(
            "cannot read --env-file {} (TOKEND_ENV_FILE): the service's settings and master \
             key are in it; it is root's, so run the command as root (sudo tokend …)",
            file.display()
        )
    })?;
    for (key, value) in parse(&text).with_context(|| format!("--env-file {}", file.display()))? {
        if std::env::var_os(&key).is_none() {
            std::env::set_var(key, value);
        }
    }
    Ok(())
}

/// The `(key, value)` pairs of an environment file.
fn parse(text: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut vars = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            bail!("line {}: KEY=VALUE expected", n + 1);
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            bail!("line {}: {key:?} is not a variable name", n + 1);
        }
        let value = value.trim();
        let unquoted = ['"', '\'']
            .iter()
            .find_map(|q| value.strip_prefix(*q)?.strip_suffix(*q))
            .unwrap_or(value);
        vars.push((key.to_owned(), unquoted.to_owned()));
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_systemd_environment_files() {
        let vars = parse(
            "# settings\n\nROCKET_DATA_DIR=/var/lib/tokend\nexport A='x y'\n; c\nB=\"q\"\nC=a=b\n",
        )
        .unwrap();
        let want = [
            ("ROCKET_DATA_DIR", "/var/lib/tokend"),
            ("A", "x y"),
            ("B", "q"),
            ("C", "a=b"),
        ];
        assert_eq!(
            vars,
            want.map(|(k, v)| (k.to_owned(), v.to_owned())).to_vec()
        );
        assert!(parse("no equals sign\n").is_err());
        assert!(parse("BAD KEY=1\n").is_err());
    }
}
