//! What `--quiet` keeps of a run: one summary line, then one line per item that needs a person
//! (`failed`, `unknown`, `still_failing`: the outcomes that make the run exit 1). A clean night
//! prints the summary only, so a cron log holds one line per run and the failures under it.
//!
//! The lines are log lines ([`LogWriter`]): timestamped (or JSON objects with `--log-format json`)
//! when they go to a file, bare on a terminal.

use serde_json::json;

use super::plain::{LogWriter, fields};
use crate::report::{ItemOutcome, RunReport};

/// The outcomes whose items `--quiet` lists.
const LISTED: [ItemOutcome; 3] = [
    ItemOutcome::Failed,
    ItemOutcome::StillFailing,
    ItemOutcome::Unknown,
];

/// The summary's words: `beam-nightly: run R: retried 10 of 12 selected (fetched 14, skipped 0,
/// failed 2, not_sent 3); exit 1`.
pub(crate) fn summary_text(report: &RunReport, code: i32) -> String {
    let t = &report.totals;
    let mode = if report.dry_run { " (dry run)" } else { "" };
    let mut counts = format!(
        "fetched {}, skipped {}, failed {}",
        t.fetched, t.skipped, t.failed
    );
    for (name, n) in t.extra() {
        counts.push_str(&format!(", {name} {n}"));
    }
    let aborted = report
        .aborted
        .as_ref()
        .map(|why| format!("; aborted: {why}"))
        .unwrap_or_default();
    format!(
        "{}{mode}: run {}: {} ({counts}){aborted}; exit {code}",
        report.playbook,
        report.run_id,
        report.headline()
    )
}

/// Write `--quiet`'s lines for `report`, which exits with `code`, to `out`.
pub fn write_quiet(out: &mut dyn std::io::Write, log: &LogWriter, report: &RunReport, code: i32) {
    let summary = fields(json!({
        "playbook": report.playbook,
        "run_id": report.run_id,
        "dry_run": report.dry_run,
        "headline": report.headline(),
        "totals": report.totals,
        "aborted": report.aborted,
        "exit_code": code,
    }));
    log.write(out, "summary", &summary_text(report, code), summary);
    for item in report.items.iter().filter(|i| LISTED.contains(&i.outcome)) {
        let message = item.message.as_deref().unwrap_or("");
        let text = format!(
            "{} {} (step {}): {message}",
            item.outcome.as_str(),
            item.id,
            item.step
        );
        let item_fields = fields(json!({
            "step": item.step,
            "id": item.id,
            "outcome": item.outcome,
            "http_status": item.http_status,
            "message": item.message,
        }));
        log.write(out, "item", text.trim_end_matches([':', ' ']), item_fields);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::LogFormat;
    use crate::report::{ItemReport, Totals};
    use crate::secrets::Redactor;

    fn item(id: &str, outcome: ItemOutcome, message: Option<&str>) -> ItemReport {
        ItemReport {
            id: id.into(),
            label: None,
            status: None,
            outcome,
            http_status: Some(404),
            attempts: 1,
            message: message.map(str::to_string),
            step: "retry".into(),
            request: None,
            new_id: None,
            chain: Vec::new(),
        }
    }

    fn report(items: Vec<ItemReport>) -> RunReport {
        let totals = Totals::of(&items, 3, 3);
        RunReport {
            playbook: "nightly".into(),
            provider: "http".into(),
            run_id: "R".into(),
            dry_run: false,
            sandbox: false,
            started_at: String::new(),
            finished_at: String::new(),
            totals,
            items,
            aborted: None,
            resumed_from: None,
            errors: Vec::new(),
            pace: Vec::new(),
        }
    }

    fn quiet(report: &RunReport, code: i32) -> String {
        let mut out = Vec::new();
        let log = LogWriter::new(LogFormat::Plain, false, Redactor::default());
        write_quiet(&mut out, &log, report, code);
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn a_clean_run_is_one_line_and_failures_follow_it() {
        let clean = report(vec![item("a", ItemOutcome::Retried, None)]);
        assert_eq!(
            quiet(&clean, 0),
            "nightly: run R: retried 1 of 3 selected (fetched 3, skipped 0, failed 0); exit 0\n"
        );
        let bad = report(vec![
            item("a", ItemOutcome::Retried, None),
            item("b", ItemOutcome::Failed, Some("HTTP 404: no such task")),
            item(
                "c",
                ItemOutcome::NotSent,
                Some("not sent: the run was stopped"),
            ),
            item("d", ItemOutcome::Unknown, None),
        ]);
        assert_eq!(
            quiet(&bad, 1),
            "nightly: run R: retried 1 of 3 selected (fetched 3, skipped 0, failed 1, unknown 1, not_sent 1); exit 1\n\
             failed b (step retry): HTTP 404: no such task\n\
             unknown d (step retry)\n"
        );
    }

    #[test]
    fn json_lines_carry_the_totals_and_each_failed_item() {
        let bad = report(vec![item("b", ItemOutcome::Failed, Some("gone"))]);
        let mut out = Vec::new();
        let log = LogWriter::new(LogFormat::Json, true, Redactor::default());
        write_quiet(&mut out, &log, &bad, 1);
        let text = String::from_utf8(out).expect("UTF-8");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["event"], "summary");
        assert_eq!(lines[0]["totals"]["failed"], 1);
        assert_eq!(lines[0]["exit_code"], 1);
        assert_eq!(lines[1]["event"], "item");
        assert_eq!(
            (&lines[1]["id"], &lines[1]["outcome"], &lines[1]["message"]),
            (&json!("b"), &json!("failed"), &json!("gone"))
        );
    }
}
