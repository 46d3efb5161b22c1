//! The JUnit XML report (`-o report.xml`), so that CI dashboards show a run's items as they show
//! tests: one `<testsuite>` per step, one `<testcase>` per item (`classname` = provider/playbook,
//! `name` = the item's id).
//!
//! Invariants:
//! - `failed`, `unknown` and `still_failing` items are `<failure>`s (the outcomes that make the run
//!   exit 1); `skipped`, `chronic`, `planned` and `not_sent` (none sent) are `<skipped/>`; the others pass.
//! - A step's error (a fetch that failed) is an `<error>` testcase in that step's suite; an aborted
//!   run adds a suite `run` whose one testcase is an `<error>` with the reason.
//! - The output is well-formed XML 1.0 whatever the ids and messages hold: markup characters are
//!   escaped, and the characters XML 1.0 cannot carry at all (control characters other than tab and
//!   newlines) are written as `\u{..}` text, since not even a character reference may name them.
//!
//! Written by hand rather than with an XML crate: the shape is fixed and small, and escaping is
//! the only hard part.

use std::fmt::Write;

use super::{ItemOutcome, ItemReport, RunReport};

/// What JUnit makes of an outcome.
enum Verdict {
    Pass,
    Failure,
    Skipped,
}

fn verdict(outcome: ItemOutcome) -> Verdict {
    match outcome {
        ItemOutcome::Failed | ItemOutcome::Unknown | ItemOutcome::StillFailing => Verdict::Failure,
        ItemOutcome::Skipped
        | ItemOutcome::Chronic
        | ItemOutcome::Planned
        | ItemOutcome::NotSent => Verdict::Skipped,
        ItemOutcome::Retried | ItemOutcome::Recovered | ItemOutcome::Pending => Verdict::Pass,
    }
}

/// One testsuite being gathered: its name and its testcases, already rendered.
#[derive(Default)]
struct Suite {
    name: String,
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
    cases: String,
}

impl Suite {
    fn named(name: &str) -> Suite {
        Suite {
            name: name.to_string(),
            ..Suite::default()
        }
    }
}

/// Render `report` as JUnit XML.
pub fn render(report: &RunReport) -> String {
    let classname = if report.provider.is_empty() {
        report.playbook.clone()
    } else {
        format!("{}/{}", report.provider, report.playbook)
    };
    let mut suites: Vec<Suite> = Vec::new();
    let suite_of = |suites: &mut Vec<Suite>, step: &str| -> usize {
        match suites.iter().position(|s| s.name == step) {
            Some(i) => i,
            None => {
                suites.push(Suite::named(step));
                suites.len() - 1
            }
        }
    };
    for item in &report.items {
        let i = suite_of(&mut suites, &item.step);
        item_case(&mut suites[i], &classname, item);
    }
    for error in &report.errors {
        let i = suite_of(&mut suites, &error.step);
        let name = format!("step {}", error.step);
        error_case(&mut suites[i], &classname, &name, &error.message);
    }
    if let Some(reason) = &report.aborted {
        let i = suite_of(&mut suites, "run");
        error_case(&mut suites[i], &classname, "aborted", reason);
    }
    let seconds = super::duration_seconds(report);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let total = |f: fn(&Suite) -> usize| suites.iter().map(f).sum::<usize>();
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{seconds:.3}\">",
        escape(&report.playbook),
        total(|s| s.tests),
        total(|s| s.failures),
        total(|s| s.errors),
        total(|s| s.skipped),
    );
    for (id, suite) in suites.iter().enumerate() {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" id=\"{id}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"0\" timestamp=\"{}\">",
            escape(&suite.name),
            suite.tests,
            suite.failures,
            suite.errors,
            suite.skipped,
            escape(&report.started_at),
        );
        out.push_str(&suite.cases);
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn item_case(suite: &mut Suite, classname: &str, item: &ItemReport) {
    suite.tests += 1;
    let open = format!(
        "    <testcase name=\"{}\" classname=\"{}\" time=\"0\"",
        escape(&item.id),
        escape(classname)
    );
    let outcome = item.outcome.as_str();
    let message = describe(item);
    let case = &mut suite.cases;
    match verdict(item.outcome) {
        Verdict::Pass => {
            let _ = writeln!(case, "{open}>");
            let _ = writeln!(
                case,
                "      <system-out>{}</system-out>",
                escape(&format!("{outcome}: {message}"))
            );
        }
        Verdict::Failure => {
            suite.failures += 1;
            let _ = writeln!(case, "{open}>");
            let _ = writeln!(
                case,
                "      <failure message=\"{}\" type=\"{outcome}\">{}</failure>",
                escape(&format!("{outcome}: {message}")),
                escape(&message)
            );
        }
        Verdict::Skipped => {
            suite.skipped += 1;
            let _ = writeln!(case, "{open}>");
            let _ = writeln!(
                case,
                "      <skipped message=\"{}\"/>",
                escape(&format!("{outcome}: {message}"))
            );
        }
    }
    case.push_str("    </testcase>\n");
}

fn error_case(suite: &mut Suite, classname: &str, name: &str, message: &str) {
    suite.tests += 1;
    suite.errors += 1;
    let _ = writeln!(
        suite.cases,
        "    <testcase name=\"{}\" classname=\"{}\" time=\"0\">\n      <error message=\"{}\" type=\"error\">{}</error>\n    </testcase>",
        escape(name),
        escape(classname),
        escape(message),
        escape(message)
    );
}

/// An item's account in one line: its message, HTTP status and attempts, as far as known.
fn describe(item: &ItemReport) -> String {
    let mut parts = Vec::new();
    if let Some(label) = item.label.as_deref().filter(|l| !l.is_empty()) {
        parts.push(label.to_string());
    }
    if let Some(status) = item.http_status {
        parts.push(format!("HTTP {status}"));
    }
    if item.attempts > 0 {
        parts.push(format!("{} attempt(s)", item.attempts));
    }
    if let Some(message) = item.message.as_deref().filter(|m| !m.is_empty()) {
        parts.push(message.to_string());
    }
    if let Some(new_id) = &item.new_id {
        parts.push(format!("new id {new_id}"));
    }
    if parts.is_empty() {
        "no further detail".into()
    } else {
        parts.join("; ")
    }
}

/// `text` as XML 1.0 character data or attribute value (quoted with `"`).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Kept through attribute-value normalisation, which turns a raw newline into a space.
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if !allowed_in_xml(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// XML 1.0's `Char` production: tab, newlines and everything from U+0020 but U+FFFE and U+FFFF
/// (surrogates cannot occur in a Rust string).
fn allowed_in_xml(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_leaves_no_markup_and_no_character_xml_forbids() {
        assert_eq!(
            escape("a<b>&\"c'\u{1b}\u{0}\n\u{FFFE}é"),
            "a&lt;b&gt;&amp;&quot;c&apos;\\u{1b}\\u{0}&#10;\\u{fffe}é"
        );
    }

    #[test]
    fn outcomes_map_to_junit_as_the_issue_lists_them() {
        let failures: Vec<&str> = ItemOutcome::ALL
            .into_iter()
            .filter(|o| matches!(verdict(*o), Verdict::Failure))
            .map(ItemOutcome::as_str)
            .collect();
        let skipped: Vec<&str> = ItemOutcome::ALL
            .into_iter()
            .filter(|o| matches!(verdict(*o), Verdict::Skipped))
            .map(ItemOutcome::as_str)
            .collect();
        assert_eq!(failures, ["still_failing", "failed", "unknown"]);
        assert_eq!(skipped, ["not_sent", "chronic", "skipped", "planned"]);
    }
}
