//! The line a run ends with on stderr: where it was recorded, the report files written, and the
//! commands that show it again. A newcomer's first run should not leave them guessing where it
//! went (sandbox runs are in a ledger of their own) or what to type next.
//!
//! Invariant: one line, naming only what exists — a ledger that could not be used is not named,
//! a report that could not be written is not listed (its error was printed).

use std::path::PathBuf;

use super::ledger_choice::LedgerChoice;

/// The closing line of run `run_id`: recorded in `ledger` (none when it could not be), with the
/// report files `written`; `None` when there is nothing to name.
pub(super) fn where_recorded(
    run_id: &str,
    ledger: Option<&LedgerChoice>,
    written: &[PathBuf],
) -> Option<String> {
    let files: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
    let wrote = (!files.is_empty()).then(|| format!("wrote {}", files.join(", ")));
    let Some(ledger) = ledger else {
        return wrote;
    };
    let flags = ledger.flags();
    let mut line = format!("recorded run {run_id} in {}", ledger.path().display());
    if let Some(wrote) = wrote {
        line.push_str("; ");
        line.push_str(&wrote);
    }
    line.push_str(&format!(
        "; next: runbook show{flags} {run_id} (this run), runbook history{flags} (every run)"
    ));
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sandbox_run_names_its_ledger_its_reports_and_the_commands_with_sandbox() {
        let written = [PathBuf::from("r.json"), PathBuf::from("reports/r.md")];
        assert_eq!(
            where_recorded("R-1", Some(&LedgerChoice::Sandbox), &written).as_deref(),
            Some(
                "recorded run R-1 in .runbook/sandbox-ledger.db; wrote r.json, reports/r.md; next: runbook show --sandbox R-1 (this run), runbook history --sandbox (every run)"
            )
        );
    }

    #[test]
    fn a_run_without_reports_or_ledger_names_only_what_exists() {
        assert_eq!(
            where_recorded("R-1", Some(&LedgerChoice::Default), &[]).as_deref(),
            Some(
                "recorded run R-1 in .runbook/ledger.db; next: runbook show R-1 (this run), runbook history (every run)"
            )
        );
        assert_eq!(
            where_recorded("R-1", None, &[PathBuf::from("r.json")]).as_deref(),
            Some("wrote r.json")
        );
        assert_eq!(where_recorded("R-1", None, &[]), None);
    }
}
