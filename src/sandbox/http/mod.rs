//! The generic task API under `/http`: the shape `runbook`'s own `http` provider targets.
//!
//! Endpoints: `GET /tasks` (status filter; page, offset or cursor pagination), `GET /tasks/{id}`,
//! `POST /tasks/{id}/retry`, `POST /tasks/retry` (batch of 1 to 50 ids). Every endpoint needs
//! `Authorization: Bearer sandbox-token`.
//!
//! Invariants:
//! - 60 seeded tasks `task-001`…`task-060` with exactly 24 failed, 6 timed_out, 6 canceled,
//!   18 succeeded and 6 running; the seed decides which id gets which status, its creation time
//!   (within the 10 days before start), name, error and attempts. `--tasks N` seeds `task-001`…
//!   `task-N` in the same proportions.
//! - Lists are ordered by `created_at` descending, then `id` ascending; a cursor is the position
//!   after the last task of a page (keyset), so a walk stays exact while tasks change status.
//! - Only `failed` and `timed_out` tasks can be retried; a retry makes the task `queued`, adds one
//!   to `attempts`, clears `error` and stamps `updated_at`.
//! - Retried work settles (`settle.rs`): the first `settle_reads` reads of the task through
//!   `GET /tasks/{id}` after a retry show it `running`, the next one `succeeded`, or `failed` with
//!   an `error` for one task in five (by seed and id), and it stays so. A task that settled to
//!   `failed` can be retried again, and fails again. Lists show where a task is without moving it.
//!   Nothing else ever changes a task. Snapshots add `sandbox_settles_to`: how a retry of the
//!   task ends (`null` for a task that cannot be retried and is not in motion).

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
use crate::sandbox::state::Shared;
use store::Store;

/// The API's name: its path prefix and the `http` provider's.
const NAME: &str = "http";
/// The bearer token the `http` API accepts (credential `TASKS_API_TOKEN`).
pub(crate) const TOKEN: &str = "sandbox-token";
pub(super) const SALT: u64 = 0x6765_6e65_7269_6321;
pub(super) const DEFAULT_PAGE_SIZE: u64 = 10;
pub(super) const MAX_PAGE_SIZE: u64 = 100;
pub(super) const MAX_BATCH: usize = 50;

/// The generic task API: its store and the shared sandbox state its answers read.
pub(crate) struct Http {
    shared: Arc<Shared>,
    store: Mutex<Store>,
}

impl Http {
    pub(crate) fn new(shared: Arc<Shared>) -> Http {
        Http {
            shared,
            store: Mutex::default(),
        }
    }
}

impl EmulatedApi for Http {
    fn name(&self) -> &'static str {
        NAME
    }

    fn credentials(&self) -> Vec<(&'static str, &'static str)> {
        vec![("TASKS_API_TOKEN", TOKEN)]
    }

    fn store(&self) -> &dyn StoreCell {
        &self.store
    }

    fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/tasks", get(handlers::list_tasks))
            .route("/tasks/retry", post(handlers::retry_batch))
            .route("/tasks/{id}", get(handlers::get_task))
            .route("/tasks/{id}/retry", post(handlers::retry_one))
            .fallback(handlers::not_found_route)
            .method_not_allowed_fallback(handlers::method_not_allowed)
            .with_state(self)
    }

    fn rate_limited(&self, _request_headers: &HeaderMap, retry_after: &str) -> Response {
        let body = json!({"error": "rate_limited", "message": "too many requests"});
        faults::too_many_requests(body, Some(retry_after))
    }
}
