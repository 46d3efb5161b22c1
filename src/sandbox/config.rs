//! How a sandbox is configured: what `runbook sandbox` and `play --sandbox` pass in, and the
//! rate-limit shape the APIs that limit requests share.
//!
//! Invariant: plain data, checked where it is used (`Sandbox::start` refuses a fault share outside
//! 0.0..=1.0 and a task count for an API it does not serve).

use super::ratelimit::RequestLimit;

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
    /// At most this many injected faults in a row for one request (its method, API, path and
    /// query); the next of that request is let through. `None`: each request's fate is drawn
    /// alone, so a request can meet any number of faults in a row.
    pub max_fault_streak: Option<u32>,
    /// Reads of a retried item that still show it in progress; the read after them shows its
    /// final status (see [`Sandbox::settled`]).
    pub settle_reads: u32,
    /// Milliseconds every API answer is held back after its request was journaled and its state
    /// change applied (0: none). The control endpoints are never delayed.
    pub latency_ms: u64,
    /// Share, from 0.0 to 1.0, of Deep Work retries answered 500 "Retry dispatch failed" after the
    /// reset was saved, as PocketPaw does when a dispatch fails.
    pub deepwork_dispatch_failures: f64,
    /// Requests each API admits in any sliding second, beyond which it answers its throttle
    /// (`--rate-limit`); `None`: no such limit.
    pub request_limit: Option<RequestLimit>,
    /// How many tasks each API is seeded with (default: each API's own small mix).
    pub tasks: TaskCounts,
}

/// How many tasks each emulated API is seeded with: `runbook sandbox --tasks 100000` for every
/// API, `--tasks http=200000` for one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskCounts {
    /// For every API not named in `per_api`; `None`: each API's default mix.
    pub all: Option<usize>,
    /// (API name as served, e.g. `http`, `beam-prod`; count); a later entry for an API wins.
    pub per_api: Vec<(String, usize)>,
}

impl TaskCounts {
    /// The count API `name` is seeded with; `None`: its default mix.
    pub(crate) fn for_api(&self, name: &str) -> Option<usize> {
        self.per_api
            .iter()
            .rev()
            .find(|(api, _)| api == name)
            .map(|(_, count)| *count)
            .or(self.all)
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            port: 0,
            seed: 7,
            faults: 0.0,
            retry_after_secs: 1,
            max_fault_streak: None,
            settle_reads: 1,
            latency_ms: 0,
            deepwork_dispatch_failures: 0.0,
            request_limit: None,
            tasks: TaskCounts::default(),
        }
    }
}

/// A token bucket: up to `burst` requests at once, refilled at `per_second` requests a second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}
