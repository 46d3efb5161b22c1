//! One Beam host's tasks: seeding, and the reads that move retried work on.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::model::{FAILURES, Status, Task, settled_status};
use super::{MAIN_AGENT, OTHER_AGENT, Workspace};
use crate::sandbox::api::TaskStore;
use crate::sandbox::seeding::{DAY, Seeding, newest_first, seeded_uuid};
use crate::sandbox::settle::{self, Fate, Progress, Rule};

/// One Beam host's tasks, in `createdAt` descending order.
#[derive(Debug, Default)]
pub(crate) struct Store {
    workspace: Workspace,
    pub(super) tasks: Vec<Task>,
    pub(super) flat_list: bool,
}

/// When seeded tasks were created, relative to sandbox start.
#[derive(Debug, Clone, Copy)]
enum Age {
    LastDay,
    ThisWeek,
    Older,
}

impl Store {
    /// A store for `workspace` with no tasks yet; [`TaskStore::reseed`] fills it.
    pub(super) fn empty(workspace: Workspace) -> Store {
        Store {
            workspace,
            ..Store::default()
        }
    }

    fn seeded(workspace: Workspace, seeding: &Seeding) -> Store {
        let Seeding { seed, now, .. } = *seeding;
        use Age::{LastDay, Older, ThisWeek};
        use Status::*;
        let plan: [(&'static str, Age, Status, usize); 21] = [
            (MAIN_AGENT, LastDay, Failed, 6),
            (MAIN_AGENT, LastDay, Error, 3),
            (MAIN_AGENT, LastDay, Stopped, 3),
            (MAIN_AGENT, LastDay, Timeout, 2),
            (MAIN_AGENT, LastDay, Completed, 5),
            (MAIN_AGENT, LastDay, InProgress, 1),
            (MAIN_AGENT, LastDay, Queued, 1),
            (MAIN_AGENT, LastDay, UserInputRequired, 1),
            (MAIN_AGENT, LastDay, Cancelled, 1),
            (MAIN_AGENT, ThisWeek, Failed, 2),
            (MAIN_AGENT, ThisWeek, Error, 1),
            (MAIN_AGENT, ThisWeek, Completed, 3),
            (MAIN_AGENT, Older, Failed, 3),
            (MAIN_AGENT, Older, Timeout, 1),
            (MAIN_AGENT, Older, Completed, 2),
            (MAIN_AGENT, Older, Cancelled, 1),
            (OTHER_AGENT, LastDay, Failed, 2),
            (OTHER_AGENT, LastDay, Error, 1),
            (OTHER_AGENT, LastDay, Completed, 3),
            (OTHER_AGENT, Older, Failed, 1),
            (OTHER_AGENT, Older, Completed, 1),
        ];
        const OBJECTIVES: [&str; 5] = [
            "Qualify inbound lead",
            "Reconcile supplier invoice",
            "Draft support reply",
            "Enrich CRM contact",
            "Summarise sales call",
        ];
        let mut rng = StdRng::seed_from_u64(seed ^ workspace.salt());
        let mut tasks = Vec::new();
        let counts = seeding.scaled(plan.map(|row| row.3));
        for ((agent_id, age, status, _), count) in plan.into_iter().zip(counts) {
            for _ in 0..count {
                let ago = match age {
                    Age::LastDay => rng.random_range(120..DAY - 120),
                    Age::ThisWeek => rng.random_range(DAY + 120..6 * DAY),
                    Age::Older => rng.random_range(8 * DAY..30 * DAY),
                };
                let created_at = now - ago;
                let updated_at = match status {
                    Queued => created_at,
                    _ => (created_at + rng.random_range(10..900)).min(now),
                };
                let number = tasks.len() + 101;
                tasks.push(Task {
                    id: seeded_uuid(&mut rng),
                    host: workspace.name(),
                    agent_id,
                    custom_id: format!("AGE-{number}"),
                    objective: OBJECTIVES[rng.random_range(0..OBJECTIVES.len())].to_owned(),
                    status,
                    created_at,
                    updated_at,
                    manual_retry_count: 0,
                    node_ids: [seeded_uuid(&mut rng), seeded_uuid(&mut rng)],
                    failure: status
                        .is_retryable()
                        .then(|| FAILURES[rng.random_range(0..FAILURES.len())]),
                    tokens_used: rng.random_range(800..20_000),
                    progress: Progress::Untouched,
                    fate: Fate::Success,
                });
            }
        }
        newest_first(&mut tasks, |item| (item.created_at, &item.id));
        let retryable = tasks.iter().filter(|task| task.status.is_retryable());
        let failing = settle::failing(
            seed,
            workspace.name(),
            retryable.map(|task| task.id.as_str()),
        );
        for task in &mut tasks {
            task.fate = settle::fate_of(&failing, &task.id);
        }
        Store {
            workspace,
            tasks,
            flat_list: false,
        }
    }

    /// Reads one task through its get-one endpoint, moving it on if a retry put it in motion.
    pub(super) fn read(&mut self, id: &str, rule: Rule, now: i64) -> Option<&Task> {
        settle::read(&mut self.tasks, id, rule, now)
    }
}

impl TaskStore for Store {
    fn reseed(&mut self, seeding: &Seeding) {
        *self = Store::seeded(self.workspace, seeding);
    }

    fn snapshot(&self) -> Vec<Value> {
        let show = |task: &Task| {
            let mut value = task.to_json();
            value["workspaceId"] = json!(self.workspace.workspace_id());
            value
        };
        settle::snapshot(&self.tasks, show, |task| {
            (task.status.is_retryable() || task.progress.is_moving())
                .then(|| settled_status(task.fate).as_str())
        })
    }

    fn settled(&self) -> Vec<(String, String)> {
        let items = self.tasks.iter();
        settle::settled(items.map(|task| (task.progress, task.id.as_str(), task.status.as_str())))
    }
}
