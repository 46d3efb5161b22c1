//! `runbook history`: the runs recorded in the ledger, newest first, one line each.

use std::path::Path;

use super::play::file_key;
use super::{CommandError, ledger_exists, print_stdout};
use crate::ledger::Ledger;

/// `runbook history`: the runs in the ledger, newest first.
pub(crate) fn history(
    ledger: &Path,
    playbook: Option<&str>,
    limit: usize,
) -> Result<i32, CommandError> {
    ledger_exists(ledger)?;
    let opened = Ledger::open_to_read(ledger).map_err(CommandError::Aborted)?;
    let name = playbook
        .map(|given| playbook_name(&opened, given))
        .transpose()
        .map_err(CommandError::Aborted)?;
    let runs = opened
        .runs(name.as_deref(), limit)
        .map_err(CommandError::Aborted)?;
    let mut out = String::new();
    out.push_str(&format!(
        "{:<24} {:<20} {:<21} {:<9} {:>7} {:>8} {:>7} {:>7} {:>6}\n",
        "run",
        "playbook",
        "started",
        "state",
        "fetched",
        "selected",
        "retried",
        "skipped",
        "failed"
    ));
    for r in runs {
        let state = if r.dry_run {
            format!("{} (dry)", r.state)
        } else {
            r.state.clone()
        };
        out.push_str(&format!(
            "{:<24} {:<20} {:<21} {:<9} {:>7} {:>8} {:>7} {:>7} {:>6}{}{}\n",
            r.id,
            r.playbook,
            r.started_at,
            state,
            r.fetched,
            r.selected,
            r.retried,
            r.skipped,
            r.failed,
            r.resumed_from
                .as_ref()
                .map(|f| format!("  (resumed {f})"))
                .unwrap_or_default(),
            new_work(&opened, &r.id),
        ));
    }
    print_stdout(&out)
}

/// `history`'s note on the retries of run `id` that created new work (chains it extended).
fn new_work(ledger: &Ledger, id: &str) -> String {
    match ledger.links_of_run(id) {
        Ok(links) if links.len() == 1 => "  (1 retry created new work)".to_string(),
        Ok(links) if !links.is_empty() => {
            format!("  ({} retries created new work)", links.len())
        }
        _ => String::new(),
    }
}

/// The playbook name runs are listed by: the name recorded by the last run of the file `given`,
/// or `given` itself as a name. The file is not read: a run recorded its name when it started.
fn playbook_name(ledger: &Ledger, given: &str) -> Result<String, String> {
    let path = Path::new(given);
    if !path.is_file() {
        return Ok(given.to_string());
    }
    Ok(ledger
        .playbook_of_file(&file_key(path))?
        .unwrap_or_else(|| given.to_string()))
}
