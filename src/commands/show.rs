//! `runbook show`: a past run's report, read back from the ledger and printed or written again.

use std::path::{Path, PathBuf};

use super::{ledger_exists, print_stdout};
use crate::exit;
use crate::report::{self, RunReport};

/// `runbook show`: a past run's report from the ledger, printed or written again.
pub fn show(ledger: &Path, run_id: &str, outputs: &[PathBuf]) -> i32 {
    if let Err(code) = ledger_exists(ledger) {
        return code;
    }
    let stored = match crate::ledger::Ledger::open_to_read(ledger).and_then(|l| l.report(run_id)) {
        Ok(Some(r)) => r,
        Ok(None) => {
            eprintln!(
                "error: the ledger {} has no finished report for run {run_id} (runbook history lists the runs)",
                ledger.display()
            );
            return exit::INVALID;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit::ABORTED;
        }
    };
    let report: RunReport = match serde_json::from_str(&stored) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: the stored report of {run_id} cannot be read: {e}");
            return exit::ABORTED;
        }
    };
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
    code
}
