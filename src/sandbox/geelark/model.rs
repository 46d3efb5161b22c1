//! A GeeLark task (numeric statuses, 18-digit ids), as GeeLark writes it.

use serde_json::{Value, json};

use super::{CANCELLED, COMPLETED, FAILED, MAX_RESTARTS};
use crate::sandbox::settle::{Fate, Progress};

#[derive(Debug, Clone)]
pub(super) struct Task {
    pub(super) id: String,
    pub(super) plan_name: String,
    pub(super) task_type: u8,
    pub(super) serial_name: String,
    pub(super) env_id: String,
    pub(super) schedule_at: i64,
    pub(super) status: u8,
    pub(super) fail_code: u32,
    pub(super) fail_desc: &'static str,
    pub(super) cost: u32,
    pub(super) restarts: u32,
    pub(super) env_deleted: bool,
    pub(super) resource_expired: bool,
    pub(super) progress: Progress,
    /// How a restart of the task ends (`settle.rs`).
    pub(super) fate: Fate,
}

impl Task {
    /// Whether a restart of this task would be accepted.
    pub(super) fn is_restartable(&self) -> bool {
        (self.status == FAILED || self.status == CANCELLED)
            && !self.env_deleted
            && !self.resource_expired
            && self.restarts < MAX_RESTARTS
    }

    pub(super) fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "planName": self.plan_name,
            "taskType": self.task_type,
            "serialName": self.serial_name,
            "envId": self.env_id,
            "scheduleAt": self.schedule_at,
            "status": self.status,
            "failCode": self.fail_code,
            "failDesc": self.fail_desc,
            "cost": self.cost,
        })
    }
}

/// Failure codes and reasons of failed tasks, seeded and settled alike.
pub(super) const FAILURES: [(u32, &str); 4] = [
    (20002, "account login expired"),
    (29996, "proxy detection failed"),
    (29999, "unknown error"),
    (21001, "video upload failed"),
];

/// The status a restarted task settles to.
pub(super) fn settled_status(fate: Fate) -> u8 {
    match fate {
        Fate::Success => COMPLETED,
        Fate::Failure => FAILED,
    }
}
