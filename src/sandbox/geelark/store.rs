//! GeeLark's tasks: seeding, the reads that move restarted work on, restarts, cancels, and the
//! optional per-endpoint limit per clock minute.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::model::{FAILURES, Task, settled_status};
use super::{
    CANCELLED, COMPLETED, FAILED, HISTORY_WINDOW_SECS, IN_PROGRESS, MAX_RESTARTS, NAME, SALT,
    WAITING,
};
use crate::sandbox::api::TaskStore;
use crate::sandbox::seeding::{Seeding, seconds_ago};
use crate::sandbox::settle::{self, Fate, Progress, Rule, Step};

/// Special cases a seeded failed task can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quirk {
    None,
    EnvDeleted,
    ResourceExpired,
    RestartLimitReached,
}

/// The GeeLark tasks, newest `scheduleAt` first.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub(super) tasks: Vec<Task>,
    /// Optional per-endpoint limit per clock minute, and the count of the current minute.
    per_minute_limit: Option<u32>,
    minute_counts: Vec<(&'static str, i64, u32)>,
}

impl Store {
    fn seeded(seeding: &Seeding) -> Store {
        let Seeding { seed, now, .. } = *seeding;
        // (status, within the 7-day window?, quirk, count)
        let plan: [(u8, bool, Quirk, usize); 10] = [
            (FAILED, true, Quirk::None, 7),
            (FAILED, true, Quirk::EnvDeleted, 1),
            (FAILED, true, Quirk::ResourceExpired, 1),
            (FAILED, true, Quirk::RestartLimitReached, 1),
            (CANCELLED, true, Quirk::None, 2),
            (COMPLETED, true, Quirk::None, 8),
            (WAITING, true, Quirk::None, 2),
            (IN_PROGRESS, true, Quirk::None, 2),
            (FAILED, false, Quirk::None, 3),
            (COMPLETED, false, Quirk::None, 3),
        ];
        const PLANS: [(u8, &str); 4] = [
            (1, "TikTok video post"),
            (2, "TikTok warmup"),
            (4, "Account login"),
            (42, "Custom flow"),
        ];
        let mut rng = StdRng::seed_from_u64(seed ^ SALT);
        let mut tasks = Vec::new();
        let counts = seeding.scaled(plan.map(|row| row.3));
        for ((status, recent, quirk, _), count) in plan.into_iter().zip(counts) {
            for _ in 0..count {
                let ago = seconds_ago(&mut rng, recent, 3600..HISTORY_WINDOW_SECS - 6 * 3600, 14);
                let (task_type, plan_name) = PLANS[rng.random_range(0..PLANS.len())];
                let (fail_code, fail_desc) = match (status, quirk) {
                    (FAILED, Quirk::EnvDeleted) => (29998, "cloud phone deleted"),
                    (FAILED, _) => FAILURES[rng.random_range(0..FAILURES.len())],
                    _ => (0, ""),
                };
                let phone = rng.random_range(1..40);
                tasks.push(Task {
                    id: rng
                        .random_range(500_000_000_000_000_000u64..600_000_000_000_000_000)
                        .to_string(),
                    plan_name: format!("{plan_name} #{}", rng.random_range(1..100)),
                    task_type,
                    serial_name: format!("phone-{phone:02}"),
                    env_id: format!("{}", 560_000_000_000_000_000u64 + phone),
                    schedule_at: now - ago,
                    status,
                    fail_code,
                    fail_desc,
                    cost: rng.random_range(20..900),
                    restarts: if quirk == Quirk::RestartLimitReached {
                        MAX_RESTARTS
                    } else {
                        0
                    },
                    env_deleted: quirk == Quirk::EnvDeleted,
                    resource_expired: quirk == Quirk::ResourceExpired,
                    progress: Progress::Untouched,
                    fate: Fate::Success,
                });
            }
        }
        tasks.sort_by(|a, b| {
            b.schedule_at
                .cmp(&a.schedule_at)
                .then_with(|| b.id.cmp(&a.id))
        });
        let restartable = tasks.iter().filter(|task| task.is_restartable());
        let failing = settle::failing(seed, NAME, restartable.map(|task| task.id.as_str()));
        for task in &mut tasks {
            task.fate = settle::fate_of(&failing, &task.id);
        }
        Store {
            tasks,
            per_minute_limit: None,
            minute_counts: Vec::new(),
        }
    }

    /// Reads the tasks `ids` names, each once, moving on those a restart put in motion.
    pub(super) fn read(&mut self, ids: &[String], rule: Rule) {
        for task in self.tasks.iter_mut().filter(|task| ids.contains(&task.id)) {
            match task.progress.read(rule) {
                None => {}
                Some(Step::InProgress { .. }) => task.status = IN_PROGRESS,
                Some(Step::Settle) => {
                    task.status = settled_status(task.fate);
                    (task.fail_code, task.fail_desc) = match task.fate {
                        Fate::Success => (0, ""),
                        Fate::Failure => FAILURES[rule.pick(NAME, &task.id, FAILURES.len())],
                    };
                }
            }
        }
    }

    pub(super) fn set_rate_limit(&mut self, per_minute: Option<u32>) {
        self.per_minute_limit = per_minute;
        self.minute_counts.clear();
    }

    /// Counts a call to `endpoint` in `minute`; false when it is over the per-minute limit.
    pub(super) fn count_call(&mut self, endpoint: &'static str, minute: i64) -> bool {
        let Some(limit) = self.per_minute_limit else {
            return true;
        };
        self.minute_counts
            .retain(|(name, counted_minute, _)| *name != endpoint || *counted_minute == minute);
        match self
            .minute_counts
            .iter_mut()
            .find(|(name, _, _)| *name == endpoint)
        {
            Some((_, _, count)) => {
                *count += 1;
                *count <= limit
            }
            None => {
                self.minute_counts.push((endpoint, minute, 1));
                limit >= 1
            }
        }
    }

    /// Restarts one task, or says why not (per-item code and message).
    pub(super) fn restart(&mut self, id: &str) -> Result<(), (u32, &'static str)> {
        let task = self
            .tasks
            .iter_mut()
            .find(|task| task.id == id)
            .ok_or((48002, "task does not exist"))?;
        if task.env_deleted {
            return Err((40005, "environment has been deleted"));
        }
        if task.resource_expired {
            return Err((48003, "task resource has expired"));
        }
        if task.status != FAILED && task.status != CANCELLED {
            return Err((48001, "task status does not allow retry"));
        }
        if task.restarts >= MAX_RESTARTS {
            return Err((48000, "task retry limit reached"));
        }
        task.status = WAITING;
        task.restarts += 1;
        task.fail_code = 0;
        task.fail_desc = "";
        task.progress.start();
        Ok(())
    }

    /// Cancels one waiting or in-progress task, or says why not.
    pub(super) fn cancel(&mut self, id: &str) -> Result<(), (u32, &'static str)> {
        let task = self
            .tasks
            .iter_mut()
            .find(|task| task.id == id)
            .ok_or((48002, "task does not exist"))?;
        if task.status != WAITING && task.status != IN_PROGRESS {
            return Err((48001, "task status does not allow cancel"));
        }
        task.status = CANCELLED;
        if task.progress.is_moving() {
            task.progress = Progress::Untouched;
        }
        Ok(())
    }
}

impl TaskStore for Store {
    fn reseed(&mut self, seeding: &Seeding) {
        *self = Store::seeded(seeding);
    }

    fn snapshot(&self) -> Vec<Value> {
        let show = |task: &Task| {
            let mut value = task.to_json();
            value["restartCount"] = json!(task.restarts);
            value["envDeleted"] = json!(task.env_deleted);
            value["resourceExpired"] = json!(task.resource_expired);
            value
        };
        settle::snapshot(&self.tasks, show, |task| {
            (task.is_restartable() || task.progress.is_moving()).then(|| settled_status(task.fate))
        })
    }

    fn settled(&self) -> Vec<(String, String)> {
        let items = self.tasks.iter();
        settle::settled(items.map(|task| (task.progress, task.id.as_str(), task.status)))
    }
}
