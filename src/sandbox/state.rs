//! Shared sandbox state: the clock every emulation reads, the journal of received requests, and the
//! per-API task stores.
//!
//! Invariants:
//! - The journal holds requests in arrival order; a request gets its slot (and `at_ms`) when it
//!   arrives and its status when it has been answered.
//! - Every timestamp an emulation hands out is derived from [`Clock`], so two sandboxes started with
//!   the same seed differ only by the wall-clock second they started at.
//! - Locks are never held across an `.await`; a poisoned lock is recovered, not propagated, because
//!   the data behind it is plain values that stay consistent between statements.

use std::sync::{Mutex, MutexGuard};

use tokio::time::Instant;

use super::faults::{Dice, Fault};
use super::settle::Rule;
use super::{Api, RecordedRequest, SandboxConfig};
use super::{beam, deepwork, geelark, herodotus, http, skyvern};

/// Locks a mutex, recovering the data if a previous holder panicked.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The sandbox's notion of time: wall-clock seconds at start plus monotonic time since.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    started: Instant,
    epoch_at_start: i64,
}

impl Clock {
    pub(crate) fn start() -> Clock {
        Clock {
            started: Instant::now(),
            epoch_at_start: jiff::Timestamp::now().as_second(),
        }
    }

    /// Unix seconds at sandbox start, whole seconds: the anchor of all seeded timestamps.
    pub(crate) fn start_secs(&self) -> i64 {
        self.epoch_at_start
    }

    /// Unix seconds now.
    pub(crate) fn now_secs(&self) -> i64 {
        let elapsed = i64::try_from(self.started.elapsed().as_secs()).unwrap_or(i64::MAX / 2);
        self.epoch_at_start.saturating_add(elapsed)
    }

    /// Milliseconds since sandbox start (what `RecordedRequest::at_ms` holds).
    pub(crate) fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// RFC 3339 UTC rendering of Unix seconds (`2026-11-23T10:00:00Z`).
pub(crate) fn rfc3339(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// A Retry-After window the sandbox announced to one API's client.
#[derive(Debug, Clone)]
struct Window {
    api: Api,
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
    journal: Mutex<Journal>,
    dice: Mutex<Dice>,
    pub(crate) http: Mutex<http::Store>,
    pub(crate) beam: Mutex<beam::Store>,
    pub(crate) beam_prod: Mutex<beam::Store>,
    pub(crate) deepwork: Mutex<deepwork::Store>,
    pub(crate) herodotus: Mutex<herodotus::Store>,
    pub(crate) geelark: Mutex<geelark::Store>,
    pub(crate) skyvern: Mutex<skyvern::Store>,
}

impl Shared {
    pub(crate) fn new(config: SandboxConfig, origin: String) -> Shared {
        let clock = Clock::start();
        let now = clock.start_secs();
        let seed = config.seed;
        Shared {
            dice: Mutex::new(Dice::new(seed, config.faults)),
            http: Mutex::new(http::Store::seeded(seed, now)),
            beam: Mutex::new(beam::Store::seeded(beam::Workspace::Bid, seed, now)),
            beam_prod: Mutex::new(beam::Store::seeded(beam::Workspace::Prod, seed, now)),
            deepwork: Mutex::new(deepwork::Store::seeded(seed, now)),
            herodotus: Mutex::new(herodotus::Store::seeded(seed, now)),
            geelark: Mutex::new(geelark::Store::seeded(seed, now)),
            skyvern: Mutex::new(skyvern::Store::seeded(seed, now)),
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
        journal.requests.push(request);
        let fault = lock(&self.dice).roll();
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
    pub(crate) fn open_window(&self, api: Api, index: usize, until_ms: u64) {
        let mut journal = lock(&self.journal);
        let announced_at_index = journal.requests.len();
        journal.windows.push(Window {
            api,
            told_at_index: index,
            announced_at_index,
            until_ms,
        });
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
                    window.api.name() == request.api
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

    /// (id, final status) of the items of `api` a retry put in motion that have settled.
    pub(crate) fn settled(&self, api: Api) -> Vec<(String, String)> {
        match api {
            Api::Http => lock(&self.http).settled(),
            Api::Beam => lock(&self.beam).settled(),
            Api::BeamProd => lock(&self.beam_prod).settled(),
            Api::Deepwork => lock(&self.deepwork).settled(),
            Api::Herodotus => lock(&self.herodotus).settled(),
            Api::Geelark => lock(&self.geelark).settled(),
            Api::Skyvern => lock(&self.skyvern).settled(),
        }
    }

    /// JSON snapshot of one API's tasks.
    pub(crate) fn tasks(&self, api: Api) -> Vec<serde_json::Value> {
        match api {
            Api::Http => lock(&self.http).snapshot(),
            Api::Beam => lock(&self.beam).snapshot(),
            Api::BeamProd => lock(&self.beam_prod).snapshot(),
            Api::Deepwork => lock(&self.deepwork).snapshot(),
            Api::Herodotus => lock(&self.herodotus).snapshot(),
            Api::Geelark => lock(&self.geelark).snapshot(),
            Api::Skyvern => lock(&self.skyvern).snapshot(),
        }
    }
}

/// Unix seconds of an ISO 8601 instant (`2026-11-20T10:00:00Z`, with an offset, without one as
/// UTC, or a bare UTC date).
pub(crate) fn parse_instant(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(timestamp) = text.parse::<jiff::Timestamp>() {
        return Some(timestamp.as_second());
    }
    if text.contains('T') {
        return format!("{text}Z")
            .parse::<jiff::Timestamp>()
            .ok()
            .map(|timestamp| timestamp.as_second());
    }
    let date = text.parse::<jiff::civil::Date>().ok()?;
    format!("{date}T00:00:00Z")
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|timestamp| timestamp.as_second())
}

/// A v4 UUID drawn from a seeded RNG, so seeded ids repeat for a seed.
pub(crate) fn seeded_uuid(rng: &mut rand::rngs::StdRng) -> String {
    use rand::Rng;
    uuid::Builder::from_random_bytes(rng.random())
        .into_uuid()
        .to_string()
}
