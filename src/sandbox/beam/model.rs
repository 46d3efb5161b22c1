//! A Beam agent task and its statuses, as Beam writes them (timestamps with milliseconds).

use serde_json::{Value, json};

use crate::sandbox::settle::{Fate, Progress, Rule, Settles};
use crate::sandbox::time::rfc3339_ending;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Queued,
    InProgress,
    Completed,
    Failed,
    Error,
    Stopped,
    Timeout,
    UserInputRequired,
    Cancelled,
}

impl Status {
    const ALL: [Status; 9] = [
        Status::Queued,
        Status::InProgress,
        Status::Completed,
        Status::Failed,
        Status::Error,
        Status::Stopped,
        Status::Timeout,
        Status::UserInputRequired,
        Status::Cancelled,
    ];

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "QUEUED",
            Status::InProgress => "IN_PROGRESS",
            Status::Completed => "COMPLETED",
            Status::Failed => "FAILED",
            Status::Error => "ERROR",
            Status::Stopped => "STOPPED",
            Status::Timeout => "TIMEOUT",
            Status::UserInputRequired => "USER_INPUT_REQUIRED",
            Status::Cancelled => "CANCELLED",
        }
    }

    /// Accepts any letter case, since the docs show both `FAILED` and `failed`.
    pub(super) fn parse(text: &str) -> Option<Status> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(text))
    }

    pub(super) fn is_retryable(self) -> bool {
        matches!(
            self,
            Status::Failed | Status::Error | Status::Stopped | Status::Timeout
        )
    }

    pub(super) fn group_name(self) -> &'static str {
        match self {
            Status::Queued => "Queued Tasks",
            Status::InProgress => "In Progress Tasks",
            Status::Completed => "Completed Tasks",
            Status::Failed => "Failed Tasks",
            Status::Error => "Error Tasks",
            Status::Stopped => "Stopped Tasks",
            Status::Timeout => "Timed Out Tasks",
            Status::UserInputRequired => "Input Required Tasks",
            Status::Cancelled => "Cancelled Tasks",
        }
    }

    pub(super) fn group_icon(self) -> &'static str {
        match self {
            Status::Queued => "clock",
            Status::InProgress => "loader",
            Status::Completed => "check-circle",
            Status::Failed | Status::Error => "x-circle",
            Status::Stopped => "stop-circle",
            Status::Timeout => "alarm-clock",
            Status::UserInputRequired => "message-circle",
            Status::Cancelled => "slash",
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Task {
    pub(super) id: String,
    /// The sandbox API (host) serving the task: `beam` or `beam-prod`.
    pub(super) host: &'static str,
    pub(super) agent_id: &'static str,
    pub(super) custom_id: String,
    pub(super) objective: String,
    pub(super) status: Status,
    pub(super) created_at: i64,
    pub(super) updated_at: i64,
    pub(super) manual_retry_count: u32,
    pub(super) node_ids: [String; 2],
    pub(super) failure: Option<&'static str>,
    pub(super) tokens_used: u32,
    pub(super) progress: Progress,
    /// How a retry of the task ends (`settle.rs`).
    pub(super) fate: Fate,
}

/// Integration errors of failed tasks, seeded and settled alike.
pub(super) const FAILURES: [&str; 4] = [
    "HubSpot API returned 502",
    "OAuth token expired for integration 'gmail'",
    "Rate limited by Salesforce (429)",
    "Missing required field 'email'",
];

impl Task {
    pub(super) fn to_json(&self) -> Value {
        let last_node_status = self.status.as_str();
        let node = |index: usize, status: &str, error: Option<&str>| {
            json!({
                "id": self.node_ids[index],
                "agentGraphNodeId": format!("node-{}-{}", self.agent_id, index + 1),
                "status": status,
                "retriedCountWhenFailure": if error.is_some() { 2 } else { 0 },
                "retriedCountWhenAccuracyIsLow": 0,
                "manualRetryCount": if index == 1 { self.manual_retry_count } else { 0 },
                "isEverConsentRequired": false,
                "agentGraphNode": {"id": format!("node-{}-{}", self.agent_id, index + 1),
                                   "name": if index == 0 { "Read input" } else { "Call integration" }},
                "toolData": {"integration_error": error},
            })
        };
        json!({
            "id": self.id,
            "agentId": self.agent_id,
            "agentGraphId": format!("graph-{}", self.agent_id),
            "customId": self.custom_id,
            "tokensUsed": self.tokens_used,
            "totalCost": f64::from(self.tokens_used) / 100_000.0,
            "taskSummary": match self.failure {
                Some(failure) => format!("Task stopped: {failure}"),
                None => format!("{} ({})", self.objective, self.status.as_str().to_lowercase()),
            },
            "taskObjective": self.objective,
            "originalTaskQuery": self.objective,
            "graphState": null,
            "isViewed": false,
            "canRerunTaskNode": self.status.is_retryable(),
            "status": self.status.as_str(),
            "averageEvaluationScore": if self.status == Status::Completed { json!(0.9) } else { Value::Null },
            "createdAt": rfc3339_ending(self.created_at, ".000Z"),
            "updatedAt": rfc3339_ending(self.updated_at, ".000Z"),
            "manualRetryCount": self.manual_retry_count,
            "isSuccess": self.status == Status::Completed,
            "mode": "AUTO",
            "agentTaskNodes": [
                node(0, "COMPLETED", None),
                node(1, last_node_status, self.failure),
            ],
        })
    }
}

/// The status a retried task settles to.
pub(super) fn settled_status(fate: Fate) -> Status {
    match fate {
        Fate::Success => Status::Completed,
        Fate::Failure => Status::Failed,
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
        self.failure = (self.fate == Fate::Failure)
            .then(|| FAILURES[rule.pick(self.host, &self.id, FAILURES.len())]);
        settled_status(self.fate)
    }
}
