//! The verify step: poll each retried item (the provider's get-one request; Skyvern's new run)
//! until its work reaches a final status or the timeout passes, and turn its `retried` outcome into
//! `recovered`, `still_failing` or `pending`. Reads only; in a dry run there is nothing to verify.
//!
//! Each finding is a [`Transition`] handed to the run's results, which apply it to the item's
//! retried result; verify never reads the report.

use futures_util::StreamExt;

use super::results::Transition;
use super::{Abort, Item, Run, StepStop};
use crate::client::limiter::RateLimiter;
use crate::playbook::compile::VerifyPlan;
use crate::progress::Event;
use crate::report::ItemOutcome;

/// What one poll found of an item's work. (Not "settled": that word is the sandbox's, for its
/// emulated work finishing; here the poll's result is one of four.)
enum PollResult {
    Recovered(String),
    StillFailing(String),
    /// Not final yet (or unreadable): the status or the error.
    NotYet(String),
    /// Not polled, or the poll cut short, by SIGINT/SIGTERM: nothing new is known.
    Stopped,
}

impl Run<'_> {
    pub(super) async fn verify(
        &mut self,
        step: &str,
        plan: &VerifyPlan,
        input: Vec<Item>,
    ) -> Result<Vec<Item>, StepStop> {
        let total = input.len() as u64;
        self.progress.event(Event::StepStarted {
            step: step.into(),
            kind: "verify",
            total: Some(total),
        });
        if self.options.dry_run {
            self.progress.event(Event::StepFinished {
                step: step.into(),
                summary: "dry run: nothing was retried, nothing to verify".into(),
            });
            return Ok(input);
        }
        let limiter = plan.rate.map(RateLimiter::new);
        let deadline = tokio::time::Instant::now() + plan.timeout;
        let mut waiting: Vec<(Item, String)> =
            input.into_iter().map(|i| (i, String::new())).collect();
        let mut out = Vec::new();
        loop {
            let polled: Vec<(Item, String, PollResult)> = {
                let this = &*self;
                let limiter = limiter.as_ref();
                futures_util::stream::iter(waiting.drain(..))
                    .map(|(item, last)| async move {
                        let state = this.poll(plan, &item, limiter).await;
                        (item, last, state)
                    })
                    .buffer_unordered(plan.read.concurrency.max(1))
                    .collect()
                    .await
            };
            let mut found = Vec::new();
            for (item, last, state) in polled {
                let (to, message) = match state {
                    PollResult::Recovered(s) => (ItemOutcome::Recovered, format!("settled {s}")),
                    PollResult::StillFailing(s) => {
                        (ItemOutcome::StillFailing, format!("failed again: {s}"))
                    }
                    PollResult::NotYet(s) => {
                        waiting.push((item, s));
                        continue;
                    }
                    // The last status read stands.
                    PollResult::Stopped => {
                        waiting.push((item, last));
                        continue;
                    }
                };
                found.push(self.transition(&item, to, message));
                out.push(item);
            }
            self.results.transition(&self.step, Some(total), found);
            let now = tokio::time::Instant::now();
            if waiting.is_empty() || now >= deadline || self.interrupted() {
                break;
            }
            // The poll interval ends at once on SIGINT/SIGTERM.
            let pause = plan.every.min(deadline - now);
            if crate::client::limiter::sleep(pause, self.http.stop())
                .await
                .is_err()
            {
                break;
            }
        }
        let stopped = self.interrupted();
        let mut pending = Vec::new();
        for (item, last) in waiting {
            let last = if last.is_empty() {
                "unknown".to_string()
            } else {
                last
            };
            let message = if stopped {
                format!("not settled when the run was stopped: last {last}")
            } else {
                format!(
                    "not settled after {}: last {last}",
                    crate::units::Span(plan.timeout)
                )
            };
            pending.push(self.transition(&item, ItemOutcome::Pending, message));
            out.push(item);
        }
        self.results.transition(&self.step, Some(total), pending);
        let counts = self.results.counts(&self.step);
        self.progress.event(Event::StepFinished {
            step: step.into(),
            summary: format!(
                "recovered {}, still failing {}, pending {}",
                counts.retried,
                counts.failed,
                total - counts.retried - counts.failed
            ),
        });
        if self.interrupted() {
            return Err(StepStop::Abort(Abort::Interrupted));
        }
        Ok(out)
    }

    /// What verification found of `item`'s retried work.
    fn transition(&self, item: &Item, to: ItemOutcome, message: String) -> Transition {
        Transition {
            id: item.id.clone(),
            to,
            message,
        }
    }

    async fn poll(
        &self,
        plan: &VerifyPlan,
        item: &Item,
        limiter: Option<&RateLimiter>,
    ) -> PollResult {
        if let Some(limiter) = limiter
            && limiter.acquire(self.http.stop()).await.is_err()
        {
            return PollResult::Stopped;
        }
        let fresh = match self.read_item(&plan.read, item).await {
            Ok(v) => v,
            Err(_) if self.interrupted() => return PollResult::Stopped,
            Err(failure) => return PollResult::NotYet(format!("read failed: {}", failure.message)),
        };
        let now = item.refreshed(fresh, true, &plan.fields);
        let status = now.status.unwrap_or_default();
        if plan.success.contains(&status) {
            PollResult::Recovered(status)
        } else if plan.failure.contains(&status) {
            let why = now
                .message
                .map(|m| format!("{status} ({m})"))
                .unwrap_or(status);
            PollResult::StillFailing(why)
        } else {
            PollResult::NotYet(format!("status {status}"))
        }
    }
}
