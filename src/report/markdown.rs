//! The Markdown report: a headline, the counts, then every item by outcome — first those that need
//! a person's attention, then the ones retried (folded in a `<details>` block when there are many),
//! each with its note — then the chains of retries that created new work. A dry run's batch
//! requests are listed once each, with the items they carry. It is made to be appended to
//! `$GITHUB_STEP_SUMMARY` as it is.

use std::fmt::Write;

use super::{ItemOutcome, ItemReport, LISTED, RunReport};

/// Rows listed at most per section; the JSON report has them all. GitHub refuses a step summary
/// over 1 MiB, which some tens of thousands of rows would pass.
const MAX_ROWS: usize = 1000;

/// Sections of work that went well longer than this are folded.
const FOLD_OVER: usize = 20;

pub fn render(report: &RunReport, title: Option<&str>) -> String {
    let mut out = String::new();
    let t = &report.totals;
    let _ = writeln!(out, "## {}", escape(title.unwrap_or(&report.playbook)));
    let _ = writeln!(out);
    let _ = writeln!(out, "**{}**", report.headline());
    let _ = writeln!(out);
    let mode = report.kind_note();
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
            "\nPace (`rate: auto`, {}): reached {:.2}/s (started at {:.2}/s, highest {:.2}/s); slow-downs: {}, throttled answers: {}{announced}.",
            escape(&pace.scope),
            pace.reached,
            pace.start,
            pace.highest,
            pace.slowdowns,
            pace.throttled
        );
    }
    // Those that need attention first, then every other outcome: every item is listed.
    let rest = ItemOutcome::ALL.into_iter().filter(|o| !LISTED.contains(o));
    for outcome in LISTED.into_iter().chain(rest) {
        let rows: Vec<&ItemReport> = report
            .items
            .iter()
            .filter(|i| i.outcome == outcome)
            .collect();
        if !rows.is_empty() {
            section(&mut out, outcome, &rows);
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
        more(&mut out, chains.len());
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

/// One outcome's section: its heading and its table, folded when it lists many items that went
/// well.
fn section(out: &mut String, outcome: ItemOutcome, rows: &[&ItemReport]) {
    let (count, table) = if outcome == ItemOutcome::Planned {
        planned_table(rows)
    } else {
        (rows.len().to_string(), items_table(outcome, rows))
    };
    let heading = heading(outcome);
    let _ = writeln!(out);
    if !LISTED.contains(&outcome) && rows.len() > FOLD_OVER {
        // GitHub renders a table inside <details> only after a blank line.
        let _ = writeln!(
            out,
            "<details><summary>{heading} ({count})</summary>\n\n{table}\n</details>"
        );
    } else {
        let _ = write!(out, "### {heading} ({count})\n\n{table}");
    }
}

/// The items of one outcome, a row each, with their reason or note.
fn items_table(outcome: ItemOutcome, rows: &[&ItemReport]) -> String {
    let mut out = String::new();
    let last = if LISTED.contains(&outcome) {
        "reason"
    } else {
        "note"
    };
    let _ = writeln!(out, "| id | label | status | HTTP | attempts | {last} |");
    let _ = writeln!(out, "|---|---|---|---:|---:|---|");
    for item in rows.iter().take(MAX_ROWS) {
        let http = item.http_status.map(|s| s.to_string()).unwrap_or_default();
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {http} | {} | {} |",
            escape(&item.id),
            escape(item.label.as_deref().unwrap_or("")),
            escape(item.status.as_deref().unwrap_or("")),
            item.attempts,
            escape(item.message.as_deref().unwrap_or("")),
        );
    }
    more(&mut out, rows.len());
    out
}

/// A dry run's plan: a row per request; a batch request names the items it carries. Its heading's
/// count.
fn planned_table(rows: &[&ItemReport]) -> (String, String) {
    let groups = super::planned_groups(rows.iter().copied());
    let count = super::planned_count(rows.len(), groups.len());
    let request = |g: &super::PlannedGroup| {
        g.request
            .map(|r| format!("`{} {}`", r.method, escape(&r.url)))
            .unwrap_or_default()
    };
    let mut out = String::new();
    if groups.len() == rows.len() {
        let _ = writeln!(out, "| id | label | request |");
        let _ = writeln!(out, "|---|---|---|");
        for g in groups.iter().take(MAX_ROWS) {
            let item = g.items[0];
            let label = escape(item.label.as_deref().unwrap_or(""));
            let _ = writeln!(out, "| `{}` | {label} | {} |", escape(&item.id), request(g));
        }
    } else {
        let _ = writeln!(out, "| request | items |");
        let _ = writeln!(out, "|---|---|");
        for g in groups.iter().take(MAX_ROWS) {
            let items: Vec<String> = g
                .items
                .iter()
                .map(|i| match i.label.as_deref() {
                    Some(label) => format!("`{}` {}", escape(&i.id), escape(label)),
                    None => format!("`{}`", escape(&i.id)),
                })
                .collect();
            let _ = writeln!(out, "| {} | {} |", request(g), items.join(", "));
        }
    }
    more(&mut out, groups.len());
    (count, out)
}

/// The line that says how many rows beyond [`MAX_ROWS`] were left out.
fn more(out: &mut String, rows: usize) {
    if rows > MAX_ROWS {
        let _ = writeln!(
            out,
            "\n…and {} more (see the JSON report).",
            rows - MAX_ROWS
        );
    }
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
