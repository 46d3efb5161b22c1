//! How a sandbox is configured: what `runbook sandbox` and `play --sandbox` pass in, and the
//! rate-limit shape the APIs that limit requests share.
//!
//! Invariant: plain data, checked where it is used (`Sandbox::start` refuses a fault share outside
//! 0.0..=1.0).

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
            request_limit: None,
        }
    }
}

/// A token bucket: up to `burst` requests at once, refilled at `per_second` requests a second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}
