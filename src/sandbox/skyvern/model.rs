//! A Skyvern workflow run, as the real server writes it (in a list and as a single answer), and why
//! it may refuse a retry.

use serde_json::{Map, Value, json};

use super::{NAME, ORGANIZATION};
use crate::sandbox::settle::{Fate, Progress, Rule, Settles};

/// The failure reason of a failed navigation, seeded and settled alike.
pub(super) const NAVIGATION_FAILURE: &str = "Failed to navigate to url: net::ERR_CONNECTION_RESET";

pub(super) const STATUSES: [&str; 9] = [
    "created",
    "queued",
    "running",
    "failed",
    "terminated",
    "canceled",
    "timed_out",
    "completed",
    "paused",
];

pub(super) fn is_final(status: &str) -> bool {
    matches!(
        status,
        "failed" | "terminated" | "canceled" | "timed_out" | "completed"
    )
}

/// (workflow_permanent_id, workflow_id, title)
pub(super) const WORKFLOWS: [(&str, &str, &str); 3] = [
    (
        "wpid_sandbox_orders",
        "w_sandbox_orders_v3",
        "Sync supplier orders",
    ),
    (
        "wpid_sandbox_invoices",
        "w_sandbox_invoices_v7",
        "Download invoices",
    ),
    (
        "wpid_sandbox_signup",
        "w_sandbox_signup_v2",
        "Sign up lead on partner portal",
    ),
];

#[derive(Debug, Clone)]
pub(super) struct Run {
    pub(super) id: String,
    pub(super) workflow: usize,
    pub(super) status: &'static str,
    pub(super) created_at: i64,
    pub(super) modified_at: i64,
    pub(super) failure_reason: Option<&'static str>,
    pub(super) error_code: Option<&'static str>,
    pub(super) parameters: Value,
    pub(super) step_count: u32,
    pub(super) retry_of: Option<String>,
    pub(super) progress: Progress,
    /// How a retry of the run ends (`settle.rs`), or for a new run, how it ends: the same along a
    /// chain of retries, since new runs copy it from the run they retry.
    pub(super) fate: Fate,
}

/// A time as the real server writes it: UTC without an offset, with microseconds
/// (`2026-12-03T09:05:57.681492`). The microseconds are made up from the second, so they repeat.
pub(super) fn naive(secs: i64) -> String {
    let civil = jiff::Timestamp::from_second(secs)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_default();
    format!(
        "{civil}.{:06}",
        secs.rem_euclid(1_000_000) * 7919 % 1_000_000
    )
}

/// The status a new run settles to.
pub(super) fn settled_status(fate: Fate) -> &'static str {
    match fate {
        Fate::Success => "completed",
        Fate::Failure => "failed",
    }
}

impl Run {
    pub(super) fn started_at(&self) -> Option<i64> {
        (!matches!(self.status, "created" | "queued")).then_some(self.created_at + 5)
    }

    pub(super) fn finished_at(&self) -> Option<i64> {
        is_final(self.status).then_some(self.modified_at)
    }

    /// The list item (`WorkflowRun`).
    pub(super) fn to_list_json(&self) -> Value {
        let (wpid, workflow_id, title) = WORKFLOWS[self.workflow];
        let head = json!({
            "workflow_run_id": self.id,
            "workflow_id": workflow_id,
            "workflow_permanent_id": wpid,
            "organization_id": ORGANIZATION,
            "status": self.status,
        });
        let tail = json!({
            "failure_category": self.error_code.map_or_else(Vec::new, |code| vec![code]),
            "workflow_title": title,
            "parent_workflow_run_id": null,
            "trigger_type": "api",
            "browser_session_id": null,
            "proxy_location": "RESIDENTIAL",
            "webhook_callback_url": null,
        });
        self.framed(head, tail)
    }

    /// The single-run answer (`WorkflowRunResponse`).
    pub(super) fn to_response_json(&self) -> Value {
        let (wpid, _, title) = WORKFLOWS[self.workflow];
        let errors: Vec<Value> = self
            .error_code
            .map(|code| json!({"error_code": code, "reasoning": self.failure_reason}))
            .into_iter()
            .collect();
        let head = json!({
            "run_id": self.id,
            "status": self.status,
            "run_type": "workflow_run",
        });
        let tail = json!({
            "errors": errors,
            "output": if self.status == "completed" { json!({"rows_synced": 42}) } else { Value::Null },
            "downloaded_files": [],
            "recording_url": null,
            "screenshot_urls": [],
            "app_url": null,
            "browser_session_id": null,
            "browser_profile_id": null,
            "step_count": self.step_count,
            "run_with": "agent",
            "ai_fallback": false,
            "script_run": null,
            "run_request": {
                "workflow_id": wpid,
                "title": title,
                "parameters": self.parameters,
                "proxy_location": "RESIDENTIAL",
                "webhook_url": null,
            },
        });
        self.framed(head, tail)
    }

    /// The keys both shapes share, in their order: the run's times and its failure.
    fn timeline(&self) -> Value {
        json!({
            "created_at": naive(self.created_at),
            "modified_at": naive(self.modified_at),
            "queued_at": naive(self.created_at),
            "started_at": self.started_at().map(naive),
            "finished_at": self.finished_at().map(naive),
            "failure_reason": self.failure_reason,
        })
    }

    /// One shape of the run: `head`'s keys, then its [`timeline`](Self::timeline), then `tail`'s,
    /// in that order (the real server's key order, which clients may show).
    fn framed(&self, head: Value, tail: Value) -> Value {
        let mut shape = Map::new();
        for part in [head, self.timeline(), tail] {
            if let Value::Object(keys) = part {
                shape.extend(keys);
            }
        }
        Value::Object(shape)
    }
}

/// Why the real server refuses to retry a final run with a 400 (beyond "not terminal").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A run of one block (started from the editor): "Block-scoped workflow runs cannot be
    /// retried with this endpoint".
    BlockScoped,
    /// A run in a browser session that has no address any more: "Browser session … does not have
    /// an address.".
    MissingBrowserAddress,
}

impl Settles for Run {
    type Status = &'static str;
    const MOVING: &'static str = "running";

    fn motion(&mut self) -> (&str, &mut Progress) {
        (&self.id, &mut self.progress)
    }

    fn face(&mut self) -> (&mut &'static str, &mut i64) {
        (&mut self.status, &mut self.modified_at)
    }

    fn settle_details(&mut self, rule: Rule) -> &'static str {
        (self.failure_reason, self.error_code) = match self.fate {
            Fate::Success => (None, None),
            Fate::Failure => (Some(NAVIGATION_FAILURE), Some("NAVIGATION_FAILED")),
        };
        self.step_count = 3 + u32::try_from(rule.pick(NAME, &self.id, 23)).unwrap_or(0);
        settled_status(self.fate)
    }
}
