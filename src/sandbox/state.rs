//! Shared sandbox state: the configuration and clock every emulation reads, and the journal of
//! received requests with the fault dice. The APIs keep their own task stores (`api.rs`).
//!
//! Invariants:
//! - The journal holds requests in arrival order; a request gets its slot (and `at_ms`) when it
//!   arrives and its status when it has been answered.
//! - Locks are never held across an `.await`; a poisoned lock is recovered, not propagated, because
//!   the data behind it is plain values that stay consistent between statements.

use std::sync::Mutex;

use super::config::SandboxConfig;
use super::faults::{Dice, Fault};
use super::ratelimit::Limiter;
use super::seeding::Seeding;
use super::settle::Rule;
use super::time::Clock;

pub(crate) use super::sync::lock;

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

/// A Retry-After window the sandbox announced to one API's client.
#[derive(Debug, Clone)]
struct Window {
    api: &'static str,
    /// Journal index of the request that was told to wait.
    told_at_index: usize,
    /// Journal length when the answer carrying the `Retry-After` left: requests before it were
    /// already on their way and could not have honoured it.
    announced_at_index: usize,
    until_ms: u64,
}

#[derive(Debug, Default)]
struct Journal {
    requests: Vec<RecordedRequest>,
    windows: Vec<Window>,
}

/// Everything the server tasks and the [`super::Sandbox`] handle share.
pub(crate) struct Shared {
    pub(crate) config: SandboxConfig,
    pub(crate) clock: Clock,
    /// `http://127.0.0.1:PORT`, for absolute URLs in answers.
    pub(crate) origin: String,
    /// The `--rate-limit` windows, when the sandbox has one.
    pub(crate) limiter: Option<Limiter>,
    journal: Mutex<Journal>,
    dice: Mutex<Dice>,
}

impl Shared {
    pub(crate) fn new(config: SandboxConfig, origin: String) -> Shared {
        let clock = Clock::start();
        let seed = config.seed;
        Shared {
            dice: Mutex::new(Dice::new(seed, config.faults, config.max_fault_streak)),
            limiter: config.request_limit.clone().map(Limiter::new),
            config,
            clock,
            origin,
            journal: Mutex::new(Journal::default()),
        }
    }

    /// Appends a request on arrival; returns its journal index and whether to fault it.
    ///
    /// The fault is decided under the journal lock, so the fault sequence follows journal order
    /// even when requests arrive concurrently.
    pub(crate) fn begin_request(&self, mut request: RecordedRequest) -> (usize, Option<Fault>) {
        let mut journal = lock(&self.journal);
        // Taken under the lock so that `at_ms` never decreases along the journal.
        request.at_ms = self.clock.elapsed_ms();
        let fault = lock(&self.dice).roll(|| {
            format!(
                "{} {} {}?{}",
                request.method, request.api, request.path, request.query
            )
        });
        journal.requests.push(request);
        (journal.requests.len() - 1, fault)
    }

    /// Fills in the answer of a request begun with [`Shared::begin_request`].
    pub(crate) fn finish_request(&self, index: usize, status: u16, fault: bool) {
        if let Some(request) = lock(&self.journal).requests.get_mut(index) {
            request.status = status;
            request.fault = fault;
        }
    }

    /// Arrival time of a journal entry.
    pub(crate) fn arrived_ms(&self, index: usize) -> u64 {
        lock(&self.journal)
            .requests
            .get(index)
            .map_or(0, |request| request.at_ms)
    }

    /// Notes that the client of `api` was told (by the answer to request `index`) to wait until
    /// `until_ms`.
    pub(crate) fn open_window(&self, api: &'static str, index: usize, until_ms: u64) {
        let mut journal = lock(&self.journal);
        let announced_at_index = journal.requests.len();
        journal.windows.push(Window {
            api,
            told_at_index: index,
            announced_at_index,
            until_ms,
        });
    }

    /// The Retry-After windows announced so far: the API, when the request told to wait arrived
    /// and until when it was told to wait, in milliseconds since the sandbox started.
    pub(crate) fn windows(&self) -> Vec<(&'static str, u64, u64)> {
        let journal = lock(&self.journal);
        (journal.windows.iter())
            .map(|window| {
                let told = journal.requests.get(window.told_at_index);
                (
                    window.api,
                    told.map_or(0, |told| told.at_ms),
                    window.until_ms,
                )
            })
            .collect()
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.journal).requests.clone()
    }

    /// Requests that arrived at an API while a Retry-After window announced by that API was open
    /// (after the answer announcing it had left, not while it was still being answered).
    pub(crate) fn retry_after_violations(&self) -> Vec<RecordedRequest> {
        let journal = lock(&self.journal);
        journal
            .requests
            .iter()
            .enumerate()
            .filter(|(index, request)| {
                journal.windows.iter().any(|window| {
                    window.api == request.api
                        && window.told_at_index < *index
                        && window.announced_at_index <= *index
                        && request.at_ms < window.until_ms
                })
            })
            .map(|(_, request)| request.clone())
            .collect()
    }

    /// How retried items settle in this sandbox.
    pub(crate) fn settle_rule(&self) -> Rule {
        Rule::new(self.config.seed, self.config.settle_reads)
    }

    /// What API `name`'s data is seeded from.
    pub(crate) fn seeding(&self, name: &str) -> Seeding {
        Seeding {
            tasks: self.config.tasks.for_api(name),
            ..Seeding::new(self.config.seed, self.clock.start_secs())
        }
    }
}
