//! Skyvern workflow runs under `/skyvern`.
//!
//! Endpoints: `GET /v1/agents/runs` = `GET /v1/workflows/runs` (repeatable `status`, `page`,
//! `page_size`, `search_key`, `error_code`; a bare JSON array, `created_at` descending),
//! `GET /v1/agents/{workflow_permanent_id}/runs` (adds `created_at_start` inclusive and
//! `created_at_end` exclusive), `GET /v1/runs/{run_id}`, and
//! `POST /v1/agents/runs/{id}/retry` = `POST /v1/workflows/runs/{id}/retry`.
//!
//! Invariants:
//! - Auth, as the real server (Skyvern 1.0.50 self-hosted) does it: `x-api-key: <key>` only. An
//!   `Authorization: Bearer …` header without a key is 403
//!   `{"detail":"Invalid authentication method"}` (the self-hosted server has no token login); a
//!   wrong key 403 `{"detail":"Could not validate credentials"}`; no key at all 403
//!   `{"detail":"Invalid credentials"}`. Bad query values are FastAPI 422s; `page_size` has no
//!   maximum.
//! - Times are written as the real server writes them: UTC with no offset, with microseconds
//!   (`2026-12-03T09:05:57.681492`).
//! - 40 seeded `wr_` runs over 3 workflows: failed 10 (3 older than 7 days), terminated 4 (1 old),
//!   timed_out 4 (1 old), canceled 3, completed 12 (4 old), running 3, queued 2, created 1,
//!   paused 1. Final statuses are failed, terminated, canceled, timed_out and completed.
//! - A retry of a final run (any final status, as in Skyvern) leaves that run untouched and creates
//!   a new `wr_` run of the same workflow with the same parameters, status `created` (as the real
//!   server answers a new run); its id comes from the seeded RNG, so it repeats for a seed and a
//!   request order. A non-final run is a 400 "Only terminal workflow runs can be retried", an
//!   unknown id a 404. Runs marked with [`crate::sandbox::Sandbox::set_skyvern_refusal`] get the
//!   real server's other 400s: a block-scoped run ("Block-scoped workflow runs cannot be retried
//!   with this endpoint") and a run whose browser session has no address ("Browser session
//!   pbs_… does not have an address."). Like the real server, the new run does not name its
//!   origin (`retried_from_workflow_run_id` stays null); the snapshot (not the API) links it to
//!   its origin through `sandbox_retry_of`.
//! - Its rate limit (an injected 429) carries no `Retry-After`, as the real server's does not.
//! - New runs settle (`settle.rs`): the first `settle_reads` reads of a new run through
//!   `GET /v1/runs/{run_id}` show it `running`, the next one `completed`, or `failed` with a
//!   failure reason for one retry in five, and it stays so; the retried run never changes. Which
//!   retries fail is decided by the seed and the id of the seeded run the chain of retries started
//!   from, so retrying a failed new run fails again. Lists show where a run is without moving it.
//!   Snapshots add `sandbox_settles_to`: how a retry of the run ends, or for a new run in motion
//!   how it ends (`null` for a run that cannot be retried and is not in motion).

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
use crate::sandbox::fastapi::Detail;
use crate::sandbox::faults;
use crate::sandbox::state::{Shared, lock};
pub use model::Refusal;
use store::Store;

const NAME: &str = "skyvern";
pub(crate) const API_KEY: &str = "sk_sandbox_skyvern_key";
pub(super) const SALT: u64 = 0x736b_7976_6572_6e21;
pub(super) const DAY: i64 = 24 * 3600;
pub(super) const ORGANIZATION: &str = "o_sandbox";

/// Skyvern's workflow runs: its store and the shared sandbox state its answers read.
pub(crate) struct Skyvern {
    shared: Arc<Shared>,
    store: Mutex<Store>,
}

impl Skyvern {
    pub(crate) fn new(shared: Arc<Shared>) -> Skyvern {
        Skyvern {
            shared,
            store: Mutex::default(),
        }
    }

    /// Makes the server refuse to retry run `id` (any run, seeded or new) for `why`.
    pub(crate) fn refuse(&self, id: &str, why: Refusal) {
        lock(&self.store).refuse(id, why);
    }
}

impl EmulatedApi for Skyvern {
    fn name(&self) -> &'static str {
        NAME
    }

    fn credentials(&self) -> Vec<(&'static str, &'static str)> {
        vec![("SKYVERN_API_KEY", API_KEY)]
    }

    fn store(&self) -> &dyn StoreCell {
        &self.store
    }

    fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/v1/agents/runs", get(handlers::list_all_runs))
            .route("/v1/workflows/runs", get(handlers::list_all_runs))
            .route(
                "/v1/agents/{workflow_permanent_id}/runs",
                get(handlers::list_agent_runs),
            )
            .route("/v1/runs/{run_id}", get(handlers::get_run))
            .route("/v1/agents/runs/{run_id}/retry", post(handlers::retry_run))
            .route(
                "/v1/workflows/runs/{run_id}/retry",
                post(handlers::retry_run),
            )
            .fallback(|| async { Detail::no_route() })
            .method_not_allowed_fallback(|| async { Detail::wrong_method() })
            .with_state(self)
    }

    /// Skyvern's 429 carries no `Retry-After`, as the real server's does not.
    fn rate_limited(&self, _request_headers: &HeaderMap, _retry_after: &str) -> Response {
        let body = json!({"detail": "Rate limit exceeded for organization o_sandbox. Maximum 10 requests per 60 seconds allowed."});
        faults::too_many_requests(body, None)
    }
}
