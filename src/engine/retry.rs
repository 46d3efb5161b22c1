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
        let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
        let fail_all = |message: String| {
            vec![
                Classified {
                    outcome: ItemOutcome::Failed,
                    message: Some(message)
                };
                ids.len()
            ]
        };
        let mut done = Done {
            index,
            items: Vec::new(),
            results: Vec::new(),
            http_status: None,
            attempts: 0,
            planned: None,
            abort: None,
        };
        let request = match self.retry_request(plan, &items) {
            Ok(r) => r,
            Err(e) => {
                done.results = fail_all(format!("cannot build the request: {e}"));
                done.items = items;
                return done;
            }
        };
        if self.options.dry_run {
            done.planned = Some(self.planned(&request));
            done.results = vec![
                Classified {
                    outcome: ItemOutcome::Planned,
                    message: None
                };
                ids.len()
            ];
            done.items = items;
            return done;
        }
        if stop.load(Ordering::SeqCst) {
            done.results = fail_all("not sent: the run was aborted".into());
            done.items = items;
            return done;
        }
        let exchange = self
            .http
            .send(&request, Effect::Mutate, &plan.backoff, limiter)
            .await;
        done.http_status = exchange.response.as_ref().map(|r| r.status);
        done.attempts = exchange.attempts;
        match classify(&exchange, &plan.outcome, &ids) {
            Ok(results) => done.results = results,
            Err(reason) => {
                done.results = fail_all(reason.clone());
                done.abort = Some(reason);
            }
        }
        done.items = items;
        done
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
