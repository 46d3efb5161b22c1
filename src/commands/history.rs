//! `runbook history`: the runs recorded in the ledger, newest first, one line each.

use std::path::Path;

use super::{ledger_exists, print_stdout};
use crate::exit;
use crate::playbook::load::{parse, read_source};
use crate::playbook::model::Playbook;

/// `runbook history`: the runs in the ledger, newest first; `json`: one JSON object per line.
pub fn history(ledger: &Path, playbook: Option<&str>, limit: usize, json: bool) -> i32 {
    if let Err(code) = ledger_exists(ledger) {
        return code;
    }
    let name = playbook.map(playbook_name);
    let opened = crate::ledger::Ledger::open_to_read(ledger);
    let runs = match opened
        .as_ref()
        .map_err(ToString::to_string)
        .and_then(|l| Ok(l.runs(name.as_deref(), limit)?))
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::ABORTED;
        }
    };
    if json {
        return print_stdout(&json_lines(&runs));
    }
    let mut out = String::new();
    out.push_str(&format!(
        "{:<24} {:<20} {:<21} {:<9} {:>7} {:>8} {:>7} {:>7} {:>6} {:>4}\n",
        "run",
        "playbook",
        "started",
        "state",
        "fetched",
        "selected",
        "retried",
        "skipped",
        "failed",
        "exit"
    ));
    for r in runs {
        let state = if r.dry_run {
            format!("{} (dry)", r.state)
        } else {
            r.state.clone()
        };
        out.push_str(&format!(
            "{:<24} {:<20} {:<21} {:<9} {:>7} {:>8} {:>7} {:>7} {:>6} {:>4}{}{}\n",
            r.id,
            r.playbook,
            r.started_at,
            state,
            r.fetched,
            r.selected,
            r.retried,
            r.skipped,
            r.failed,
            r.exit_code
                .map_or_else(|| "-".to_string(), |c| c.to_string()),
            r.resumed_from
                .as_ref()
                .map(|f| format!("  (resumed {f})"))
                .unwrap_or_default(),
            new_work(opened.as_ref().ok(), &r.id),
        ));
    }
    print_stdout(&out)
}

/// The runs as JSON Lines, for scripts and dashboards: one object per run, newest first.
fn json_lines(runs: &[crate::ledger::RunSummary]) -> String {
    let mut out = String::new();
    for r in runs {
        let line = serde_json::json!({
            "id": r.id,
            "playbook": r.playbook,
            "state": r.state,
            "dry_run": r.dry_run,
            "started": r.started_at,
            "finished": r.finished_at,
            "duration_seconds": duration_seconds(&r.started_at, r.finished_at.as_deref()),
            "exit_code": r.exit_code,
            "resumed_from": r.resumed_from,
            "counts": {
                "fetched": r.fetched,
                "selected": r.selected,
                "retried": r.retried,
                "skipped": r.skipped,
                "failed": r.failed,
            },
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

/// Seconds from `started` to `finished` (RFC 3339), to the millisecond; `None` for a run that
/// has not finished or a time that cannot be read.
fn duration_seconds(started: &str, finished: Option<&str>) -> Option<f64> {
    let started: jiff::Timestamp = started.parse().ok()?;
    let finished: jiff::Timestamp = finished?.parse().ok()?;
    let millis = finished.duration_since(started).as_millis();
    Some(millis as f64 / 1000.0)
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
