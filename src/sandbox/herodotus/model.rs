//! A Herodotus task: its pipeline of stages, the routes a retry runs through, and its
//! state-transition rows, as the Data Processor writes them.

use serde_json::{Value, json};

use crate::sandbox::settle::{Fate, Progress};
use crate::sandbox::time::rfc3339;

/// The pipeline stages in order; each has `Started`, `Completed` and `Failed` statuses.
pub(super) const STAGES: [&str; 5] = [
    "DryRun",
    "ChainProofsFetch",
    "TraceGen",
    "AtlanticProving",
    "TaskDecommitment",
];

/// The statuses a task passes through to reach `status`, starting at `Received`.
pub(super) fn path_to(status: &str) -> Vec<String> {
    let mut path = vec!["Received".to_owned()];
    for stage in STAGES {
        let started = format!("{stage}Started");
        if status == started {
            path.push(started);
            return path;
        }
        path.push(started);
        let failed = format!("{stage}Failed");
        if status == failed {
            path.push(failed);
            return path;
        }
        path.push(format!("{stage}Completed"));
        if status == format!("{stage}Completed") {
            return path;
        }
    }
    path.truncate(1);
    path
}

pub(super) fn is_failed(status: &str) -> bool {
    status.ends_with("Failed")
}

/// Whether a task in `status` can be retried (a decommitment re-run needs the task's results).
pub(super) fn is_retryable(status: &str, has_results: bool) -> bool {
    is_failed(status) && (status != "TaskDecommitmentFailed" || has_results)
}

/// The statuses after `Received` that a retry of a task failed with `failed` runs through, ending
/// with the one it settles to: a decommitment-only re-run for TaskDecommitmentFailed, the whole
/// pipeline otherwise; a failure stops at the stage that failed before.
pub(super) fn retry_route(failed: &str, fate: Fate) -> Vec<String> {
    let last = STAGES.len() - 1;
    let failed_stage = STAGES
        .iter()
        .position(|stage| failed == format!("{stage}Failed"))
        .unwrap_or(last);
    let first = if failed_stage == last { last } else { 0 };
    let stop = match fate {
        Fate::Success => last,
        Fate::Failure => failed_stage,
    };
    let mut route = Vec::new();
    for (index, stage) in STAGES.iter().enumerate().take(stop + 1).skip(first) {
        route.push(format!("{stage}Started"));
        if index < stop {
            route.push(format!("{stage}Completed"));
        }
    }
    route.push(match fate {
        Fate::Success => format!("{}Completed", STAGES[last]),
        Fate::Failure => format!("{}Failed", STAGES[stop]),
    });
    route
}

#[derive(Debug, Clone)]
pub(super) struct Transition {
    pub(super) id: u64,
    pub(super) from: Option<String>,
    pub(super) to: String,
    pub(super) at: i64,
}

#[derive(Debug, Clone)]
pub(super) struct Task {
    pub(super) id: String,
    pub(super) status: String,
    pub(super) error_message: Option<String>,
    pub(super) created_at: i64,
    pub(super) updated_at: i64,
    pub(super) has_results: bool,
    pub(super) transitions: Vec<Transition>,
    pub(super) progress: Progress,
    /// How a retry of the task ends (`settle.rs`).
    pub(super) fate: Fate,
    /// The route of the retry in motion ([`retry_route`]), and how far along it the task is
    /// (`None`: still at `Received`).
    pub(super) route: Vec<String>,
    pub(super) position: Option<usize>,
}

impl Task {
    pub(super) fn status_json(&self) -> Value {
        json!({
            "taskId": self.id,
            "status": self.status,
            "errorMessage": self.error_message,
            "updatedAt": rfc3339(self.updated_at),
        })
    }

    pub(super) fn transitions_json(&self) -> Value {
        let rows: Vec<Value> = self
            .transitions
            .iter()
            .map(|row| {
                json!({
                    "id": row.id, "task_id": self.id, "from_status": row.from,
                    "to_status": row.to, "created_at": rfc3339(row.at),
                })
            })
            .collect();
        json!({"taskId": self.id, "state_transitions": rows})
    }
}

pub(super) fn failure_message(status: &str, has_results: bool) -> String {
    match status {
        "DryRunFailed" => "Dry run failed: module panicked at 'index out of bounds'".to_owned(),
        "ChainProofsFetchFailed" => "Failed to fetch storage proofs: RPC timeout".to_owned(),
        "TraceGenFailed" => "Trace generation failed: out of memory".to_owned(),
        "AtlanticProvingFailed" => "Atlantic proving job failed: prover unavailable".to_owned(),
        _ if has_results => "Decommitment transaction reverted: nonce too low".to_owned(),
        _ => "Decommitment failed: task results missing".to_owned(),
    }
}
