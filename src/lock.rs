//! One run of a playbook at a time per ledger: a lock file beside the ledger holding the owner's
//! process id and start time. A second run refuses to start while the owner is alive; a lock left
//! by a dead process (killed, machine rebooted) is taken over with a warning.
//!
//! Liveness is read from `/proc` (Linux): the process id must exist and have the same start time,
//! so a reused id does not keep a stale lock alive. Where `/proc` is missing, a lock is taken as
//! alive, the safe reading; remove the file by hand if it is stale.

use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
}

/// A running process's identity in a lock file: `pid start-time`. None for a process that is
/// gone, or dead and not yet reaped (a zombie).
fn identity(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from its end.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    let start = fields.nth(18)?;
    Some(format!("{pid} {start}"))
}

/// Whether the owner written in a lock file still runs.
fn owner_alive(contents: &str) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    let Some(pid) = contents
        .split_whitespace()
        .next()
        .and_then(|p| p.parse::<u32>().ok())
    else {
        return false;
    };
    identity(pid).is_some_and(|now| now.trim() == contents.trim())
}

impl RunLock {
    /// Take the lock of `playbook` beside `ledger`. Returns the lock and, if a stale lock was taken
    /// over, a warning.
    pub fn acquire(ledger: &Path, playbook: &str) -> Result<(RunLock, Option<String>), String> {
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
        let me = identity(std::process::id()).unwrap_or_else(|| std::process::id().to_string());
        let mut warning = None;
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    file.write_all(me.as_bytes())
                        .map_err(|e| format!("cannot write the lock {}: {e}", path.display()))?;
                    return Ok((RunLock { path }, warning));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner = std::fs::read_to_string(&path).unwrap_or_default();
                    if owner_alive(&owner) {
                        let pid = owner.split_whitespace().next().unwrap_or("?");
                        return Err(format!(
                            "another run of `{playbook}` (process {pid}) holds the lock {}; wait for it to finish",
                            path.display()
                        ));
                    }
                    warning = Some(format!(
                        "took over the lock {} left by a process that no longer runs ({})",
                        path.display(),
                        owner.trim()
                    ));
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => return Err(format!("cannot create the lock {}: {e}", path.display())),
            }
        }
        Err(format!(
            "another run took the lock {} at the same moment",
            path.display()
        ))
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
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
}
