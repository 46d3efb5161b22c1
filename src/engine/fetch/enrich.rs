//! Enrichment: each item a fetch found read again (`enrich:`), a few at a time, in the fetch's
//! order; and [`Run::read_item`], the one read that verify and retry's checks use too.

use futures_util::StreamExt;
use serde_json::Value;

use super::answer::read_json;
use super::{Abort, Item, Run, StepStop};
use crate::client::Effect;
use crate::engine::results::ItemResult;
use crate::playbook::compile::EnrichPlan;
use crate::progress::{Counts, Event};
use crate::report::ItemOutcome;

impl Run<'_> {
    /// `items`, each read again by `plan` and its answer merged into (or put in place of) the
    /// item; an item that cannot be read is reported failed and dropped.
    pub(super) async fn enrich(
        &mut self,
        step: &str,
        plan: &EnrichPlan,
        items: Vec<Item>,
        fields: &crate::playbook::compile::FieldsPlan,
    ) -> Result<Vec<Item>, StepStop> {
        let total = items.len() as u64;
        let results: Vec<(usize, Item, Result<Value, ReadFailure>)> = {
            let this = &*self;
            futures_util::stream::iter(items.into_iter().enumerate())
                .map(|(index, item)| async move {
                    let result = this.read_item(plan, &item).await;
                    (index, item, result)
                })
                .buffer_unordered(plan.concurrency.max(1))
                .collect()
                .await
        };
        let mut ordered = results;
        ordered.sort_by_key(|(i, _, _)| *i);
        let mut kept = Vec::new();
        for (done, (_, item, result)) in (1u64..).zip(ordered) {
            match result {
                Ok(value) => kept.push(item.refreshed(value, plan.merge, fields)),
                Err(ReadFailure {
                    abort: Some(reason),
                    ..
                }) => return Err(StepStop::Abort(reason)),
                Err(ReadFailure {
                    message,
                    http_status,
                    attempts,
                    ..
                }) => {
                    let message = self
                        .redactor
                        .redact(&format!("could not read the item: {message}"));
                    let result = ItemResult {
                        step: self.step.clone(),
                        order: 0,
                        id: item.id.clone(),
                        label: item.label.clone(),
                        status: item.status.clone(),
                        outcome: ItemOutcome::Failed,
                        http_status,
                        attempts,
                        message: Some(message),
                        new_id: None,
                        request: None,
                        chain: Vec::new(),
                    };
                    self.results.record(&self.step, None, vec![result]);
                }
            }
            self.progress.event(Event::StepProgress {
                step: step.into(),
                total: Some(total),
                counts: Counts {
                    done,
                    ..Counts::default()
                },
            });
        }
        Ok(kept)
    }

    /// One item read again: its new value.
    pub(in crate::engine) async fn read_item(
        &self,
        plan: &EnrichPlan,
        item: &Item,
    ) -> Result<Value, ReadFailure> {
        let fail = |message: String, http_status, attempts, abort| ReadFailure {
            message,
            http_status,
            attempts,
            abort,
        };
        let req = self
            .item_request(&plan.request, item)
            .map_err(|e| fail(e.to_string(), None, 0, None))?;
        let exchange = self
            .http
            .send(&req, Effect::Read, &self.plan.connection.backoff, None)
            .await;
        let status = exchange.response.as_ref().map(|r| r.status);
        let attempts = exchange.attempts;
        let cut_short = status.is_none() || exchange.error.is_some();
        if cut_short && self.interrupted() {
            return Err(fail(
                "interrupted".into(),
                None,
                attempts,
                Some(Abort::Interrupted),
            ));
        }
        match read_json(&req, &exchange, &self.redactor) {
            Ok(json) => plan.item.first(json).cloned().ok_or_else(|| {
                let m = format!(
                    "{} {}: no item at {} in the answer",
                    req.method,
                    req.url,
                    plan.item.source()
                );
                fail(m, status, attempts, None)
            }),
            Err(StepStop::Abort(a)) => Err(fail(a.to_string(), status, attempts, Some(a))),
            Err(StepStop::Failed(m)) => Err(fail(m, status, attempts, None)),
        }
    }
}

/// Why one item could not be read again.
pub(in crate::engine) struct ReadFailure {
    pub(in crate::engine) message: String,
    http_status: Option<u16>,
    attempts: u32,
    /// Why the run must stop (credentials refused, interrupted), if it must.
    abort: Option<Abort>,
}
