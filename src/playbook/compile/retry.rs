//! The `retry` step: one request per item or per batch, its pace, and the rules that turn an
//! answer into an outcome (by status, by body, per item of a batch, ambiguous, a missing route).

use super::plan::{
    BodyRulePlan, ItemRulesPlan, MissingRoutePlan, OutcomePlan, RetryMode, RetryPlan,
};
use super::{Compiler, ROOTS_ITEM, StepAt};
use crate::playbook::model::{self, Outcome};

/// Names a batch request may use: the batch's items, their ids and their tasks.
const ROOTS_BATCH: &[&str] = &["vars", "steps", "items", "ids", "tasks"];
/// Names a retry's `note` may use: the item, its task and the answer.
const ROOTS_NOTE: &[&str] = &["vars", "steps", "item", "task", "response"];
/// The status a missing-route rule applies to unless it says otherwise.
const MISSING_ROUTE_STATUS: u16 = 404;

impl Compiler<'_> {
    pub(super) fn retry(&mut self, r: &model::Retry, at: StepAt) -> Option<RetryPlan> {
        let place = at.place;
        let input = self.input(&r.input, at)?;
        let mode = match (&r.request, &r.batch) {
            (_, Some(b)) => {
                let size = self.count(&b.size, "batch size")?;
                if size == 0 {
                    return self.error(
                        self.sources.place(&b.size),
                        "a batch holds at least one item",
                        None,
                    );
                }
                let Some(req) = b.request.as_ref().or(r.request.as_ref()) else {
                    return self.error(place, "the batch has no `request`", Some("add `batch: {size: 50, request: {path: /tasks/retry, body: {ids: \"{{ ids }}\"}}}`".into()));
                };
                RetryMode::Batch {
                    size: size as usize,
                    request: self.request(req, ROOTS_BATCH, "POST", place)?,
                }
            }
            (Some(req), None) => RetryMode::PerItem(self.request(req, ROOTS_ITEM, "POST", place)?),
            (None, None) => {
                return self.error(
                    place,
                    "this retry has no `request` or `batch`",
                    Some(
                        "add `request: {method: POST, path: \"/tasks/{{ task.id }}/retry\"}`"
                            .into(),
                    ),
                );
            }
        };
        let concurrency = match &r.concurrency {
            Some(c) => self.count(c, "concurrency")?,
            None => 1,
        };
        if concurrency == 0 {
            return self.error(place, "concurrency must be at least 1", None);
        }
        let rate = self.optional(r.rate.as_ref(), Self::pace)?;
        let backoff = self.backoff(r.backoff.as_ref(), self.backoff.clone());
        let outcome = match &r.outcome {
            Some(o) => self.outcome(o)?,
            None => self.outcome(&model::OutcomeRules::default())?,
        };
        let only_status = match &r.only_status {
            Some(list) => Some(self.statuses(list)?),
            None if self.provider.guards_status() => self.selected_statuses.clone(),
            None => None,
        };
        let new_id = self.optional(r.new_id.as_ref(), Self::jsonpath)?;
        let note = self.optional(r.note.as_ref(), |c, t| c.template(t, ROOTS_NOTE))?;
        let counter = self.optional(r.counter.as_ref(), Self::jsonpath)?;
        let check = self.optional(r.check.as_ref(), |this, c| this.enrich(c, place))?;
        let on_ambiguous = r.on_ambiguous.unwrap_or(if check.is_some() {
            model::OnAmbiguous::Check
        } else {
            model::OnAmbiguous::GiveUp
        });
        if on_ambiguous == model::OnAmbiguous::Check && check.is_none() {
            return self.error(
                place,
                "`on_ambiguous: check` needs a way to read an item: add `check: {request: …}`",
                None,
            );
        }
        let budget = match &r.budget {
            Some(b) => Some((b.max, self.span(&b.per)?)),
            None => None,
        };
        Some(RetryPlan {
            fields: self.task_fields.clone()?,
            retryable: self.selected_statuses.clone(),
            check,
            on_ambiguous,
            budget,
            input,
            mode,
            concurrency: concurrency as usize,
            rate,
            backoff,
            outcome,
            only_status,
            new_id,
            note,
            counter,
        })
    }

    fn outcome(&mut self, o: &model::OutcomeRules) -> Option<OutcomePlan> {
        let message = match &o.message {
            Some(m) => vec![self.jsonpath(m)?],
            None => crate::jsonpath::message_paths(),
        };
        let mut body = Vec::new();
        for rule in &o.body {
            let when = self.predicate(&rule.when)?;
            let message = self.optional(rule.message.as_ref(), Self::jsonpath)?;
            body.push(BodyRulePlan {
                status: rule.status.clone().unwrap_or_default(),
                when,
                outcome: rule.outcome,
                message,
            });
        }
        let items = match &o.items {
            Some(i) => Some(ItemRulesPlan {
                path: self.jsonpath(&i.path)?,
                id: self.jsonpath_or(&i.id, "$.id")?,
                code: self.jsonpath_or(&i.code, "$.code")?,
                message: self.jsonpath_or(&i.message, "$.message")?,
                codes: i.codes.clone(),
                otherwise: i.otherwise.unwrap_or(Outcome::Failed),
                unlisted: i.unlisted.unwrap_or(Outcome::Retried),
            }),
            None => None,
        };
        let mut missing_route = Vec::new();
        for rule in o.missing_route.iter().flatten() {
            missing_route.push(MissingRoutePlan {
                status: rule
                    .status
                    .clone()
                    .unwrap_or_else(|| vec![MISSING_ROUTE_STATUS]),
                when: self.predicate(&rule.when)?,
                hint: rule.hint.clone(),
            });
        }
        Some(OutcomePlan {
            status: o.status.clone(),
            message,
            body,
            items,
            ambiguous: o.ambiguous.clone().unwrap_or_default(),
            missing_route,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{compile_steps, compile_text, errors};
    use super::super::{Plan, RetryMode, RetryPlan, StepKind};
    use crate::playbook::model::{OnAmbiguous, Outcome};

    fn retry(plan: &Plan) -> &RetryPlan {
        plan.steps
            .iter()
            .find_map(|s| match &s.kind {
                StepKind::Retry(r) => Some(r.as_ref()),
                _ => None,
            })
            .expect("a retry step")
    }

    const IDS: &str = "  - fetch: {ids: a}\n";

    #[test]
    fn a_retry_defaults_to_one_post_at_a_time_giving_up_on_ambiguous_answers() {
        let plan = compile_steps("", &format!("{IDS}  - retry: {{request: {{path: /r}}}}\n"))
            .expect("a plan");
        let r = retry(&plan);
        assert!(matches!(&r.mode, RetryMode::PerItem(req) if req.method == reqwest::Method::POST));
        assert_eq!(r.concurrency, 1);
        assert_eq!(r.on_ambiguous, OnAmbiguous::GiveUp);
        assert!(r.outcome.ambiguous.is_empty() && r.outcome.missing_route.is_empty());
        assert!(r.check.is_none() && r.only_status.is_none() && r.budget.is_none());
    }

    #[test]
    fn a_retry_needs_a_request_a_batch_of_one_or_more_and_some_concurrency() {
        assert_eq!(
            errors(compile_steps("", &format!("{IDS}  - retry: {{}}\n"))),
            ["this retry has no `request` or `batch`"]
        );
        assert_eq!(
            errors(compile_steps(
                "",
                &format!("{IDS}  - retry: {{batch: {{size: 0, request: {{path: /r}}}}}}\n")
            )),
            ["a batch holds at least one item"]
        );
        assert_eq!(
            errors(compile_steps(
                "",
                &format!("{IDS}  - retry: {{batch: {{size: 2}}}}\n")
            )),
            ["the batch has no `request`"]
        );
        assert_eq!(
            errors(compile_steps(
                "",
                &format!("{IDS}  - retry: {{request: {{path: /r}}, concurrency: 0}}\n")
            )),
            ["concurrency must be at least 1"]
        );
        assert_eq!(
            errors(compile_steps(
                "",
                &format!("{IDS}  - retry: {{request: {{path: /r}}, on_ambiguous: check}}\n")
            )),
            ["`on_ambiguous: check` needs a way to read an item: add `check: {request: …}`"]
        );
    }

    #[test]
    fn a_batch_request_reads_the_batch_and_a_per_item_one_does_not() {
        let plan = compile_steps(
            "",
            &format!("{IDS}  - retry: {{batch: {{size: 2, request: {{path: /r, body: {{ids: \"{{{{ ids }}}}\"}}}}}}}}\n"),
        )
        .expect("a plan");
        assert!(matches!(
            retry(&plan).mode,
            RetryMode::Batch { size: 2, .. }
        ));
        let errors = errors(compile_steps(
            "",
            &format!(
                "{IDS}  - retry: {{request: {{path: /r, body: {{ids: \"{{{{ ids }}}}\"}}}}}}\n"
            ),
        ));
        assert_eq!(errors, ["unknown variable `ids` in template"]);
    }

    #[test]
    fn outcome_rules_and_their_defaults() {
        let plan = compile_steps(
            "",
            &format!("{IDS}  - retry:\n      request: {{path: /r}}\n      outcome:\n        items: {{path: \"$.results[*]\"}}\n        missing_route: [{{when: \"@.detail == 'Not Found'\"}}]\n"),
        )
        .expect("a plan");
        let o = &retry(&plan).outcome;
        let items = o.items.as_ref().expect("item rules");
        assert_eq!(
            (items.otherwise, items.unlisted),
            (Outcome::Failed, Outcome::Retried)
        );
        assert_eq!(o.missing_route[0].status, [404]);
    }

    #[test]
    fn the_adapters_outcome_knowledge_stays_under_the_playbooks_own_rules() {
        let text = "name: t\nprovider: deepwork\nsteps:\n  - fetch: {}\n  - retry: {outcome: {status: {409: skipped}}}\n";
        let plan = compile_text(text, &[]).expect("a plan");
        let r = retry(&plan);
        assert_eq!(r.outcome.ambiguous, [500]);
        assert_eq!(r.outcome.missing_route.len(), 1);
        assert_eq!(r.outcome.status.get(&409), Some(&Outcome::Skipped));
        assert_eq!(
            r.on_ambiguous,
            OnAmbiguous::Check,
            "the adapter can read an item"
        );
    }
}
