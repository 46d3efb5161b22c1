//! Pacing shared by every worker: a rate limit (one request per interval, no bursts) and a gate that
//! holds all requests back while a provider's `Retry-After` runs.
//!
//! Written by hand rather than with governor because it runs on tokio's clock: tests pause time
//! and advance it, and the gate and the limiter must agree on what "now" is.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::units::Rate;

/// Spaces requests `interval` apart, across every task that shares it.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    pub fn new(rate: Rate) -> RateLimiter {
        RateLimiter {
            interval: rate.interval(),
            next: Mutex::new(None),
        }
    }

    /// Wait for this caller's slot.
    pub async fn acquire(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// Holds every request until a provider's `Retry-After` has passed.
#[derive(Debug, Default)]
pub struct Gate {
    until: Mutex<Option<Instant>>,
}

impl Gate {
    /// No request passes before `now + wait`.
    pub async fn close_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut current = self.until.lock().await;
        if current.is_none_or(|c| c < until) {
            *current = Some(until);
        }
    }

    /// Whether a request may go now.
    pub async fn is_open(&self) -> bool {
        self.until.lock().await.is_none_or(|t| t <= Instant::now())
    }

    pub async fn wait(&self) {
        loop {
            let until = *self.until.lock().await;
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => return,
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
        let start = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..4 {
            let l = Arc::clone(&limiter);
            handles.push(tokio::spawn(async move {
                let mut times = Vec::new();
                for _ in 0..5 {
                    l.acquire().await;
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
        gate.close_for(Duration::from_secs(3)).await;
        gate.close_for(Duration::from_secs(1)).await;
        gate.wait().await;
        assert_eq!(Instant::now() - start, Duration::from_secs(3));
    }
}
