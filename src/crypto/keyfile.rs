//! Key files: read one, or create it once with mode 0600.
//!
//! Creation uses `create_new`, so two processes starting at once cannot both write a key:
//! the loser reads the winner's file. Imports: std only (and the parent module).

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use zeroize::Zeroizing;

use super::{Error, MasterKey};

/// Whether a secret was found on disk or had to be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The file already existed.
    Existing,
    /// The file was just written.
    Created,
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Reads the text in `path`, or writes `generate()` there (mode 0600) when it is absent.
pub fn read_or_create(
    path: &Path,
    generate: impl FnOnce() -> Result<Zeroizing<String>, Error>,
) -> Result<(Zeroizing<String>, Origin), Error> {
    match fs::read_to_string(path) {
        Ok(text) => return Ok((Zeroizing::new(text), Origin::Existing)),
        Err(e) if e.kind() != ErrorKind::NotFound => return Err(io_error(path, e)),
        Err(_) => {}
    }
    let text = generate()?;
    match create_new(path, &text) {
        Ok(()) => Ok((text, Origin::Created)),
        Err(Error::Io { source, .. }) if source.kind() == ErrorKind::AlreadyExists => {
            let text = fs::read_to_string(path).map_err(|e| io_error(path, e))?;
            Ok((Zeroizing::new(text), Origin::Existing))
        }
        Err(e) => Err(e),
    }
}

/// Writes `text` to a new file at `path` (mode 0600, synced); an existing file is an
/// error (`AlreadyExists`), never overwritten.
pub fn create_new(path: &Path, text: &str) -> Result<(), Error> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io_error(path, e))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error(path, e))
}

/// The name of the file `tokend rekey` generates a new master key into: the key id in
/// the name, so several keys can sit side by side in one key directory.
pub fn key_file_name(key_id: &str) -> String {
    format!("master.{key_id}.key")
}

/// The master keys found in `dir`: every regular file named `master*.key` holding a
/// valid base64 key, with its path. Files that are not keys are skipped (a key file
/// being written at this instant is found at the next look).
pub fn master_keys_in(dir: &Path) -> Result<Vec<(std::path::PathBuf, MasterKey)>, Error> {
    let entries = fs::read_dir(dir).map_err(|e| io_error(dir, e))?;
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if !is_file || !name.starts_with("master") || !name.ends_with(".key") {
            continue;
        }
        let path = entry.path();
        let Ok(text) = fs::read_to_string(&path).map(Zeroizing::new) else {
            continue;
        };
        if let Ok(key) = MasterKey::from_base64(&text) {
            found.push((path, key));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}

/// The files named `master*.key` in `dir` that this process cannot read, with why (most
/// often "Permission denied": a key file written by another user with mode 0600). A key
/// that is missing and a key that is there but unreadable need different fixes, so the
/// messages about a missing key say which it is.
pub fn unreadable_in(dir: &Path) -> Vec<(std::path::PathBuf, std::io::Error)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut unreadable = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with("master") || !name.ends_with(".key") {
            continue;
        }
        if let Err(e) = fs::File::open(entry.path()) {
            unreadable.push((entry.path(), e));
        }
    }
    unreadable.sort_by(|a, b| a.0.cmp(&b.0));
    unreadable
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn creates_once_with_mode_0600_then_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let (first, origin) =
            read_or_create(&path, || Ok(Zeroizing::new("secret".to_owned()))).unwrap();
        assert_eq!((first.as_str(), origin), ("secret", Origin::Created));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (again, origin) =
            read_or_create(&path, || Ok(Zeroizing::new("other".to_owned()))).unwrap();
        assert_eq!((again.trim(), origin), ("secret", Origin::Existing));
    }

    #[test]
    fn master_keys_are_found_by_name_and_content() {
        let dir = tempfile::tempdir().unwrap();
        let a = MasterKey::generate().unwrap();
        let b = MasterKey::generate().unwrap();
        create_new(&dir.path().join("master.key"), &a.to_base64()).unwrap();
        create_new(&dir.path().join(key_file_name(&b.key_id())), &b.to_base64()).unwrap();
        create_new(&dir.path().join("master.broken.key"), "not a key").unwrap();
        create_new(
            &dir.path().join("rocket-secret.key"),
            &MasterKey::generate().unwrap().to_base64(),
        )
        .unwrap();
        let found: Vec<String> = master_keys_in(dir.path())
            .unwrap()
            .iter()
            .map(|(_, k)| k.key_id())
            .collect();
        assert_eq!(found.len(), 2);
        assert!(found.contains(&a.key_id()) && found.contains(&b.key_id()));
        assert!(
            create_new(&dir.path().join("master.key"), "x").is_err(),
            "never overwrites"
        );
    }
}
