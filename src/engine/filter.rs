//! The filter step: status in / not in, a JSONPath predicate, an age window, duplicates by id, and a
//! limit. Pure: it reads no network.
//!
//! The tests on one item are a [`Sieve`], so that a fetch whose items only this filter reads can
//! apply them to each page as it arrives (the plan says when: `FetchPlan::filtered_by_next`) and
//! hold only what is kept. The filter step then finds its work done ([`Prefiltered`]) and reports
//! it as if it had done it: the same counts, the same warning.

use std::collections::HashSet;

use super::{Item, Run, StepStop};
use crate::playbook::compile::FilterPlan;
use crate::progress::Event;
use crate::time::parse_timestamp;

/// What a fetch that applied the next filter's tests as it read found: how many items it read and
/// how many of them had no readable time for the age window.
#[derive(Clone, Copy, Debug)]
pub(super) struct Prefiltered {
    pub(super) total: usize,
    pub(super) undated: usize,
}

/// What a sieve says of one item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    Keep,
    Drop,
    /// The limit is reached: this item and every later one are left out, unexamined.
    Full,
}

/// A filter's tests, applied to one item at a time in order.
pub(super) struct Sieve<'p> {
    plan: &'p FilterPlan,
    now: jiff::Timestamp,
    /// Ids seen so far, to drop duplicates; `None` when the items come already de-duplicated.
    seen: Option<HashSet<String>>,
    /// Items left out of the age window for want of a readable time.
    pub(super) undated: usize,
    kept: u64,
}

impl<'p> Sieve<'p> {
    /// A sieve for `plan`; `dedup`: whether it must drop duplicates itself.
    pub(super) fn new(plan: &'p FilterPlan, dedup: bool) -> Sieve<'p> {
        Sieve {
            plan,
            now: jiff::Timestamp::now(),
            seen: dedup.then(HashSet::new),
            undated: 0,
            kept: 0,
        }
    }

    /// Whether an item of `status` is dropped whatever else it holds (what [`Sieve::judge`] says
    /// of it first, when this sieve does not drop duplicates itself).
    pub(super) fn drops_status(&self, status: Option<&str>) -> bool {
        let status = status.unwrap_or("");
        self.seen.is_none()
            && (self
                .plan
                .status_in
                .as_ref()
                .is_some_and(|list| !list.iter().any(|s| s == status))
                || self
                    .plan
                    .status_not_in
                    .as_ref()
                    .is_some_and(|list| list.iter().any(|s| s == status)))
    }

    /// Whether `item` is kept; `run` renders a `time:` template.
    pub(super) fn judge(&mut self, run: &Run<'_>, item: &Item) -> Verdict {
        let plan = self.plan;
        if let Some(seen) = &mut self.seen
            && !seen.insert(item.id.clone())
        {
            return Verdict::Drop;
        }
        let status = item.status.as_deref().unwrap_or("");
        if plan
            .status_in
            .as_ref()
            .is_some_and(|list| !list.iter().any(|s| s == status))
        {
            return Verdict::Drop;
        }
        if plan
            .status_not_in
            .as_ref()
            .is_some_and(|list| list.iter().any(|s| s == status))
        {
            return Verdict::Drop;
        }
        if plan
            .predicate
            .as_ref()
            .is_some_and(|p| !p.matches_owned(item.raw()))
        {
            return Verdict::Drop;
        }
        if plan.since.is_some() || plan.until.is_some() {
            let when = match &plan.time {
                Some(t) => run
                    .plan
                    .templates
                    .render(t, &run.item_ctx(item))
                    .ok()
                    .and_then(|s| crate::time::parse_timestamp_str(&s)),
                None => item.created_at.as_deref().and_then(parse_timestamp),
            };
            let Some(when) = when else {
                self.undated += 1;
                return Verdict::Drop;
            };
            let age = self.now.duration_since(when);
            let age = std::time::Duration::try_from(age).unwrap_or_default();
            if plan.since.is_some_and(|s| age > s.0) || plan.until.is_some_and(|u| age < u.0) {
                return Verdict::Drop;
            }
        }
        // Checked before keeping, so that `limit: 0` keeps nothing.
        if plan.limit.is_some_and(|l| self.kept >= l) {
            return Verdict::Full;
        }
        self.kept += 1;
        Verdict::Keep
    }
}

impl Run<'_> {
    pub(super) fn filter(
        &mut self,
        step: &str,
        plan: &FilterPlan,
        input: Vec<Item>,
    ) -> Result<Vec<Item>, StepStop> {
        self.progress.event(Event::StepStarted {
            step: step.into(),
            kind: "filter",
            total: None,
        });
        let (kept, Prefiltered { total, undated }) = match self.prefiltered.take() {
            Some(done) => (input, done),
            None => {
                let total = input.len();
                let mut sieve = Sieve::new(plan, true);
                let mut kept = Vec::new();
                for item in input {
                    match sieve.judge(self, &item) {
                        Verdict::Keep => kept.push(item),
                        Verdict::Drop => {}
                        Verdict::Full => break,
                    }
                }
                let undated = sieve.undated;
                (kept, Prefiltered { total, undated })
            }
        };
        if undated > 0 {
            self.progress.event(Event::Warning(format!(
                "step {step}: {undated} items had no readable timestamp and were left out of the age window"
            )));
        }
        self.progress.event(Event::StepFinished {
            step: step.into(),
            summary: format!("kept {} of {total}", kept.len()),
        });
        Ok(kept)
    }
}
