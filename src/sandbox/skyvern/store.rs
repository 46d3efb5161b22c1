//! Skyvern's runs: seeding, the reads that move new runs on, and the refusals a test sets.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::model::{NAVIGATION_FAILURE, Refusal, Run, WORKFLOWS, is_final, naive, settled_status};
use super::{NAME, SALT};
use crate::sandbox::api::TaskStore;
use crate::sandbox::seeding::{DAY, Seeding, newest_first, seconds_ago};
use crate::sandbox::settle::{self, Fate, Progress, Rule};

/// The Skyvern runs, newest first, and the RNG that names new runs.
#[derive(Debug)]
pub(crate) struct Store {
    pub(super) runs: Vec<Run>,
    pub(super) rng: StdRng,
    /// Runs whose retry the server refuses, and why.
    pub(super) refusals: Vec<(String, Refusal)>,
}

pub(super) fn new_run_id(rng: &mut StdRng) -> String {
    format!(
        "wr_{}",
        rng.random_range(400_000_000_000_000_000u64..500_000_000_000_000_000)
    )
}

impl Default for Store {
    /// An empty store; [`Store::seeded`] fills it.
    fn default() -> Store {
        Store {
            runs: Vec::new(),
            rng: StdRng::seed_from_u64(SALT),
            refusals: Vec::new(),
        }
    }
}

impl Store {
    fn seeded(seeding: &Seeding) -> Store {
        let Seeding { seed, now, .. } = *seeding;
        // (status, recent?, count); "recent" is within the last day, else 8–20 days ago.
        let plan: [(&'static str, bool, usize); 13] = [
            ("failed", true, 7),
            ("failed", false, 3),
            ("terminated", true, 3),
            ("terminated", false, 1),
            ("timed_out", true, 3),
            ("timed_out", false, 1),
            ("canceled", true, 3),
            ("completed", true, 8),
            ("completed", false, 4),
            ("running", true, 3),
            ("queued", true, 2),
            ("created", true, 1),
            ("paused", true, 1),
        ];
        let mut rng = StdRng::seed_from_u64(seed ^ SALT);
        let mut runs = Vec::new();
        let counts = seeding.scaled(plan.map(|row| row.2));
        for ((status, recent, _), count) in plan.into_iter().zip(counts) {
            for _ in 0..count {
                let ago = seconds_ago(&mut rng, recent, 300..DAY - 300, 20);
                let created_at = now - ago;
                let (failure_reason, error_code) = match status {
                    "failed" => (Some(NAVIGATION_FAILURE), Some("NAVIGATION_FAILED")),
                    "terminated" => (
                        Some("The login form rejects the supplied credentials"),
                        Some("GOAL_UNACHIEVABLE"),
                    ),
                    "timed_out" => (
                        Some("Reached the maximum steps (25)"),
                        Some("MAX_STEPS_REACHED"),
                    ),
                    _ => (None, None),
                };
                let workflow = rng.random_range(0..WORKFLOWS.len());
                runs.push(Run {
                    id: new_run_id(&mut rng),
                    workflow,
                    status,
                    created_at,
                    modified_at: if is_final(status) {
                        (created_at + rng.random_range(30..1800)).min(now)
                    } else {
                        created_at
                    },
                    failure_reason,
                    error_code,
                    parameters: json!({
                        "account": format!("acct-{:04}", rng.random_range(0..10_000)),
                        "since": naive(created_at - DAY),
                    }),
                    step_count: rng.random_range(3..26),
                    retry_of: None,
                    progress: Progress::Untouched,
                    fate: Fate::Success,
                });
            }
        }
        newest_first(&mut runs, |item| (item.created_at, &item.id));
        let retryable = runs.iter().filter(|run| is_final(run.status));
        let failing = settle::failing(seed, NAME, retryable.map(|run| run.id.as_str()));
        for run in &mut runs {
            run.fate = settle::fate_of(&failing, &run.id);
        }
        Store {
            runs,
            rng,
            refusals: Vec::new(),
        }
    }

    /// Make the server refuse to retry run `id` (any run, seeded or new) for `why`.
    pub(super) fn refuse(&mut self, id: &str, why: Refusal) {
        self.refusals.retain(|(run, _)| run != id);
        self.refusals.push((id.to_owned(), why));
    }

    /// Reads one run through its get-one endpoint, moving it on if a retry put it in motion.
    pub(super) fn read(&mut self, id: &str, rule: Rule, now: i64) -> Option<&Run> {
        settle::read(&mut self.runs, id, rule, now)
    }
}

impl TaskStore for Store {
    fn reseed(&mut self, seeding: &Seeding) {
        *self = Store::seeded(seeding);
    }

    fn snapshot(&self) -> Vec<Value> {
        let show = |run: &Run| {
            let mut value = run.to_list_json();
            value["run_request"] = run.to_response_json()["run_request"].clone();
            value["sandbox_retry_of"] = json!(run.retry_of);
            value
        };
        settle::snapshot(&self.runs, show, |run| {
            (is_final(run.status) || run.progress.is_moving()).then(|| settled_status(run.fate))
        })
    }

    fn settled(&self) -> Vec<(String, String)> {
        let items = self.runs.iter();
        settle::settled(items.map(|run| (run.progress, run.id.as_str(), run.status)))
    }
}
