//! `runbook show`: a past run's report, read back from the ledger and printed or written again.

use std::path::{Path, PathBuf};

use super::{CommandError, ledger_exists, print_stdout};
use crate::exit;
use crate::ledger::Ledger;
use crate::report::{self, RunReport};

/// `runbook show`: a past run's report from the ledger, printed or written again.
/// A report that cannot be written is said and the others still are (exit 1).
pub(crate) fn show(ledger: &Path, run_id: &str, outputs: &[PathBuf]) -> Result<i32, CommandError> {
    ledger_exists(ledger)?;
    let stored = Ledger::open_to_read(ledger)
        .and_then(|l| l.report(run_id))?
        .ok_or_else(|| {
            CommandError::Invalid(format!(
                "the ledger {} has no finished report for run {run_id} (runbook history lists the runs)",
                ledger.display()
            ))
        })?;
    let report: RunReport = serde_json::from_str(&stored).map_err(|e| {
        CommandError::Aborted(format!("the stored report of {run_id} cannot be read: {e}"))
    })?;
    if outputs.is_empty() {
        // The stored report was redacted when it was written; no secret is known here.
        return print_stdout(&report::table::render(
            &report,
            &crate::secrets::Redactor::default(),
        ));
    }
    let mut code = exit::OK;
    for path in outputs {
        let written = report::render_for(path, &report, None)
            .and_then(|text| report::write_atomically(path, &text).map_err(|e| e.to_string()));
        match written {
            Ok(()) => eprintln!("wrote {}", path.display()),
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", path.display());
                code = exit::SOME_FAILED;
            }
        }
    }
    Ok(code)
}
