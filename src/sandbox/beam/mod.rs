//! Beam.ai agent tasks, served twice: `/beam` stands in for the "bid" workspace host
//! (`api.bid.beamstudio.ai`) and `/beam-prod` for `api.beamstudio.ai`, each with its own key and
//! workspace id.
//!
//! Endpoints: `GET /agent-tasks` (agentId, comma-separated statuses, startDate/endDate on createdAt,
//! searchQuery, ordering, pageNum/pageSize, grouping), `GET /agent-tasks/latest-executions`,
//! `GET /agent-tasks/{taskId}`, `POST /agent-tasks/retry {"taskId"}` → 201 with an empty body.
//! Errors use NestJS's default bodies (`{"statusCode","message","error"}`).
//!
//! Invariants:
//! - Auth is `x-api-key: <key>` or `Authorization: Bearer <key>` (the host's key only), plus
//!   `current-workspace-id: <the host's workspace>`: a wrong or missing key is 401, a missing
//!   workspace header 401, another workspace 403.
//! - Seeded per host (same plan, different ids): agent `agent-sandbox-1` has 36 tasks, 21 of them
//!   retryable (FAILED, ERROR, STOPPED, TIMEOUT): 14 created in the last day, 3 one to seven days
//!   ago, 4 more than seven days ago; agent `agent-sandbox-2` has 8 tasks, 4 retryable (3 in the last
//!   day, 1 older than seven days).
//! - A retry is accepted for a retryable task only (what Beam does for others is undocumented; here
//!   400): the task becomes QUEUED, `manualRetryCount` goes up by one, `updatedAt` is stamped.
//! - Retried work settles (`settle.rs`): the first `settle_reads` reads of the task through
//!   `GET /agent-tasks/{taskId}` after a retry show it IN_PROGRESS, the next one COMPLETED, or
//!   FAILED with an integration error for one task in five (by seed, host and id), and it stays
//!   so; a FAILED task can be retried again, and fails again. Lists and latest-executions show
//!   where a task is without moving it. Snapshots add `sandbox_settles_to`: how a retry of the task
//!   ends (`null` for a task that cannot be retried and is not in motion).
//! - The list is grouped (`{data:[{tasks,groupName,groupId,groupCount,groupIcon}],totalCount}`) by
//!   status unless `grouping=agent`; the legacy flat shape (`{data:[…],pagination:{…}}`) is served
//!   with `shape=flat` or after [`super::Sandbox::set_beam_flat_list`].

mod handlers;
mod model;
mod store;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::json;

use crate::sandbox::api::{EmulatedApi, StoreCell};
use crate::sandbox::faults;
use crate::sandbox::reply;
use crate::sandbox::state::{Shared, lock};
use handlers::NestError;
use store::Store;

pub(crate) const BID_API_KEY: &str = "bm_key_sandbox_bid";
pub(crate) const BID_WORKSPACE_ID: &str = "ws-sandbox-bid";
pub(crate) const PROD_API_KEY: &str = "bm_key_sandbox_prod";
pub(crate) const PROD_WORKSPACE_ID: &str = "ws-sandbox-prod";
pub(super) const MAIN_AGENT: &str = "agent-sandbox-1";
pub(super) const OTHER_AGENT: &str = "agent-sandbox-2";
pub(super) const MAX_PAGE_SIZE: u64 = 100;
pub(super) const DAY: i64 = 24 * 3600;

/// Which Beam host a store stands in for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Workspace {
    #[default]
    Bid,
    Prod,
}

impl Workspace {
    fn api_key(self) -> &'static str {
        match self {
            Workspace::Bid => BID_API_KEY,
            Workspace::Prod => PROD_API_KEY,
        }
    }

    pub(super) fn workspace_id(self) -> &'static str {
        match self {
            Workspace::Bid => BID_WORKSPACE_ID,
            Workspace::Prod => PROD_WORKSPACE_ID,
        }
    }

    /// The name of the sandbox API serving this host (its path prefix).
    pub(super) fn name(self) -> &'static str {
        match self {
            Workspace::Bid => "beam",
            Workspace::Prod => "beam-prod",
        }
    }

    pub(super) fn salt(self) -> u64 {
        match self {
            Workspace::Bid => 0x6265_616d_2d62_6964,
            Workspace::Prod => 0x6265_616d_2d70_726f,
        }
    }
}

/// One Beam host: its workspace, its store and the shared sandbox state its answers read.
pub(crate) struct Beam {
    shared: Arc<Shared>,
    workspace: Workspace,
    store: Mutex<Store>,
}

impl Beam {
    pub(crate) fn new(shared: Arc<Shared>, workspace: Workspace) -> Beam {
        Beam {
            shared,
            workspace,
            store: Mutex::new(Store::empty(workspace)),
        }
    }

    /// Serves the legacy flat list shape unless a request asks for another.
    pub(crate) fn set_flat_list(&self, flat: bool) {
        lock(&self.store).flat_list = flat;
    }

    fn authorize(&self, headers: &HeaderMap) -> Result<(), NestError> {
        let key = reply::header(headers, "x-api-key").or_else(|| reply::bearer(headers));
        if key != Some(self.workspace.api_key()) {
            return Err(NestError::new(StatusCode::UNAUTHORIZED, "Unauthorized"));
        }
        match reply::header(headers, "current-workspace-id") {
            None | Some("") => Err(NestError::new(
                StatusCode::UNAUTHORIZED,
                "current-workspace-id header is required",
            )),
            Some(id) if id == self.workspace.workspace_id() => Ok(()),
            Some(_) => Err(NestError::new(StatusCode::FORBIDDEN, "Forbidden resource")),
        }
    }
}

impl EmulatedApi for Beam {
    fn name(&self) -> &'static str {
        self.workspace.name()
    }

    fn credentials(&self) -> Vec<(&'static str, &'static str)> {
        match self.workspace {
            Workspace::Bid => vec![
                ("BEAM_API_KEY", BID_API_KEY),
                ("BEAM_WORKSPACE_ID", BID_WORKSPACE_ID),
            ],
            Workspace::Prod => vec![
                ("BEAM_API_KEY_PROD", PROD_API_KEY),
                ("BEAM_WORKSPACE_ID_PROD", PROD_WORKSPACE_ID),
            ],
        }
    }

    fn store(&self) -> &dyn StoreCell {
        &self.store
    }

    fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/agent-tasks", get(handlers::list_tasks))
            .route(
                "/agent-tasks/latest-executions",
                get(handlers::latest_executions),
            )
            .route("/agent-tasks/retry", post(handlers::retry_task))
            .route("/agent-tasks/{task_id}", get(handlers::get_task))
            .fallback(handlers::unknown_route)
            .method_not_allowed_fallback(handlers::unknown_route)
            .with_state(self)
    }

    fn rate_limited(&self, _request_headers: &HeaderMap, retry_after: &str) -> Response {
        let body = json!({"statusCode": 429, "message": "ThrottlerException: Too Many Requests"});
        faults::too_many_requests(body, Some(retry_after))
    }
}
