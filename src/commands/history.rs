//! `runbook history`: the runs recorded in the ledger, newest first, one line each.

use std::path::Path;

use super::{ledger_exists, print_stdout};
use crate::exit;
use crate::playbook::load::{parse, read_source};
use crate::playbook::model::Playbook;

/// `runbook history`: the runs in the ledger, newest first.
pub fn history(ledger: &Path, playbook: Option<&str>, limit: usize) -> i32 {
    if let Err(code) = ledger_exists(ledger) {
        return code;
    }
    let name = playbook.map(playbook_name);
    let opened = crate::ledger::Ledger::open_to_read(ledger);
    let runs = match opened
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|l| l.runs(name.as_deref(), limit))
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::ABORTED;
        }
    };
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
            new_work(opened.as_ref().ok(), &r.id),
        ));
    }
    print_stdout(&out)
}

/// `history`'s note on the retries of run `id` that created new work (chains it extended).
fn new_work(ledger: Option<&crate::ledger::Ledger>, id: &str) -> String {
    match ledger.map(|l| l.links_of_run(id)) {
        Some(Ok(links)) if links.len() == 1 => "  (1 retry created new work)".to_string(),
        Some(Ok(links)) if !links.is_empty() => {
            format!("  ({} retries created new work)", links.len())
        }
        _ => String::new(),
    }
}

/// A playbook's name from a file (its `name:`) or as given.
fn playbook_name(given: &str) -> String {
    let path = Path::new(given);
    let from_file = path.is_file().then(|| read_source(path).ok()).flatten();
    from_file
        .and_then(|file| parse::<Playbook>(&file).ok())
        .map_or_else(|| given.to_string(), |p| p.name.value)
}
