//! The `http` API's tasks: seeding, the reads that move retried work on, and retries.
//!
//! Invariants (so that `runbook sandbox --tasks 200000` answers as fast as 60 tasks):
//! - A task is found by id through `index` (id → position), never by a scan.
//! - The positions of the tasks a status filter lists are kept for the last filter asked
//!   (`listing`) until a task changes status, so a walk through a big list costs each page its own
//!   size plus a binary search, not a pass over every task.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use super::model::{ERRORS, Status, Task, settled_status};
use super::{NAME, SALT};
use crate::sandbox::api::TaskStore;
use crate::sandbox::seeding::{Seeding, newest_first};
use crate::sandbox::settle::{self, Fate, Progress, Rule};

/// The `http` API's tasks, kept in list order.
#[derive(Debug, Default)]
pub(crate) struct Store {
    tasks: Vec<Task>,
    /// Position in `tasks` of each id.
    index: HashMap<String, usize>,
    /// The positions the last status filter listed; `None` once a task changed status.
    listing: Option<Listing>,
}

/// The tasks one status filter lists, as positions in list order.
#[derive(Debug)]
struct Listing {
    /// One bit per status of the filter ([`Status::bit`]); 0 lists every task.
    filter: u8,
    positions: Vec<usize>,
}

/// Why a single retry was refused.
pub(super) enum RetryRefusal {
    NotFound,
    NotRetryable(Status),
}

impl Store {
    fn seeded(seeding: &Seeding) -> Store {
        let Seeding { seed, now, .. } = *seeding;
        let mut rng = StdRng::seed_from_u64(seed ^ SALT);
        let plan = [
            (Status::Failed, 24),
            (Status::TimedOut, 6),
            (Status::Canceled, 6),
            (Status::Succeeded, 18),
            (Status::Running, 6),
        ];
        let counts = seeding.scaled(plan.map(|(_, count)| count));
        let mut statuses: Vec<Status> = (plan.into_iter().zip(counts))
            .flat_map(|((status, _), count)| std::iter::repeat_n(status, count))
            .collect();
        statuses.shuffle(&mut rng);

        const JOBS: [&str; 6] = [
            "nightly-export",
            "invoice-sync",
            "thumbnail-render",
            "crm-import",
            "report-mail",
            "index-rebuild",
        ];
        let ten_days = 10 * 24 * 3600;
        let mut tasks: Vec<Task> = statuses
            .into_iter()
            .enumerate()
            .map(|(index, status)| {
                let created_at = now - rng.random_range(60..ten_days);
                let updated_at = match status {
                    Status::Running | Status::Queued => created_at,
                    _ => (created_at + rng.random_range(5..3600)).min(now),
                };
                let job = JOBS[rng.random_range(0..JOBS.len())];
                let error = match status {
                    Status::Failed => Some(ERRORS[rng.random_range(0..ERRORS.len())].to_owned()),
                    Status::TimedOut => Some("timed out after 300s".to_owned()),
                    _ => None,
                };
                let attempts = match status {
                    Status::Failed | Status::TimedOut => rng.random_range(1..=3),
                    Status::Running => 1,
                    _ => rng.random_range(1..=2),
                };
                Task {
                    id: format!("task-{:03}", index + 1),
                    name: format!("{job} #{}", rng.random_range(100..1000)),
                    status,
                    created_at,
                    updated_at,
                    error,
                    attempts,
                    progress: Progress::Untouched,
                    fate: Fate::Success,
                }
            })
            .collect();
        newest_first(&mut tasks, |item| (item.created_at, &item.id));
        let retryable = tasks.iter().filter(|task| task.status.is_retryable());
        let failing = settle::failing(seed, NAME, retryable.map(|task| task.id.as_str()));
        for task in &mut tasks {
            task.fate = settle::fate_of(&failing, &task.id);
        }
        let index = (tasks.iter().enumerate())
            .map(|(position, task)| (task.id.clone(), position))
            .collect();
        Store {
            tasks,
            index,
            listing: None,
        }
    }

    /// The tasks in list order, and the positions among them of those whose status is in
    /// `filter` (every task for an empty filter).
    pub(super) fn listing(&mut self, filter: &[Status]) -> (&[Task], &[usize]) {
        let bits = filter.iter().fold(0, |bits, status| bits | status.bit());
        let tasks = &self.tasks;
        let listing = match self.listing.take() {
            Some(listing) if listing.filter == bits => listing,
            _ => Listing {
                filter: bits,
                positions: (tasks.iter().enumerate())
                    .filter(|(_, task)| bits == 0 || bits & task.status.bit() != 0)
                    .map(|(position, _)| position)
                    .collect(),
            },
        };
        let listing = self.listing.insert(listing);
        (&self.tasks, &listing.positions)
    }

    /// Reads one task through its get-one endpoint, moving it on if a retry put it in motion.
    pub(super) fn read(&mut self, id: &str, rule: Rule, now: i64) -> Option<&Task> {
        let position = *self.index.get(id)?;
        self.listing = None;
        settle::read(&mut self.tasks[position..=position], id, rule, now)
    }

    pub(super) fn retry(&mut self, id: &str, now: i64) -> Result<(), RetryRefusal> {
        let position = *self.index.get(id).ok_or(RetryRefusal::NotFound)?;
        let task = &mut self.tasks[position];
        if !task.status.is_retryable() {
            return Err(RetryRefusal::NotRetryable(task.status));
        }
        task.status = Status::Queued;
        task.attempts += 1;
        task.updated_at = now;
        task.error = None;
        task.progress.start();
        self.listing = None;
        Ok(())
    }
}

impl TaskStore for Store {
    fn reseed(&mut self, seeding: &Seeding) {
        *self = Store::seeded(seeding);
    }

    fn snapshot(&self) -> Vec<Value> {
        settle::snapshot(&self.tasks, Task::to_json, |task| {
            (task.status.is_retryable() || task.progress.is_moving())
                .then(|| settled_status(task.fate).as_str())
        })
    }

    fn settled(&self) -> Vec<(String, String)> {
        let items = self.tasks.iter();
        settle::settled(items.map(|task| (task.progress, task.id.as_str(), task.status.as_str())))
    }
}
