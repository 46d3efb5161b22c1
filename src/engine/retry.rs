//! The retry step: the provider's retry request per item or per batch, under a concurrency cap and
//! a rate shared by every worker; each item's outcome classified. In a dry run it renders every
//! request and sends none.

use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;

use super::outcome::{Classified, classify};
use super::{Item, Run, StepStop};
use crate::http::limiter::RateLimiter;
use crate::http::{Effect, Request};
use crate::playbook::compile::{RetryMode, RetryPlan};
use crate::progress::{Counts, Event};
use crate::report::{ItemOutcome, ItemReport, PlannedRequest};

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
        let concurrency = self.options.concurrency.unwrap_or(plan.concurrency).max(1);
        let limiter = plan.rate.map(RateLimiter::new);
        let stop = AtomicBool::new(false);
        let groups: Vec<Vec<Item>> = match &plan.mode {
            RetryMode::PerItem(_) => input.into_iter().map(|i| vec![i]).collect(),
            RetryMode::Batch { size, .. } => input.chunks(*size).map(<[Item]>::to_vec).collect(),
        };
        let mut done_list = Vec::new();
        let mut counts = Counts::default();
        {
            let this = &*self;
            let limiter = limiter.as_ref();
            let stop = &stop;
            let mut stream = futures_util::stream::iter(groups.into_iter().enumerate())
                .map(|(index, items)| this.retry_group(plan, index, items, limiter, stop))
                .buffer_unordered(concurrency);
            while let Some(done) = stream.next().await {
                for r in &done.results {
                    counts.done += 1;
                    match r.outcome {
                        ItemOutcome::Retried => counts.retried += 1,
                        ItemOutcome::Skipped => counts.skipped += 1,
                        ItemOutcome::Failed => counts.failed += 1,
                        ItemOutcome::Planned => {}
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
        let mut abort = None;
        let mut handled = Vec::new();
        for done in done_list {
            if let Some(reason) = done.abort {
                abort.get_or_insert(reason);
            }
            for (item, result) in done.items.into_iter().zip(done.results) {
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
                    new_id: result.new_id,
                });
                if matches!(result.outcome, ItemOutcome::Retried | ItemOutcome::Planned) {
                    handled.push(item);
                }
            }
        }
        let summary = format!(
            "retried {}, skipped {}, failed {}",
            counts.retried, counts.skipped, counts.failed
        );
        if let Some(reason) = abort {
            return Err(StepStop::Abort(reason));
        }
        self.progress.event(Event::StepFinished {
            step: step.into(),
            summary: if self.options.dry_run {
                format!("planned {total}")
            } else {
                summary
            },
        });
        Ok(handled)
    }

    async fn retry_group(
        &self,
        plan: &RetryPlan,
        index: usize,
        items: Vec<Item>,
        limiter: Option<&RateLimiter>,
        stop: &AtomicBool,
    ) -> Done {
        // Items outside the selected statuses are never sent, whatever the provider would accept.
        let (items, ineligible): (Vec<Item>, Vec<Item>) = items.into_iter().partition(|item| {
            plan.only_status
                .as_ref()
                .is_none_or(|allowed| item.status.as_ref().is_some_and(|s| allowed.contains(s)))
        });
        let mut done = Done {
            index,
            items: Vec::new(),
            results: Vec::new(),
            http_status: None,
            attempts: 0,
            planned: None,
            abort: None,
        };
        if !items.is_empty() {
            let (results, abort) = self
                .send_group(plan, &items, limiter, stop, &mut done)
                .await;
            done.results = results;
            done.abort = abort;
            done.items = items;
        }
        for item in ineligible {
            let status = item.status.clone().unwrap_or_else(|| "unknown".into());
            let allowed = plan.only_status.as_deref().unwrap_or_default().join(", ");
            let message =
                format!("status {status} is not one selected for retry ({allowed}); not sent");
            done.results
                .push(Classified::new(ItemOutcome::Skipped, Some(message)));
            done.items.push(item);
        }
        done
    }

    /// Send one request for `items` (or plan it, in a dry run) and classify its answer.
    async fn send_group(
        &self,
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
                return (
                    every(
                        ItemOutcome::Failed,
                        Some(format!("cannot build the request: {e}")),
                    ),
                    None,
                );
            }
        };
        if self.options.dry_run {
            done.planned = Some(self.planned(&request));
            return (every(ItemOutcome::Planned, None), None);
        }
        if stop.load(Ordering::SeqCst) {
            return (
                every(
                    ItemOutcome::Failed,
                    Some("not sent: the run was aborted".into()),
                ),
                None,
            );
        }
        let exchange = self
            .http
            .send(&request, Effect::Mutate, &plan.backoff, limiter)
            .await;
        done.http_status = exchange.response.as_ref().map(|r| r.status);
        done.attempts = exchange.attempts;
        let mut results = match classify(&exchange, &plan.outcome, &ids) {
            Ok(results) => results,
            Err(reason) => {
                return (
                    every(ItemOutcome::Failed, Some(reason.clone())),
                    Some(reason),
                );
            }
        };
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
            if let Some(note) = &plan.note {
                let mut ctx = vec![
                    (
                        "item",
                        minijinja::Value::from(minijinja::value::Serde(&item.raw)),
                    ),
                    (
                        "task",
                        minijinja::Value::from(minijinja::value::Serde(item.task())),
                    ),
                ];
                ctx.push((
                    "response",
                    minijinja::Value::from(minijinja::value::Serde(
                        json.clone().unwrap_or_default(),
                    )),
                ));
                match self.plan.templates.render(note, &self.ctx(ctx)) {
                    Ok(text) if !text.trim().is_empty() => {
                        result.message = Some(text.trim().to_string())
                    }
                    Ok(_) => {}
                    Err(e) => result.message = Some(format!("(note: {e})")),
                }
            }
        }
        (results, None)
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
