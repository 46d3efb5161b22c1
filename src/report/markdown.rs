//! The Markdown report: a headline, the counts, then the items that need a person's attention. It is
//! made to be appended to `$GITHUB_STEP_SUMMARY` as it is.

use std::fmt::Write;

use super::{ItemOutcome, RunReport};

/// Items listed at most; the JSON report has them all.
const MAX_ROWS: usize = 200;

pub fn render(report: &RunReport, title: Option<&str>) -> String {
    let mut out = String::new();
    let t = &report.totals;
    let _ = writeln!(out, "## {}", escape(title.unwrap_or(&report.playbook)));
    let _ = writeln!(out);
    let mode = if report.dry_run { " (dry run)" } else { "" };
    let _ = writeln!(
        out,
        "Run `{}`{mode}, {} → {}.",
        report.run_id, report.started_at, report.finished_at
    );
    let _ = writeln!(out);
    if let Some(reason) = &report.aborted {
        let _ = writeln!(out, "> **Aborted:** {}", escape(reason));
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "| fetched | selected | retried | skipped | failed | planned |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} |",
        t.fetched, t.selected, t.retried, t.skipped, t.failed, t.planned
    );
    for (heading, outcome) in [
        ("Failed", ItemOutcome::Failed),
        ("Skipped", ItemOutcome::Skipped),
        ("Planned", ItemOutcome::Planned),
    ] {
        let rows: Vec<_> = report
            .items
            .iter()
            .filter(|i| i.outcome == outcome)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "### {heading} ({})", rows.len());
        let _ = writeln!(out);
        if outcome == ItemOutcome::Planned {
            let _ = writeln!(out, "| id | label | request |");
            let _ = writeln!(out, "|---|---|---|");
        } else {
            let _ = writeln!(out, "| id | label | status | HTTP | attempts | reason |");
            let _ = writeln!(out, "|---|---|---|---:|---:|---|");
        }
        for item in rows.iter().take(MAX_ROWS) {
            let label = escape(item.label.as_deref().unwrap_or(""));
            if let Some(req) = item
                .request
                .as_ref()
                .filter(|_| outcome == ItemOutcome::Planned)
            {
                let _ = writeln!(
                    out,
                    "| `{}` | {label} | `{} {}` |",
                    escape(&item.id),
                    req.method,
                    escape(&req.url)
                );
            } else {
                let http = item.http_status.map(|s| s.to_string()).unwrap_or_default();
                let status = escape(item.status.as_deref().unwrap_or(""));
                let reason = escape(item.message.as_deref().unwrap_or(""));
                let _ = writeln!(
                    out,
                    "| `{}` | {label} | {status} | {http} | {} | {reason} |",
                    escape(&item.id),
                    item.attempts
                );
            }
        }
        if rows.len() > MAX_ROWS {
            let _ = writeln!(
                out,
                "\n…and {} more (see the JSON report).",
                rows.len() - MAX_ROWS
            );
        }
    }
    if !report.errors.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "### Errors");
        let _ = writeln!(out);
        for e in &report.errors {
            let _ = writeln!(out, "- **{}**: {}", escape(&e.step), escape(&e.message));
        }
    }
    out
}

/// Keep table cells on one line and their pipes from splitting them.
fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}
