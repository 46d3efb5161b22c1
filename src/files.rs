//! Reading the local files runbook is pointed at — playbooks, ids files (`fetch: {file: …}`),
//! `.env` — with the same two guards: only a regular file is read (not a directory, a FIFO or a
//! device such as `/dev/zero`, which would be read until memory runs out), and never more than a
//! cap of bytes, whatever the file's size claims to be.
//!
//! Invariant: the checks are made on the opened file (and on the path before, so that a FIFO is
//! never opened), so a file swapped in between cannot get past them; and the cap is enforced on what is read, so a
//! file that grows while it is read cannot either.

use std::io::Read;
use std::path::Path;

/// Why a file could not be read. Each message starts with the kind of file and its path.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{what} {path} is not a regular file (a directory, a device or a pipe): give the path of a file"
    )]
    NotAFile { what: &'static str, path: String },
    #[error("{what} {path} is larger than {max} bytes, the most a {what} may be: check the path")]
    TooLarge {
        what: &'static str,
        path: String,
        max: u64,
    },
    #[error("{what} {path} is not UTF-8 text")]
    NotText { what: &'static str, path: String },
}

/// The text of the regular file at `path`, refused if it holds more than `max` bytes. `what`
/// names the kind of file in the error ("playbook", "ids file").
pub fn read_text(path: &Path, max: u64, what: &'static str) -> Result<String, ReadError> {
    let shown = || path.display().to_string();
    let io = |source| ReadError::Io {
        what,
        path: shown(),
        source,
    };
    // Looked at before opening too: opening a FIFO waits for a writer, possibly forever.
    if !std::fs::metadata(path).map_err(io)?.is_file() {
        return Err(ReadError::NotAFile {
            what,
            path: shown(),
        });
    }
    let file = std::fs::File::open(path).map_err(io)?;
    if !file.metadata().map_err(io)?.is_file() {
        return Err(ReadError::NotAFile {
            what,
            path: shown(),
        });
    }
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(ReadError::TooLarge {
            what,
            path: shown(),
            max,
        });
    }
    String::from_utf8(bytes).map_err(|_| ReadError::NotText {
        what,
        path: shown(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_is_refused_before_any_read() {
        let err = read_text(Path::new("/dev/zero"), 1024, "playbook").unwrap_err();
        assert_eq!(
            err.to_string(),
            "playbook /dev/zero is not a regular file (a directory, a device or a pipe): give the path of a file"
        );
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_text(dir.path(), 1024, "playbook"),
            Err(ReadError::NotAFile { .. })
        ));
    }

    #[test]
    fn the_cap_counts_what_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.yaml");
        std::fs::write(&path, "x".repeat(11)).unwrap();
        assert_eq!(read_text(&path, 11, "playbook").unwrap().len(), 11);
        let err = read_text(&path, 10, "playbook").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "playbook {} is larger than 10 bytes, the most a playbook may be: check the path",
                path.display()
            )
        );
    }
}
