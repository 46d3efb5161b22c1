//! What a run gives GitHub Actions: the Markdown report appended to the job summary
//! (`$GITHUB_STEP_SUMMARY`) and one workflow-command annotation per item that needs a person
//! (`::error` for failed, unknown and still-failing items, `::warning` for chronic, pending and not-sent ones).
//!
//! Invariants:
//! - The summary file is appended to, never replaced: other steps of the job write there too.
//! - Annotation text goes through the workflow-command escaping (`%`, CR and LF in the message;
//!   also `:` and `,` in properties), so an id or a message can neither end the command early nor
//!   start another one; every line is redacted before it is printed.
//! - At most [`MAX_ANNOTATIONS`] item annotations are printed (GitHub shows only the first few per
//!   step anyway); one more warning says how many were left out.

use std::io::Write;
use std::path::Path;

use super::{ItemOutcome, RunReport};
use crate::secrets::Redactor;

/// Item annotations printed at most per run.
pub const MAX_ANNOTATIONS: usize = 50;

/// At the end of a run: append the Markdown report to `$GITHUB_STEP_SUMMARY` when it names a file
/// (and `step_summary` is on), and print the annotations on stdout when `GITHUB_ACTIONS=true`.
/// A summary that cannot be written is a warning: the run's exit code stays its own.
pub fn publish(report: &RunReport, title: Option<&str>, redactor: &Redactor, step_summary: bool) {
    let summary = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty());
    if let Some(path) = summary.filter(|_| step_summary) {
        let path = Path::new(&path);
        let markdown = redactor.redact(&super::markdown::render(report, title));
        if let Err(e) = append_step_summary(path, &markdown) {
            eprintln!(
                "warning: cannot append the report to GITHUB_STEP_SUMMARY ({}): {e}",
                path.display()
            );
        }
    }
    if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
        // GitHub reads workflow commands from stdout; a closed pipe loses nothing a person needs.
        let mut out = std::io::stdout().lock();
        let _ = out
            .write_all(annotations(report, redactor).as_bytes())
            .and_then(|()| out.flush());
    }
}

/// The workflow commands for `report`'s items, one per line, redacted.
pub fn annotations(report: &RunReport, redactor: &Redactor) -> String {
    let mut out = String::new();
    let mut printed = 0;
    let mut left_out = 0;
    for item in &report.items {
        let level = match item.outcome {
            ItemOutcome::Failed | ItemOutcome::Unknown | ItemOutcome::StillFailing => "error",
            ItemOutcome::Chronic | ItemOutcome::Pending | ItemOutcome::NotSent => "warning",
            _ => continue,
        };
        if printed == MAX_ANNOTATIONS {
            left_out += 1;
            continue;
        }
        printed += 1;
        let title = format!(
            "runbook {} / {}: {} {}",
            report.playbook,
            item.step,
            item.outcome.as_str(),
            item.id
        );
        let mut message = format!("item {} is {}", item.id, item.outcome.as_str());
        // The message names the HTTP status where there was one.
        match (
            item.message.as_deref().filter(|m| !m.is_empty()),
            item.http_status,
        ) {
            (Some(why), _) => message.push_str(&format!(": {why}")),
            (None, Some(status)) => message.push_str(&format!(" (HTTP {status})")),
            (None, None) => {}
        }
        out.push_str(&command(level, &title, &message, redactor));
    }
    if left_out > 0 {
        let title = format!("runbook {}", report.playbook);
        let message = format!(
            "{left_out} more items need attention; the reports list them all (-o report.json)"
        );
        out.push_str(&command("warning", &title, &message, redactor));
    }
    if let Some(reason) = &report.aborted {
        let title = format!("runbook {}: aborted", report.playbook);
        out.push_str(&command("error", &title, reason, redactor));
    }
    for e in &report.errors {
        let title = format!("runbook {} / {}", report.playbook, e.step);
        out.push_str(&command("error", &title, &e.message, redactor));
    }
    out
}

/// One workflow command line: `::level title=…::message`, redacted before it is escaped (escaping
/// could split a secret so that redaction no longer finds it).
fn command(level: &str, title: &str, message: &str, redactor: &Redactor) -> String {
    format!(
        "::{level} title={}::{}\n",
        escape_property(&redactor.redact(title)),
        escape_data(&redactor.redact(message))
    )
}

/// The escaping of a workflow command's message.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// The escaping of a workflow command's property value.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Append `markdown` to the job summary file at `path`, after a blank line.
pub fn append_step_summary(path: &Path, markdown: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(format!("\n{markdown}").as_bytes())?;
    file.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ItemReport, Totals};

    fn report(outcomes: &[ItemOutcome]) -> RunReport {
        let item = |(i, outcome): (usize, &ItemOutcome)| ItemReport {
            id: format!("t{i}"),
            label: None,
            status: None,
            outcome: *outcome,
            http_status: None,
            attempts: 1,
            message: None,
            step: "retry".into(),
            request: None,
            new_id: None,
            chain: Vec::new(),
        };
        RunReport {
            playbook: "p".into(),
            provider: "http".into(),
            run_id: "r".into(),
            dry_run: false,
            sandbox: false,
            started_at: String::new(),
            finished_at: String::new(),
            totals: Totals::default(),
            items: outcomes.iter().enumerate().map(item).collect(),
            aborted: None,
            resumed_from: None,
            pace: Vec::new(),
            errors: Vec::new(),
        }
    }

    #[test]
    fn errors_for_failed_unknown_still_failing_warnings_for_chronic_pending_not_sent() {
        let text = annotations(&report(&ItemOutcome::ALL), &Redactor::default());
        let levels: Vec<(&str, &str)> = text
            .lines()
            .map(|l| {
                let (level, rest) = l[2..].split_once(' ').unwrap_or_default();
                (level, rest.split("%3A ").nth(1).unwrap_or_default())
            })
            .collect();
        assert_eq!(
            levels,
            [
                ("warning", "pending t2::item t2 is pending"),
                ("error", "still_failing t3::item t3 is still_failing"),
                ("error", "failed t4::item t4 is failed"),
                ("error", "unknown t5::item t5 is unknown"),
                ("warning", "not_sent t6::item t6 is not_sent"),
                ("warning", "chronic t7::item t7 is chronic"),
            ]
        );
    }

    #[test]
    fn annotations_stop_at_the_cap_and_say_how_many_more() {
        let many = vec![ItemOutcome::Failed; MAX_ANNOTATIONS + 7];
        let text = annotations(&report(&many), &Redactor::default());
        assert_eq!(text.lines().count(), MAX_ANNOTATIONS + 1);
        assert!(
            text.lines()
                .last()
                .is_some_and(|l| l.starts_with("::warning title=runbook p::7 more items")),
            "{text}"
        );
    }

    #[test]
    fn workflow_command_escaping_keeps_each_annotation_one_command() {
        assert_eq!(escape_data("100%\r\n::error::x"), "100%25%0D%0A::error::x");
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
        let line = command(
            "error",
            "t:1,2",
            "50% done\n::warning::forged",
            &Redactor::default(),
        );
        assert_eq!(
            line,
            "::error title=t%3A1%2C2::50%25 done%0A::warning::forged\n"
        );
        assert_eq!(line.lines().count(), 1);
    }
}
