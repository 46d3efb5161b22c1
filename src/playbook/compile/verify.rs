//! The `verify` step: how to read one retried item again, which of its statuses mean the work
//! succeeded or failed again, and how often and how long to look.

use std::time::Duration;

use super::plan::VerifyPlan;
use super::request::verify_read;
use super::{Compiler, StepAt};
use crate::playbook::model::{self, Spanned};

/// Time between two reads of an item unless `every:` says otherwise.
const DEFAULT_EVERY: Duration = Duration::from_secs(10);
/// How long an item may take to settle unless `timeout:` says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

impl Compiler<'_> {
    pub(super) fn verify(&mut self, v: &model::Verify, at: StepAt) -> Option<VerifyPlan> {
        let input = self.input(&v.input, at)?;
        let what = format!("verify step `{}`", self.current_step);
        let read = self.enrich(&verify_read(v), at.place, &what)?;
        let success = self.final_statuses(&v.success, "success", at)?;
        let failure = self.final_statuses(&v.failure, "failure", at)?;
        let every = self.span_or(&v.every, DEFAULT_EVERY)?;
        let timeout = self.span_or(&v.timeout, DEFAULT_TIMEOUT)?;
        let rate = self.optional(v.rate.as_ref(), Self::rate)?;
        Some(VerifyPlan {
            input,
            read,
            fields: self.task_fields.clone()?,
            success,
            failure,
            every,
            timeout,
            rate,
        })
    }

    /// The statuses under `key` (`success` or `failure`), which a verify must have.
    fn final_statuses(
        &mut self,
        list: &Option<Spanned<model::Statuses>>,
        key: &str,
        at: StepAt,
    ) -> Option<Vec<String>> {
        match list {
            Some(l) => self.statuses(l),
            None => self.error(
                at.place,
                format!("this verify does not say which statuses mean {key}"),
                Some(format!("add `{key}: [...]`")),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{compile_steps, compile_text, errors};
    use super::super::{Plan, StepKind, VerifyPlan};
    use super::{DEFAULT_EVERY, DEFAULT_TIMEOUT};

    fn verify(plan: &Plan) -> &VerifyPlan {
        match &plan.steps[1].kind {
            StepKind::Verify(v) => v,
            _ => panic!("a verify second"),
        }
    }

    const READ: &str = "request: {path: \"/t/{{ task.id | urlencode }}\"}";

    #[test]
    fn a_verify_polls_every_ten_seconds_for_ten_minutes_unless_told() {
        let steps = format!(
            "  - fetch: {{ids: a}}\n  - verify: {{{READ}, success: [done], failure: [failed]}}\n"
        );
        let plan = compile_steps("", &steps).expect("a plan");
        let v = verify(&plan);
        assert_eq!((v.every, v.timeout), (DEFAULT_EVERY, DEFAULT_TIMEOUT));
        assert!(v.read.merge, "a verify's read keeps the item's own fields");
        assert_eq!(v.success, ["done"]);
    }

    #[test]
    fn a_verify_must_say_what_success_and_failure_are() {
        let steps = format!("  - fetch: {{ids: a}}\n  - verify: {{{READ}, failure: [failed]}}\n");
        assert_eq!(
            errors(compile_steps("", &steps)),
            ["this verify does not say which statuses mean success"]
        );
        let steps = format!("  - fetch: {{ids: a}}\n  - verify: {{{READ}, success: [done]}}\n");
        let result = compile_steps("", &steps);
        let Err(diags) = result else {
            panic!("compiled")
        };
        assert_eq!(diags[0].help.as_deref(), Some("add `failure: [...]`"));
    }

    #[test]
    fn the_adapters_statuses_and_read_fill_a_verify() {
        let text = "name: t\nprovider: deepwork\nsteps:\n  - fetch: {}\n  - verify: {every: 1s}\n";
        let plan = compile_text(text, &[]).expect("a plan");
        let v = verify(&plan);
        assert_eq!(v.success, ["done"]);
        assert_eq!(v.failure, ["blocked", "skipped"]);
        assert_eq!(v.every.as_secs(), 1);
        assert_eq!(v.read.item.source(), "$.task");
    }
}
