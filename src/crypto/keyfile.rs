//! Key files: read one, or create it once with mode 0600.
//!
//! Creation uses `create_new`, so two processes starting at once cannot both write a key:
//! the loser reads the winner's file. Imports: std only (and the parent module).

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use zeroize::Zeroizing;

use super::Error;

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
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        Ok(mut file) => {
            file.write_all(text.as_bytes())
                .and_then(|()| file.write_all(b"\n"))
                .and_then(|()| file.sync_all())
                .map_err(|e| io_error(path, e))?;
            Ok((text, Origin::Created))
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            let text = fs::read_to_string(path).map_err(|e| io_error(path, e))?;
            Ok((Zeroizing::new(text), Origin::Existing))
        }
        Err(e) => Err(io_error(path, e)),
    }
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
}
