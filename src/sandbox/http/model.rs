//! The `http` API's task and its statuses, as the API writes them.

use serde_json::{Value, json};

use super::NAME;
use crate::sandbox::settle::{Fate, Progress, Rule, Settles};
use crate::sandbox::time::rfc3339;

/// Errors of failed tasks, seeded and settled alike.
pub(super) const ERRORS: [&str; 4] = [
    "upstream returned 502 Bad Gateway",
    "connection reset by peer",
    "quota exceeded for resource 'storage'",
    "validation failed: missing field 'customer_id'",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Failed,
    TimedOut,
    Canceled,
    Succeeded,
    Running,
    Queued,
}

impl Status {
    pub(super) const ALL: [Status; 6] = [
        Status::Failed,
        Status::TimedOut,
        Status::Canceled,
        Status::Succeeded,
        Status::Running,
        Status::Queued,
    ];

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Status::Failed => "failed",
            Status::TimedOut => "timed_out",
            Status::Canceled => "canceled",
            Status::Succeeded => "succeeded",
            Status::Running => "running",
            Status::Queued => "queued",
        }
    }

    pub(super) fn parse(text: &str) -> Option<Status> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
    }

    /// The status's bit in a set of statuses.
    pub(super) fn bit(self) -> u8 {
        1 << (self as u8)
    }

    pub(super) fn is_retryable(self) -> bool {
        matches!(self, Status::Failed | Status::TimedOut)
    }
}

#[derive(Debug, Clone)]
pub(super) struct Task {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) status: Status,
    pub(super) created_at: i64,
    pub(super) updated_at: i64,
    pub(super) error: Option<String>,
    pub(super) attempts: u32,
    pub(super) progress: Progress,
    /// How a retry of the task ends (`settle.rs`).
    pub(super) fate: Fate,
}

impl Task {
    pub(super) fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "status": self.status.as_str(),
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
            "error": self.error,
            "attempts": self.attempts,
        })
    }

    /// Whether this task comes after the keyset position `(created_at, id)` in list order.
    pub(super) fn is_after(&self, (created_at, id): (i64, &str)) -> bool {
        self.created_at < created_at || (self.created_at == created_at && self.id.as_str() > id)
    }
}

/// The status a retried task settles to.
pub(super) fn settled_status(fate: Fate) -> Status {
    match fate {
        Fate::Success => Status::Succeeded,
        Fate::Failure => Status::Failed,
    }
}

impl Settles for Task {
    type Status = Status;
    const MOVING: Status = Status::Running;

    fn motion(&mut self) -> (&str, &mut Progress) {
        (&self.id, &mut self.progress)
    }

    fn face(&mut self) -> (&mut Status, &mut i64) {
        (&mut self.status, &mut self.updated_at)
    }

    fn settle_details(&mut self, rule: Rule) -> Status {
        self.error = (self.fate == Fate::Failure)
            .then(|| ERRORS[rule.pick(NAME, &self.id, ERRORS.len())].to_owned());
        settled_status(self.fate)
    }
}
