//! Deep Work's projects and tasks: seeding, the reads that move retried work on, and PocketPaw's
//! switches (limiter, localhost bypass, dispatch failures, the retry route).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::limiter::Bucket;
use super::model::{ERRORS, Project, Status, Task, settled_status};
use super::{NAME, RATE_LIMIT, SALT};
use crate::sandbox::api::TaskStore;
use crate::sandbox::config::RateLimit;
use crate::sandbox::seeding::{DAY, Seeding, newest_first, seconds_ago, seeded_uuid};
use crate::sandbox::settle::{self, Fate, Progress, Rule};

/// The Deep Work projects and tasks, plus the limiter and bypass switches.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub(super) projects: Vec<Project>,
    /// In `created_at` descending order.
    pub(super) tasks: Vec<Task>,
    pub(super) bucket: Option<Bucket>,
    pub(super) localhost_bypass: bool,
    /// The share of retries whose dispatch fails after the reset was saved (0.0 to 1.0).
    pub(super) dispatch_failures: f64,
    /// Whether the retry route exists (PocketPaw 0.4.4 has none).
    pub(super) retry_route: bool,
    pub(super) seed: u64,
}

impl Store {
    fn seeded(seeding: &Seeding) -> Store {
        let Seeding { seed, now, .. } = *seeding;
        use Status::{Assigned, Blocked, Done, InProgress, Inbox, Review, Skipped};
        let mut rng = StdRng::seed_from_u64(seed ^ SALT);
        let projects = vec![
            Project {
                id: "proj-alpha",
                title: "Launch landing page",
                status: "executing",
                created_at: now - 20 * DAY,
                updated_at: now - 600,
            },
            Project {
                id: "proj-beta",
                title: "Migrate billing data",
                status: "failed",
                created_at: now - 15 * DAY,
                updated_at: now - 3600,
            },
            Project {
                id: "proj-gamma",
                title: "Quarterly report",
                status: "completed",
                created_at: now - 28 * DAY,
                updated_at: now - 20 * DAY,
            },
        ];
        // (project, status, recent?, count); "recent" means within the last day, else 8–14 days ago.
        let plan: [(&'static str, Status, bool, usize); 13] = [
            ("proj-alpha", Blocked, true, 3),
            ("proj-alpha", Blocked, false, 2),
            ("proj-alpha", Done, false, 4),
            ("proj-alpha", InProgress, true, 1),
            ("proj-alpha", Assigned, true, 1),
            ("proj-alpha", Skipped, false, 1),
            ("proj-beta", Blocked, true, 2),
            ("proj-beta", Blocked, false, 1),
            ("proj-beta", Done, false, 3),
            ("proj-beta", Inbox, true, 1),
            ("proj-beta", Review, true, 1),
            ("proj-gamma", Done, false, 4),
            ("proj-gamma", Skipped, false, 1),
        ];
        const TITLES: [&str; 6] = [
            "Write hero copy",
            "Generate product screenshots",
            "Export invoices to CSV",
            "Validate customer records",
            "Draft summary section",
            "Publish to CDN",
        ];
        let mut tasks = Vec::new();
        let counts = seeding.scaled(plan.map(|row| row.3));
        for ((project_id, status, recent, _), count) in plan.into_iter().zip(counts) {
            for _ in 0..count {
                let ago = seconds_ago(&mut rng, recent, 300..DAY - 300, 14);
                let created_at = now - ago;
                tasks.push(Task {
                    id: seeded_uuid(&mut rng),
                    project_id,
                    title: TITLES[rng.random_range(0..TITLES.len())].to_owned(),
                    status,
                    priority: ["low", "medium", "high", "urgent"][rng.random_range(0..4)],
                    task_type: if rng.random_range(0..5) == 0 {
                        "human"
                    } else {
                        "agent"
                    },
                    created_at,
                    updated_at: (created_at + rng.random_range(60..1800)).min(now),
                    retry_count: if status == Blocked { 1 } else { 0 },
                    max_retries: 1,
                    error_message: (status == Blocked)
                        .then(|| ERRORS[rng.random_range(0..ERRORS.len())]),
                    estimated_minutes: rng.random_range(5..120),
                    progress: Progress::Untouched,
                    fate: Fate::Success,
                });
            }
        }
        newest_first(&mut tasks, |item| (item.created_at, &item.id));
        let blocked = tasks.iter().filter(|task| task.status == Blocked);
        let failing = settle::failing(seed, NAME, blocked.map(|task| task.id.as_str()));
        for task in &mut tasks {
            task.fate = settle::fate_of(&failing, &task.id);
        }
        Store {
            projects,
            tasks,
            bucket: Some(Bucket::new(RATE_LIMIT)),
            localhost_bypass: false,
            dispatch_failures: 0.0,
            retry_route: true,
            seed,
        }
    }

    /// Reads one task through its get-one endpoint, moving it on if a retry put it in motion.
    pub(super) fn read(&mut self, id: &str, rule: Rule, now: i64) -> Option<&Task> {
        settle::read(&mut self.tasks, id, rule, now)
    }

    pub(super) fn set_rate_limit(&mut self, limit: Option<RateLimit>) {
        self.bucket = limit.map(Bucket::new);
    }

    pub(super) fn set_dispatch_failures(&mut self, share: f64) {
        self.dispatch_failures = share.clamp(0.0, 1.0);
    }

    /// Adds `count` blocked tasks, created within the last day, to `proj-alpha`; their ids.
    pub(super) fn add_blocked(&mut self, count: usize, now: i64) -> Vec<String> {
        let mut rng = StdRng::seed_from_u64(self.seed ^ SALT ^ self.tasks.len() as u64);
        let mut ids = Vec::new();
        for n in 0..count {
            let created_at = now - rng.random_range(600..DAY - 600);
            let id = seeded_uuid(&mut rng);
            ids.push(id.clone());
            self.tasks.push(Task {
                id,
                project_id: "proj-alpha",
                title: format!("Bulk task {n}"),
                status: Status::Blocked,
                priority: "medium",
                task_type: "agent",
                created_at,
                updated_at: created_at + 60,
                retry_count: 1,
                max_retries: 1,
                error_message: Some(ERRORS[n % ERRORS.len()]),
                estimated_minutes: 10,
                progress: Progress::Untouched,
                fate: Fate::Success,
            });
        }
        newest_first(&mut self.tasks, |item| (item.created_at, &item.id));
        ids
    }

    /// Whether this retry's dispatch fails (by seed, task and attempt, so a run is repeatable).
    pub(super) fn dispatch_fails(&self, task_id: &str, retry_count: u32) -> bool {
        if self.dispatch_failures <= 0.0 {
            return false;
        }
        let attempt = format!("{task_id}#{retry_count}");
        let hash = settle::draw(self.seed, NAME, &attempt, 0);
        (hash % 10_000) as f64 / 10_000.0 < self.dispatch_failures
    }

    pub(super) fn project(&self, id: &str) -> Option<&Project> {
        self.projects.iter().find(|project| project.id == id)
    }

    pub(super) fn progress(&self, project_id: &str) -> Value {
        let tasks: Vec<&Task> = self
            .tasks
            .iter()
            .filter(|task| task.project_id == project_id)
            .collect();
        let count = |status: Status| tasks.iter().filter(|task| task.status == status).count();
        let total = tasks.len();
        let completed = count(Status::Done);
        let skipped = count(Status::Skipped);
        let human_pending = tasks
            .iter()
            .filter(|task| {
                task.task_type == "human" && !matches!(task.status, Status::Done | Status::Skipped)
            })
            .count();
        let percent = if total == 0 {
            0.0
        } else {
            ((completed + skipped) as f64 * 1000.0 / total as f64).round() / 10.0
        };
        json!({
            "total": total, "completed": completed, "skipped": skipped,
            "in_progress": count(Status::InProgress), "blocked": count(Status::Blocked),
            "human_pending": human_pending, "percent": percent,
        })
    }

    pub(super) fn project_tasks(&self, project_id: &str) -> Vec<Value> {
        self.tasks
            .iter()
            .filter(|task| task.project_id == project_id)
            .map(Task::to_json)
            .collect()
    }
}

impl TaskStore for Store {
    fn reseed(&mut self, seeding: &Seeding) {
        *self = Store::seeded(seeding);
    }

    fn snapshot(&self) -> Vec<Value> {
        settle::snapshot(&self.tasks, Task::to_json, |task| {
            (task.status == Status::Blocked || task.progress.is_moving())
                .then(|| settled_status(task.fate).as_str())
        })
    }

    fn settled(&self) -> Vec<(String, String)> {
        let items = self.tasks.iter();
        settle::settled(items.map(|task| (task.progress, task.id.as_str(), task.status.as_str())))
    }
}
