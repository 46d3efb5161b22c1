//! The metrics report (`-o metrics.prom`): the Prometheus text exposition format (version 0.0.4),
//! for node_exporter's textfile collector or a Pushgateway — the usual way to alert on a cron job
//! that stopped recovering (`time() - runbook_last_success_timestamp_seconds > 86400`).
//!
//! Invariants:
//! - Every sample carries the labels `playbook` and `provider`; `runbook_items` adds `outcome`,
//!   with every outcome present (zero included), so a rate or ratio never meets a missing series.
//! - Each metric family has its `# HELP` and `# TYPE` lines, once, before its samples.
//! - `runbook_last_success_timestamp_seconds` is the end of the last run that exited 0 and was not
//!   a dry run. A run that did not succeed carries over the value from the file it replaces (same
//!   labels), so the metric keeps telling how long ago the job last worked; with none known it is
//!   left out (alert on `absent(...)` for a job that never succeeded).
//! - The file is written like every report: whole or not at all (temporary file, then rename), so
//!   the collector never reads half of it.

use std::fmt::Write;

use super::{ItemOutcome, RunReport};

const LAST_SUCCESS: &str = "runbook_last_success_timestamp_seconds";

/// Render `report` as Prometheus text; `previous` is the file this one replaces, if any.
pub fn render(report: &RunReport, previous: Option<&str>) -> String {
    let labels = format!(
        "playbook=\"{}\",provider=\"{}\"",
        escape_label(&report.playbook),
        escape_label(&report.provider)
    );
    let mut out = String::new();
    family(
        &mut out,
        "runbook_items",
        "Items of the last run by outcome (retried counts every item whose retry was accepted).",
    );
    for outcome in ItemOutcome::ALL {
        let n = report.items.iter().filter(|i| i.outcome == outcome).count();
        let _ = writeln!(
            out,
            "runbook_items{{{labels},outcome=\"{}\"}} {n}",
            outcome.as_str()
        );
    }
    let gauges: [(&str, &str, String); 6] = [
        (
            "runbook_items_fetched",
            "Items the last run fetched.",
            report.totals.fetched.to_string(),
        ),
        (
            "runbook_items_selected",
            "Items the last run selected for retry.",
            report.totals.selected.to_string(),
        ),
        (
            "runbook_run_duration_seconds",
            "How long the last run took.",
            format!("{:.3}", super::duration_seconds(report)),
        ),
        (
            "runbook_last_run_timestamp_seconds",
            "When the last run finished (Unix time).",
            format!("{:.3}", unix_seconds(&report.finished_at).unwrap_or(0.0)),
        ),
        (
            "runbook_run_aborted",
            "1 when the last run was aborted (authentication refused, a guard, an interruption).",
            u8::from(report.aborted.is_some()).to_string(),
        ),
        (
            "runbook_exit_code",
            "The exit code the last run's results call for (0 ok, 1 some failed, 3 aborted).",
            report.exit_code().to_string(),
        ),
    ];
    for (name, help, value) in gauges {
        family(&mut out, name, help);
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
    let succeeded = report.exit_code() == crate::exit::OK && !report.dry_run;
    let last_success = if succeeded {
        unix_seconds(&report.finished_at).map(|s| format!("{s:.3}"))
    } else {
        previous.and_then(|text| carried_over(text, &labels))
    };
    if let Some(value) = last_success {
        family(
            &mut out,
            LAST_SUCCESS,
            "When a run last finished with exit code 0, dry runs aside (Unix time).",
        );
        let _ = writeln!(out, "{LAST_SUCCESS}{{{labels}}} {value}");
    }
    out
}

fn family(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
}

/// The last success recorded with the same labels in a file this one replaces.
fn carried_over(previous: &str, labels: &str) -> Option<String> {
    let prefix = format!("{LAST_SUCCESS}{{{labels}}} ");
    previous
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map(str::trim)
        .filter(|v| v.parse::<f64>().is_ok_and(f64::is_finite))
        .map(str::to_string)
}

fn unix_seconds(timestamp: &str) -> Option<f64> {
    let t = timestamp.parse::<jiff::Timestamp>().ok()?;
    Some(t.as_nanosecond() as f64 / 1e9)
}

/// A label value as the exposition format quotes it: backslash, double quote and newline escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }

    #[test]
    fn last_success_is_carried_over_only_with_the_same_labels() {
        let labels = "playbook=\"p\",provider=\"http\"";
        let old = format!(
            "# HELP x\n{LAST_SUCCESS}{{playbook=\"other\",provider=\"http\"}} 5\n{LAST_SUCCESS}{{{labels}}} 1700000000.000\n"
        );
        assert_eq!(
            carried_over(&old, labels).as_deref(),
            Some("1700000000.000")
        );
        assert_eq!(carried_over("garbage", labels), None);
        assert_eq!(
            carried_over(&format!("{LAST_SUCCESS}{{{labels}}} NaN\n"), labels),
            None
        );
    }
}
