//! Herodotus Data Processor tasks under `/herodotus`.
//!
//! Endpoints: `GET /tasks/{uuid}/status` and `GET /tasks/{uuid}/state_transitions` (no auth, like
//! the real API), `POST /tasks/{uuid}/retry` (needs `X-API-KEY`). The real list endpoint is not
//! documented, so `GET /tasks` answers only after [`super::Sandbox::set_herodotus_list`]; tests find
//! the seeded ids through `Sandbox::tasks("herodotus")` or `GET /_sandbox/ids/herodotus`.
//!
//! Invariants:
//! - 20 seeded tasks with ULID ids: 10 in a `*Failed` status (DryRunFailed 2, ChainProofsFetchFailed
//!   1, TraceGenFailed 2, AtlanticProvingFailed 2, TaskDecommitmentFailed 3, of which exactly one
//!   has no results and cannot be retried), 10 not failed (TaskDecommitmentCompleted 6,
//!   AtlanticProvingStarted 2, TraceGenStarted 1, Received 1). Three of the failed tasks and some
//!   completed ones are older than 7 days.
//! - `errorMessage` is set exactly on `*Failed` tasks.
//! - Every status change appends a state-transition row; a retry moves a failed task to `Received`
//!   and clears its error. Retrying a task that is not failed is refused with 400 (undocumented in
//!   the real API).
//! - Retried work settles (`settle.rs`) through `GET /tasks/{uuid}/status` reads: the first
//!   `settle_reads` reads after a retry show the pipeline running, the n-th read at the n-th
//!   `…Started` stage of its route (and no further than the last one); the next read shows the end
//!   of the route, and it stays so. A full retry runs DryRunStarted, DryRunCompleted, … to
//!   TaskDecommitmentCompleted, or, for one task in five (by seed and id), stops at the stage that
//!   failed before with the same `*Failed` status and `errorMessage`. A decommitment-only retry runs
//!   TaskDecommitmentStarted to TaskDecommitmentCompleted or TaskDecommitmentFailed. Every status
//!   a read passes through, shown or not, gets its transition row; a failed task can be retried
//!   again, and fails again. `state_transitions` and the list show where a task is without moving
//!   it. Snapshots add `sandbox_settles_to`: how a retry of the task ends (`null` for a task that
//!   cannot be retried and is not in motion).

mod handlers;
mod model;
mod store;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::json;

use crate::sandbox::api::{EmulatedApi, StoreCell};
use crate::sandbox::faults;
use crate::sandbox::state::{Shared, lock};
use handlers::hd_error;
use store::Store;

const NAME: &str = "herodotus";
pub(crate) const API_KEY: &str = "hd_sandbox_key";
pub(super) const SALT: u64 = 0x6865_726f_646f_7475;
pub(super) const DAY: i64 = 24 * 3600;

/// Herodotus's Data Processor: its store and the shared sandbox state its answers read.
pub(crate) struct Herodotus {
    shared: Arc<Shared>,
    store: Mutex<Store>,
}

impl Herodotus {
    pub(crate) fn new(shared: Arc<Shared>) -> Herodotus {
        Herodotus {
            shared,
            store: Mutex::default(),
        }
    }

    /// Serves (`true`) or hides the undocumented `GET /tasks` list.
    pub(crate) fn set_list_enabled(&self, enabled: bool) {
        lock(&self.store).list_enabled = enabled;
    }
}

impl EmulatedApi for Herodotus {
    fn name(&self) -> &'static str {
        NAME
    }

    fn credentials(&self) -> Vec<(&'static str, &'static str)> {
        vec![("HERODOTUS_API_KEY", API_KEY)]
    }

    fn store(&self) -> &dyn StoreCell {
        &self.store
    }

    fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/tasks", get(handlers::list_tasks))
            .route("/tasks/{uuid}/status", get(handlers::task_status))
            .route(
                "/tasks/{uuid}/state_transitions",
                get(handlers::task_transitions),
            )
            .route("/tasks/{uuid}/retry", post(handlers::retry_task))
            .fallback(|| async {
                hd_error(
                    axum::http::StatusCode::NOT_FOUND,
                    json!({"error": "Not Found"}),
                )
            })
            .method_not_allowed_fallback(|| async {
                hd_error(
                    axum::http::StatusCode::METHOD_NOT_ALLOWED,
                    json!({"error": "Method Not Allowed"}),
                )
            })
            .with_state(self)
    }

    fn rate_limited(&self, _request_headers: &HeaderMap, retry_after: &str) -> Response {
        faults::too_many_requests(json!({"error": "Too Many Requests"}), Some(retry_after))
    }
}
