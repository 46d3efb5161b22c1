//! Emulated provider APIs on loopback, behind `runbook sandbox` and `play --sandbox`.
//!
//! One server on `127.0.0.1:PORT` serves every emulated API under its own path prefix:
//! `/http` (the generic task API, `http/`), `/beam` and `/beam-prod` (`beam/`), `/deepwork`
//! (`deepwork/`), `/herodotus` (`herodotus/`), `/geelark` (`geelark/`) and `/skyvern`
//! (`skyvern/`). Each request to an API is journaled (see [`RecordedRequest`]) so tests can assert
//! on exactly what a playbook sent; `faults.rs` can answer any of them with a transient error
//! instead, and `latency_ms` can hold every answer back. Retried work settles (`settle.rs`): it
//! shows in progress for `settle_reads` reads, then succeeded or, for one item in five, failed
//! again. Control endpoints for out-of-process users, never journaled nor faulted:
//! `GET /_sandbox/requests`, `GET /_sandbox/violations` (Retry-After violations),
//! `GET /_sandbox/tasks/{api}` and `GET /_sandbox/ids/{api}`.
//!
//! Invariants:
//! - Only loopback is bound.
//! - Everything the sandbox answers is a function of the seed, the requests received so far and
//!   the second the sandbox started (all seeded timestamps are relative to it).
//! - No input makes a handler panic: bad JSON, missing headers or absurd ids get a 4xx JSON answer
//!   (GeeLark: an HTTP 200 envelope with an error code, as the real API does).

mod beam;
mod deepwork;
mod faults;
mod geelark;
mod herodotus;
mod http;
mod record;
mod reply;
mod settle;
mod skyvern;
mod state;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use axum::routing::get;
use serde_json::json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use record::ApiContext;
pub use skyvern::Refusal as SkyvernRefusal;
use state::Shared;

/// How to run a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Seed of the task data and of the fault sequence.
    pub seed: u64,
    /// Probability, from 0.0 to 1.0, that an API request is answered with an injected fault.
    pub faults: f64,
    /// Seconds announced in `Retry-After` by injected rate-limit faults.
    pub retry_after_secs: u64,
    /// Reads of a retried item that still show it in progress; the read after them shows its
    /// final status (see [`Sandbox::settled`]).
    pub settle_reads: u32,
    /// Milliseconds every API answer is held back after its request was journaled and its state
    /// change applied (0: none). The control endpoints are never delayed.
    pub latency_ms: u64,
    /// Share, from 0.0 to 1.0, of Deep Work retries answered 500 "Retry dispatch failed" after the
    /// reset was saved, as PocketPaw does when a dispatch fails.
    pub deepwork_dispatch_failures: f64,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            port: 0,
            seed: 7,
            faults: 0.0,
            retry_after_secs: 1,
            settle_reads: 1,
            latency_ms: 0,
            deepwork_dispatch_failures: 0.0,
        }
    }
}

/// One request an emulated API received, as the sandbox answered it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RecordedRequest {
    /// API name (`http`, `beam`, …).
    pub api: String,
    pub method: String,
    /// Path after the API prefix, e.g. `/tasks/task-001/retry`.
    pub path: String,
    /// Raw query string without `?` (empty when none).
    pub query: String,
    /// Headers in arrival order, names lower-case.
    pub headers: Vec<(String, String)>,
    /// Body as text (lossy UTF-8).
    pub body: String,
    /// Status the sandbox answered (0 while the request is still being handled). It is set before
    /// any injected latency, so it shows even when the client went away during the delay.
    pub status: u16,
    /// Whether the answer was an injected fault.
    pub fault: bool,
    /// Arrival time in milliseconds since the sandbox started.
    pub at_ms: u64,
}

/// A token bucket: up to `burst` requests at once, refilled at `per_second` requests a second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

/// The emulated APIs, each served under `/<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    Http,
    Beam,
    BeamProd,
    Deepwork,
    Herodotus,
    Geelark,
    Skyvern,
}

impl Api {
    const ALL: [Api; 7] = [
        Api::Http,
        Api::Beam,
        Api::BeamProd,
        Api::Deepwork,
        Api::Herodotus,
        Api::Geelark,
        Api::Skyvern,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Api::Http => "http",
            Api::Beam => "beam",
            Api::BeamProd => "beam-prod",
            Api::Deepwork => "deepwork",
            Api::Herodotus => "herodotus",
            Api::Geelark => "geelark",
            Api::Skyvern => "skyvern",
        }
    }

    fn from_name(name: &str) -> Option<Api> {
        Api::ALL.into_iter().find(|api| api.name() == name)
    }

    fn router(self, shared: Arc<Shared>) -> Router {
        match self {
            Api::Http => http::router().with_state(shared),
            Api::Beam => beam::router(shared, beam::Workspace::Bid),
            Api::BeamProd => beam::router(shared, beam::Workspace::Prod),
            Api::Deepwork => deepwork::router(shared),
            Api::Herodotus => herodotus::router(shared),
            Api::Geelark => geelark::router(shared),
            Api::Skyvern => skyvern::router(shared),
        }
    }

    /// The credentials a client of this API needs, as (environment variable, value).
    fn credentials(self) -> Vec<(&'static str, &'static str)> {
        match self {
            Api::Http => vec![("TASKS_API_TOKEN", http::TOKEN)],
            Api::Beam => vec![
                ("BEAM_API_KEY", beam::BID_API_KEY),
                ("BEAM_WORKSPACE_ID", beam::BID_WORKSPACE_ID),
            ],
            Api::BeamProd => vec![
                ("BEAM_API_KEY_PROD", beam::PROD_API_KEY),
                ("BEAM_WORKSPACE_ID_PROD", beam::PROD_WORKSPACE_ID),
            ],
            Api::Deepwork => vec![("DEEPWORK_TOKEN", deepwork::TOKEN)],
            Api::Herodotus => vec![("HERODOTUS_API_KEY", herodotus::API_KEY)],
            Api::Geelark => vec![
                ("GEELARK_APP_ID", geelark::APP_ID),
                ("GEELARK_API_KEY", geelark::API_KEY),
                ("GEELARK_TOKEN", geelark::TOKEN),
            ],
            Api::Skyvern => vec![("SKYVERN_API_KEY", skyvern::API_KEY)],
        }
    }
}

/// A running sandbox server.
pub struct Sandbox {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
}

impl Sandbox {
    /// Binds `127.0.0.1:port` and serves every emulated API from a tokio task.
    pub async fn start(config: SandboxConfig) -> std::io::Result<Sandbox> {
        if !(0.0..=1.0).contains(&config.faults) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "sandbox faults must be within 0.0..=1.0, got {}",
                    config.faults
                ),
            ));
        }
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, config.port)).await?;
        let addr = listener.local_addr()?;
        let dispatch_failures = config.deepwork_dispatch_failures;
        let shared = Arc::new(Shared::new(config, format!("http://{addr}")));
        state::lock(&shared.deepwork).set_dispatch_failures(dispatch_failures);
        let app = app(Arc::clone(&shared));
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let serving = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(error) = serving.await {
                eprintln!("sandbox server stopped: {error}");
            }
        });
        Ok(Sandbox {
            addr,
            shared,
            stop: Some(stop),
            server,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL of one emulated API, e.g. `http://127.0.0.1:PORT/http`; `None` for an unknown name.
    pub fn base_url(&self, api: &str) -> Option<String> {
        Api::from_name(api).map(|api| format!("http://{}/{}", self.addr, api.name()))
    }

    /// The sandbox credentials as (ENV_VAR, value) pairs, for every API.
    pub fn credentials(&self) -> Vec<(String, String)> {
        Api::ALL
            .into_iter()
            .flat_map(Api::credentials)
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect()
    }

    /// Every request received so far, in arrival order (control endpoints excluded).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// Requests that reached an API while a Retry-After window that API had announced (to any
    /// earlier request) was still open.
    pub fn retry_after_violations(&self) -> Vec<RecordedRequest> {
        self.shared.retry_after_violations()
    }

    /// Current state of one API's tasks as JSON; empty for an unknown API name. Each task also
    /// carries `sandbox_settles_to`: the final status a retry of it ends in (`null` when it cannot
    /// be retried and is not in motion); see [`Sandbox::settled`].
    pub fn tasks(&self, api: &str) -> Vec<serde_json::Value> {
        Api::from_name(api).map_or_else(Vec::new, |api| self.shared.tasks(api))
    }

    /// Items of one API that a retry put in motion and that have since settled, as (id, final
    /// status), in the API's list order; empty for an unknown API name. Skyvern names the new run
    /// (its snapshot's `sandbox_retry_of` names the retried one); GeeLark's numeric status
    /// comes as text (`"3"`, `"4"`).
    ///
    /// An item retried again after settling to failure is left out until it settles again. To know
    /// in advance how a retry ends, read `sandbox_settles_to` in [`Sandbox::tasks`].
    pub fn settled(&self, api: &str) -> Vec<(String, String)> {
        Api::from_name(api).map_or_else(Vec::new, |api| self.shared.settled(api))
    }

    /// Serves Beam's legacy flat list shape (`{data:[task…],pagination}`) from `/beam` and
    /// `/beam-prod` instead of the grouped one; a request's `shape=flat|grouped` still wins.
    pub fn set_beam_flat_list(&self, flat: bool) {
        state::lock(&self.shared.beam).set_flat_list(flat);
        state::lock(&self.shared.beam_prod).set_flat_list(flat);
    }

    /// Puts a token bucket in front of `/deepwork` (like PocketPaw's per-IP limiter), or removes
    /// it with `None`. While set, answers carry `X-RateLimit-*` headers and an empty bucket answers
    /// 429 with `Retry-After`. PocketPaw's own (10/s, burst 30) is on from the start.
    pub fn set_deepwork_rate_limit(&self, limit: Option<RateLimit>) {
        state::lock(&self.shared.deepwork).set_rate_limit(limit);
    }

    /// Makes this share (0.0 to 1.0) of Deep Work retries answer 500 "Retry dispatch failed" after
    /// the reset was saved, as PocketPaw does when the dispatch fails (none by default). Which
    /// retries fail follows the seed, the task and its retry count.
    pub fn set_deepwork_dispatch_failures(&self, share: f64) {
        state::lock(&self.shared.deepwork).set_dispatch_failures(share);
    }

    /// Removes (`false`) or restores the Deep Work retry route, as on PocketPaw 0.4.4, which has
    /// none: every retry then gets FastAPI's `404 {"detail": "Not Found"}`.
    pub fn set_deepwork_retry_route(&self, exists: bool) {
        state::lock(&self.shared.deepwork).set_retry_route(exists);
    }

    /// Adds `count` blocked tasks created within the last day to the Deep Work project
    /// `proj-alpha` (to fill PocketPaw's list past its cap of 100); their ids.
    pub fn add_deepwork_blocked_tasks(&self, count: usize) -> Vec<String> {
        let now = self.shared.clock.now_secs();
        state::lock(&self.shared.deepwork).add_blocked(count, now)
    }

    /// Lets `/deepwork` requests through without a token, like PocketPaw's localhost bypass
    /// (off by default, so the sandbox checks credentials).
    pub fn set_deepwork_localhost_bypass(&self, bypass: bool) {
        state::lock(&self.shared.deepwork).set_localhost_bypass(bypass);
    }

    /// Serves a `GET /herodotus/tasks` list (`{"tasks":[status…]}`, optional `status` filter); the
    /// real list endpoint is undocumented, so it is off by default.
    pub fn set_herodotus_list(&self, enabled: bool) {
        state::lock(&self.shared.herodotus).set_list_enabled(enabled);
    }

    /// Limits each `/geelark` endpoint to `per_minute` calls per clock minute (GeeLark's real
    /// limit is 200); calls beyond it get code 40007 until the next minute. `None` removes it.
    pub fn set_geelark_rate_limit(&self, per_minute: Option<u32>) {
        state::lock(&self.shared.geelark).set_rate_limit(per_minute);
    }

    /// Makes `/skyvern` refuse to retry run `id` with one of the real server's other 400s (a
    /// block-scoped run, a browser session without an address).
    pub fn set_skyvern_refusal(&self, id: &str, why: SkyvernRefusal) {
        state::lock(&self.shared.skyvern).refuse(id, why);
    }

    /// Stops accepting connections and waits for open ones to finish, at most
    /// five seconds, after which the server task is aborted.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut self.server)
            .await
            .is_err()
        {
            self.server.abort();
        }
    }
}

/// How long [`Sandbox::shutdown`] lets open connections finish.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("addr", &self.addr)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Drop for Sandbox {
    /// A sandbox dropped without [`Sandbox::shutdown`] still stops serving (without waiting).
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Serves until ctrl-c, after printing each API's base URL and the credentials to stdout.
pub async fn serve_forever(config: SandboxConfig) -> std::io::Result<()> {
    let sandbox = Sandbox::start(config).await?;
    println!("runbook sandbox listening on http://{}", sandbox.addr());
    for api in Api::ALL {
        if let Some(url) = sandbox.base_url(api.name()) {
            println!("  {:<10} {url}", api.name());
        }
    }
    println!("credentials:");
    for (name, value) in sandbox.credentials() {
        println!("  {name}={value}");
    }
    tokio::signal::ctrl_c().await?;
    sandbox.shutdown().await;
    Ok(())
}

/// The whole server: every API under its prefix, plus the control endpoints.
fn app(shared: Arc<Shared>) -> Router {
    let mut app = Router::new()
        .route("/_sandbox/requests", get(control_requests))
        .route("/_sandbox/violations", get(control_violations))
        .route("/_sandbox/tasks/{api}", get(control_tasks))
        .route("/_sandbox/ids/{api}", get(control_ids))
        .fallback(unknown_prefix)
        .with_state(Arc::clone(&shared));
    for api in Api::ALL {
        let context = ApiContext {
            api,
            shared: Arc::clone(&shared),
        };
        let router = api
            .router(Arc::clone(&shared))
            .layer(from_fn_with_state(context, record::record));
        app = app.nest(&format!("/{}", api.name()), router);
    }
    app
}

async fn control_requests(State(shared): State<Arc<Shared>>) -> Response {
    reply::json(StatusCode::OK, json!(shared.requests()))
}

async fn control_violations(State(shared): State<Arc<Shared>>) -> Response {
    reply::json(StatusCode::OK, json!(shared.retry_after_violations()))
}

async fn control_tasks(
    State(shared): State<Arc<Shared>>,
    api: Result<Path<String>, PathRejection>,
) -> Response {
    let api = api.map(|Path(api)| api).unwrap_or_default();
    match Api::from_name(&api) {
        Some(api) => reply::json(StatusCode::OK, json!(shared.tasks(api))),
        None => reply::json(
            StatusCode::NOT_FOUND,
            json!({"error": "not_found", "message": format!("no sandbox API '{}'", reply::shown(&api))}),
        ),
    }
}

/// The ids of one API's tasks (the first of `id`, `taskId`, `workflow_run_id` in each).
async fn control_ids(
    State(shared): State<Arc<Shared>>,
    api: Result<Path<String>, PathRejection>,
) -> Response {
    let api = api.map(|Path(api)| api).unwrap_or_default();
    let Some(api) = Api::from_name(&api) else {
        return reply::json(
            StatusCode::NOT_FOUND,
            json!({"error": "not_found", "message": format!("no sandbox API '{}'", reply::shown(&api))}),
        );
    };
    let ids: Vec<serde_json::Value> = shared
        .tasks(api)
        .into_iter()
        .filter_map(|task| {
            ["id", "taskId", "workflow_run_id"]
                .into_iter()
                .find_map(|key| task.get(key).cloned())
        })
        .collect();
    reply::json(StatusCode::OK, json!(ids))
}

async fn unknown_prefix(uri: Uri) -> Response {
    let known: Vec<String> = Api::ALL
        .iter()
        .map(|api| format!("/{}", api.name()))
        .collect();
    reply::json(
        StatusCode::NOT_FOUND,
        json!({
            "error": "not_found",
            "message": format!(
                "no sandbox API at {}; APIs are served under {}",
                reply::shown(uri.path()),
                known.join(", ")
            ),
        }),
    )
}

#[cfg(test)]
mod tests;
