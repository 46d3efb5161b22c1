//! `runbook show`: a past run's report, read back from the ledger and printed or written again.
//!
//! The run is named by its id, by a prefix of it that only one run has, or by `last` (the newest
//! run). A run the default ledger lacks but the sandbox ledger has is pointed at there
//! (`runbook show --sandbox ID`), never shown from it silently: the two hold different worlds.

use std::path::PathBuf;

use super::ledger_choice::LedgerChoice;
use super::{CommandError, print_stdout};
use crate::exit;
use crate::ledger::Ledger;
use crate::report::{self, RunReport};

/// Candidates an ambiguous prefix lists at most.
const MAX_CANDIDATES: usize = 10;

/// `runbook show`: a past run's report from the ledger, printed or written again.
/// A report that cannot be written is said and the others still are (exit 1).
pub(crate) fn show(
    choice: &LedgerChoice,
    run_id: &str,
    outputs: &[PathBuf],
) -> Result<i32, CommandError> {
    let (ledger, id) = find(choice, run_id)?;
    let stored = ledger.report(&id)?.ok_or_else(|| {
        CommandError::Invalid(format!(
            "run {id} has no report yet: it is still running, or it was stopped before it finished (runbook history{} shows its state; play --resume continues it)",
            choice.flags()
        ))
    })?;
    let report: RunReport = serde_json::from_str(&stored).map_err(|e| {
        CommandError::Aborted(format!("the stored report of {id} cannot be read: {e}"))
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

/// What `show` was asked for, looked up in one ledger.
enum Lookup {
    Found(String),
    /// No run has that id or prefix (or, for `last`, the ledger has no run at all).
    Missing,
    /// More than one run starts with the prefix: the newest few.
    Ambiguous(Vec<String>),
}

/// The ledger to read and the full id of the run `asked` names in it; when it is not there, why,
/// with a pointer to the sandbox ledger if that one has it.
fn find(choice: &LedgerChoice, asked: &str) -> Result<(Ledger, String), CommandError> {
    let in_sandbox = || {
        let sandbox = choice.sandbox_instead()?;
        match look_up(&sandbox, asked).ok()? {
            Lookup::Found(id) => Some(format!(
                "it is in the sandbox ledger: runbook show --sandbox {id}"
            )),
            _ => None,
        }
    };
    let ledger = match choice.open("show") {
        Ok(ledger) => ledger,
        Err(CommandError::Invalid(why)) => {
            return Err(CommandError::Invalid(match in_sandbox() {
                Some(note) => format!("no ledger at {}; {note}", choice.path().display()),
                None => why,
            }));
        }
        Err(other) => return Err(other),
    };
    let path = choice.path();
    let flags = choice.flags();
    match look_up(&ledger, asked)? {
        Lookup::Found(id) => Ok((ledger, id)),
        Lookup::Missing if asked == "last" => Err(CommandError::Invalid(format!(
            "the ledger {} has no runs yet{}",
            path.display(),
            in_sandbox().map(|n| format!("; {n}")).unwrap_or_default()
        ))),
        Lookup::Missing => Err(CommandError::Invalid(format!(
            "the ledger {} has no run {asked} (runbook history{flags} lists the runs){}",
            path.display(),
            in_sandbox().map(|n| format!("; {n}")).unwrap_or_default()
        ))),
        Lookup::Ambiguous(ids) => {
            let more = if ids.len() > MAX_CANDIDATES {
                ", …"
            } else {
                ""
            };
            let listed: Vec<&str> = ids
                .iter()
                .take(MAX_CANDIDATES)
                .map(String::as_str)
                .collect();
            Err(CommandError::Invalid(format!(
                "{asked} is the start of more than one run id in {}: {}{more}; give more of the id (runbook history{flags} lists the runs)",
                path.display(),
                listed.join(", ")
            )))
        }
    }
}

/// The run `asked` names in `ledger`: `last`, a whole id, or a prefix only one id has.
fn look_up(ledger: &Ledger, asked: &str) -> Result<Lookup, CommandError> {
    if asked == "last" {
        return Ok(ledger
            .runs(None, 1)?
            .into_iter()
            .next()
            .map_or(Lookup::Missing, |run| Lookup::Found(run.id)));
    }
    if ledger.has_run(asked)? {
        return Ok(Lookup::Found(asked.to_string()));
    }
    if asked.is_empty() {
        return Ok(Lookup::Missing);
    }
    let mut ids = ledger.run_ids_starting_with(asked, MAX_CANDIDATES + 1)?;
    Ok(match ids.len() {
        0 => Lookup::Missing,
        1 => Lookup::Found(ids.remove(0)),
        _ => Lookup::Ambiguous(ids),
    })
}
