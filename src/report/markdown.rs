//! The Markdown report: a headline, the counts, then the items that need a person's attention, then
//! the chains of retries that created new work. It is made to be appended to
//! `$GITHUB_STEP_SUMMARY` as it is.

use std::fmt::Write;

use super::{ItemOutcome, RunReport};

/// Items listed at most; the JSON report has them all.
const MAX_ROWS: usize = 200;

pub fn render(report: &RunReport, title: Option<&str>) -> String {
    let mut out = String::new();
    let t = &report.totals;
    let _ = writeln!(out, "## {}", escape(title.unwrap_or(&report.playbook)));
    let _ = writeln!(out);
    let _ = writeln!(out, "**{}**", report.headline());
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
    let mut columns = vec![
        ("fetched", t.fetched),
        ("selected", t.selected),
        ("retried", t.retried),
        ("skipped", t.skipped),
        ("failed", t.failed),
    ];
    columns.extend(t.extra());
    let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
    let values: Vec<String> = columns.iter().map(|(_, v)| v.to_string()).collect();
    let _ = writeln!(out, "| {} |", names.join(" | "));
    let _ = writeln!(out, "|{}", "---:|".repeat(names.len()));
    let _ = writeln!(out, "| {} |", values.join(" | "));
    if let Some(from) = &report.resumed_from {
        let _ = writeln!(out, "\nResumed run `{from}`.");
    }
    for pace in &report.pace {
        let announced = if pace.announced {
            ", limit announced by the provider"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "\nPace (`rate: auto`, {}): reached {:.2}/s (started at {:.2}/s, highest {:.2}/s); slowed down {} times on {} throttled answers{announced}.",
            escape(&pace.scope),
            pace.reached,
            pace.start,
            pace.highest,
            pace.slowdowns,
            pace.throttled
        );
    }
    for outcome in super::LISTED {
        let heading = heading(outcome);
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
    let chains = report.chains();
    if !chains.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "### Chains ({})", chains.len());
        let _ = writeln!(out);
        let _ = writeln!(out, "| chain (original → newest) | outcome |");
        let _ = writeln!(out, "|---|---|");
        for (chain, outcome) in chains.iter().take(MAX_ROWS) {
            let chain: Vec<String> = chain.iter().map(|id| format!("`{}`", escape(id))).collect();
            let _ = writeln!(out, "| {} | {} |", chain.join(" → "), outcome.as_str());
        }
        if chains.len() > MAX_ROWS {
            let _ = writeln!(
                out,
                "\n…and {} more (see the JSON report).",
                chains.len() - MAX_ROWS
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

fn heading(outcome: ItemOutcome) -> &'static str {
    match outcome {
        ItemOutcome::Failed => "Failed",
        ItemOutcome::StillFailing => "Still failing",
        ItemOutcome::Unknown => "Unknown (may have been carried out)",
        ItemOutcome::NotSent => "Not sent (the run stopped first)",
        ItemOutcome::Chronic => "Chronic (over their retry budget)",
        ItemOutcome::Pending => "Pending",
        ItemOutcome::Skipped => "Skipped",
        ItemOutcome::Planned => "Planned",
        ItemOutcome::Retried => "Retried",
        ItemOutcome::Recovered => "Recovered",
    }
}

/// Keep table cells on one line and their pipes from splitting them.
fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}
