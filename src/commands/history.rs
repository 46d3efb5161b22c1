//! `runbook history`: the runs recorded in the ledger, newest first, one line each.

use std::path::Path;

use super::play::file_key;
use super::{CommandError, ledger_exists, print_stdout};
use crate::ledger::Ledger;

/// `runbook history`: the runs in the ledger, newest first; `json`: one JSON object per line.
pub(crate) fn history(
    ledger: &Path,
    playbook: Option<&str>,
    limit: usize,
    json: bool,
) -> Result<i32, CommandError> {
    ledger_exists(ledger)?;
    let opened = Ledger::open_to_read(ledger)?;
    let name = playbook
        .map(|given| playbook_name(&opened, given))
        .transpose()
        .map_err(CommandError::Aborted)?;
    let runs = opened.runs(name.as_deref(), limit)?;
    let ids: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
    // Unreadable counts leave the notes out, as before.
    let new_work = opened.links_per_run(&ids).unwrap_or_default();
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
            new_work_note(new_work.get(&r.id).copied().unwrap_or(0)),
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

/// `history`'s note on a run's retries that created new work (chains it extended).
fn new_work_note(links: u64) -> String {
    match links {
        0 => String::new(),
        1 => "  (1 retry created new work)".to_string(),
        n => format!("  ({n} retries created new work)"),
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
        .playbook_of_file(&file_key(path))
        .map_err(|e| e.to_string())?
        .unwrap_or_else(|| given.to_string()))
}
