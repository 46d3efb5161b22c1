//! PocketPaw "Deep Work" under `/deepwork`: projects whose Mission Control tasks get retried.
//!
//! Endpoints: `GET /api/mission-control/tasks?status=&assignee_id=&tags=&limit=` →
//! `{tasks, count}`, `GET /api/mission-control/tasks/{id}` → `{task, messages}`,
//! `GET /api/mission-control/projects[/{id}]`, `GET /api/deep-work/projects/{pid}/plan`, and
//! `POST /api/deep-work/projects/{pid}/tasks/{tid}/retry`. Errors are FastAPI's `{"detail": …}`.
//!
//! Invariants:
//! - Auth: `Authorization: Bearer pp_sandbox_token` or `?token=pp_sandbox_token`, else 401
//!   `{"detail":"Unauthorized"}`; the localhost bypass is off unless switched on.
//! - Seeded: `proj-alpha` (executing, 12 tasks, 5 blocked: 3 recent, 2 older than 7 days),
//!   `proj-beta` (failed, 8 tasks, 3 blocked: 2 recent, 1 old), `proj-gamma` (completed, 5 tasks,
//!   none blocked). Task ids are seeded UUIDs; "failed" work is status `blocked`.
//! - Retry only moves a `blocked` task of that project to `assigned`, adds one to `retry_count`,
//!   clears `error_message` and ignores `max_retries`; a failed project goes back to executing.
//! - Retried work settles (`settle.rs`): the first `settle_reads` reads of the task through
//!   `GET /api/mission-control/tasks/{id}` after a retry show it `in_progress`, the next one
//!   `done`, or `blocked` with an `error_message` again for one task in five (by seed and id), and
//!   it stays so; a task blocked again can be retried again, and is blocked again. The project's
//!   status is left as it is. Lists, projects and plans show where a task is without moving it.
//!   Snapshots add `sandbox_settles_to`: how a retry of the task ends (`null` for a task that
//!   cannot be retried and is not in motion).
//! - As PocketPaw 0.4.18 does (read from its source and measured on a real server):
//!   - a token bucket of 10 requests/s, burst 30, per client (one bucket: every client is on
//!     loopback) answers 429 `{"detail":"Too many requests"}` with `Retry-After` (whole seconds,
//!     rounded up) and sets `X-RateLimit-*` on every answer; on by default, changeable;
//!   - the task list and the projects list hold at most [`LIST_CAP`] entries, sorted by
//!     `updated_at` newest first, and `count` is taken after the cap (so it is at most 100 too);
//!     a project's own answer (`GET /api/mission-control/projects/{id}`) lists all its tasks;
//!   - a retry saves the reset before it dispatches the task: on a configurable share of retries
//!     (none by default) the dispatch fails and the answer is 500
//!     `{"detail":"Retry dispatch failed: …"}` although the task is already `assigned`;
//!   - an unknown task is 404 `{"detail":"Task not found"}`; an unknown route is FastAPI's own
//!     404 `{"detail":"Not Found"}`; with the retry route switched off (a 0.4.4 server) every
//!     retry gets the latter.

mod handlers;
mod limiter;
mod model;
mod store;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::HeaderMap;
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use axum::routing::{get, post};

use crate::sandbox::api::{EmulatedApi, StoreCell, TaskStore};
use crate::sandbox::config::RateLimit;
use crate::sandbox::fastapi::Detail;
use crate::sandbox::faults;
use crate::sandbox::seeding::Seeding;
use crate::sandbox::state::{Shared, lock};
use store::Store;

const NAME: &str = "deepwork";
pub(crate) const TOKEN: &str = "pp_sandbox_token";
pub(super) const SALT: u64 = 0x6465_6570_776f_726b;
pub(super) const DAY: i64 = 24 * 3600;
/// The most tasks (or projects) PocketPaw's store hands its list routes.
pub(super) const LIST_CAP: usize = 100;
/// PocketPaw's API limiter: 10 requests a second per client, bursts of 30.
pub(super) const RATE_LIMIT: RateLimit = RateLimit {
    per_second: 10.0,
    burst: 30,
};

/// PocketPaw's Deep Work: its store (with the limiter and switches) and the shared sandbox state.
pub(crate) struct Deepwork {
    shared: Arc<Shared>,
    store: Mutex<Store>,
}

impl Deepwork {
    pub(crate) fn new(shared: Arc<Shared>) -> Deepwork {
        Deepwork {
            shared,
            store: Mutex::default(),
        }
    }

    /// Puts the token bucket in front of every endpoint, or removes it with `None`.
    pub(crate) fn set_rate_limit(&self, limit: Option<RateLimit>) {
        lock(&self.store).set_rate_limit(limit);
    }

    /// Lets requests through without a token, as PocketPaw does for localhost.
    pub(crate) fn set_localhost_bypass(&self, bypass: bool) {
        lock(&self.store).localhost_bypass = bypass;
    }

    /// The share (0.0 to 1.0) of retries whose dispatch fails after the reset was saved.
    pub(crate) fn set_dispatch_failures(&self, share: f64) {
        lock(&self.store).set_dispatch_failures(share);
    }

    /// Removes (`false`) or restores the retry route.
    pub(crate) fn set_retry_route(&self, exists: bool) {
        lock(&self.store).retry_route = exists;
    }

    /// Adds `count` blocked tasks created within the last day to `proj-alpha`; their ids.
    pub(crate) fn add_blocked(&self, count: usize) -> Vec<String> {
        let now = self.shared.clock.now_secs();
        lock(&self.store).add_blocked(count, now)
    }
}

impl EmulatedApi for Deepwork {
    fn name(&self) -> &'static str {
        NAME
    }

    fn credentials(&self) -> Vec<(&'static str, &'static str)> {
        vec![("DEEPWORK_TOKEN", TOKEN)]
    }

    fn store(&self) -> &dyn StoreCell {
        &self.store
    }

    /// Seeds as every API does, then applies the configured share of failing dispatches.
    fn seed(&self, seeding: &Seeding) {
        let mut store = lock(&self.store);
        store.reseed(seeding);
        store.set_dispatch_failures(self.shared.config.deepwork_dispatch_failures);
    }

    fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/api/mission-control/tasks", get(handlers::list_tasks))
            .route(
                "/api/mission-control/tasks/{task_id}",
                get(handlers::get_task),
            )
            .route(
                "/api/mission-control/projects",
                get(handlers::list_projects),
            )
            .route(
                "/api/mission-control/projects/{project_id}",
                get(handlers::get_project),
            )
            .route(
                "/api/deep-work/projects/{project_id}/plan",
                get(handlers::get_plan),
            )
            .route(
                "/api/deep-work/projects/{project_id}/tasks/{task_id}/retry",
                post(handlers::retry_task),
            )
            .fallback(|| async { Detail::no_route() })
            .method_not_allowed_fallback(|| async { Detail::wrong_method() })
            .layer(from_fn_with_state(Arc::clone(&self), limiter::rate_limit))
            .with_state(self)
    }

    fn rate_limited(&self, _request_headers: &HeaderMap, retry_after: &str) -> Response {
        let body = serde_json::json!({"detail": "Too many requests"});
        faults::too_many_requests(body, Some(retry_after))
    }
}
