//! The filter step: status in / not in, a JSONPath predicate, an age window, duplicates by id, and a
//! limit. Pure: it reads no network.

use std::collections::HashSet;

use super::{Item, Run, StepStop};
use crate::playbook::compile::FilterPlan;
use crate::progress::Event;
use crate::time::parse_timestamp;

impl Run<'_> {
    pub(super) fn filter(
        &mut self,
        step: &str,
        plan: &FilterPlan,
        input: Vec<Item>,
    ) -> Result<Vec<Item>, StepStop> {
        let total = input.len();
        self.progress.event(Event::StepStarted {
            step: step.into(),
            kind: "filter",
            total: None,
        });
        let now = jiff::Timestamp::now();
        let mut seen = HashSet::new();
        let mut undated = 0;
        let mut kept = Vec::new();
        for item in input {
            if !seen.insert(item.id.clone()) {
                continue;
            }
            let status = item.status.as_deref().unwrap_or("");
            if plan
                .status_in
                .as_ref()
                .is_some_and(|list| !list.iter().any(|s| s == status))
            {
                continue;
            }
            if plan
                .status_not_in
                .as_ref()
                .is_some_and(|list| list.iter().any(|s| s == status))
            {
                continue;
            }
            if plan
                .predicate
                .as_ref()
                .is_some_and(|p| !p.matches(&item.raw))
            {
                continue;
            }
            if plan.since.is_some() || plan.until.is_some() {
                let when = match &plan.time {
                    Some(t) => self
                        .plan
                        .templates
                        .render(t, &self.item_ctx(&item))
                        .ok()
                        .and_then(|s| crate::time::parse_timestamp_str(&s)),
                    None => item.created_at.as_ref().and_then(parse_timestamp),
                };
                let Some(when) = when else {
                    undated += 1;
                    continue;
                };
                let age = now.duration_since(when);
                let age = std::time::Duration::try_from(age).unwrap_or_default();
                if plan.since.is_some_and(|s| age > s.0) || plan.until.is_some_and(|u| age < u.0) {
                    continue;
                }
            }
            // Checked before keeping, so that `limit: 0` keeps nothing.
            if plan.limit.is_some_and(|l| kept.len() as u64 >= l) {
                break;
            }
            kept.push(item);
        }
        if undated > 0 {
            self.progress.event(Event::Warning(format!(
                "step {step}: {undated} items had no readable timestamp and were left out of the age window"
            )));
        }
        self.progress.event(Event::StepFinished {
            step: step.into(),
            summary: format!("kept {} of {total}", kept.len()),
        });
        Ok(kept)
    }
}
