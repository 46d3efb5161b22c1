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
//! `GET /_sandbox/requests` (with each arrival time), `GET /_sandbox/violations` (Retry-After
//! violations), `GET /_sandbox/windows` (the Retry-After windows announced),
//! `GET /_sandbox/tasks/{api}` and `GET /_sandbox/ids/{api}` (`server.rs`).
//!
//! Each API is one folder implementing [`api::EmulatedApi`] and one line in [`registry`]; the
//! sandbox knows them only through that trait. The shared modules (`api`, `config`, `fastapi`,
//! `faults`, `gate`, `record`, `reply`, `seeding`, `server`, `settle`, `state`, `time`) never import an API,
//! and an API imports only shared modules, never this file nor another API.
//!
//! Invariants:
//! - Only loopback is bound.
//! - Everything the sandbox answers is a function of the seed, the requests received so far and
//!   the second the sandbox started (all seeded timestamps are relative to it).
//! - No input makes a handler panic: bad JSON, missing headers or absurd ids get a 4xx JSON answer
//!   (GeeLark: an HTTP 200 envelope with an error code, as the real API does).

mod api;
mod beam;
mod config;
mod deepwork;
mod fastapi;
mod faults;
mod gate;
mod geelark;
mod herodotus;
mod http;
mod record;
mod reply;
mod seeding;
mod server;
mod settle;
mod skyvern;
mod state;
mod sync;
mod time;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use api::EmulatedApi;
pub use config::{RateLimit, SandboxConfig, TaskCounts};
pub use skyvern::Refusal as SkyvernRefusal;
pub use state::RecordedRequest;
use state::Shared;

/// Every emulated API, in the order `runbook sandbox` lists them: adding an API is one folder and
/// one line here.
fn registry(shared: &Arc<Shared>) -> Vec<Arc<dyn EmulatedApi>> {
    let shared = Arc::clone(shared);
    vec![
        Arc::new(http::Http::new(Arc::clone(&shared))),
        Arc::new(beam::Beam::new(Arc::clone(&shared), beam::Workspace::Bid)),
        Arc::new(beam::Beam::new(Arc::clone(&shared), beam::Workspace::Prod)),
        Arc::new(deepwork::Deepwork::new(Arc::clone(&shared))),
        Arc::new(herodotus::Herodotus::new(Arc::clone(&shared))),
        Arc::new(geelark::Geelark::new(Arc::clone(&shared))),
        Arc::new(skyvern::Skyvern::new(shared)),
    ]
}

/// A running sandbox server.
pub struct Sandbox {
    addr: SocketAddr,
    shared: Arc<Shared>,
    apis: Arc<[Arc<dyn EmulatedApi>]>,
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
        let shared = Arc::new(Shared::new(config, format!("http://{addr}")));
        let apis: Arc<[Arc<dyn EmulatedApi>]> = registry(&shared).into();
        unknown_task_counts(&shared.config.tasks, &apis)?;
        for api in apis.iter() {
            api.seed(&shared.seeding(api.name()));
        }
        let app = server::app(Arc::clone(&shared), Arc::clone(&apis));
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
            apis,
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
        api::named(&self.apis, api).map(|api| format!("http://{}/{}", self.addr, api.name()))
    }

    /// The sandbox credentials as (ENV_VAR, value) pairs, for every API.
    pub fn credentials(&self) -> Vec<(String, String)> {
        self.apis
            .iter()
            .flat_map(|api| api.credentials())
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
        api::named(&self.apis, api).map_or_else(Vec::new, |api| api.snapshot())
    }

    /// Items of one API that a retry put in motion and that have since settled, as (id, final
    /// status), in the API's list order; empty for an unknown API name. Skyvern names the new run
    /// (its snapshot's `sandbox_retry_of` names the retried one); GeeLark's numeric status
    /// comes as text (`"3"`, `"4"`).
    ///
    /// An item retried again after settling to failure is left out until it settles again. To know
    /// in advance how a retry ends, read `sandbox_settles_to` in [`Sandbox::tasks`].
    pub fn settled(&self, api: &str) -> Vec<(String, String)> {
        api::named(&self.apis, api).map_or_else(Vec::new, |api| api.settled())
    }

    /// Serves Beam's legacy flat list shape (`{data:[task…],pagination}`) from `/beam` and
    /// `/beam-prod` instead of the grouped one; a request's `shape=flat|grouped` still wins.
    pub fn set_beam_flat_list(&self, flat: bool) {
        self.each::<beam::Beam>()
            .for_each(|beam| beam.set_flat_list(flat));
    }

    /// Puts a token bucket in front of `/deepwork` (like PocketPaw's per-IP limiter), or removes
    /// it with `None`. While set, answers carry `X-RateLimit-*` headers and an empty bucket answers
    /// 429 with `Retry-After`. PocketPaw's own (10/s, burst 30) is on from the start.
    pub fn set_deepwork_rate_limit(&self, limit: Option<RateLimit>) {
        self.each::<deepwork::Deepwork>()
            .for_each(|api| api.set_rate_limit(limit));
    }

    /// Makes this share (0.0 to 1.0) of Deep Work retries answer 500 "Retry dispatch failed" after
    /// the reset was saved, as PocketPaw does when the dispatch fails (none by default). Which
    /// retries fail follows the seed, the task and its retry count.
    pub fn set_deepwork_dispatch_failures(&self, share: f64) {
        self.each::<deepwork::Deepwork>()
            .for_each(|api| api.set_dispatch_failures(share));
    }

    /// Removes (`false`) or restores the Deep Work retry route, as on PocketPaw 0.4.4, which has
    /// none: every retry then gets FastAPI's `404 {"detail": "Not Found"}`.
    pub fn set_deepwork_retry_route(&self, exists: bool) {
        self.each::<deepwork::Deepwork>()
            .for_each(|api| api.set_retry_route(exists));
    }

    /// Adds `count` blocked tasks created within the last day to the Deep Work project
    /// `proj-alpha` (to fill PocketPaw's list past its cap of 100); their ids.
    pub fn add_deepwork_blocked_tasks(&self, count: usize) -> Vec<String> {
        self.each::<deepwork::Deepwork>()
            .flat_map(|deepwork| deepwork.add_blocked(count))
            .collect()
    }

    /// Lets `/deepwork` requests through without a token, like PocketPaw's localhost bypass
    /// (off by default, so the sandbox checks credentials).
    pub fn set_deepwork_localhost_bypass(&self, bypass: bool) {
        self.each::<deepwork::Deepwork>()
            .for_each(|api| api.set_localhost_bypass(bypass));
    }

    /// Serves a `GET /herodotus/tasks` list (`{"tasks":[status…]}`, optional `status` filter); the
    /// real list endpoint is undocumented, so it is off by default.
    pub fn set_herodotus_list(&self, enabled: bool) {
        self.each::<herodotus::Herodotus>()
            .for_each(|api| api.set_list_enabled(enabled));
    }

    /// Limits each `/geelark` endpoint to `per_minute` calls per clock minute (GeeLark's real
    /// limit is 200); calls beyond it get code 40007 until the next minute. `None` removes it.
    pub fn set_geelark_rate_limit(&self, per_minute: Option<u32>) {
        self.each::<geelark::Geelark>()
            .for_each(|api| api.set_rate_limit(per_minute));
    }

    /// Makes `/skyvern` refuse to retry run `id` with one of the real server's other 400s (a
    /// block-scoped run, a browser session without an address).
    pub fn set_skyvern_refusal(&self, id: &str, why: SkyvernRefusal) {
        self.each::<skyvern::Skyvern>()
            .for_each(|api| api.refuse(id, why));
    }

    /// The APIs of type `T` (one each, but Beam's two hosts).
    fn each<T: EmulatedApi>(&self) -> impl Iterator<Item = &T> {
        api::of_type::<T>(&self.apis)
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

/// Refuses a task count for an API the sandbox does not serve, naming the ones it does.
fn unknown_task_counts(
    counts: &config::TaskCounts,
    apis: &[Arc<dyn EmulatedApi>],
) -> std::io::Result<()> {
    let Some((name, _)) =
        (counts.per_api.iter()).find(|(name, _)| api::named(apis, name).is_none())
    else {
        return Ok(());
    };
    let known: Vec<&str> = apis.iter().map(|api| api.name()).collect();
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!(
            "--tasks names no sandbox API '{name}'; the APIs are {}",
            known.join(", ")
        ),
    ))
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
    for api in sandbox.apis.iter() {
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

#[cfg(test)]
mod tests;
