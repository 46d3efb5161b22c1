//! GeeLark's open API (cloud-phone tasks) under `/geelark`.
//!
//! Endpoints, all `POST` with a JSON body: `/open/v1/task/historyRecords` (`size` ≤ 100, `lastId`
//! cursor, optional `ids`, tasks scheduled in the past 7 days), `/open/v1/task/query` (`ids` ≤ 100),
//! `/open/v1/task/detail` (`id`), `/open/v1/task/cancel` and `/open/v1/task/restart` (`ids`).
//! Every handled request gets HTTP 200 with the envelope `{traceId, code, msg, data}` echoing the
//! request's `traceId` header.
//!
//! Invariants:
//! - Auth: a `traceId` header (else code 40002), then either `Authorization: Bearer <token>` or the
//!   key-mode headers `appId`, `ts`, `nonce` (= first 6 characters of `traceId`) and `sign` (= upper
//!   hex SHA-256 of appId+traceId+ts+nonce+apiKey); anything else is code 40003.
//! - 30 seeded tasks with 18-digit ids: within the 7-day window 10 failed (status 4: 7 restartable,
//!   one whose environment was deleted → 40005, one whose resources expired → 48003, one already
//!   restarted 5 times → 48000), 2 cancelled (7, restartable), 8 completed, 2 waiting, 2 in progress;
//!   outside the window 3 failed and 3 completed.
//! - An optional per-endpoint limit per clock minute (GeeLark: 200) answers code 40007 beyond it.
//! - Restart checks each id (48002 unknown, 40005, 48003, 48001 status not 4 or 7, 48000 limit) and
//!   answers code 0, 40006 (partial) or 40009 (all failed) with `failDetails` codes as strings; a
//!   restarted task keeps its id, goes to status 1 and counts one more restart.
//! - Restarted work settles (`settle.rs`): the first `settle_reads` reads of the task through
//!   `task/query` or `task/detail` (one read per request that names it) after a restart show status
//!   2, the next one 3, or 4 with a `failCode`/`failDesc` for one task in five (by seed and id), and
//!   it stays so; a task failed again can be restarted again (within the 5 restarts), and fails
//!   again. A cancel stops a restarted task where it is. `historyRecords` shows where a task is
//!   without moving it. Snapshots add `sandbox_settles_to`: how a restart of the task ends (`null`
//!   for a task that cannot be restarted and is not in motion).

mod handlers;
mod model;
mod store;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use serde_json::json;

use crate::sandbox::api::{EmulatedApi, StoreCell};
use crate::sandbox::reply;
use crate::sandbox::state::{Shared, lock};
use handlers::Envelope;
#[cfg(test)]
pub(crate) use handlers::signature;
use store::Store;

const NAME: &str = "geelark";
pub(crate) const APP_ID: &str = "sandboxGeeLarkAppId00001";
pub(crate) const API_KEY: &str = "sandbox-geelark-key";
pub(crate) const TOKEN: &str = "sandbox-geelark-token";
pub(super) const SALT: u64 = 0x6765_656c_6172_6b21;
pub(super) const DAY: i64 = 24 * 3600;
pub(super) const HISTORY_WINDOW_SECS: i64 = 7 * DAY;
pub(super) const MAX_IDS: usize = 100;
pub(super) const MAX_RESTARTS: u32 = 5;

pub(super) const WAITING: u8 = 1;
pub(super) const IN_PROGRESS: u8 = 2;
pub(super) const COMPLETED: u8 = 3;
pub(super) const FAILED: u8 = 4;
pub(super) const CANCELLED: u8 = 7;

/// GeeLark's open API: its store (with the per-minute limit) and the shared sandbox state.
pub(crate) struct Geelark {
    shared: Arc<Shared>,
    store: Mutex<Store>,
}

impl Geelark {
    pub(crate) fn new(shared: Arc<Shared>) -> Geelark {
        Geelark {
            shared,
            store: Mutex::default(),
        }
    }

    /// Limits each endpoint to `per_minute` calls per clock minute; `None` removes the limit.
    pub(crate) fn set_rate_limit(&self, per_minute: Option<u32>) {
        lock(&self.store).set_rate_limit(per_minute);
    }
}

/// A `POST` route answering with the envelope `answer` makes of the request, success or not.
fn endpoint(
    answer: fn(&Geelark, &HeaderMap, &[u8]) -> Result<Envelope, Envelope>,
) -> MethodRouter<Arc<Geelark>> {
    post(
        move |State(api): State<Arc<Geelark>>, headers: HeaderMap, body: Bytes| async move {
            match answer(&api, &headers, &body) {
                Ok(envelope) | Err(envelope) => envelope.into_response(),
            }
        },
    )
}

impl EmulatedApi for Geelark {
    fn name(&self) -> &'static str {
        NAME
    }

    fn credentials(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            ("GEELARK_APP_ID", APP_ID),
            ("GEELARK_API_KEY", API_KEY),
            ("GEELARK_TOKEN", TOKEN),
        ]
    }

    fn store(&self) -> &dyn StoreCell {
        &self.store
    }

    fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route(
                "/open/v1/task/historyRecords",
                endpoint(handlers::history_records),
            )
            .route("/open/v1/task/query", endpoint(handlers::query_tasks))
            .route("/open/v1/task/detail", endpoint(handlers::task_detail))
            .route("/open/v1/task/restart", endpoint(handlers::restart_tasks))
            .route("/open/v1/task/cancel", endpoint(handlers::cancel_tasks))
            .fallback(|| async {
                reply::json(
                    StatusCode::NOT_FOUND,
                    json!({"code": 404, "msg": "not found"}),
                )
            })
            .method_not_allowed_fallback(|| async {
                reply::json(
                    StatusCode::METHOD_NOT_ALLOWED,
                    json!({"code": 405, "msg": "method not allowed"}),
                )
            })
            .with_state(self)
    }

    /// GeeLark's own rate limit: HTTP 200 with code 40007 and no `Retry-After`.
    fn rate_limited(&self, request_headers: &HeaderMap, _retry_after: &str) -> Response {
        let trace_id = reply::header(request_headers, "traceid").unwrap_or_default();
        Envelope::fail(trace_id, 40007, "too many requests").into_response()
    }
}
