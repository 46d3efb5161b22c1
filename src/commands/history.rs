//! `runbook history`: the runs recorded in the ledger, newest first, one line each.
//!
//! The table's columns are as wide as their widest cell (a state reads `finished (dry)`, a
//! playbook name may be long), text to the left and numbers to the right. Written by hand: the
//! table crates either align every column the same way or draw borders a script cannot split.

use std::path::Path;

use super::ledger_choice::{LedgerChoice, SANDBOX_LEDGER};
use super::play::file_key;
use super::{CommandError, print_stdout};
use crate::ledger::{Ledger, RunSummary};

/// The table's columns; the first [`LEFT_ALIGNED`] are text, the others numbers.
const COLUMNS: [&str; 11] = [
    "run", "playbook", "started", "state", "duration", "fetched", "selected", "retried", "skipped",
    "failed", "exit",
];
const LEFT_ALIGNED: usize = 4;

/// `runbook history`: the runs in the ledger, newest first; `json`: one JSON object per line.
pub(crate) fn history(
    choice: &LedgerChoice,
    playbook: Option<&str>,
    limit: usize,
    json: bool,
) -> Result<i32, CommandError> {
    let opened = choice.open("history")?;
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
    if *choice == LedgerChoice::Default && Path::new(SANDBOX_LEDGER).exists() {
        eprintln!(
            "note: sandbox runs are recorded apart, in {SANDBOX_LEDGER}: runbook history --sandbox"
        );
    }
    let rows: Vec<(Vec<String>, String)> = runs
        .iter()
        .map(|r| {
            (
                cells(r),
                notes(r, new_work.get(&r.id).copied().unwrap_or(0)),
            )
        })
        .collect();
    print_stdout(&table(&rows))
}

/// One run's cells, in [`COLUMNS`] order.
fn cells(r: &RunSummary) -> Vec<String> {
    let state = if r.dry_run {
        format!("{} (dry)", r.state)
    } else {
        r.state.clone()
    };
    let duration = duration_seconds(&r.started_at, r.finished_at.as_deref())
        .map_or_else(|| "-".to_string(), short_duration);
    vec![
        r.id.clone(),
        r.playbook.clone(),
        r.started_at.clone(),
        state,
        duration,
        r.fetched.to_string(),
        r.selected.to_string(),
        r.retried.to_string(),
        r.skipped.to_string(),
        r.failed.to_string(),
        r.exit_code
            .map_or_else(|| "-".to_string(), |c| c.to_string()),
    ]
}

/// What follows a run's cells: the run it resumed, and how many of its retries created new work
/// (`links`).
fn notes(r: &RunSummary, links: u64) -> String {
    let resumed = r
        .resumed_from
        .as_ref()
        .map(|f| format!("  (resumed {f})"))
        .unwrap_or_default();
    format!("{resumed}{}", new_work_note(links))
}

/// The header and `rows`, each column as wide as its widest cell, one space between columns.
fn table(rows: &[(Vec<String>, String)]) -> String {
    let mut widths: Vec<usize> = COLUMNS.iter().map(|c| c.chars().count()).collect();
    for (cells, _) in rows {
        for (width, cell) in widths.iter_mut().zip(cells) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String], notes: &str| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, &w))| {
                if i < LEFT_ALIGNED {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        format!("{}{notes}\n", padded.join(" "))
    };
    let header: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
    let mut out = line(&header, "");
    for (cells, notes) in rows {
        out.push_str(&line(cells, notes));
    }
    out
}

/// A run's duration in one short word: `0.8s`, `42.0s`, `3m04s`, `2h05m`.
fn short_duration(seconds: f64) -> String {
    let whole = seconds.max(0.0).round() as u64;
    if seconds < 60.0 {
        format!("{:.1}s", seconds.max(0.0))
    } else if whole < 3600 {
        format!("{}m{:02}s", whole / 60, whole % 60)
    } else {
        format!("{}h{:02}m", whole / 3600, (whole % 3600) / 60)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: &str, playbook: &str) -> (Vec<String>, String) {
        let mut cells: Vec<String> = COLUMNS.iter().map(|_| "1".to_string()).collect();
        cells[0] = "20261203T145824Z-28df".into();
        cells[1] = playbook.into();
        cells[2] = "2026-12-03T14:58:24Z".into();
        cells[3] = state.into();
        (cells, String::new())
    }

    /// Regression: `finished (dry)` is wider than the state column was, and shifted every column
    /// after it on its row.
    #[test]
    fn columns_stay_aligned_whatever_the_width_of_a_cell() {
        let text = table(&[
            row("finished (dry)", "a-very-long-playbook-name-indeed"),
            row("finished", "b"),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        let widths: Vec<usize> = lines.iter().map(|l| l.chars().count()).collect();
        assert!(widths.iter().all(|w| *w == widths[0]), "{text}");
        // Every count sits under the end of its header, every state under the start of its own.
        let end_of = |name: &str| lines[0].find(name).map(|at| at + name.len());
        for line in &lines[1..] {
            assert_eq!(line.find("finished"), lines[0].find("state"), "{text}");
            assert_eq!(line.rfind(" 1").map(|at| at + 2), end_of("exit"), "{text}");
        }
    }

    #[test]
    fn durations_are_one_short_word() {
        assert_eq!(short_duration(0.84), "0.8s");
        assert_eq!(short_duration(42.0), "42.0s");
        assert_eq!(short_duration(184.2), "3m04s");
        assert_eq!(short_duration(7500.0), "2h05m");
        assert_eq!(short_duration(-1.0), "0.0s");
    }
}
