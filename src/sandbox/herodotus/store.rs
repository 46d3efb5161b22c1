//! Herodotus's tasks: seeding (ULID ids), and the status reads that move a retried task along its
//! route, each status passed with its transition row.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::model::{
    Task, Transition, failure_message, is_failed, is_retryable, path_to, retry_route,
};
use super::{NAME, SALT};
use crate::sandbox::api::TaskStore;
use crate::sandbox::seeding::{DAY, Seeding, newest_first, seconds_ago};
use crate::sandbox::settle::{self, Fate, Progress, Rule, Step};
use crate::sandbox::time::rfc3339;

/// Crockford base32, as ULIDs use.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Where ULID time parts are anchored (2026-01-01T00:00:00Z): seeded ids must not depend on the
/// wall clock, yet should sort like their creation times.
const ULID_ANCHOR_SECS: i64 = 1_767_225_600;

/// A ULID for a task created `ago_secs` before sandbox start, with seeded randomness.
fn seeded_ulid(rng: &mut StdRng, ago_secs: i64) -> String {
    let secs = u128::try_from(ULID_ANCHOR_SECS - ago_secs).unwrap_or(0);
    let millis = secs * 1000 + rng.random_range(0..1000);
    let random: u128 = rng.random::<u128>() >> 48;
    let value = (millis << 80) | random;
    (0..26)
        .rev()
        .map(|index| CROCKFORD[((value >> (index * 5)) & 31) as usize] as char)
        .collect()
}

/// The Herodotus tasks, newest first.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub(super) tasks: Vec<Task>,
    pub(super) next_transition_id: u64,
    pub(super) list_enabled: bool,
}

impl Store {
    fn seeded(seeding: &Seeding) -> Store {
        let Seeding { seed, now, .. } = *seeding;
        // (status, recent?, has results, count); "recent" is within the last day, else 8–20 days ago.
        let plan: [(&str, bool, bool, usize); 14] = [
            ("DryRunFailed", true, false, 1),
            ("DryRunFailed", false, false, 1),
            ("ChainProofsFetchFailed", true, false, 1),
            ("TraceGenFailed", true, false, 2),
            ("AtlanticProvingFailed", true, false, 1),
            ("AtlanticProvingFailed", false, false, 1),
            ("TaskDecommitmentFailed", true, true, 1),
            ("TaskDecommitmentFailed", false, true, 1),
            ("TaskDecommitmentFailed", true, false, 1),
            ("TaskDecommitmentCompleted", true, true, 3),
            ("TaskDecommitmentCompleted", false, true, 3),
            ("AtlanticProvingStarted", true, false, 2),
            ("TraceGenStarted", true, false, 1),
            ("Received", true, false, 1),
        ];
        let mut rng = StdRng::seed_from_u64(seed ^ SALT);
        let mut store = Store {
            tasks: Vec::new(),
            next_transition_id: 1,
            list_enabled: false,
        };
        let counts = seeding.scaled(plan.map(|row| row.3));
        for ((status, recent, has_results, _), count) in plan.into_iter().zip(counts) {
            for _ in 0..count {
                let ago = seconds_ago(&mut rng, recent, 3600..DAY - 600, 20);
                let created_at = now - ago;
                let id = seeded_ulid(&mut rng, ago);
                let mut at = created_at;
                let mut from = None;
                let mut transitions = Vec::new();
                for to in path_to(status) {
                    transitions.push(Transition {
                        id: store.next_transition_id,
                        from: from.replace(to.clone()),
                        to,
                        at,
                    });
                    store.next_transition_id += 1;
                    at += rng.random_range(5..300);
                }
                let updated_at = transitions.last().map_or(created_at, |row| row.at);
                store.tasks.push(Task {
                    error_message: is_failed(status).then(|| failure_message(status, has_results)),
                    id,
                    status: status.to_owned(),
                    created_at,
                    updated_at,
                    has_results,
                    transitions,
                    progress: Progress::Untouched,
                    fate: Fate::Success,
                    route: Vec::new(),
                    position: None,
                });
            }
        }
        newest_first(&mut store.tasks, |task| (task.created_at, &task.id));
        let retryable = (store.tasks.iter())
            .filter(|task| is_retryable(&task.status, task.has_results))
            .map(|task| task.id.as_str());
        let failing = settle::failing(seed, NAME, retryable);
        for task in &mut store.tasks {
            task.fate = settle::fate_of(&failing, &task.id);
        }
        store
    }

    /// Reads one task's status, moving it along its retry route if a retry put it in motion.
    pub(super) fn read(&mut self, id: &str, rule: Rule, now: i64) -> Option<&Task> {
        let index = self.tasks.iter().position(|task| task.id == id)?;
        let task = &mut self.tasks[index];
        let target = match task.progress.read(rule) {
            None => None,
            Some(Step::InProgress { nth }) => {
                let started: Vec<usize> = (0..task.route.len())
                    .filter(|&at| task.route[at].ends_with("Started"))
                    .collect();
                let nth = usize::try_from(nth).unwrap_or(usize::MAX);
                started.get(nth - 1).or(started.last()).copied()
            }
            Some(Step::Settle) => task.route.len().checked_sub(1),
        };
        if let Some(target) = target {
            let from = task.position.map_or(0, |at| at + 1);
            for at in from..=target {
                let to = task.route[at].clone();
                task.transitions.push(Transition {
                    id: self.next_transition_id,
                    from: Some(std::mem::replace(&mut task.status, to.clone())),
                    to,
                    at: now,
                });
                self.next_transition_id += 1;
                task.updated_at = now;
            }
            task.position = Some(target);
            if task.progress.is_settled() {
                if is_failed(&task.status) {
                    task.error_message = Some(failure_message(&task.status, task.has_results));
                } else {
                    task.has_results = true;
                }
            }
        }
        Some(&self.tasks[index])
    }

    pub(super) fn find(&self, id: &str) -> Option<&Task> {
        self.tasks.iter().find(|task| task.id == id)
    }
}

impl TaskStore for Store {
    fn reseed(&mut self, seeding: &Seeding) {
        *self = Store::seeded(seeding);
    }

    fn snapshot(&self) -> Vec<Value> {
        let show = |task: &Task| {
            let mut value = task.status_json();
            value["createdAt"] = json!(rfc3339(task.created_at));
            value["hasResults"] = json!(task.has_results);
            value["transitionCount"] = json!(task.transitions.len());
            value
        };
        settle::snapshot(&self.tasks, show, |task| {
            if task.progress.is_moving() {
                task.route.last().cloned()
            } else if is_retryable(&task.status, task.has_results) {
                retry_route(&task.status, task.fate).pop()
            } else {
                None
            }
        })
    }

    fn settled(&self) -> Vec<(String, String)> {
        let items = self.tasks.iter();
        settle::settled(items.map(|task| (task.progress, task.id.as_str(), task.status.as_str())))
    }
}
