//! Sorting a retry step's items before anything is sent: those to send, and those decided without
//! a request.
//!
//! In order:
//! - an item a resumed run already handled is never sent again; one that was in flight is checked
//!   with the provider (where the adapter can read one item) or reported `unknown` — always
//!   `unknown` when still failed and its retry creates new work (`new_id`), since the old item
//!   cannot show whether new work was made;
//! - an item whose earlier retry created new work (a link in the ledger) is `skipped`: its chain
//!   continues at the new work, and only the chain's head may be retried; one whose earlier retry
//!   into new work got no answer is `unknown`, not sent (unless `--retry-unknown`);
//! - an item over its retry budget across runs is `chronic`, not sent; where retries create new
//!   work, the budget counts the retries of the whole chain;
//! - an item outside `only_status` is `skipped`, not sent.
//!
//! Also here: reading one item again to tell whether a retry was carried out ([`Run::check`]), used
//! by the triage and by the handling of ambiguous answers.

use super::Done;
use crate::engine::{Item, Run};
use crate::ledger::{Lineage, Past};
use crate::playbook::compile::RetryPlan;
use crate::progress::Event;
use crate::report::ItemOutcome;
use crate::time::rfc3339;

/// What a check of one item's current status found.
pub(super) enum Checked {
    /// The status is no longer a failed one: the retry was carried out.
    CarriedOut(String),
    /// Still failed: the retry was not carried out.
    NotCarriedOut,
    /// The status could not be read.
    Unreadable(String),
}

impl Run<'_> {
    /// Sort the step's items: those to send, and those decided without a request (handled by the
    /// run being resumed, in flight then and now checked, over budget, outside `only_status`).
    pub(super) async fn triage(&self, plan: &RetryPlan, input: Vec<Item>) -> (Vec<Item>, Done) {
        let mut without_request = Done::new(usize::MAX);
        let mut to_send = Vec::new();
        let since = plan.budget.and_then(|(_, per)| {
            let per = jiff::SignedDuration::try_from(per.0).ok()?;
            jiff::Timestamp::now().checked_sub(per).ok().map(rfc3339)
        });
        for item in input {
            let past = self
                .options
                .resume
                .as_ref()
                .and_then(|(_, past)| past.get(&item.id).cloned());
            // The check found the in-flight retry never carried out: its intent is no retry.
            let mut not_carried_out = false;
            match past {
                Some(Past::Done { outcome, message }) => {
                    let note = format!(
                        "handled by the resumed run ({}): not sent again",
                        message.as_deref().unwrap_or(outcome.as_str())
                    );
                    without_request.push(item, outcome, Some(note));
                    continue;
                }
                Some(Past::InFlight) if !self.options.dry_run => {
                    match self.check(plan, &item, None).await {
                        Some(Checked::CarriedOut(status)) => {
                            let note = format!(
                                "in flight when the resumed run stopped; the provider now shows {status}: it was carried out"
                            );
                            self.resolve_in_flight(&item.id, &note);
                            without_request.push(item, ItemOutcome::Retried, Some(note));
                            continue;
                        }
                        Some(Checked::NotCarriedOut) => not_carried_out = true,
                        Some(Checked::Unreadable(_)) | None if !self.options.retry_unknown => {
                            let note = "in flight when the resumed run stopped and its status cannot be checked: not sent again (--retry-unknown sends it)";
                            without_request.push(item, ItemOutcome::Unknown, Some(note.into()));
                            continue;
                        }
                        Some(Checked::Unreadable(_)) | None => {}
                    }
                }
                _ => {}
            }
            let lineage = self.lineage(&item.id);
            if let Some(next) = lineage.as_ref().and_then(|l| l.next.as_ref()) {
                // Its chain continues at the new work: only the chain's head may be retried.
                let note = format!("retried before as {} in run {}", next.new_id, next.run_id);
                without_request.push(item, ItemOutcome::Skipped, Some(note));
                continue;
            }
            if let Some(run) = self.unanswered_new_work(plan, &item.id, not_carried_out) {
                let note = format!(
                    "a retry sent in run {run} got no answer and may have created new work that runbook never learned of: not sent again (check the provider; --retry-unknown sends it)"
                );
                without_request.push(item, ItemOutcome::Unknown, Some(note));
                continue;
            }
            if let (Some((max, per)), Some(since), Some(ledger)) =
                (plan.budget, &since, &self.options.ledger)
            {
                let chain = lineage.map_or_else(|| vec![item.id.clone()], |l| l.chain);
                let used = ledger
                    .chain_retries_since(self.plan.provider.name(), &chain, since)
                    .unwrap_or(0)
                    .saturating_sub(u64::from(not_carried_out));
                if used >= u64::from(max) {
                    let what = if chain.len() > 1 {
                        format!("its chain ({})", chain.join(" → "))
                    } else {
                        "it".to_string()
                    };
                    let note = format!(
                        "{what} retried {used} times in the last {per} (budget {max}): not retried again"
                    );
                    without_request.push(item, ItemOutcome::Chronic, Some(note));
                    continue;
                }
            }
            let allowed = plan
                .only_status
                .as_ref()
                .is_none_or(|allowed| item.status.as_ref().is_some_and(|s| allowed.contains(s)));
            if !allowed {
                let status = item.status.clone().unwrap_or_else(|| "unknown".into());
                let list = plan.only_status.as_deref().unwrap_or_default().join(", ");
                let note =
                    format!("status {status} is not one selected for retry ({list}); not sent");
                without_request.push(item, ItemOutcome::Skipped, Some(note));
                continue;
            }
            to_send.push(item);
        }
        (to_send, without_request)
    }

    /// Where `id` stands in its chain of retries into new work; `None` without a ledger (or when
    /// it cannot be read: warned, and the item is treated as never retried into new work).
    fn lineage(&self, id: &str) -> Option<Lineage> {
        let ledger = self.options.ledger.as_ref()?;
        match ledger.lineage(self.plan.provider.name(), id) {
            Ok(lineage) => Some(lineage),
            Err(e) => {
                self.progress.event(Event::Warning(format!("ledger: {e}")));
                None
            }
        }
    }

    /// For a retry that creates new work: the run whose retry of `id` got no answer, if one did
    /// (unless `--retry-unknown`, or a check of this resumed run just found it not carried out). The
    /// old item cannot show whether new work was made, so sending again could make a second one.
    fn unanswered_new_work(&self, plan: &RetryPlan, id: &str, checked: bool) -> Option<String> {
        if plan.new_id.is_none() || self.options.retry_unknown || checked {
            return None;
        }
        let ledger = self.options.ledger.as_ref()?;
        match ledger.unanswered(self.plan.provider.name(), id) {
            Ok(run) => run,
            Err(e) => {
                self.progress.event(Event::Warning(format!("ledger: {e}")));
                None
            }
        }
    }

    /// The chain an item's report shows: from the original to the newest id, this run's `new_id`
    /// included; empty for an item never retried into new work.
    pub(super) fn chain_of(&self, id: &str, new_id: Option<&str>) -> Vec<String> {
        let mut chain = self
            .lineage(id)
            .map_or_else(|| vec![id.to_string()], |l| l.chain);
        if let Some(new_id) = new_id.filter(|n| *n != id && !chain.iter().any(|c| c == n)) {
            chain.push(new_id.to_string());
        }
        if chain.len() > 1 { chain } else { Vec::new() }
    }

    /// Record in the ledger that an in-flight retry of `id` (this run's, or the resumed run's) was
    /// carried out, so a run resuming this one does not check it again (the work may have failed
    /// anew by then).
    pub(super) fn resolve_in_flight(&self, id: &str, note: &str) {
        self.results
            .resolved(&self.report.run_id, self.plan.provider.name(), id, note);
    }

    /// Read one item's current status to tell whether a retry was carried out. `None` when the
    /// playbook has no way to read one item. With `counter_before` (the item's retry counter when
    /// it was fetched, in this run) and the counter still readable, the retry was carried out when
    /// the counter grew, whatever the status says.
    pub(super) async fn check(
        &self,
        plan: &RetryPlan,
        item: &Item,
        counter_before: Option<f64>,
    ) -> Option<Checked> {
        let check = plan.check.as_ref()?;
        let fresh = match self.read_item(check, item).await {
            Ok(value) => value,
            Err(failure) => return Some(Checked::Unreadable(failure.message)),
        };
        let now = item.refreshed(fresh, check.merge, &plan.fields);
        let counter_now = plan.counter.as_ref().and_then(|p| counter(p, &now.raw()));
        let status = now.status.unwrap_or_default();
        if let (Some(before), Some(after)) = (counter_before, counter_now) {
            let path = plan
                .counter
                .as_ref()
                .map(|p| p.source())
                .unwrap_or_default();
            return Some(if after > before {
                Checked::CarriedOut(format!("{status} with {path} {after} (was {before})"))
            } else {
                Checked::NotCarriedOut
            });
        }
        let still_failed = match &plan.retryable {
            Some(list) => list.contains(&status),
            None => Some(&status) == item.status.as_ref(),
        };
        Some(match (still_failed, &plan.new_id) {
            // A retry that creates new work leaves the item as it was (Skyvern's run stays
            // failed): its status cannot tell that no new work was made, and sending again could
            // make a second one.
            (true, Some(_)) => Checked::Unreadable(format!(
                "its retry creates new work and leaves it {status}, so its status cannot show whether the retry was carried out"
            )),
            (true, None) => Checked::NotCarriedOut,
            (false, _) => Checked::CarriedOut(status),
        })
    }
}

/// A number at `path` in `raw` (a retry counter), as JSON has it or as text.
pub(super) fn counter(path: &crate::jsonpath::JsonPath, raw: &serde_json::Value) -> Option<f64> {
    match path.first(raw)? {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}
