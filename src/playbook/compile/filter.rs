//! The `filter` step: which items to keep, by status, a JSONPath predicate, age and count. A filter
//! naming no status keeps the adapter's retryable ones; the statuses it keeps are what later
//! retries are held to.

use super::plan::FilterPlan;
use super::{Compiler, ROOTS_ITEM, StepAt, default_statuses};
use crate::playbook::model;

impl Compiler<'_> {
    pub(super) fn filter(&mut self, f: &model::Filter, at: StepAt) -> Option<FilterPlan> {
        let input = self.input(&f.input, at)?;
        let mut status_in = self.optional(f.status_in.as_ref(), Self::statuses)?;
        let status_not_in = self.optional(f.status_not_in.as_ref(), Self::statuses)?;
        if status_in.is_none() && status_not_in.is_none() {
            status_in = default_statuses(self.provider);
        }
        let predicate = self.optional(f.where_.as_ref(), Self::predicate)?;
        let since = self.optional(f.since.as_ref(), Self::span)?;
        let until = self.optional(f.until.as_ref(), Self::span)?;
        let time = self.optional(f.time.as_ref(), |c, t| c.template(t, ROOTS_ITEM))?;
        let limit = self.optional(f.limit.as_ref(), |c, l| c.count(l, "limit"))?;
        if status_in.is_some() {
            self.selected_statuses = status_in.clone();
        }
        Some(FilterPlan {
            input,
            status_in,
            status_not_in,
            predicate,
            since,
            until,
            time,
            limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{compile_steps, compile_text, errors};
    use super::super::{FilterPlan, Plan, StepKind};

    fn filter(plan: &Plan) -> &FilterPlan {
        match &plan.steps[1].kind {
            StepKind::Filter(f) => f,
            _ => panic!("a filter second"),
        }
    }

    #[test]
    fn a_filter_without_statuses_keeps_the_adapters_retryable_ones() {
        let text = "name: t\nprovider: deepwork\nsteps:\n  - fetch: {}\n  - filter: {}\n";
        let plan = compile_text(text, &[]).expect("a plan");
        assert_eq!(filter(&plan).status_in, Some(vec!["blocked".to_string()]));
        let plan = compile_steps("", "  - fetch: {ids: a}\n  - filter: {}\n").expect("a plan");
        assert_eq!(
            filter(&plan).status_in,
            None,
            "the generic adapter has none"
        );
        let text = "name: t\nprovider: deepwork\nsteps:\n  - fetch: {}\n  - filter: {status_not_in: [done]}\n";
        let plan = compile_text(text, &[]).expect("a plan");
        assert_eq!(
            filter(&plan).status_in,
            None,
            "a filter naming statuses says which"
        );
    }

    #[test]
    fn statuses_may_come_from_a_template_over_vars() {
        let plan = compile_steps(
            "vars: {s: \"failed, error\"}\n",
            "  - fetch: {ids: a}\n  - filter: {status_in: \"{{ vars.s }}\", limit: 3, since: 1d}\n",
        )
        .expect("a plan");
        let f = filter(&plan);
        assert_eq!(
            f.status_in,
            Some(vec!["failed".to_string(), "error".to_string()])
        );
        assert_eq!(f.limit, Some(3));
        assert_eq!(f.since.map(|s| s.0.as_secs()), Some(86_400));
    }

    #[test]
    fn a_filter_needs_items_before_it_and_a_known_input() {
        assert_eq!(
            errors(compile_steps("", "  - filter: {}\n")),
            ["this step has no items to work on"]
        );
        assert_eq!(
            errors(compile_steps(
                "",
                "  - name: list\n    fetch: {ids: a}\n  - filter: {input: lst}\n"
            )),
            ["no step before this one is named `lst`"]
        );
        assert_eq!(
            errors(compile_steps(
                "",
                "  - fetch: {ids: a}\n  - filter: {since: soon}\n"
            ))
            .len(),
            1
        );
    }
}
