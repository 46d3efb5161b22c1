//! The terminal summary: the counts, then the failed and skipped items with their reasons, then the
//! chains of retries that created new work (original → new ids).

use std::fmt::Write;

use super::{ItemOutcome, RunReport};
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
    let mode = if report.dry_run { " (dry run)" } else { "" };
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
        let heading = format!("{} ({}):", outcome.as_str(), rows.len());
        let _ = writeln!(out, "\n  {}", paint.tone(outcome.tone(), &heading));
        let id_width = rows
            .iter()
            .take(MAX_ROWS)
            .map(|i| i.id.chars().count())
            .max()
            .unwrap_or(2)
            .min(40);
        for item in rows.iter().take(MAX_ROWS) {
            let detail = match (&item.request, outcome) {
                (Some(req), ItemOutcome::Planned) => {
                    let body = req
                        .body
                        .as_ref()
                        .map(|b| format!(" {b}"))
                        .unwrap_or_default();
                    format!("{} {}{body}", req.method, req.url)
                }
                _ => {
                    let message = item.message.as_deref().unwrap_or("");
                    // Messages about an answer usually name its status already.
                    let http = item
                        .http_status
                        .filter(|_| !message.starts_with("HTTP "))
                        .map(|s| format!("HTTP {s}: "))
                        .unwrap_or_default();
                    format!("{http}{message}")
                }
            };
            let label = item
                .label
                .as_deref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default();
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

fn shorten(text: &str, max: usize, redactor: &Redactor) -> String {
    redactor.excerpt(&text.replace(['\n', '\r'], " "), max)
}
