//! The retry step: the provider's retry request per item or per batch, under a concurrency cap and
//! a rate shared by every worker; each item's outcome classified. In a dry run it renders every
//! request and sends none.
//!
//! Safety, in order, before anything is sent:
//! - the blast-radius guards (`max_selected`, `max_selected_ratio`) abort unless `--yes`;
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
//! While sending: every request's intent is in the ledger before it leaves and its result after;
//! a request that may have been carried out (no answer, or an answer the outcome rules call
//! `ambiguous`, like Deep Work's 500 after it saved the retry) is checked, resent or given up as
//! `on_ambiguous` says; an answer meaning the server has no such route stops the run, since every
//! item would get it; the circuit breaker and an interruption stop new requests, and what is in
//! flight finishes.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;

use super::outcome::{Classified, classify};
use super::{Item, Run, StepStop};
use crate::http::limiter::RateLimiter;
use crate::http::{Effect, Exchange, Request};
use crate::ledger::{Intent, Lineage, Link, Past};
use crate::playbook::compile::{RetryMode, RetryPlan};
use crate::playbook::model::OnAmbiguous;
use crate::progress::{Counts, Event};
use crate::report::{ItemOutcome, ItemReport, PlannedRequest};
use crate::time::rfc3339;

/// What one request did for its items.
struct Done {
    index: usize,
    items: Vec<Item>,
    results: Vec<Classified>,
    http_status: Option<u16>,
    attempts: u32,
    planned: Option<PlannedRequest>,
    abort: Option<String>,
}

impl Done {
    fn new(index: usize) -> Done {
        Done {
            index,
            items: Vec::new(),
            results: Vec::new(),
            http_status: None,
            attempts: 0,
            planned: None,
            abort: None,
        }
    }

    fn push(&mut self, item: Item, outcome: ItemOutcome, message: Option<String>) {
        self.items.push(item);
        self.results.push(Classified::new(outcome, message));
    }
}

/// What a check of one item's current status found.
enum Checked {
    /// The status is no longer a failed one: the retry was carried out.
    CarriedOut(String),
    /// Still failed: the retry was not carried out.
    NotCarriedOut,
    /// The status could not be read.
    Unreadable(String),
}

/// Trips when too many retries fail: N in a row, or a share of the last `window`.
struct Breaker {
    consecutive: u32,
    recent: VecDeque<bool>,
    max_consecutive: Option<u32>,
    max_ratio: Option<f64>,
    window: usize,
}

impl Breaker {
    /// Record one item's result; the reason to stop, if the breaker trips.
    fn record(&mut self, failed: bool) -> Option<String> {
        self.consecutive = if failed { self.consecutive + 1 } else { 0 };
        self.recent.push_back(failed);
        if self.recent.len() > self.window {
            self.recent.pop_front();
        }
        if let Some(max) = self.max_consecutive.filter(|m| self.consecutive >= *m) {
            return Some(format!(
                "circuit breaker: {max} retries failed in a row; stopped sending"
            ));
        }
        let failures = self.recent.iter().filter(|f| **f).count();
        let ratio = failures as f64 / self.recent.len() as f64;
        match self.max_ratio {
            Some(max) if self.recent.len() >= self.window && ratio > max => Some(format!(
                "circuit breaker: {failures} of the last {} retries failed (more than {:.0}%); stopped sending",
                self.recent.len(),
                max * 100.0
            )),
            _ => None,
        }
    }
}

impl Run<'_> {
    pub(super) async fn retry(
        &mut self,
        step: &str,
        plan: &RetryPlan,
        mut input: Vec<Item>,
    ) -> Result<Vec<Item>, StepStop> {
        if let Some(limit) = self.options.limit {
            input.truncate(limit as usize);
        }
        let total = input.len() as u64;
        self.report.totals.selected += total;
        self.progress.event(Event::StepStarted {
            step: step.into(),
            kind: "retry",
            total: Some(total),
        });
        let (to_send, mut without_request) = self.triage(plan, input).await;
        // The guards count what would be sent: on --resume, not what the run already handled.
        self.check_blast_radius(to_send.len() as u64)?;
        let concurrency = self.options.concurrency.unwrap_or(plan.concurrency).max(1);
        let limiter = plan.rate.map(RateLimiter::new);
        let stop = AtomicBool::new(false);
        let groups: Vec<Vec<Item>> = match &plan.mode {
            RetryMode::PerItem(_) => to_send.into_iter().map(|i| vec![i]).collect(),
            RetryMode::Batch { size, .. } => to_send.chunks(*size).map(<[Item]>::to_vec).collect(),
        };
        let g = &self.plan.guards;
        let mut breaker = Breaker {
            consecutive: 0,
            recent: VecDeque::new(),
            max_consecutive: g.max_consecutive_failures,
            max_ratio: g.max_failure_ratio,
            window: g.window as usize,
        };
        let mut counts = Counts::default();
        let mut done_list = Vec::new();
        {
            let this = &*self;
            let limiter = limiter.as_ref();
            let stop = &stop;
            let mut stream = futures_util::stream::iter(groups.into_iter().enumerate())
                .map(|(index, items)| this.retry_group(step, plan, index, items, limiter, stop))
                .buffer_unordered(concurrency);
            while let Some(mut done) = stream.next().await {
                for r in &done.results {
                    counts.done += 1;
                    match r.outcome {
                        ItemOutcome::Retried => counts.retried += 1,
                        ItemOutcome::Skipped | ItemOutcome::Chronic => counts.skipped += 1,
                        ItemOutcome::Failed | ItemOutcome::Unknown => counts.failed += 1,
                        _ => {}
                    }
                    let failed = matches!(r.outcome, ItemOutcome::Failed);
                    if let Some(reason) = breaker.record(failed) {
                        done.abort.get_or_insert(reason);
                    }
                }
                if done.abort.is_some() {
                    stop.store(true, Ordering::SeqCst);
                }
                this.progress.event(Event::StepProgress {
                    step: step.into(),
                    total: Some(total),
                    counts,
                });
                done_list.push(done);
            }
        }
        done_list.sort_by_key(|d| d.index);
        without_request.index = usize::MAX;
        done_list.push(without_request);
        let mut abort = None;
        let mut handled = Vec::new();
        for done in done_list {
            if let Some(reason) = done.abort {
                abort.get_or_insert(reason);
            }
            for (mut item, result) in done.items.into_iter().zip(done.results) {
                item.new_id = result.new_id.clone();
                self.report.items.push(ItemReport {
                    id: item.id.clone(),
                    label: item.label.clone(),
                    status: item.status.clone(),
                    outcome: result.outcome,
                    http_status: done.http_status,
                    attempts: done.attempts,
                    message: result.message.map(|m| self.redactor.redact(&m)),
                    step: step.into(),
                    request: done.planned.clone(),
                    chain: self.chain_of(&item.id, result.new_id.as_deref()),
                    new_id: result.new_id,
                });
                if result.outcome.was_retried() || result.outcome == ItemOutcome::Planned {
                    handled.push(item);
                }
            }
        }
        if self.interrupted() {
            abort.get_or_insert_with(|| "interrupted".to_string());
        }
        if let Some(reason) = abort {
            return Err(StepStop::Abort(reason));
        }
        let summary = if self.options.dry_run {
            format!("planned {total}")
        } else {
            format!(
                "retried {}, skipped {}, failed {}",
                counts.retried, counts.skipped, counts.failed
            )
        };
        self.progress.event(Event::StepFinished {
            step: step.into(),
            summary,
        });
        Ok(handled)
    }

    /// The blast-radius guards: abort before sending anything when too much would be retried.
    fn check_blast_radius(&self, selected: u64) -> Result<(), StepStop> {
        if self.options.yes || self.options.dry_run {
            return Ok(());
        }
        let g = &self.plan.guards;
        if let Some(max) = g.max_selected.filter(|m| selected > *m) {
            return Err(StepStop::Abort(format!(
                "{selected} items selected for retry, more than guards.max_selected = {max}; nothing was sent. A mass failure is usually an outage: look first, then rerun with --yes"
            )));
        }
        let fetched = self.report.totals.fetched;
        if let Some(max) = g.max_selected_ratio
            && fetched > 0
            && selected as f64 / fetched as f64 > max
        {
            return Err(StepStop::Abort(format!(
                "{selected} of {fetched} fetched items selected for retry, more than guards.max_selected_ratio = {max}; nothing was sent. A mass failure is usually an outage: look first, then rerun with --yes"
            )));
        }
        Ok(())
    }

    /// Sort the step's items: those to send, and those decided without a request (handled by the
    /// run being resumed, in flight then and now checked, over budget, outside `only_status`).
    async fn triage(&self, plan: &RetryPlan, input: Vec<Item>) -> (Vec<Item>, Done) {
        let mut without_request = Done::new(0);
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
                    let outcome = ItemOutcome::parse(&outcome).unwrap_or(ItemOutcome::Failed);
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
    fn chain_of(&self, id: &str, new_id: Option<&str>) -> Vec<String> {
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
    fn resolve_in_flight(&self, id: &str, note: &str) {
        let Some(ledger) = &self.options.ledger else {
            return;
        };
        let resolved = ledger.resolve_in_flight(
            &self.report.run_id,
            self.plan.provider.name(),
            id,
            ItemOutcome::Retried.as_str(),
            Some(&self.redactor.redact(note)),
        );
        if let Err(e) = resolved {
            self.progress.event(Event::Warning(format!("ledger: {e}")));
        }
    }

    /// Read one item's current status to tell whether a retry was carried out. `None` when the
    /// playbook has no way to read one item. With `counter_before` (the item's retry counter when
    /// it was fetched, in this run) and the counter still readable, the retry was carried out when
    /// the counter grew, whatever the status says.
    async fn check(
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
        let mut now = item.clone();
        match (check.merge, &mut now.raw, fresh) {
            (true, serde_json::Value::Object(own), serde_json::Value::Object(fresh)) => {
                own.extend(fresh)
            }
            (_, raw, fresh) => *raw = fresh,
        }
        now.reread(&plan.fields);
        let counter_now = plan.counter.as_ref().and_then(|p| counter(p, &now.raw));
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

    async fn retry_group(
        &self,
        step: &str,
        plan: &RetryPlan,
        index: usize,
        items: Vec<Item>,
        limiter: Option<&RateLimiter>,
        stop: &AtomicBool,
    ) -> Done {
        let mut done = Done::new(index);
        let (results, abort) = self
            .send_group(step, plan, &items, limiter, stop, &mut done)
            .await;
        done.results = results;
        done.abort = abort;
        done.items = items;
        done
    }

    /// Send one request for `items` (or plan it, in a dry run) and classify its answer.
    async fn send_group(
        &self,
        step: &str,
        plan: &RetryPlan,
        items: &[Item],
        limiter: Option<&RateLimiter>,
        stop: &AtomicBool,
        done: &mut Done,
    ) -> (Vec<Classified>, Option<String>) {
        let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
        let every =
            |outcome, message: Option<String>| vec![Classified::new(outcome, message); ids.len()];
        let request = match self.retry_request(plan, items) {
            Ok(r) => r,
            Err(e) => {
                let message = format!("cannot build the request: {e}");
                return (every(ItemOutcome::Failed, Some(message)), None);
            }
        };
        if self.options.dry_run {
            done.planned = Some(self.planned(&request));
            return (every(ItemOutcome::Planned, None), None);
        }
        if stop.load(Ordering::SeqCst) || self.interrupted() {
            let message = "not sent: the run was stopped".to_string();
            return (every(ItemOutcome::Failed, Some(message)), None);
        }
        let mut exchange = match self
            .send_recorded(step, plan, &request, &ids, limiter)
            .await
        {
            Ok(e) => e,
            // Stopped while it waited its turn: not sent; the step reports the interruption.
            Err(reason) if self.interrupted() => {
                return (every(ItemOutcome::Failed, Some(reason)), None);
            }
            Err(reason) => {
                return (
                    every(ItemOutcome::Failed, Some(reason.clone())),
                    Some(reason),
                );
            }
        };
        done.http_status = exchange.response.as_ref().map(|r| r.status);
        done.attempts = exchange.attempts;
        if let Some(reason) = missing_route(plan, &request, &exchange, &self.redactor) {
            let reason = self.redactor.redact(&reason);
            return (
                every(ItemOutcome::Failed, Some(reason.clone())),
                Some(reason),
            );
        }
        if exchange.ambiguous {
            match self
                .resolve_ambiguous(step, plan, items, &request, limiter, &exchange)
                .await
            {
                Ok(Some(resolved)) => return (resolved, None),
                Ok(None) => {}
                Err(again) => {
                    done.attempts += again.attempts;
                    done.http_status = again.response.as_ref().map(|r| r.status);
                    exchange = again;
                }
            }
        }
        let mut results = match classify(&exchange, &plan.outcome, &ids, &self.redactor) {
            Ok(results) => results,
            Err(reason) => {
                return (
                    every(ItemOutcome::Failed, Some(reason.clone())),
                    Some(reason),
                );
            }
        };
        if exchange.ambiguous {
            for r in &mut results {
                r.outcome = ItemOutcome::Unknown;
            }
        }
        self.annotate(plan, items, &exchange, &mut results);
        (results, None)
    }

    /// Send a mutating request with its intent recorded before and its result after.
    async fn send_recorded(
        &self,
        step: &str,
        plan: &RetryPlan,
        request: &Request,
        ids: &[String],
        limiter: Option<&RateLimiter>,
    ) -> Result<Exchange, String> {
        // The intent is recorded after the request's turn came, just before it leaves: a run killed
        // while requests wait for the rate limit leaves none of them "in flight".
        if self.http.pace(limiter).await.is_err() {
            return Err(crate::http::NOT_SENT_STOPPED.into());
        }
        let url = self.redactor.redact(request.url.as_str());
        let recorded = match &self.options.ledger {
            Some(ledger) => Some(
                ledger
                    .intent(&Intent {
                        run_id: &self.report.run_id,
                        step,
                        provider: self.plan.provider.name(),
                        item_ids: ids,
                        method: request.method.as_str(),
                        url: &url,
                        at: &rfc3339(jiff::Timestamp::now()),
                    })
                    .map_err(|e| format!("not sent: the ledger cannot record it: {e}"))?,
            ),
            None => None,
        };
        let mut exchange = self
            .http
            .send_paced(request, Effect::Mutate, &plan.backoff, limiter)
            .await;
        mark_ambiguous(plan, &mut exchange);
        // A missing route did nothing, but its intent stays open: a resumed run checks the item
        // and sends it again if it was not carried out.
        let no_route = missing_route(plan, request, &exchange, &self.redactor).is_some();
        if let (Some(ledger), Some(request_id)) = (&self.options.ledger, recorded)
            && !exchange.ambiguous
            && !no_route
        {
            let outcomes: Vec<(String, String, Option<String>)> =
                match classify(&exchange, &plan.outcome, ids, &self.redactor) {
                    Ok(results) => ids
                        .iter()
                        .zip(results)
                        .map(|(id, r)| {
                            (
                                id.clone(),
                                r.outcome.as_str().to_string(),
                                r.message.map(|m| self.redactor.redact(&m)),
                            )
                        })
                        .collect(),
                    Err(reason) => ids
                        .iter()
                        .map(|id| {
                            (
                                id.clone(),
                                "failed".to_string(),
                                Some(self.redactor.redact(&reason)),
                            )
                        })
                        .collect(),
                };
            let status = exchange.response.as_ref().map(|r| r.status);
            let at = rfc3339(jiff::Timestamp::now());
            let new_ids = self.new_ids(plan, &exchange, &outcomes);
            let links: Vec<Link<'_>> = new_ids
                .iter()
                .map(|(item_id, new_id)| Link {
                    provider: self.plan.provider.name(),
                    item_id,
                    new_id,
                })
                .collect();
            if let Err(e) = ledger.result_linked(request_id, status, &outcomes, &links, &at) {
                self.progress.event(Event::Warning(format!("ledger: {e}")));
            }
        }
        Ok(exchange)
    }

    /// The new work each retried item's answer names (`new_id:`), as (item id, new id). Only a
    /// request for one item can name its new work: a batch answer's one id would belong to all.
    /// An answer naming the item itself created nothing new.
    fn new_ids(
        &self,
        plan: &RetryPlan,
        exchange: &Exchange,
        outcomes: &[(String, String, Option<String>)],
    ) -> Vec<(String, String)> {
        let (Some(path), Some(json), [(id, outcome, _)]) = (
            plan.new_id.as_ref(),
            exchange.response.as_ref().and_then(|r| r.json.as_ref()),
            outcomes,
        ) else {
            return Vec::new();
        };
        if outcome != ItemOutcome::Retried.as_str() {
            return Vec::new();
        }
        path.first_text(json)
            .filter(|new_id| !new_id.is_empty() && new_id != id)
            .map(|new_id| vec![(id.clone(), new_id)])
            .unwrap_or_default()
    }

    /// A retry that may have been carried out: check, resend or give up, as the playbook says.
    /// `Ok(Some)` settles the items; `Ok(None)` gives up (they become `unknown`); `Err` is the
    /// exchange of a second sending, to classify instead.
    async fn resolve_ambiguous(
        &self,
        step: &str,
        plan: &RetryPlan,
        items: &[Item],
        request: &Request,
        limiter: Option<&RateLimiter>,
        first: &Exchange,
    ) -> Result<Option<Vec<Classified>>, Exchange> {
        let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
        let why = first.error.clone().unwrap_or_default();
        match plan.on_ambiguous {
            OnAmbiguous::GiveUp => Ok(None),
            OnAmbiguous::Resend => {
                match self.send_recorded(step, plan, request, &ids, limiter).await {
                    Ok(again) => Err(again),
                    Err(_) => Ok(None),
                }
            }
            OnAmbiguous::Check => {
                let mut results = Vec::new();
                for item in items {
                    let before = plan.counter.as_ref().and_then(|p| counter(p, &item.raw));
                    results.push(match self.check(plan, item, before).await {
                        Some(Checked::CarriedOut(status)) => {
                            let note = format!(
                                "{why}; checked: the provider shows {status}, so it was carried out"
                            );
                            self.resolve_in_flight(&item.id, &note);
                            Classified::new(ItemOutcome::Retried, Some(note))
                        }
                        Some(Checked::NotCarriedOut) => Classified::new(ItemOutcome::Failed, None),
                        Some(Checked::Unreadable(e)) => Classified::new(
                            ItemOutcome::Unknown,
                            Some(format!("{why}; the check failed too: {e}")),
                        ),
                        None => Classified::new(ItemOutcome::Unknown, Some(why.clone())),
                    });
                }
                let not_carried: Vec<usize> = results
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.outcome == ItemOutcome::Failed && r.message.is_none())
                    .map(|(i, _)| i)
                    .collect();
                if not_carried.len() == items.len() {
                    // Nothing was carried out: sending again is safe.
                    return match self.send_recorded(step, plan, request, &ids, limiter).await {
                        Ok(again) => Err(again),
                        Err(_) => Ok(None),
                    };
                }
                for i in not_carried {
                    results[i] = Classified::new(
                        ItemOutcome::Unknown,
                        Some(format!(
                            "{why}; checked: not carried out, and not sent again with the rest of its batch"
                        )),
                    );
                }
                Ok(Some(results))
            }
        }
    }

    /// Add the new id and the note of each retried item.
    fn annotate(
        &self,
        plan: &RetryPlan,
        items: &[Item],
        exchange: &Exchange,
        results: &mut [Classified],
    ) {
        let json = exchange.response.as_ref().and_then(|r| r.json.clone());
        for (item, result) in items.iter().zip(results.iter_mut()) {
            if result.outcome != ItemOutcome::Retried {
                continue;
            }
            result.new_id = plan
                .new_id
                .as_ref()
                .zip(json.as_ref())
                .and_then(|(p, j)| p.first_text(j));
            let Some(note) = &plan.note else { continue };
            let ctx = vec![
                (
                    "item",
                    minijinja::Value::from(minijinja::value::Serde(&item.raw)),
                ),
                (
                    "task",
                    minijinja::Value::from(minijinja::value::Serde(item.task())),
                ),
                (
                    "response",
                    minijinja::Value::from(minijinja::value::Serde(
                        json.clone().unwrap_or_default(),
                    )),
                ),
            ];
            match self.plan.templates.render(note, &self.ctx(ctx)) {
                Ok(text) if !text.trim().is_empty() => {
                    result.message = Some(text.trim().to_string())
                }
                Ok(_) => {}
                Err(e) => result.message = Some(format!("(note: {e})")),
            }
        }
    }

    fn retry_request(&self, plan: &RetryPlan, items: &[Item]) -> Result<Request, String> {
        match &plan.mode {
            RetryMode::PerItem(request) => self.render_request(request, &self.item_ctx(&items[0])),
            RetryMode::Batch { request, .. } => {
                let raw: Vec<serde_json::Value> = items.iter().map(|i| i.raw.clone()).collect();
                let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
                let tasks: Vec<serde_json::Value> = items.iter().map(Item::task).collect();
                let ctx = self.ctx(vec![
                    (
                        "items",
                        minijinja::Value::from(minijinja::value::Serde(raw)),
                    ),
                    ("ids", minijinja::Value::from(minijinja::value::Serde(ids))),
                    (
                        "tasks",
                        minijinja::Value::from(minijinja::value::Serde(tasks)),
                    ),
                ]);
                self.render_request(request, &ctx)
            }
        }
    }

    /// A request as a dry run shows it: secrets redacted.
    fn planned(&self, request: &Request) -> PlannedRequest {
        PlannedRequest {
            method: request.method.to_string(),
            url: self.redactor.redact(request.url.as_str()),
            body: request.body.as_ref().map(|b| self.redactor.redact_json(b)),
        }
    }
}

/// A number at `path` in `raw` (a retry counter), as JSON has it or as text.
fn counter(path: &crate::jsonpath::JsonPath, raw: &serde_json::Value) -> Option<f64> {
    match path.first(raw)? {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An answer whose status the outcome rules call `ambiguous` (the provider may have acted before
/// it failed) is handled like a request that got no answer: checked, resent or given up.
fn mark_ambiguous(plan: &RetryPlan, exchange: &mut Exchange) {
    let Some(response) = &exchange.response else {
        return;
    };
    if exchange.ambiguous || !plan.outcome.ambiguous.contains(&response.status) {
        return;
    }
    let detail = plan
        .outcome
        .message
        .iter()
        .find_map(|p| response.json.as_ref().and_then(|j| p.first_text(j)))
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    exchange.ambiguous = true;
    exchange.error = Some(format!(
        "HTTP {}{detail}; the provider may have carried it out before failing, so it was not sent again",
        response.status
    ));
}

/// The reason to stop when the answer means the server has no such route (a web framework's own
/// 404, not the API's "task not found"): every item would get the same answer.
fn missing_route(
    plan: &RetryPlan,
    request: &Request,
    exchange: &Exchange,
    redactor: &crate::secrets::Redactor,
) -> Option<String> {
    let response = exchange.response.as_ref()?;
    let json = response.json.as_ref()?;
    let rule = plan
        .outcome
        .missing_route
        .iter()
        .find(|r| r.status.contains(&response.status) && r.when.matches(json))?;
    let hint = rule
        .hint
        .as_deref()
        .map(|h| format!(" {h}"))
        .unwrap_or_else(|| " Check the server's version and the playbook's `path`.".into());
    Some(format!(
        "the server has no route {} {} (HTTP {} {}): every retry would get the same answer, so none was sent after it.{hint}",
        request.method,
        request.url.path(),
        response.status,
        redactor.excerpt(response.text.trim(), 100)
    ))
}

#[cfg(test)]
mod tests {
    use super::Breaker;
    use std::collections::VecDeque;

    fn breaker(max_consecutive: Option<u32>, max_ratio: Option<f64>, window: usize) -> Breaker {
        Breaker {
            consecutive: 0,
            recent: VecDeque::new(),
            max_consecutive,
            max_ratio,
            window,
        }
    }

    #[test]
    fn trips_after_n_failures_in_a_row_only() {
        let mut b = breaker(Some(3), None, 20);
        assert!(b.record(true).is_none());
        assert!(b.record(true).is_none());
        assert!(b.record(false).is_none());
        assert!(b.record(true).is_none());
        assert!(b.record(true).is_none());
        assert!(b.record(true).is_some());
    }

    #[test]
    fn trips_on_a_failure_ratio_once_the_window_is_full() {
        let mut b = breaker(None, Some(0.5), 4);
        assert!(b.record(true).is_none());
        assert!(b.record(true).is_none());
        assert!(b.record(true).is_none(), "window not full yet");
        assert!(b.record(false).is_some(), "3 of 4 failed");
        let mut b = breaker(None, Some(0.5), 4);
        for failed in [true, false, true, false, true, false] {
            assert!(b.record(failed).is_none(), "half is not more than half");
        }
    }
}
