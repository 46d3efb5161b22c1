//! The terminal summary: the counts, then the failed and skipped items with their reasons, then the
//! chains of retries that created new work (original → new ids).

use std::fmt::Write;

use super::{ItemOutcome, ItemReport, RunReport};
use crate::secrets::Redactor;
use crate::style::Paint;

/// Items listed per outcome on a terminal; the file reports have them all.
const MAX_ROWS: usize = 50;
const MAX_REASON: usize = 100;

/// The summary. A reason too long for its line is redacted by `redactor` before it is cut (the
/// caller redacts the whole summary as well).
pub fn render(report: &RunReport, redactor: &Redactor) -> String {
    render_painted(report, redactor, Paint::none())
}

/// The summary, with the outcomes' counts and headings in their colours when `paint` is on.
pub fn render_painted(report: &RunReport, redactor: &Redactor, paint: Paint) -> String {
    let count = |outcome: ItemOutcome, name: &str, n: u64| {
        let text = format!("{name} {n}");
        if n == 0 {
            text
        } else {
            paint.tone(outcome.tone(), &text)
        }
    };
    let mut out = String::new();
    let t = &report.totals;
    let mode = report.kind_note();
    let _ = writeln!(
        out,
        "{}{mode}: run {}: {}",
        report.playbook,
        report.run_id,
        report.headline()
    );
    let extra: String = t
        .extra()
        .iter()
        .map(|(name, n)| {
            let outcome = name.parse().unwrap_or(ItemOutcome::Skipped);
            format!("  {}", count(outcome, name, *n))
        })
        .collect();
    let _ = writeln!(
        out,
        "  fetched {}  selected {}  {}  skipped {}  {}{extra}",
        t.fetched,
        t.selected,
        count(ItemOutcome::Retried, "retried", t.retried),
        t.skipped,
        count(ItemOutcome::Failed, "failed", t.failed),
    );
    if let Some(from) = &report.resumed_from {
        let _ = writeln!(out, "  resumed run {from}");
    }
    if let Some(reason) = &report.aborted {
        let _ = writeln!(out, "  ABORTED: {reason}");
    }
    for e in &report.errors {
        let _ = writeln!(out, "  error in step {}: {}", e.step, e.message);
    }
    for outcome in super::LISTED {
        let rows: Vec<_> = report
            .items
            .iter()
            .filter(|i| i.outcome == outcome)
            .collect();
        if rows.is_empty() {
            continue;
        }
        if outcome == ItemOutcome::Planned {
            planned(&mut out, &rows, redactor);
            continue;
        }
        let heading = format!("{} ({}):", outcome.as_str(), rows.len());
        let _ = writeln!(out, "\n  {}", paint.tone(outcome.tone(), &heading));
        let id_width = id_width(&rows);
        for item in rows.iter().take(MAX_ROWS) {
            let message = item.message.as_deref().unwrap_or("");
            // Messages about an answer usually name its status already.
            let http = item
                .http_status
                .filter(|_| !message.starts_with("HTTP "))
                .map(|s| format!("HTTP {s}: "))
                .unwrap_or_default();
            let detail = format!("{http}{message}");
            let label = label(item);
            let _ = writeln!(
                out,
                "    {:<id_width$}{label}  {}",
                item.id,
                shorten(&detail, MAX_REASON, redactor)
            );
        }
        if rows.len() > MAX_ROWS {
            let _ = writeln!(
                out,
                "    …and {} more (write a report with -o report.json)",
                rows.len() - MAX_ROWS
            );
        }
    }
    let chains = report.chains();
    if !chains.is_empty() {
        let _ = writeln!(out, "\n  chains ({}):", chains.len());
        for (chain, outcome) in chains.iter().take(MAX_ROWS) {
            let _ = writeln!(out, "    {}  ({})", chain.join(" → "), outcome.as_str());
        }
        if chains.len() > MAX_ROWS {
            let _ = writeln!(
                out,
                "    …and {} more (write a report with -o report.json)",
                chains.len() - MAX_ROWS
            );
        }
    }
    out
}

/// A dry run's plan: each request once, as it would be sent; a batch request is followed by the
/// items it carries.
fn planned(out: &mut String, rows: &[&ItemReport], redactor: &Redactor) {
    let groups = super::planned_groups(rows.iter().copied());
    let _ = writeln!(
        out,
        "\n  planned ({}):",
        super::planned_count(rows.len(), groups.len())
    );
    let id_width = id_width(rows);
    for group in groups.iter().take(MAX_ROWS) {
        let request = group
            .request
            .map(|req| {
                let body = req
                    .body
                    .as_ref()
                    .map(|b| format!(" {b}"))
                    .unwrap_or_default();
                shorten(
                    &format!("{} {}{body}", req.method, req.url),
                    MAX_REASON,
                    redactor,
                )
            })
            .unwrap_or_default();
        if let [item] = group.items.as_slice() {
            let label = label(item);
            let _ = writeln!(out, "    {:<id_width$}{label}  {request}", item.id);
            continue;
        }
        let items: Vec<String> = group
            .items
            .iter()
            .map(|i| format!("{}{}", i.id, label(i)))
            .collect();
        let _ = writeln!(out, "    {request}");
        let _ = writeln!(
            out,
            "      for {} items: {}",
            items.len(),
            shorten(&items.join(", "), MAX_REASON * 2, redactor)
        );
    }
    if groups.len() > MAX_ROWS {
        let _ = writeln!(
            out,
            "    …and {} more (write a report with -o report.json)",
            groups.len() - MAX_ROWS
        );
    }
}

/// The width of the id column: the longest id listed, within bounds.
fn id_width(rows: &[&ItemReport]) -> usize {
    rows.iter()
        .take(MAX_ROWS)
        .map(|i| i.id.chars().count())
        .max()
        .unwrap_or(2)
        .min(40)
}

/// An item's label as it follows its id: ` (label)`, or nothing.
fn label(item: &ItemReport) -> String {
    item.label
        .as_deref()
        .map(|l| format!(" ({l})"))
        .unwrap_or_default()
}

fn shorten(text: &str, max: usize, redactor: &Redactor) -> String {
    redactor.excerpt(&text.replace(['\n', '\r'], " "), max)
}
