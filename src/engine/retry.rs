//! The retry step: the provider's retry request per item or per batch, under a concurrency cap and
//! a rate shared by every worker; each item's answer classified once. In a dry run it renders
//! every request and sends none.
//!
//! Before anything is sent, the blast-radius guards (`max_selected`, `max_selected_ratio`) abort
//! unless `--yes`, and [`triage`] settles the items that must not be sent.
//!
//! While sending: every request's intent is in the ledger before it leaves and its result after
//! (with no rate, up to eight intents per slot, at most 64, are recorded ahead of their sending
//! slot, and committed a group at a time: see [`turns`]; never more than `concurrency` requests
//! are out at once);
//! a request that may have been carried out (no answer, or an answer the outcome rules call
//! `ambiguous`, like Deep Work's 500 after it saved the retry) is checked, resent or given up as
//! `on_ambiguous` says; an answer meaning the server has no such route stops the run, since every
//! item would get it; the [`breaker`] and an interruption stop new requests, and what is in
//! flight finishes.

mod breaker;
mod triage;
mod turns;

use futures_util::StreamExt;
use tokio::sync::SemaphorePermit;

use self::breaker::Breaker;
use self::triage::{Checked, counter};
use self::turns::Turns;
use super::outcome::{Classified, classify};
use super::results::{Answer, ItemResult};
use super::{Abort, Item, Run, StepStop};
use crate::client::limiter::RateLimiter;
use crate::client::{Effect, Exchange, Request};
use crate::ledger::{Intent, Link, Needed};
use crate::playbook::compile::{RetryMode, RetryPlan};
use crate::playbook::model::OnAmbiguous;
use crate::progress::Event;
use crate::report::{ItemOutcome, PlannedRequest};
use crate::time::rfc3339;

/// What one request did for its items.
struct Done {
    index: usize,
    items: Vec<Item>,
    results: Vec<Classified>,
    http_status: Option<u16>,
    attempts: u32,
    planned: Option<Box<PlannedRequest>>,
    abort: Option<Abort>,
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

/// A request that left, its intent's id in the ledger (`None` without one), and the sending slot
/// it holds (`None` when its caller holds one).
struct Sent<'t> {
    exchange: Exchange,
    request: Option<i64>,
    slot: Option<SemaphorePermit<'t>>,
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
        self.results.selected(total);
        self.progress.event(Event::StepStarted {
            step: step.into(),
            kind: "retry",
            total: Some(total),
        });
        let chains = self.chains_exist();
        let (to_send, without_request) = self.triage(plan, input, chains).await;
        // The guards count what would be sent: on --resume, not what the run already handled.
        self.check_blast_radius(to_send.len() as u64)?;
        let concurrency = self.options.concurrency.unwrap_or(plan.concurrency).max(1);
        let limiter = plan.rate.map(RateLimiter::paced);
        let paced = plan.rate.is_some() || self.plan.connection.rate.is_some();
        let turns = Turns::new(concurrency, paced);
        // Every item may be handed on: room made once, not by doubling (and copying) a hundred
        // thousand items along the way, into fresh pages each time.
        let mut handled = Vec::with_capacity(to_send.len() + without_request.items.len());
        // Each request's items, made as its turn comes: only the requests in flight hold theirs.
        let size = match &plan.mode {
            RetryMode::PerItem(_) => 1,
            RetryMode::Batch { size, .. } => (*size).max(1),
        };
        let mut to_send = to_send.into_iter();
        let groups = std::iter::from_fn(|| {
            let group: Vec<Item> = to_send.by_ref().take(size).collect();
            (!group.is_empty()).then_some(group)
        });
        let mut breaker = Breaker::new(&self.plan.guards);
        let mut abort = None;
        {
            let this = &*self;
            let limiter = limiter.as_ref();
            let turns = &turns;
            let mut stream = futures_util::stream::iter(groups.enumerate())
                .map(|(index, items)| this.retry_group(step, plan, index, items, limiter, turns))
                .buffer_unordered(turns.workers());
            while let Some(mut done) = stream.next().await {
                for r in &done.results {
                    let failed = matches!(r.outcome, ItemOutcome::Failed);
                    if let Some(reason) = breaker.record(failed) {
                        done.abort.get_or_insert(Abort::Guard(reason));
                    }
                }
                if let Some(reason) = done.abort.take() {
                    turns.stop();
                    // The reason of the first request in sending order stands.
                    if abort.as_ref().is_none_or(|(at, _)| done.index < *at) {
                        abort = Some((done.index, reason));
                    }
                }
                let results = this.item_results(done, &mut handled, chains);
                this.results.record(&this.step, Some(total), results);
            }
        }
        // What this step wrote is committed before a later step reads the ledger (a second retry
        // step's triage).
        self.results.flush().await;
        // The items decided without a request come after those sent, as before any was sent.
        let results = self.item_results(without_request, &mut handled, chains);
        self.results.record(&self.step, Some(total), results);
        if let Some(summary) = limiter.as_ref().and_then(RateLimiter::summary) {
            self.report.pace.push(super::pace_report(step, summary));
        }
        // Handed on in the order the items were sent.
        let handled = super::sorted_by_key(handled, |(order, _)| *order);
        let handled: Vec<Item> = handled.into_iter().map(|(_, item)| item).collect();
        // The first request's reason to stop, in sending order.
        let mut abort = abort.map(|(_, reason)| reason);
        if self.interrupted() {
            abort.get_or_insert(Abort::Interrupted);
        }
        if let Some(reason) = abort {
            return Err(StepStop::Abort(reason));
        }
        let counts = self.results.counts(&self.step);
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

    /// What one request (or the triage) decided, as one result per item; the items the provider
    /// accepted (or, in a dry run, would be sent) are handed on to `handled`, keyed by sending order.
    /// `chains`: whether the ledger had chains of retries into new work at the step's start.
    fn item_results(
        &self,
        done: Done,
        handled: &mut Vec<((usize, usize), Item)>,
        chains: bool,
    ) -> Vec<ItemResult> {
        let mut results = Vec::with_capacity(done.items.len());
        for (position, (mut item, result)) in done.items.into_iter().zip(done.results).enumerate() {
            item.new_id = result.new_id.clone();
            results.push(ItemResult {
                step: self.step.clone(),
                order: done.index,
                id: item.id.clone(),
                label: item.label.clone(),
                status: item.status.clone(),
                outcome: result.outcome,
                http_status: done.http_status,
                attempts: done.attempts,
                message: result.message,
                request: done.planned.clone(),
                chain: self.chain_of(&item.id, result.new_id.as_deref(), chains),
                new_id: result.new_id,
            });
            if result.outcome.counts_as_retry() || result.outcome == ItemOutcome::Planned {
                handled.push(((done.index, position), item));
            }
        }
        results
    }

    /// The blast-radius guards: abort before sending anything when too much would be retried.
    fn check_blast_radius(&self, selected: u64) -> Result<(), StepStop> {
        if self.options.yes || self.options.dry_run {
            return Ok(());
        }
        let g = &self.plan.guards;
        if let Some(max) = g.max_selected.filter(|m| selected > *m) {
            return Err(StepStop::Abort(Abort::Guard(format!(
                "{selected} items selected for retry, more than guards.max_selected = {max}; nothing was sent. A mass failure is usually an outage: look first, then rerun with --yes"
            ))));
        }
        let fetched = self.results.fetched_so_far();
        if let Some(max) = g.max_selected_ratio
            && fetched > 0
            && selected as f64 / fetched as f64 > max
        {
            return Err(StepStop::Abort(Abort::Guard(format!(
                "{selected} of {fetched} fetched items selected for retry, more than guards.max_selected_ratio = {max}; nothing was sent. A mass failure is usually an outage: look first, then rerun with --yes"
            ))));
        }
        Ok(())
    }

    async fn retry_group(
        &self,
        step: &str,
        plan: &RetryPlan,
        index: usize,
        items: Vec<Item>,
        limiter: Option<&RateLimiter>,
        turns: &Turns,
    ) -> Done {
        let mut done = Done::new(index);
        let (results, abort) = self
            .send_group(step, plan, &items, limiter, turns, &mut done)
            .await;
        done.results = results;
        done.abort = abort;
        done.items = items;
        done
    }

    /// Send one request for `items` (or plan it, in a dry run) and classify its answer, once: the
    /// same verdicts go to the ledger and to the run's results.
    async fn send_group(
        &self,
        step: &str,
        plan: &RetryPlan,
        items: &[Item],
        limiter: Option<&RateLimiter>,
        turns: &Turns,
        done: &mut Done,
    ) -> (Vec<Classified>, Option<Abort>) {
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
            done.planned = Some(Box::new(self.planned(&request)));
            return (every(ItemOutcome::Planned, None), None);
        }
        if turns.stopped() || self.interrupted() {
            let message = crate::client::NOT_SENT_STOPPED.to_string();
            return (every(ItemOutcome::NotSent, Some(message)), None);
        }
        let mut sent = match self
            .send_recorded(step, plan, &request, &ids, limiter, Some(turns))
            .await
        {
            Ok(sent) => sent,
            // Stopped while it waited its turn: not sent; the step reports why it stopped.
            Err(reason @ NotSent::Stopped) => {
                return (every(ItemOutcome::NotSent, Some(reason.to_string())), None);
            }
            Err(reason) if self.interrupted() => {
                return (every(ItemOutcome::NotSent, Some(reason.to_string())), None);
            }
            Err(reason) => {
                let reason = reason.to_string();
                return (
                    every(ItemOutcome::Failed, Some(reason.clone())),
                    Some(Abort::LedgerUnusable(reason)),
                );
            }
        };
        // Held until the answer is handled, a check or second sending of an ambiguous one included.
        let _slot = sent.slot.take();
        done.http_status = sent.exchange.response.as_ref().map(|r| r.status);
        done.attempts = sent.exchange.attempts;
        if let Some(reason) = missing_route(plan, &request, &sent.exchange, &self.redactor) {
            // A missing route did nothing, but its intent stays open: a resumed run checks the
            // item and sends it again if it was not carried out.
            let reason = self.redactor.redact(&reason);
            return (
                every(ItemOutcome::Failed, Some(reason.clone())),
                Some(Abort::NoSuchRoute(reason)),
            );
        }
        if sent.exchange.ambiguous {
            match self
                .resolve_ambiguous(step, plan, items, &request, limiter, &sent.exchange)
                .await
            {
                Ok(Some(resolved)) => return (resolved, None),
                Ok(None) => {}
                Err(again) => {
                    done.attempts += again.exchange.attempts;
                    done.http_status = again.exchange.response.as_ref().map(|r| r.status);
                    sent = again;
                }
            }
        }
        let exchange = &sent.exchange;
        let (mut results, abort) = match classify(exchange, &plan.outcome, &ids, &self.redactor) {
            Ok(results) => (results, None),
            Err(reason) => (
                every(ItemOutcome::Failed, Some(reason.clone())),
                Some(Abort::CredentialsRefused(reason)),
            ),
        };
        if exchange.ambiguous {
            // Its intent stays open, for a resumed run to check.
            for r in &mut results {
                r.outcome = ItemOutcome::Unknown;
            }
        } else {
            self.attach_new_ids(plan, exchange, &mut results);
            if let Some(request_id) = sent.request
                && missing_route(plan, &request, exchange, &self.redactor).is_none()
            {
                self.record_answer(request_id, exchange, &ids, &results);
            }
        }
        self.attach_notes(plan, items, exchange, &mut results);
        (results, abort)
    }

    /// Send a mutating request with its intent recorded before it leaves, in one of the step's
    /// sending slots (`turns`; `None` when the caller already holds one). Its answer is recorded
    /// by the caller once classified ([`Run::record_answer`]).
    async fn send_recorded<'t>(
        &self,
        step: &str,
        plan: &RetryPlan,
        request: &Request,
        ids: &[String],
        limiter: Option<&RateLimiter>,
        turns: Option<&'t Turns>,
    ) -> Result<Sent<'t>, NotSent> {
        // With a rate, the intent is recorded after the request's turn came, just before it
        // leaves: a run killed while requests wait for the rate leaves none of them "in flight".
        // Without one, it is recorded ahead of the sending slot ([`turns`]).
        let ahead = turns.is_some_and(Turns::ahead);
        if !ahead && self.http.pace(limiter).await.is_err() {
            return Err(NotSent::Stopped);
        }
        let url = self.redactor.redact(request.url.as_str());
        let at = rfc3339(jiff::Timestamp::now());
        let intent = Intent {
            run_id: &self.report.run_id,
            step,
            provider: self.plan.provider.name(),
            item_ids: ids,
            method: request.method.as_str(),
            url: &url,
            at: &at,
        };
        let (request_id, slot) = match turns {
            // The slot is asked for while the intent commits ([`Turns::slot_after`]), so that
            // slots are handed out in the order the workers started: requests leave in the
            // items' order.
            Some(turns) => {
                let needed = turns.needed();
                let committed = self.results.intent(&intent, needed);
                let nudge = || {
                    if needed == Needed::Soon {
                        self.results.nudge();
                    }
                };
                turns.slot_after(committed, nudge).await
            }
            None => (self.results.intent(&intent, Needed::Now).await, None),
        };
        let request_id = request_id.map_err(|e| NotSent::Unrecorded(e.to_string()))?;
        let stopped = turns.is_some_and(|t| t.stopped() || slot.is_none()) || self.interrupted();
        if ahead && (stopped || self.http.pace(limiter).await.is_err()) {
            // Its turn came after the step stopped: nothing leaves, and its intent is taken back.
            if let Some(request_id) = request_id {
                self.results.withdrawn(request_id);
            }
            return Err(NotSent::Stopped);
        }
        let mut exchange = self
            .http
            .send_paced(request, Effect::Mutate, &plan.backoff, limiter)
            .await;
        mark_ambiguous(plan, &mut exchange);
        Ok(Sent {
            exchange,
            request: request_id,
            slot,
        })
    }

    /// Record the answer to request `request_id` in the ledger: each item's verdict, and the new
    /// work a one-item retry created. Only a request for one item can name its new work: a batch
    /// answer's one id would belong to all. An answer naming the item itself created nothing new.
    fn record_answer(
        &self,
        request_id: i64,
        exchange: &Exchange,
        ids: &[String],
        results: &[Classified],
    ) {
        let answers: Vec<Answer> = ids
            .iter()
            .zip(results)
            .map(|(id, r)| (id.clone(), r.outcome, r.message.clone()))
            .collect();
        let links: Vec<Link<'_>> = match (ids, results) {
            ([id], [r]) if r.outcome == ItemOutcome::Retried => r
                .new_id
                .as_deref()
                .filter(|new_id| !new_id.is_empty() && new_id != id)
                .map(|new_id| Link {
                    provider: self.plan.provider.name(),
                    item_id: id,
                    new_id,
                })
                .into_iter()
                .collect(),
            _ => Vec::new(),
        };
        let status = exchange.response.as_ref().map(|r| r.status);
        let at = rfc3339(jiff::Timestamp::now());
        self.results
            .answered(request_id, status, &answers, &links, &at);
    }

    /// A retry that may have been carried out: check, resend or give up, as the playbook says.
    /// `Ok(Some)` settles the items; `Ok(None)` gives up (they become `unknown`); `Err` is a second
    /// sending, to classify instead.
    async fn resolve_ambiguous(
        &self,
        step: &str,
        plan: &RetryPlan,
        items: &[Item],
        request: &Request,
        limiter: Option<&RateLimiter>,
        first: &Exchange,
    ) -> Result<Option<Vec<Classified>>, Sent<'static>> {
        let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
        let why = first.error.clone().unwrap_or_default();
        match plan.on_ambiguous {
            OnAmbiguous::GiveUp => Ok(None),
            OnAmbiguous::Resend => {
                match self
                    .send_recorded(step, plan, request, &ids, limiter, None)
                    .await
                {
                    Ok(again) => Err(again),
                    Err(_) => Ok(None),
                }
            }
            OnAmbiguous::Check => {
                let mut results = Vec::new();
                for item in items {
                    let before = plan.counter.as_ref().and_then(|p| counter(p, &item.raw()));
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
                if results.iter().any(|r| r.outcome == ItemOutcome::Retried) {
                    // Committed before this request gives up its slot and the next one leaves: a
                    // kill then must not lose it, or a resumed run would check the item again,
                    // perhaps after its work failed anew, and retry it twice.
                    self.results.flush().await;
                }
                let not_carried: Vec<usize> = results
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.outcome == ItemOutcome::Failed && r.message.is_none())
                    .map(|(i, _)| i)
                    .collect();
                if not_carried.len() == items.len() {
                    // Nothing was carried out: sending again is safe.
                    return match self
                        .send_recorded(step, plan, request, &ids, limiter, None)
                        .await
                    {
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

    /// Add the new work each retried item's answer names (`new_id:`).
    fn attach_new_ids(&self, plan: &RetryPlan, exchange: &Exchange, results: &mut [Classified]) {
        let (Some(path), Some(json)) = (
            plan.new_id.as_ref(),
            exchange.response.as_ref().and_then(|r| r.json.as_ref()),
        ) else {
            return;
        };
        for result in results.iter_mut() {
            if result.outcome == ItemOutcome::Retried {
                result.new_id = path.first_text(json);
            }
        }
    }

    /// Add the playbook's note (`note:`) to each retried item's result.
    fn attach_notes(
        &self,
        plan: &RetryPlan,
        items: &[Item],
        exchange: &Exchange,
        results: &mut [Classified],
    ) {
        let Some(note) = &plan.note else { return };
        let json = exchange.response.as_ref().and_then(|r| r.json.clone());
        for (item, result) in items.iter().zip(results.iter_mut()) {
            if result.outcome != ItemOutcome::Retried {
                continue;
            }
            let ctx = vec![
                ("item", item.template_value()),
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

    fn retry_request(
        &self,
        plan: &RetryPlan,
        items: &[Item],
    ) -> Result<Request, super::request::RequestError> {
        match &plan.mode {
            RetryMode::PerItem(request) => self.item_request(request, &items[0]),
            RetryMode::Batch { request, .. } => {
                let raw: Vec<serde_json::Value> = items.iter().map(Item::raw).collect();
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

/// Why a retry request was not sent.
#[derive(Debug, thiserror::Error)]
enum NotSent {
    /// The run was stopped while the request waited its turn.
    #[error("{}", crate::client::NOT_SENT_STOPPED)]
    Stopped,
    /// The ledger could not record the request's intent: sending it would break `--resume`.
    #[error("not sent: the ledger cannot record it: {0}")]
    Unrecorded(String),
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
