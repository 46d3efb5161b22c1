//! The JSON report. Its fields are a stable interface: `playbook`, `provider`, `run_id`, `dry_run`,
//! `sandbox` (a run against the built-in sandbox), `started_at`, `finished_at`, `totals`, `items[]` (`id`, `label`, `status`, `outcome`,
//! `http_status`, `attempts`, `message`), `aborted`, `errors`. New fields may be added; existing ones
//! keep their meaning.

use super::RunReport;

/// The report as the ledger stores it: compact, since only `runbook show` reads it (parsed), and a
/// run of 100,000 items stores it once.
pub fn render_stored(report: &RunReport) -> String {
    serde_json::to_string(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

pub fn render(report: &RunReport) -> String {
    let mut text =
        serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}
