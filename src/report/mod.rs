//! What a run produced, and its renderings: the terminal table, JSON (a stable format that other
//! tools read), Markdown (ready for a CI job summary), JUnit XML (for CI dashboards), Prometheus
//! text (for alerting) and GitHub Actions annotations. The report is built from the run's results
//! only; it never reads the network.

pub mod github;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod metrics;
pub mod table;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// File extensions a report can be written as.
pub const EXTENSIONS: &[&str] = &["json", "md", "xml", "prom"];

pub fn is_known_extension(ext: &str) -> bool {
    EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str())
}

/// What became of one selected item: the one spelling of an outcome. The report's JSON, the
/// ledger's `request_items.outcome` column and every rendering go through [`ItemOutcome::as_str`]
/// and its inverse ([`std::str::FromStr`]), so a new outcome is named in one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "&'static str", try_from = "String")]
pub enum ItemOutcome {
    Retried,
    Skipped,
    Failed,
    /// Dry run: the request that would have been sent.
    Planned,
    /// A retry that may or may not have been carried out, and could not be checked: not sent again.
    Unknown,
    /// Over its retry budget across runs: not retried again.
    Chronic,
    /// Verified: the retried work succeeded.
    Recovered,
    /// Verified: the retried work failed again.
    StillFailing,
    /// Verified: the retried work had not settled when verification stopped waiting.
    Pending,
    /// Never sent: the run stopped (a signal, a guard, an abort) before the item's turn. Nothing was
    /// attempted, so it is not a failure; it has no intent in the ledger and `--resume` sends it.
    NotSent,
}

impl ItemOutcome {
    /// The outcome's name (snake case), as reports and the ledger spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemOutcome::Retried => "retried",
            ItemOutcome::Skipped => "skipped",
            ItemOutcome::Failed => "failed",
            ItemOutcome::Planned => "planned",
            ItemOutcome::Unknown => "unknown",
            ItemOutcome::Chronic => "chronic",
            ItemOutcome::Recovered => "recovered",
            ItemOutcome::StillFailing => "still_failing",
            ItemOutcome::Pending => "pending",
            ItemOutcome::NotSent => "not_sent",
        }
    }

    /// Every outcome, in the order reports list them.
    pub const ALL: [ItemOutcome; 10] = [
        ItemOutcome::Retried,
        ItemOutcome::Recovered,
        ItemOutcome::Pending,
        ItemOutcome::StillFailing,
        ItemOutcome::Failed,
        ItemOutcome::Unknown,
        ItemOutcome::NotSent,
        ItemOutcome::Chronic,
        ItemOutcome::Skipped,
        ItemOutcome::Planned,
    ];

    /// How the outcome reads on a terminal: green when the work was recovered or retried, red when
    /// it failed, yellow when nobody knows yet or it was never sent.
    pub fn tone(self) -> crate::style::Tone {
        use crate::style::Tone;
        match self {
            ItemOutcome::Retried | ItemOutcome::Recovered => Tone::Good,
            ItemOutcome::Failed | ItemOutcome::StillFailing => Tone::Bad,
            ItemOutcome::Unknown | ItemOutcome::NotSent | ItemOutcome::Pending => Tone::Warn,
            ItemOutcome::Skipped | ItemOutcome::Chronic | ItemOutcome::Planned => Tone::Plain,
        }
    }

    /// Whether the provider accepted a retry of the item (whatever verification found later): the
    /// outcomes a retry budget counts, and the ones verification may turn into another.
    pub fn counts_as_retry(self) -> bool {
        matches!(
            self,
            ItemOutcome::Retried
                | ItemOutcome::Recovered
                | ItemOutcome::StillFailing
                | ItemOutcome::Pending
        )
    }
}

/// An outcome name that is none of [`ItemOutcome::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown outcome {0:?}")]
pub struct UnknownOutcome(String);

impl std::str::FromStr for ItemOutcome {
    type Err = UnknownOutcome;

    fn from_str(text: &str) -> Result<ItemOutcome, UnknownOutcome> {
        ItemOutcome::ALL
            .into_iter()
            .find(|o| o.as_str() == text)
            .ok_or_else(|| UnknownOutcome(text.to_string()))
    }
}

impl TryFrom<String> for ItemOutcome {
    type Error = UnknownOutcome;

    fn try_from(text: String) -> Result<ItemOutcome, UnknownOutcome> {
        text.parse()
    }
}

impl From<ItemOutcome> for &'static str {
    fn from(outcome: ItemOutcome) -> &'static str {
        outcome.as_str()
    }
}

/// A request as shown in a dry run's plan, secrets redacted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedRequest {
    pub method: String,
    pub url: String,
    pub body: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ItemReport {
    pub id: String,
    pub label: Option<String>,
    pub status: Option<String>,
    pub outcome: ItemOutcome,
    pub http_status: Option<u16>,
    pub attempts: u32,
    pub message: Option<String>,
    /// The step that handled the item.
    pub step: String,
    /// A dry run's request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<Box<PlannedRequest>>,
    /// The id of new work the retry created (Skyvern's new run), beside the old id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_id: Option<String>,
    /// The item's chain of retries that created new work, from the original to the newest id
    /// (`[original, new, newer…]`); empty when the item has no such retry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Totals {
    pub fetched: u64,
    pub selected: u64,
    pub retried: u64,
    pub skipped: u64,
    pub failed: u64,
    pub planned: u64,
    pub unknown: u64,
    pub chronic: u64,
    pub recovered: u64,
    pub still_failing: u64,
    pub pending: u64,
    /// Items never sent because the run stopped first (absent from reports written before).
    #[serde(default)]
    pub not_sent: u64,
}

/// A step-level problem: a fetch that failed, a file that could not be read.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepError {
    pub step: String,
    pub message: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunReport {
    pub playbook: String,
    /// The provider adapter the playbook ran with (empty in reports stored before it was recorded).
    #[serde(default)]
    pub provider: String,
    pub run_id: String,
    pub dry_run: bool,
    /// Whether the run was against the built-in sandbox (`--sandbox`), not the real service
    /// (false in reports stored before it was recorded).
    #[serde(default)]
    pub sandbox: bool,
    pub started_at: String,
    pub finished_at: String,
    pub totals: Totals,
    pub items: Vec<ItemReport>,
    /// Why the run stopped early, or null.
    pub aborted: Option<String>,
    /// The run this one resumed, or null.
    pub resumed_from: Option<String>,
    pub errors: Vec<StepError>,
    /// What each adaptive pace (`rate: auto`) did; absent when none ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pace: Vec<PaceReport>,
}

/// What one adaptive pace (`rate: auto`) did in a run. Paces are in requests per second.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaceReport {
    /// `connection`, or the name of the retry step whose `rate:` it was.
    pub scope: String,
    pub start: f64,
    /// The pace at the end of the run.
    pub reached: f64,
    pub highest: f64,
    /// Times the pace was cut on a sign of the limit.
    pub slowdowns: u32,
    /// Answers that were a sign of the limit (429, 503 with `Retry-After`, the provider's own code).
    pub throttled: u32,
    /// Whether the provider announced its limit in rate-limit headers.
    pub announced: bool,
}

impl RunReport {
    /// The exit code this run deserves. Items never sent (`not_sent`) are no failure: an
    /// interrupted or aborted run says so by its own code (3).
    pub fn exit_code(&self) -> i32 {
        if self.aborted.is_some() {
            crate::exit::ABORTED
        } else if self.totals.failed + self.totals.unknown + self.totals.still_failing > 0
            || !self.errors.is_empty()
        {
            crate::exit::SOME_FAILED
        } else {
            crate::exit::OK
        }
    }
}

/// Outcomes whose items are listed for a person to read, in this order.
pub const LISTED: [ItemOutcome; 8] = [
    ItemOutcome::Failed,
    ItemOutcome::StillFailing,
    ItemOutcome::Unknown,
    ItemOutcome::NotSent,
    ItemOutcome::Chronic,
    ItemOutcome::Pending,
    ItemOutcome::Skipped,
    ItemOutcome::Planned,
];

impl Totals {
    /// The totals of a run: `fetched` and `selected` as its steps counted them, the rest derived
    /// from its items' outcomes.
    pub fn of(items: &[ItemReport], fetched: u64, selected: u64) -> Totals {
        let count = |o: ItemOutcome| items.iter().filter(|i| i.outcome == o).count() as u64;
        Totals {
            fetched,
            selected,
            retried: items.iter().filter(|i| i.outcome.counts_as_retry()).count() as u64,
            skipped: count(ItemOutcome::Skipped),
            failed: count(ItemOutcome::Failed),
            planned: count(ItemOutcome::Planned),
            unknown: count(ItemOutcome::Unknown),
            chronic: count(ItemOutcome::Chronic),
            recovered: count(ItemOutcome::Recovered),
            still_failing: count(ItemOutcome::StillFailing),
            pending: count(ItemOutcome::Pending),
            not_sent: count(ItemOutcome::NotSent),
        }
    }

    /// The counts beyond the five every report shows, when not zero.
    pub fn extra(&self) -> Vec<(&'static str, u64)> {
        [
            ("recovered", self.recovered),
            ("still_failing", self.still_failing),
            ("pending", self.pending),
            ("unknown", self.unknown),
            ("not_sent", self.not_sent),
            ("chronic", self.chronic),
            ("planned", self.planned),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect()
    }
}

impl RunReport {
    /// The chains of retries that created new work, each once, in report order, with the outcome
    /// of its item furthest along it (an original skipped because its new run was retried shows
    /// that retry's outcome).
    pub fn chains(&self) -> Vec<(&[String], ItemOutcome)> {
        let mut chains: Vec<(&[String], ItemOutcome, usize)> = Vec::new();
        // Where each chain stands in `chains`: a report can hold tens of thousands of items.
        let mut index: std::collections::HashMap<&[String], usize> = Default::default();
        for item in self.items.iter().filter(|i| !i.chain.is_empty()) {
            let at = item.chain.iter().position(|id| *id == item.id).unwrap_or(0);
            match index.get(item.chain.as_slice()) {
                Some(&i) if chains[i].2 < at => chains[i] = (&item.chain, item.outcome, at),
                Some(_) => {}
                None => {
                    index.insert(&item.chain, chains.len());
                    chains.push((&item.chain, item.outcome, at));
                }
            }
        }
        chains.into_iter().map(|(c, o, _)| (c, o)).collect()
    }

    /// One line on what the run achieved: how much was recovered when it was verified; for an
    /// aborted run, that it was aborted, where, and what it did before.
    pub fn headline(&self) -> String {
        let t = &self.totals;
        if let Some(reason) = &self.aborted {
            // The engine writes `step NAME: why` for a step that stopped the run (see
            // `engine::error`); anything else stopped it before its first step.
            let at = reason
                .strip_prefix("step ")
                .and_then(|rest| rest.split_once(": "))
                .map_or_else(
                    || "aborted before its first step".to_string(),
                    |(step, _)| format!("aborted at step {step}"),
                );
            return match (self.dry_run, t.selected) {
                (_, 0) => at,
                (true, n) => format!("{at}, after planning {} of {n} selected", t.planned),
                (false, n) => format!("{at}, after retrying {} of {n} selected", t.retried),
            };
        }
        if t.recovered + t.still_failing + t.pending > 0 {
            format!("recovered {} of {} retried", t.recovered, t.retried)
        } else if self.dry_run {
            format!("planned {} of {} selected", t.planned, t.selected)
        } else {
            format!("retried {} of {} selected", t.retried, t.selected)
        }
    }
}

impl RunReport {
    /// What kind of run it was, for a heading: ` (sandbox)`, ` (dry run)`, ` (sandbox, dry run)`,
    /// or nothing for a real run.
    pub(crate) fn kind_note(&self) -> String {
        let kind: Vec<&str> = [(self.sandbox, "sandbox"), (self.dry_run, "dry run")]
            .into_iter()
            .filter_map(|(is, name)| is.then_some(name))
            .collect();
        if kind.is_empty() {
            String::new()
        } else {
            format!(" ({})", kind.join(", "))
        }
    }
}

/// A dry run's planned request and the items it was planned for.
pub(crate) struct PlannedGroup<'a> {
    pub(crate) request: Option<&'a PlannedRequest>,
    pub(crate) items: Vec<&'a ItemReport>,
}

/// Planned `items` grouped by request, in report order: the items of a batch, reported side by
/// side with one and the same request, make one group; a per-item request (it names its item, so
/// it differs from its neighbour's) makes a group of one, and so does an item with no request.
pub(crate) fn planned_groups<'a>(
    items: impl IntoIterator<Item = &'a ItemReport>,
) -> Vec<PlannedGroup<'a>> {
    let mut groups: Vec<PlannedGroup<'a>> = Vec::new();
    for item in items {
        if let Some(last) = groups.last_mut()
            && let (Some(ours), Some(theirs)) = (item.request.as_deref(), last.request)
            && ours == theirs
            && last
                .items
                .first()
                .is_some_and(|first| first.step == item.step)
        {
            last.items.push(item);
            continue;
        }
        groups.push(PlannedGroup {
            request: item.request.as_deref(),
            items: vec![item],
        });
    }
    groups
}

/// How a planned section is headed: `10` for per-item requests, `10 items in 1 request` when
/// batches carried them.
pub(crate) fn planned_count(items: usize, groups: usize) -> String {
    if items == groups {
        return items.to_string();
    }
    let s = if groups == 1 { "" } else { "s" };
    format!("{items} items in {groups} request{s}")
}

/// How long the run took, in seconds (0 when its times cannot be read).
pub(crate) fn duration_seconds(report: &RunReport) -> f64 {
    let at = |text: &str| text.parse::<jiff::Timestamp>().ok();
    match (at(&report.started_at), at(&report.finished_at)) {
        (Some(start), Some(end)) => {
            let nanos = end.as_nanosecond() - start.as_nanosecond();
            (nanos.max(0) as f64) / 1e9
        }
        _ => 0.0,
    }
}

/// Render `report` in the format `path`'s extension names.
pub fn render_for(path: &Path, report: &RunReport, title: Option<&str>) -> Result<String, String> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "json" => Ok(json::render(report)),
        "md" => Ok(markdown::render(report, title)),
        "xml" => Ok(junit::render(report)),
        // The last success is carried over from the file being replaced (see `metrics`).
        "prom" => Ok(metrics::render(
            report,
            std::fs::read_to_string(path).ok().as_deref(),
        )),
        _ => Err(format!(
            "cannot tell the report format of {}: end the file name with one of {}",
            path.display(),
            EXTENSIONS.join(", ")
        )),
    }
}

/// The path of a report file named by a playbook's report step (rendered from its template),
/// checked to stay under the working directory: relative, without `..`. A playbook may come from
/// someone else; the directory it writes into is the operator's choice. (A path given with `-o` is
/// the operator's own and is not checked. Symbolic links under the working directory are followed:
/// only the operator can have made them.)
pub fn confined_path(rendered: &str) -> Result<PathBuf, String> {
    use std::path::Component;
    let text = rendered.trim();
    let fix = "a report step writes under the working directory: use a relative path without `..`, or give the path with -o";
    if text.is_empty() {
        return Err("the report file name is empty".into());
    }
    if text.contains('\0') {
        return Err(format!(
            "the report file name {text:?} holds a NUL character"
        ));
    }
    let path = PathBuf::from(text);
    for part in path.components() {
        let why = match part {
            Component::RootDir | Component::Prefix(_) => "is absolute",
            Component::ParentDir => "climbs out with `..`",
            Component::CurDir | Component::Normal(_) => continue,
        };
        return Err(format!("the report file {text} {why}; {fix}"));
    }
    Ok(path)
}

/// Write `text` to `path` whole or not at all: a temporary file beside it, then a rename.
///
/// The file gets the permissions any new file of the user gets (0666 less the umask, as a shell's
/// `>` gives), not the temporary file's private 0600: a report is for CI artifact uploaders and
/// colleagues to read, and holds no secret (it is redacted before it is written).
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The kernel applies the umask to the mode a file is created with.
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod render_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_is_spelled_once_and_reads_back_through_serde_and_from_str() {
        for outcome in ItemOutcome::ALL {
            let json = serde_json::to_string(&outcome).unwrap();
            assert_eq!(json, format!("\"{}\"", outcome.as_str()));
            assert_eq!(serde_json::from_str::<ItemOutcome>(&json).unwrap(), outcome);
            assert_eq!(outcome.as_str().parse::<ItemOutcome>().unwrap(), outcome);
        }
        assert_eq!(
            "retry".parse::<ItemOutcome>().unwrap_err().to_string(),
            "unknown outcome \"retry\""
        );
        assert!(serde_json::from_str::<ItemOutcome>("\"StillFailing\"").is_err());
    }

    #[test]
    fn outcomes_read_green_red_or_yellow() {
        use crate::style::Tone;
        let tones: Vec<(&str, Tone)> = ItemOutcome::ALL
            .into_iter()
            .map(|o| (o.as_str(), o.tone()))
            .filter(|(_, t)| *t != Tone::Plain)
            .collect();
        assert_eq!(
            tones,
            [
                ("retried", Tone::Good),
                ("recovered", Tone::Good),
                ("pending", Tone::Warn),
                ("still_failing", Tone::Bad),
                ("failed", Tone::Bad),
                ("unknown", Tone::Warn),
                ("not_sent", Tone::Warn),
            ]
        );
    }

    /// Regression: `files: ["../../x.json"]` or an absolute path wrote (and created folders)
    /// outside the working directory.
    #[test]
    fn report_step_paths_stay_under_the_working_directory() {
        let fix = "a report step writes under the working directory: use a relative path without `..`, or give the path with -o";
        for (path, why) in [
            ("../../x.json", "climbs out with `..`"),
            ("reports/../../x.json", "climbs out with `..`"),
            ("/tmp/x.json", "is absolute"),
        ] {
            assert_eq!(
                confined_path(path).unwrap_err(),
                format!("the report file {path} {why}; {fix}")
            );
        }
        assert_eq!(
            confined_path("  ").unwrap_err(),
            "the report file name is empty"
        );
        for ok in ["x.json", "./reports/2026-12-03/x.md", "reports/a..b.json"] {
            assert_eq!(confined_path(ok).unwrap(), PathBuf::from(ok));
        }
    }
}
