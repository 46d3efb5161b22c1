//! The one writer of a run's results. Every decision the engine makes about an item is one
//! [`ItemResult`] (or, from verify, one [`Transition`] of an earlier result); [`Results`] receives
//! each once and fans it out: to progress (the step's counts), to the report (its items, and its
//! totals derived once at the end from them) and, for the requests it records, to the ledger.
//!
//! Invariants:
//! - Every ledger write of a run goes through one method here per kind of write ([`Results::start`],
//!   [`Results::intent`], [`Results::answered`], [`Results::resolved`], [`Results::withdrawn`],
//!   [`Results::finish`]).
//!   Intents, answers, resolutions and withdrawals are grouped into fewer commits by the ledger's
//!   [`GroupCommit`] writer: an intent is committed before [`Results::intent`] returns, so it is
//!   durable before its request leaves (a retry step may record it ahead of the request's turn;
//!   one whose request never leaves is [`Results::withdrawn`]); answers, resolutions and
//!   withdrawals are committed with the next group, and all of them before [`Results::flush`] (the
//!   end of a retry step) and [`Results::finish`] return.
//! - A result's message is redacted once, here, before it reaches any of the three.
//! - The report's items keep the order the steps decided them in: by step, then by the position a
//!   step gave (a retry's request index), then as received.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::ledger::{
    GroupCommit, Intent, Ledger, LedgerError, Link, Needed, OwnedAnswer, Resolution,
};
use crate::progress::{Counts, Event, Progress};
use crate::report::{ItemOutcome, ItemReport, PlannedRequest, RunReport, Totals};
use crate::secrets::Redactor;

/// Which step of the plan decided: its index in the plan and its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StepRef {
    pub index: usize,
    pub name: String,
}

/// One decision about one item, made once by the step that made it.
#[derive(Clone, Debug)]
pub(crate) struct ItemResult {
    pub step: StepRef,
    /// Where the step placed it among its own results (a retry's request index); the report lists
    /// a step's results in this order.
    pub order: usize,
    pub id: String,
    pub label: Option<String>,
    pub status: Option<String>,
    pub outcome: ItemOutcome,
    pub http_status: Option<u16>,
    pub attempts: u32,
    pub message: Option<String>,
    /// The id of new work the retry created (Skyvern's new run).
    pub new_id: Option<String>,
    /// A dry run's request, boxed: 120 bytes inline that a real run never fills.
    pub request: Option<Box<PlannedRequest>>,
    /// The item's chain of retries into new work, from the original to the newest id.
    pub chain: Vec<String>,
}

/// What verification found of an item's retried work: its last retried result becomes `to`
/// (`recovered`, `still_failing` or `pending`), with `message` added to its own.
#[derive(Clone, Debug)]
pub(crate) struct Transition {
    pub id: String,
    pub to: ItemOutcome,
    pub message: String,
}

/// An item's answer as the ledger records it: (item id, outcome, redacted message).
pub(crate) type Answer = (String, ItemOutcome, Option<String>);

/// What the writer has received so far.
#[derive(Default)]
struct Received {
    results: Vec<ItemResult>,
    /// The latest result of each id that counts as a retry: where a transition applies. Made from
    /// `results` when verify's first finding arrives, and kept up to date from then on: a run
    /// without a verify step never hashes its ids (a string and an insert per retry).
    retried: Option<HashMap<String, usize>>,
    /// Each step's counts, for its progress and its summary.
    counts: HashMap<usize, Counts>,
    fetched: u64,
    selected: u64,
}

/// The writer: see the module's documentation.
pub(crate) struct Results {
    ledger: Option<Arc<Ledger>>,
    /// The ledger's writer for intents, answers and resolutions; with a ledger only.
    writer: Option<GroupCommit>,
    progress: Arc<dyn Progress>,
    redactor: Redactor,
    received: Mutex<Received>,
}

impl Results {
    pub(crate) fn new(
        ledger: Option<Arc<Ledger>>,
        progress: Arc<dyn Progress>,
        redactor: Redactor,
    ) -> Results {
        let writer = ledger.as_ref().map(|ledger| {
            let progress = Arc::clone(&progress);
            GroupCommit::start(Arc::clone(ledger), move |e| {
                progress.event(Event::Warning(format!("ledger: {e}")))
            })
        });
        Results {
            ledger,
            writer,
            progress,
            redactor,
            received: Mutex::new(Received::default()),
        }
    }

    fn received(&self) -> MutexGuard<'_, Received> {
        self.received.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ledger: open the run. Without a ledger there is nothing to open.
    pub(crate) fn start(
        &self,
        run_id: &str,
        plan: &crate::playbook::compile::Plan,
        started_at: &str,
        dry_run: bool,
        resumed_from: Option<&str>,
    ) -> Result<(), LedgerError> {
        match &self.ledger {
            Some(ledger) => ledger.start_run(
                run_id,
                &plan.name,
                plan.provider.name(),
                started_at,
                dry_run,
                resumed_from,
            ),
            None => Ok(()),
        }
    }

    /// Ledger: a request is about to leave. Committed before this returns; `None` without a ledger.
    /// An intent [`Needed::Soon`] may wait to be committed with later ones, until [`Results::nudge`]
    /// or an intent needed now.
    pub(crate) async fn intent(
        &self,
        intent: &Intent<'_>,
        needed: Needed,
    ) -> Result<Option<i64>, LedgerError> {
        match &self.writer {
            Some(writer) => writer.intent(intent, needed).await.map(Some),
            None => Ok(None),
        }
    }

    /// Ledger: commit the intents held back at once (a worker needs its own now).
    pub(crate) fn nudge(&self) {
        if let Some(writer) = &self.writer {
            writer.nudge();
        }
    }

    /// Ledger: the answer to request `request_id`, each item's outcome, and the new work it created
    /// (`links`: item id, new id) in the same transaction, committed with the next group. A
    /// failure is warned, not fatal: the intent stays open and a resumed run checks the item.
    pub(crate) fn answered(
        &self,
        request_id: i64,
        http_status: Option<u16>,
        answers: &[Answer],
        links: &[Link<'_>],
        at: &str,
    ) {
        let Some(writer) = &self.writer else { return };
        let outcomes: Vec<Answer> = answers
            .iter()
            .map(|(id, outcome, message)| {
                let message = message.as_deref().map(|m| self.redactor.redact(m));
                (id.clone(), *outcome, message)
            })
            .collect();
        let answer = OwnedAnswer {
            request_id,
            http_status,
            outcomes,
            links: links
                .iter()
                .map(|l| (l.item_id.to_string(), l.new_id.to_string()))
                .collect(),
            provider: links
                .first()
                .map(|l| l.provider.to_string())
                .unwrap_or_default(),
            at: at.to_string(),
        };
        if let Err(e) = writer.answer(answer) {
            self.progress.event(Event::Warning(format!("ledger: {e}")));
        }
    }

    /// Ledger: the in-flight retry of `id` in run `run_id` (or one it resumed) was found carried
    /// out; committed with the next group. A failure is warned.
    pub(crate) fn resolved(&self, run_id: &str, provider: &str, id: &str, note: &str) {
        let Some(writer) = &self.writer else { return };
        let resolution = Resolution {
            run_id: run_id.to_string(),
            provider: provider.to_string(),
            item_id: id.to_string(),
            outcome: ItemOutcome::Retried,
            message: Some(self.redactor.redact(note)),
        };
        if let Err(e) = writer.resolve(resolution) {
            self.progress.event(Event::Warning(format!("ledger: {e}")));
        }
    }

    /// Ledger: the intent of request `request_id` was committed but the request never left (the
    /// run stopped while it waited for a sending slot): withdrawn with the next group, so the
    /// ledger holds no intent for it. A failure is warned: the intent then stays in flight, and a
    /// resumed run checks its items rather than resending them blindly.
    pub(crate) fn withdrawn(&self, request_id: i64) {
        let Some(writer) = &self.writer else { return };
        if let Err(e) = writer.withdraw(request_id) {
            self.progress.event(Event::Warning(format!("ledger: {e}")));
        }
    }

    /// Ledger: wait until every write handed in so far is committed (or failed and warned), so
    /// that what follows reads it.
    pub(crate) async fn flush(&self) {
        if let Some(writer) = &self.writer {
            writer.flush().await;
        }
    }

    /// Ledger: the run's steps are done. Every write handed in is committed, and the log is
    /// copied into the database on the checkpoint thread while the report is rendered.
    pub(crate) async fn settle(&self) {
        self.flush().await;
        if let Some(ledger) = &self.ledger {
            ledger.checkpoint_soon();
        }
    }

    /// Ledger: close the run with its state, its totals, its (redacted) JSON report and the exit
    /// code the report implies. Every write handed in before is committed first.
    pub(crate) async fn finish(&self, report: &RunReport, json: &str) -> Result<(), LedgerError> {
        self.flush().await;
        let Some(ledger) = &self.ledger else {
            return Ok(());
        };
        let state = if report.aborted.is_some() {
            "aborted"
        } else {
            "finished"
        };
        let t = &report.totals;
        let counts = [t.fetched, t.selected, t.retried, t.skipped, t.failed];
        let (id, at) = (&report.run_id, &report.finished_at);
        ledger.finish_run(id, state, at, counts, json, report.exit_code())
    }

    /// A fetch step read `n` items.
    pub(crate) fn fetched(&self, n: u64) {
        self.received().fetched += n;
    }

    /// How many items the fetch steps read so far.
    pub(crate) fn fetched_so_far(&self) -> u64 {
        self.received().fetched
    }

    /// A retry step was given `n` items.
    pub(crate) fn selected(&self, n: u64) {
        let mut received = self.received();
        received.selected += n;
        // Each of them will have a result: room made once, not by doubling (and copying) a
        // hundred thousand results along the way.
        received.results.reserve(usize::try_from(n).unwrap_or(0));
    }

    /// Receive a step's results: kept for the report and counted for progress. With `total`, the
    /// step's progress is shown.
    pub(crate) fn record(&self, step: &StepRef, total: Option<u64>, results: Vec<ItemResult>) {
        self.tally(step, total, |received, counts| {
            for mut result in results {
                count(counts, result.outcome);
                result.message = result.message.map(|m| self.redactor.redact(&m));
                if let Some(retried) = received.retried.as_mut()
                    && result.outcome.counts_as_retry()
                {
                    retried.insert(result.id.clone(), received.results.len());
                }
                received.results.push(result);
            }
        });
    }

    /// Receive verify's findings: each turns the item's last retried result into its new outcome.
    /// With `total`, the step's progress is shown.
    pub(crate) fn transition(&self, step: &StepRef, total: Option<u64>, found: Vec<Transition>) {
        self.tally(step, total, |received, counts| {
            let retried = received.retried.get_or_insert_with(|| {
                let results = received.results.iter().enumerate();
                results
                    .filter(|(_, r)| r.outcome.counts_as_retry())
                    .map(|(at, r)| (r.id.clone(), at))
                    .collect()
            });
            for t in found {
                count(counts, t.to);
                let Some(&at) = retried.get(&t.id) else {
                    continue;
                };
                let message = self.redactor.redact(&t.message);
                let result = &mut received.results[at];
                result.outcome = t.to;
                result.message = Some(match result.message.take() {
                    Some(before) => format!("{before}; {message}"),
                    None => message,
                });
            }
        });
    }

    /// Apply `receive` to what was received and to `step`'s counts; with `total`, show the
    /// step's progress after.
    fn tally(
        &self,
        step: &StepRef,
        total: Option<u64>,
        receive: impl FnOnce(&mut Received, &mut Counts),
    ) {
        let counts = {
            let mut received = self.received();
            let mut counts = received
                .counts
                .get(&step.index)
                .copied()
                .unwrap_or_default();
            receive(&mut received, &mut counts);
            received.counts.insert(step.index, counts);
            counts
        };
        if total.is_some() {
            self.progress.event(Event::StepProgress {
                step: step.name.clone(),
                total,
                counts,
            });
        }
    }

    /// A step's counts so far.
    pub(crate) fn counts(&self, step: &StepRef) -> Counts {
        self.received()
            .counts
            .get(&step.index)
            .copied()
            .unwrap_or_default()
    }

    /// The report's items, in decision order, and the totals derived from them. Called once, when
    /// the run ends: the results move into the report.
    pub(crate) fn report(&self) -> (Vec<ItemReport>, Totals) {
        let mut received = self.received();
        // Moved, not copied: a run's results are held once, in the report, from here on.
        let results = std::mem::take(&mut received.results);
        received.retried = None;
        // Stable: results of one step and position keep the order they came in.
        let results = super::sorted_by_key(results, |r| (r.step.index, r.order));
        let items: Vec<ItemReport> = results.into_iter().map(ItemReport::from).collect();
        let totals = Totals::of(&items, received.fetched, received.selected);
        (items, totals)
    }
}

/// How an outcome shows in a step's progress counts.
fn count(counts: &mut Counts, outcome: ItemOutcome) {
    counts.done += 1;
    match outcome {
        ItemOutcome::Retried | ItemOutcome::Recovered => counts.retried += 1,
        ItemOutcome::Skipped | ItemOutcome::Chronic => counts.skipped += 1,
        ItemOutcome::Failed | ItemOutcome::StillFailing => counts.failed += 1,
        ItemOutcome::Unknown => counts.unknown += 1,
        ItemOutcome::NotSent => counts.not_sent += 1,
        ItemOutcome::Planned | ItemOutcome::Pending => {}
    }
}

impl From<ItemResult> for ItemReport {
    fn from(r: ItemResult) -> ItemReport {
        ItemReport {
            id: r.id,
            label: r.label,
            status: r.status,
            outcome: r.outcome,
            http_status: r.http_status,
            attempts: r.attempts,
            message: r.message,
            step: r.step.name,
            request: r.request,
            new_id: r.new_id,
            chain: r.chain,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Quiet;

    fn step(index: usize) -> StepRef {
        StepRef {
            index,
            name: format!("step{index}"),
        }
    }

    fn result(step: &StepRef, id: &str, outcome: ItemOutcome) -> ItemResult {
        ItemResult {
            step: step.clone(),
            order: 0,
            id: id.to_string(),
            label: None,
            status: None,
            outcome,
            http_status: Some(200),
            attempts: 1,
            message: None,
            new_id: None,
            request: None,
            chain: Vec::new(),
        }
    }

    fn finding(id: &str, to: ItemOutcome) -> Vec<Transition> {
        vec![Transition {
            id: id.to_string(),
            to,
            message: format!("{id} settled"),
        }]
    }

    /// The index of retried results is made at verify's first finding: a finding applies to the
    /// item's latest retried result, whether that result came before the index or after it.
    #[test]
    fn a_finding_turns_the_latest_retried_result_of_its_item() {
        let results = Results::new(None, Arc::new(Quiet), Redactor::default());
        let (first, second, verify) = (step(0), step(1), step(2));
        results.record(
            &first,
            None,
            vec![
                result(&first, "a", ItemOutcome::Retried),
                result(&first, "b", ItemOutcome::Skipped),
                result(&first, "c", ItemOutcome::Retried),
            ],
        );
        results.transition(&verify, None, finding("a", ItemOutcome::Recovered));
        // A finding for an item never retried changes nothing.
        results.transition(&verify, None, finding("b", ItemOutcome::Recovered));
        // "c" retried again after the index was made: the finding turns this later result.
        results.record(
            &second,
            None,
            vec![result(&second, "c", ItemOutcome::Retried)],
        );
        results.transition(&verify, None, finding("c", ItemOutcome::StillFailing));

        let (items, _) = results.report();
        let seen: Vec<(&str, &str, ItemOutcome, Option<&str>)> = items
            .iter()
            .map(|i| {
                (
                    i.id.as_str(),
                    i.step.as_str(),
                    i.outcome,
                    i.message.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("a", "step0", ItemOutcome::Recovered, Some("a settled")),
                ("b", "step0", ItemOutcome::Skipped, None),
                ("c", "step0", ItemOutcome::Retried, None),
                ("c", "step1", ItemOutcome::StillFailing, Some("c settled")),
            ]
        );
    }
}
