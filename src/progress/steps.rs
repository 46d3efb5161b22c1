//! What the events told of each step so far: its kind, total, counts, when it started, whether it
//! finished. The displays keep one of these and render a [`StepView`] of the step an event
//! concerns; the clock is passed in, so that the bookkeeping is tested without waiting.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use super::Event;
use super::line::{Phase, StepView};

/// One step, as far as the events went.
struct Tracked {
    kind: &'static str,
    total: Option<u64>,
    counts: super::Counts,
    started: Instant,
}

/// Every step met, by name, and the backoffs since the last step started (a backoff names no
/// step: it belongs to the one running).
#[derive(Default)]
pub(crate) struct Steps {
    steps: HashMap<String, Tracked>,
    backoffs: u64,
    /// The adaptive pace last reported (`rate: auto`), shown once there is one.
    pace: Option<String>,
}

impl Steps {
    /// Take in `event` at `now`; the view of the step it concerns, if it concerns one.
    pub(crate) fn apply(&mut self, event: &Event, now: Instant) -> Option<StepView> {
        match event {
            Event::StepStarted { step, kind, total } => {
                self.backoffs = 0;
                let tracked = Tracked {
                    kind,
                    total: *total,
                    counts: super::Counts::default(),
                    started: now,
                };
                self.steps.insert(step.clone(), tracked);
                self.view(step, Phase::Started, now)
            }
            Event::StepProgress {
                step,
                total,
                counts,
            } => {
                let tracked = self.steps.get_mut(step)?;
                tracked.counts = *counts;
                if total.is_some() {
                    tracked.total = *total;
                }
                self.view(step, Phase::Running, now)
            }
            Event::StepFinished { step, summary } => {
                self.view(step, Phase::Finished(summary.clone()), now)
            }
            Event::Backoff { .. } => {
                self.backoffs += 1;
                None
            }
            Event::Pace { pace, .. } => {
                self.pace = Some(pace.clone());
                None
            }
            Event::Http { .. } | Event::Warning(_) => None,
        }
    }

    fn view(&self, step: &str, phase: Phase, now: Instant) -> Option<StepView> {
        let tracked = self.steps.get(step)?;
        Some(StepView {
            name: step.to_string(),
            kind: tracked.kind,
            total: tracked.total,
            counts: tracked.counts,
            backoffs: self.backoffs,
            elapsed: now.saturating_duration_since(tracked.started),
            pace: self.pace.clone(),
            phase,
        })
    }
}

/// [`Steps`] behind a lock, for a display that events reach from several tasks.
#[derive(Default)]
pub(crate) struct SharedSteps(Mutex<Steps>);

impl SharedSteps {
    /// [`Steps::apply`] now.
    pub(crate) fn apply_now(&self, event: &Event) -> Option<StepView> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .apply(event, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Counts;

    #[test]
    fn a_step_keeps_its_kind_and_total_and_counts_backoffs_since_it_started() {
        let mut steps = Steps::default();
        let t0 = Instant::now();
        let started = Event::StepStarted {
            step: "failed".into(),
            kind: "fetch",
            total: None,
        };
        let view = steps.apply(&started, t0).expect("a view");
        assert_eq!((view.kind, view.phase), ("fetch", Phase::Started));
        let backoff = Event::Backoff {
            reason: "503".into(),
            wait: std::time::Duration::ZERO,
        };
        assert!(steps.apply(&backoff, t0).is_none());
        let progress = Event::StepProgress {
            step: "failed".into(),
            total: None,
            counts: Counts {
                done: 14,
                ..Counts::default()
            },
        };
        let later = t0 + std::time::Duration::from_secs(2);
        let view = steps.apply(&progress, later).expect("a view");
        assert_eq!((view.counts.done, view.backoffs), (14, 1));
        assert_eq!(view.elapsed, std::time::Duration::from_secs(2));
        let finished = Event::StepFinished {
            step: "failed".into(),
            summary: "14 items".into(),
        };
        let view = steps.apply(&finished, later).expect("a view");
        assert_eq!(view.phase, Phase::Finished("14 items".into()));
        assert_eq!(view.counts.done, 14, "the finished line keeps the counts");
        let unknown = Event::StepFinished {
            step: "never started".into(),
            summary: String::new(),
        };
        assert!(steps.apply(&unknown, later).is_none());
    }
}
