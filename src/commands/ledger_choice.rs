//! Which ledger `history` and `show` read, and where to send a person whose run is in the other
//! one. `play --sandbox` records in a ledger of its own (`.runbook/sandbox-ledger.db`), so that
//! sandbox runs never count in a real playbook's budgets, lineage or `--resume`; `--sandbox` on
//! `history` and `show` reads that one, and a look in the default ledger that finds nothing says
//! so when the sandbox ledger has what was asked for.
//!
//! Invariant: these commands only read. A ledger that is not there is a mistake on the command line
//! (exit 2) and is never created.

use std::path::{Path, PathBuf};

use super::CommandError;
use crate::ledger::{self, Ledger};

/// Where `play --sandbox` records its runs unless `--ledger` says otherwise.
pub(crate) const SANDBOX_LEDGER: &str = ".runbook/sandbox-ledger.db";

/// The ledger a command reads or records in, as its flags chose it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerChoice {
    /// `.runbook/ledger.db`, where real runs record themselves.
    Default,
    /// `--sandbox`: where `play --sandbox` records.
    Sandbox,
    /// `--ledger PATH`.
    Given(PathBuf),
}

impl LedgerChoice {
    /// The choice `--ledger PATH` and `--sandbox` make; `--ledger` wins (clap refuses both where
    /// only reading, and `play --sandbox --ledger P` records in P).
    pub fn from_flags(ledger: Option<PathBuf>, sandbox: bool) -> LedgerChoice {
        match (ledger, sandbox) {
            (Some(path), _) => LedgerChoice::Given(path),
            (None, true) => LedgerChoice::Sandbox,
            (None, false) => LedgerChoice::Default,
        }
    }

    /// The ledger's file.
    pub(crate) fn path(&self) -> PathBuf {
        match self {
            LedgerChoice::Default => PathBuf::from(ledger::DEFAULT_PATH),
            LedgerChoice::Sandbox => PathBuf::from(SANDBOX_LEDGER),
            LedgerChoice::Given(path) => path.clone(),
        }
    }

    /// The flags that name this ledger on a command line, each after a space (`runbook
    /// history{flags}`): none for the default, so that a hint can be pasted as it is.
    pub(crate) fn flags(&self) -> String {
        match self {
            LedgerChoice::Default => String::new(),
            LedgerChoice::Sandbox => " --sandbox".to_string(),
            LedgerChoice::Given(path) => format!(" --ledger {}", shell_word(path)),
        }
    }

    /// The ledger, opened to read; when it is not there, why, and where to look instead.
    pub(crate) fn open(&self, command: &str) -> Result<Ledger, CommandError> {
        let path = self.path();
        if path.exists() {
            return Ok(Ledger::open_to_read(&path)?);
        }
        Err(CommandError::Invalid(self.missing(&path, command)))
    }

    /// Why there is nothing to read at `path`, and where to look instead.
    fn missing(&self, path: &Path, command: &str) -> String {
        match self {
            LedgerChoice::Default if Path::new(SANDBOX_LEDGER).exists() => format!(
                "no ledger at {}: only sandbox runs are recorded in this directory, in {SANDBOX_LEDGER} (runbook {command} --sandbox reads them)",
                path.display()
            ),
            LedgerChoice::Sandbox => format!(
                "no sandbox ledger at {SANDBOX_LEDGER}: `runbook play PLAYBOOK --sandbox` records its runs there (runbook {command} without --sandbox reads the other runs)"
            ),
            _ => format!(
                "no ledger at {} (runs record themselves there; --ledger PATH points elsewhere)",
                path.display()
            ),
        }
    }

    /// The sandbox ledger, opened to read, when this choice is the default ledger and the sandbox
    /// one is there: where a run the default ledger lacks may be.
    pub(crate) fn sandbox_instead(&self) -> Option<Ledger> {
        let sandbox = Path::new(SANDBOX_LEDGER);
        (*self == LedgerChoice::Default && sandbox.exists())
            .then(|| Ledger::open_to_read(sandbox).ok())
            .flatten()
    }
}

/// A path as one word a shell reads back unchanged: quoted when it holds anything but the safe
/// characters of a path.
fn shell_word(path: &Path) -> String {
    let text = path.display().to_string();
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_name_the_ledger_so_that_a_hint_can_be_pasted() {
        assert_eq!(LedgerChoice::Default.flags(), "");
        assert_eq!(LedgerChoice::Sandbox.flags(), " --sandbox");
        assert_eq!(
            LedgerChoice::Given(PathBuf::from("state/ledger.db")).flags(),
            " --ledger state/ledger.db"
        );
        assert_eq!(
            LedgerChoice::Given(PathBuf::from("my runs/it's.db")).flags(),
            r" --ledger 'my runs/it'\''s.db'"
        );
    }

    #[test]
    fn ledger_wins_over_sandbox_and_sandbox_over_the_default() {
        let given = PathBuf::from("x.db");
        assert_eq!(
            LedgerChoice::from_flags(Some(given.clone()), true),
            LedgerChoice::Given(given)
        );
        assert_eq!(
            LedgerChoice::from_flags(None, true).path(),
            PathBuf::from(SANDBOX_LEDGER)
        );
        assert_eq!(
            LedgerChoice::from_flags(None, false).path(),
            PathBuf::from(ledger::DEFAULT_PATH)
        );
    }
}
