//! Pacing shared by every worker: a rate limit (one request per interval, no bursts; the interval
//! fixed, or set by the adaptive pace of [`super::pace`]) and a gate that holds all requests back
//! while a provider's `Retry-After` runs.
//!
//! Invariants: every wait here ends at once when the run's stop token is cancelled (SIGINT,
//! SIGTERM), returning [`Interrupted`]; the gate is read and closed without awaiting, so a request
//! can look at it immediately before it is written, and an answer can close it as soon as its
//! headers are read.
//!
//! Written by hand rather than with governor because it runs on tokio's clock: tests pause time
//! and advance it, and the gate and the limiter must agree on what "now" is.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::pace::{Controller, Observation, Pace, PaceChange, PaceSummary};
use crate::units::Rate;

/// A wait ended because the run was asked to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interrupted;

/// Sleep until `deadline`, or less if `stop` is cancelled first.
pub async fn sleep_until(deadline: Instant, stop: &CancellationToken) -> Result<(), Interrupted> {
    tokio::select! {
        biased;
        () = stop.cancelled() => Err(Interrupted),
        () = tokio::time::sleep_until(deadline) => Ok(()),
    }
}

/// Sleep for `wait`, or less if `stop` is cancelled first.
pub async fn sleep(wait: Duration, stop: &CancellationToken) -> Result<(), Interrupted> {
    sleep_until(Instant::now() + wait, stop).await
}

/// Spaces requests an interval apart, across every task that shares it.
#[derive(Debug)]
pub struct RateLimiter {
    pacing: Pacing,
    next: Mutex<Option<Instant>>,
}

/// Where the interval comes from.
#[derive(Debug)]
enum Pacing {
    Fixed(Duration),
    /// The adaptive pace: every answer moves it (see [`RateLimiter::observe`]).
    Auto(Box<Mutex<Controller>>),
}

impl RateLimiter {
    pub fn new(rate: Rate) -> RateLimiter {
        RateLimiter {
            pacing: Pacing::Fixed(rate.interval()),
            next: Mutex::new(None),
        }
    }

    /// A limiter for a playbook's `rate:`, fixed or adaptive.
    pub(crate) fn paced(pace: Pace) -> RateLimiter {
        match pace {
            Pace::Fixed(rate) => RateLimiter::new(rate),
            Pace::Auto(bounds) => RateLimiter {
                pacing: Pacing::Auto(Box::new(Mutex::new(Controller::new(
                    bounds,
                    Instant::now(),
                )))),
                next: Mutex::new(None),
            },
        }
    }

    /// The time between two requests now.
    fn interval(&self) -> Duration {
        match &self.pacing {
            Pacing::Fixed(interval) => *interval,
            Pacing::Auto(controller) => lock(controller).interval(),
        }
    }

    /// Take in an answer; a change of an adaptive pace worth showing is returned. A fixed rate
    /// ignores answers.
    pub(crate) fn observe(&self, seen: Observation) -> Option<PaceChange> {
        match &self.pacing {
            Pacing::Fixed(_) => None,
            Pacing::Auto(controller) => lock(controller).observe(seen, Instant::now()),
        }
    }

    /// What an adaptive pace did, for the report; `None` for a fixed rate.
    pub(crate) fn summary(&self) -> Option<PaceSummary> {
        match &self.pacing {
            Pacing::Fixed(_) => None,
            Pacing::Auto(controller) => Some(lock(controller).summary()),
        }
    }

    /// Wait for this caller's slot, or until `stop` is cancelled.
    pub async fn acquire(&self, stop: &CancellationToken) -> Result<(), Interrupted> {
        if stop.is_cancelled() {
            return Err(Interrupted);
        }
        let interval = self.interval();
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            // An interval too long for the clock (`1/30000000000000w`) leaves every later slot at
            // the far end of time rather than overflowing.
            *next = Some(slot.checked_add(interval).unwrap_or_else(far_future));
            slot
        };
        sleep_until(slot, stop).await
    }
}

/// A lock held only for arithmetic: a panic elsewhere cannot leave it inconsistent.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A moment no run lives to see, that tokio's clock can still hold.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

/// Holds every request until a provider's `Retry-After` has passed.
#[derive(Debug, Default)]
pub struct Gate {
    until: Mutex<Option<Instant>>,
}

impl Gate {
    /// No request passes before `now + wait`.
    pub fn close_for(&self, wait: Duration) {
        let until = Instant::now().checked_add(wait).unwrap_or_else(far_future);
        let mut current = self.until.lock().unwrap_or_else(|e| e.into_inner());
        if current.is_none_or(|c| c < until) {
            *current = Some(until);
        }
    }

    /// Whether a request may go now.
    pub fn is_open(&self) -> bool {
        self.until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none_or(|t| t <= Instant::now())
    }

    /// Wait until the gate is open, or until `stop` is cancelled.
    pub async fn wait(&self, stop: &CancellationToken) -> Result<(), Interrupted> {
        loop {
            if stop.is_cancelled() {
                return Err(Interrupted);
            }
            let until = *self.until.lock().unwrap_or_else(|e| e.into_inner());
            match until {
                Some(t) if t > Instant::now() => sleep_until(t, stop).await?,
                _ => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn rate_is_shared_by_concurrent_workers() {
        let limiter = Arc::new(RateLimiter::new(Rate::parse("5/s").unwrap()));
        let stop = CancellationToken::new();
        let start = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..4 {
            let l = Arc::clone(&limiter);
            let stop = stop.clone();
            handles.push(tokio::spawn(async move {
                let mut times = Vec::new();
                for _ in 0..5 {
                    l.acquire(&stop).await.unwrap();
                    times.push(Instant::now() - start);
                }
                times
            }));
        }
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.await.unwrap());
        }
        all.sort();
        assert_eq!(all.len(), 20);
        for pair in all.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_millis(200), "{all:?}");
        }
        assert_eq!(*all.last().unwrap(), Duration::from_millis(19 * 200));
    }

    #[tokio::test(start_paused = true)]
    async fn gate_holds_requests_until_retry_after_passes() {
        let gate = Gate::default();
        let start = Instant::now();
        gate.close_for(Duration::from_secs(3));
        gate.close_for(Duration::from_secs(1));
        assert!(!gate.is_open());
        gate.wait(&CancellationToken::new()).await.unwrap();
        assert_eq!(Instant::now() - start, Duration::from_secs(3));
        assert!(gate.is_open());
    }

    /// Issue 7, case 4: a SIGTERM during `Retry-After: 200` waited the 200 s out.
    #[tokio::test(start_paused = true)]
    async fn a_stop_ends_the_gate_wait_at_once() {
        let gate = Arc::new(Gate::default());
        let stop = CancellationToken::new();
        gate.close_for(Duration::from_secs(200));
        let start = Instant::now();
        let waiting = {
            let (gate, stop) = (Arc::clone(&gate), stop.clone());
            tokio::spawn(async move { gate.wait(&stop).await })
        };
        tokio::time::sleep(Duration::from_secs(2)).await;
        stop.cancel();
        assert_eq!(waiting.await.unwrap(), Err(Interrupted));
        assert_eq!(Instant::now() - start, Duration::from_secs(2));
    }

    /// Issue 7, case 4: a stop during a slow rate (`1/60s`) ends the wait for the slot at once.
    #[tokio::test(start_paused = true)]
    async fn a_stop_ends_the_wait_for_a_rate_slot_at_once() {
        let limiter = Arc::new(RateLimiter::new(Rate::parse("1/60s").unwrap()));
        let stop = CancellationToken::new();
        let start = Instant::now();
        limiter.acquire(&stop).await.unwrap();
        let waiting = {
            let (limiter, stop) = (Arc::clone(&limiter), stop.clone());
            tokio::spawn(async move { limiter.acquire(&stop).await })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.cancel();
        assert_eq!(waiting.await.unwrap(), Err(Interrupted));
        assert_eq!(Instant::now() - start, Duration::from_secs(1));
        assert_eq!(
            limiter.acquire(&stop).await,
            Err(Interrupted),
            "once stopped, no slot is given"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_ends_a_backoff_sleep_at_once() {
        let stop = CancellationToken::new();
        let start = Instant::now();
        let sleeping = {
            let stop = stop.clone();
            tokio::spawn(async move { sleep(Duration::from_secs(30), &stop).await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.cancel();
        assert_eq!(sleeping.await.unwrap(), Err(Interrupted));
        assert_eq!(Instant::now() - start, Duration::from_millis(300));
    }
}
