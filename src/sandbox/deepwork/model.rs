//! Deep Work's projects and tasks, as PocketPaw writes them (Python's `isoformat()` times).

use serde_json::{Value, json};

use super::NAME;
use crate::sandbox::settle::{Fate, Progress, Rule, Settles};
use crate::sandbox::time::rfc3339_ending;

/// How Python's `datetime.isoformat()` writes UTC.
const PYTHON_UTC: &str = "+00:00";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Inbox,
    Assigned,
    InProgress,
    Review,
    Done,
    Blocked,
    Skipped,
}

impl Status {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Status::Inbox => "inbox",
            Status::Assigned => "assigned",
            Status::InProgress => "in_progress",
            Status::Review => "review",
            Status::Done => "done",
            Status::Blocked => "blocked",
            Status::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Project {
    pub(super) id: &'static str,
    pub(super) title: &'static str,
    pub(super) status: &'static str,
    pub(super) created_at: i64,
    pub(super) updated_at: i64,
}

#[derive(Debug, Clone)]
pub(super) struct Task {
    pub(super) id: String,
    pub(super) project_id: &'static str,
    pub(super) title: String,
    pub(super) status: Status,
    pub(super) priority: &'static str,
    pub(super) task_type: &'static str,
    pub(super) created_at: i64,
    pub(super) updated_at: i64,
    pub(super) retry_count: u32,
    pub(super) max_retries: u32,
    pub(super) error_message: Option<&'static str>,
    pub(super) estimated_minutes: u32,
    pub(super) progress: Progress,
    /// How a retry of the task ends (`settle.rs`).
    pub(super) fate: Fate,
}

/// Errors of blocked tasks, seeded and settled alike.
pub(super) const ERRORS: [&str; 3] = [
    "Agent execution timed out after 30 minutes",
    "Tool 'browser' failed: net::ERR_NAME_NOT_RESOLVED",
    "LLM provider returned 529 overloaded",
];

/// The status a retried task settles to.
pub(super) fn settled_status(fate: Fate) -> Status {
    match fate {
        Fate::Success => Status::Done,
        Fate::Failure => Status::Blocked,
    }
}

impl Task {
    pub(super) fn to_json(&self) -> Value {
        let finished = matches!(
            self.status,
            Status::Done | Status::Blocked | Status::Skipped
        );
        json!({
            "id": self.id,
            "title": self.title,
            "description": format!("{} (seeded by the runbook sandbox)", self.title),
            "status": self.status.as_str(),
            "priority": self.priority,
            "assignee_ids": if self.task_type == "agent" { json!(["agent-claude"]) } else { json!(["user-sam"]) },
            "creator_id": "planner",
            "parent_task_id": null,
            "blocked_by": [],
            "tags": ["deep-work", self.project_id],
            "due_date": null,
            "started_at": (self.status != Status::Inbox && self.status != Status::Assigned).then(|| rfc3339_ending(self.created_at + 60, PYTHON_UTC)),
            "completed_at": finished.then(|| rfc3339_ending(self.updated_at, PYTHON_UTC)),
            "created_at": rfc3339_ending(self.created_at, PYTHON_UTC),
            "updated_at": rfc3339_ending(self.updated_at, PYTHON_UTC),
            "metadata": {},
            "project_id": self.project_id,
            "task_type": self.task_type,
            "blocks": [],
            "active_description": null,
            "estimated_minutes": self.estimated_minutes,
            "retry_count": self.retry_count,
            "max_retries": self.max_retries,
            "error_message": self.error_message,
        })
    }
}

impl Project {
    pub(super) fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "title": self.title,
            "description": format!("{} (seeded by the runbook sandbox)", self.title),
            "status": self.status,
            "creator_id": "user-sam",
            "tags": ["deep-work"],
            "created_at": rfc3339_ending(self.created_at, PYTHON_UTC),
            "updated_at": rfc3339_ending(self.updated_at, PYTHON_UTC),
        })
    }
}

impl Settles for Task {
    type Status = Status;
    const MOVING: Status = Status::InProgress;

    fn motion(&mut self) -> (&str, &mut Progress) {
        (&self.id, &mut self.progress)
    }

    fn face(&mut self) -> (&mut Status, &mut i64) {
        (&mut self.status, &mut self.updated_at)
    }

    fn settle_details(&mut self, rule: Rule) -> Status {
        self.error_message =
            (self.fate == Fate::Failure).then(|| ERRORS[rule.pick(NAME, &self.id, ERRORS.len())]);
        settled_status(self.fate)
    }
}
