//! One run of a playbook at a time per ledger: an exclusive advisory lock (`flock`) on a lock file
//! beside the ledger, which also holds the owner's process id and start time for messages. A
//! second run refuses to start while the owner holds it; the operating system releases it when the
//! owner ends, however it ends, so a lock file left by a killed run is taken over with a warning.
//!
//! Invariants: the lock, not the file's existence or contents, decides who runs — two runs started
//! at the same instant cannot both read a half-written file as stale. The owner removes the file
//! before releasing the lock, and a taker checks, once it holds a lock, that the file it locked is
//! still the one at the path; otherwise it tries again on the new one.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The most read of a lock file: an owner's identity is a few dozen bytes.
const MAX_OWNER_BYTES: u64 = 256;

#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    /// Open, and locked, while the run lasts.
    file: File,
}

/// A running process's identity in a lock file: `pid start-time` (Linux), or the pid alone.
fn identity(pid: u32) -> String {
    let start = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // The command name (field 2) is in parentheses and may hold spaces: count from its end.
            let rest = &stat[stat.rfind(')')? + 1..];
            rest.split_whitespace().nth(19).map(str::to_string)
        });
    match start {
        Some(start) => format!("{pid} {start}"),
        None => pid.to_string(),
    }
}

/// Whether `file` is still the file at `path` (not removed, or replaced, by its last owner).
#[cfg(unix)]
fn still_at(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(held), Ok(now)) => held.dev() == now.dev() && held.ino() == now.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn still_at(_file: &File, path: &Path) -> bool {
    path.exists()
}

/// The lock file of `playbook` beside `ledger`.
fn lock_path(ledger: &Path, playbook: &str) -> (PathBuf, PathBuf) {
    let dir = ledger
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let safe: String = playbook
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    // One lock per playbook and ledger: `nightly.lock` beside `ledger.db`, and
    // `nightly.sandbox-ledger.lock` beside `sandbox-ledger.db`, so they do not block each other.
    let stem = ledger
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("ledger");
    let path = if stem == "ledger" {
        dir.join(format!("{safe}.lock"))
    } else {
        dir.join(format!("{safe}.{stem}.lock"))
    };
    (dir.to_path_buf(), path)
}

impl RunLock {
    /// Take the lock of `playbook` beside `ledger`. Returns the lock and, if a lock file left by a
    /// run that ended without removing it was taken over, a warning.
    pub fn acquire(ledger: &Path, playbook: &str) -> Result<(RunLock, Option<String>), String> {
        let (dir, path) = lock_path(ledger, playbook);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create the lock's folder {}: {e}", dir.display()))?;
        let cannot = |e: std::io::Error| format!("cannot use the lock {}: {e}", path.display());
        // Each turn loses only to an owner that removed the file between our open and our lock;
        // a few turns are plenty.
        for _ in 0..16 {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(cannot)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    let mut owner = String::new();
                    let _ = (&file).take(MAX_OWNER_BYTES).read_to_string(&mut owner);
                    // The owner may not have written its id yet: it took the lock a moment ago.
                    let who = match owner.split_whitespace().next() {
                        Some(pid) => format!("another run of `{playbook}` (process {pid})"),
                        None => format!("another run of `{playbook}`"),
                    };
                    return Err(format!(
                        "{who} holds the lock {}; wait for it to finish",
                        path.display()
                    ));
                }
                Err(TryLockError::Error(e)) => return Err(cannot(e)),
            }
            if !still_at(&file, &path) {
                continue;
            }
            let mut left = String::new();
            let _ = (&file).take(MAX_OWNER_BYTES).read_to_string(&mut left);
            let warning = (!left.trim().is_empty()).then(|| {
                format!(
                    "took over the lock {} left by a process that no longer runs ({})",
                    path.display(),
                    left.trim()
                )
            });
            file.set_len(0).map_err(cannot)?;
            file.rewind().map_err(cannot)?;
            file.write_all(identity(std::process::id()).as_bytes())
                .map_err(cannot)?;
            return Ok((RunLock { path, file }, warning));
        }
        Err(format!(
            "the lock {} keeps changing hands; try again",
            path.display()
        ))
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Remove the file while still holding the lock: a process waiting on this file sees it is
        // gone once it gets the lock, and starts over on a new one.
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_and_a_dead_owners_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = dir.path().join("ledger.db");
        let (lock, warning) = RunLock::acquire(&ledger, "nightly").unwrap();
        assert!(warning.is_none());
        let err = RunLock::acquire(&ledger, "nightly").unwrap_err();
        assert!(err.contains("holds the lock"), "{err}");
        assert!(
            RunLock::acquire(&ledger, "other").is_ok(),
            "locks are per playbook"
        );
        let sandbox = dir.path().join("sandbox-ledger.db");
        assert!(
            RunLock::acquire(&sandbox, "nightly").is_ok(),
            "and per ledger"
        );
        drop(lock);
        // A lock whose owner is gone: a process id that cannot exist.
        std::fs::write(dir.path().join("nightly.lock"), "4294967294 1").unwrap();
        let (_lock, warning) = RunLock::acquire(&ledger, "nightly").unwrap();
        assert!(warning.unwrap().contains("no longer runs"));
    }

    /// Regression: the lock file was created empty and written a moment later, so a second run
    /// reading it in between took the empty file for a dead owner's, removed it, and both ran.
    #[test]
    fn runs_started_at_the_same_instant_get_one_lock_between_them() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let ledger = dir.path().join("ledger.db");
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
            let racers: Vec<_> = (0..4)
                .map(|_| {
                    let (ledger, barrier) = (ledger.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        let got = RunLock::acquire(&ledger, "nightly");
                        // Hold the lock until every racer has tried.
                        barrier.wait();
                        got.map(|(_, warning)| warning)
                    })
                })
                .collect();
            let results: Vec<_> = racers.into_iter().map(|r| r.join().unwrap()).collect();
            let won: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
            assert_eq!(won.len(), 1, "{results:?}");
            assert_eq!(won[0], &None, "nothing stale was taken over");
            let tail = format!(
                " holds the lock {}; wait for it to finish",
                dir.path().join("nightly.lock").display()
            );
            for lost in results.iter().filter_map(|r| r.as_ref().err()) {
                let who = lost.strip_suffix(&tail).unwrap_or_else(|| panic!("{lost}"));
                let me = format!("(process {})", std::process::id());
                assert!(
                    who == "another run of `nightly`"
                        || who == format!("another run of `nightly` {me}"),
                    "{lost}"
                );
            }
        }
    }
}
