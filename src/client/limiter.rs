//! Pacing shared by every worker: a rate limit (one request per interval, no bursts; the interval
//! fixed, or set by the adaptive pace of [`super::pace`]) and a gate that holds all requests back
//! while a provider's `Retry-After` runs.
//!
//! A rate is kept in two steps. [`RateLimiter::turn`] hands out turns one interval apart, FIFO:
//! a request records its intent only once its turn came, so a run killed while requests queue
//! leaves none of them in flight. [`RateLimiter::depart`], called just before the request is
//! written, is what the provider sees: what happens between the two (the intent's grouped commit)
//! can release two requests together, and the bench measured 52 arrivals in a second at `50/s`
//! with turns exactly 20 ms apart (bench/notes.md, "Rate fidelity").
//!
//! Invariants: every wait here ends at once when the run's stop token is cancelled (SIGINT,
//! SIGTERM), returning [`Interrupted`]; the limiter never catches up: a caller woken late (the
//! process stalled) starts the schedule again from its own wake, so a stall never releases the
//! requests it held back in one burst; departures are one interval apart, and no window of the
//! rate's period (`50/s`: 1 s) plus [`MARGIN`] holds more departures than the rate's count, so
//! the window holds at the server too when the network and the server's scheduling shift
//! arrivals by less than the margin; the gate is read and closed without awaiting, so a request
//! can look at it immediately before it is written, and an answer can close it as soon as its
//! headers are read.
//!
//! Written by hand rather than with governor because it runs on tokio's clock: tests pause time
//! and advance it, and the gate and the limiter must agree on what "now" is; governor's GCRA
//! also lets a burst through after an idle spell, which a provider's window counts.

use std::collections::VecDeque;
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
    /// The next free turn; held by the one caller waiting for it (FIFO), across its wait.
    next: tokio::sync::Mutex<Option<Instant>>,
    /// When requests left: the schedule of the next departure and the recent ones.
    departures: Mutex<Departures>,
}

/// Arrivals measured at the server lag the client's departures by a varying delay (the server's
/// own scheduling on shared cores, its timestamp in whole milliseconds): up to 9 ms apart in the
/// measurement of bench/notes.md ("Rate fidelity"). A window of the rate's period is kept this
/// much longer at the client, which costs a rate of 50/s 1% of its mean.
const MARGIN: Duration = Duration::from_millis(10);

/// The margin is at most this share of the window, for fast rates whose window is short.
const MARGIN_SHARE: u32 = 100;

/// The most departures a window remembers: a faster rate counts its window over a shorter period.
const MAX_WINDOW: u32 = 1024;

/// A wake more than this (or than one interval, if shorter) after its slot counts as a stall: the
/// schedule restarts from the wake instead of sending the slots that passed at once. Below it
/// (timer granularity, a busy core) the schedule is kept, so the mean rate stays the rate: at
/// most one request goes early, and the window still counts it. 5 ms lost 1.5% of `50/s` on the
/// loaded machine of bench/notes.md ("Rate fidelity").
const LATE: Duration = Duration::from_millis(20);

/// Where the interval comes from.
#[derive(Debug)]
enum Pacing {
    /// `count` requests per `count × interval`.
    Fixed { interval: Duration, count: u32 },
    /// The adaptive pace: every answer moves it (see [`RateLimiter::observe`]).
    Auto(Box<Mutex<Controller>>),
}

impl RateLimiter {
    pub fn new(rate: Rate) -> RateLimiter {
        RateLimiter {
            pacing: Pacing::Fixed {
                interval: rate.interval(),
                count: rate.count.get(),
            },
            next: tokio::sync::Mutex::const_new(None),
            departures: Mutex::default(),
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
                next: tokio::sync::Mutex::const_new(None),
                departures: Mutex::default(),
            },
        }
    }

    /// The time between two requests now.
    fn interval(&self) -> Duration {
        match &self.pacing {
            Pacing::Fixed { interval, .. } => *interval,
            Pacing::Auto(controller) => lock(controller).interval(),
        }
    }

    /// The window departures are counted in, for the interval now.
    fn window(&self, interval: Duration) -> Window {
        let count = match &self.pacing {
            Pacing::Fixed { count, .. } => *count,
            // An adaptive pace is a rate per second: as many departures as a second holds.
            Pacing::Auto(_) => {
                let per_second = Duration::from_secs(1).as_nanos() / interval.as_nanos().max(1);
                u32::try_from(per_second).unwrap_or(u32::MAX)
            }
        };
        let count = count.clamp(1, MAX_WINDOW);
        let period = interval.checked_mul(count).unwrap_or(Duration::MAX);
        let margin = MARGIN.min(period / MARGIN_SHARE);
        Window {
            count: count as usize,
            span: period.saturating_add(margin),
        }
    }

    /// Take in an answer; a change of an adaptive pace worth showing is returned. A fixed rate
    /// ignores answers.
    pub(crate) fn observe(&self, seen: Observation) -> Option<PaceChange> {
        match &self.pacing {
            Pacing::Fixed { .. } => None,
            Pacing::Auto(controller) => lock(controller).observe(seen, Instant::now()),
        }
    }

    /// What an adaptive pace did, for the report; `None` for a fixed rate.
    pub(crate) fn summary(&self) -> Option<PaceSummary> {
        match &self.pacing {
            Pacing::Fixed { .. } => None,
            Pacing::Auto(controller) => Some(lock(controller).summary()),
        }
    }

    /// Wait for this caller's turn and leave at once, or until `stop` is cancelled: for a request
    /// written as soon as this returns.
    pub async fn acquire(&self, stop: &CancellationToken) -> Result<(), Interrupted> {
        self.turn(stop).await?;
        self.depart(stop).await
    }

    /// Wait for this caller's turn, or until `stop` is cancelled. The request must then call
    /// [`RateLimiter::depart`] just before it is written.
    pub(crate) async fn turn(&self, stop: &CancellationToken) -> Result<(), Interrupted> {
        if stop.is_cancelled() {
            return Err(Interrupted);
        }
        let mut next = tokio::select! {
            biased;
            () = stop.cancelled() => return Err(Interrupted),
            next = self.next.lock() => next,
        };
        let slot = next.map_or_else(Instant::now, |n| n.max(Instant::now()));
        sleep_until(slot, stop).await?;
        let interval = self.interval();
        *next = Some(after(kept(slot, Instant::now(), interval), interval));
        Ok(())
    }

    /// Wait until this request may leave, or until `stop` is cancelled: one interval after the
    /// last departure, and never the window's count plus one within the window's span.
    pub(crate) async fn depart(&self, stop: &CancellationToken) -> Result<(), Interrupted> {
        loop {
            if stop.is_cancelled() {
                return Err(Interrupted);
            }
            let interval = self.interval();
            let window = self.window(interval);
            let now = Instant::now();
            let wait = lock(&self.departures).leave(now, interval, window);
            match wait {
                None => return Ok(()),
                Some(until) => sleep_until(until, stop).await?,
            }
        }
    }
}

/// How many departures a span of time may hold.
#[derive(Clone, Copy, Debug)]
struct Window {
    count: usize,
    span: Duration,
}

/// The departures a limiter remembers.
#[derive(Debug, Default)]
struct Departures {
    /// The earliest next departure by spacing alone.
    next: Option<Instant>,
    /// The last `window.count` departures, oldest first, as they happened.
    recent: VecDeque<Instant>,
}

impl Departures {
    /// Leave at `now` and return `None`, or return when to try again.
    fn leave(&mut self, now: Instant, interval: Duration, window: Window) -> Option<Instant> {
        let by_spacing = self.next.unwrap_or(now);
        let by_window = match self.recent.len().checked_sub(window.count) {
            Some(oldest) => self.recent[oldest]
                .checked_add(window.span)
                .unwrap_or_else(far_future),
            None => now,
        };
        let earliest = by_spacing.max(by_window);
        if earliest > now {
            return Some(earliest);
        }
        self.next = Some(after(kept(by_spacing, now, interval), interval));
        self.recent.push_back(now);
        while self.recent.len() > window.count {
            self.recent.pop_front();
        }
        None
    }
}

/// Where the schedule goes on from, for a caller due at `slot` and awake at `woke`: the slot
/// when the wake was on time (see [`LATE`]), so the mean rate stays the rate; the wake when it
/// was late (a stall), so the slots that passed are not sent at once.
fn kept(slot: Instant, woke: Instant, interval: Duration) -> Instant {
    if woke.saturating_duration_since(slot) > LATE.min(interval) {
        woke
    } else {
        slot
    }
}

/// One interval after `from`; an interval too long for the clock (`1/30000000000000w`) leaves
/// every later slot at the far end of time rather than overflowing.
fn after(from: Instant, interval: Duration) -> Instant {
    from.checked_add(interval).unwrap_or_else(far_future)
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
    use crate::client::pace::AutoBounds;
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
        // Five a second, the sixth 10 ms after a second (the margin): 15 intervals, 3 margins.
        assert_eq!(
            *all.last().unwrap(),
            Duration::from_millis(19 * 200 + 3 * 10)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stall_never_releases_the_held_back_requests_in_a_burst() {
        let limiter = Arc::new(RateLimiter::new(Rate::parse("50/s").unwrap()));
        let stop = CancellationToken::new();
        let start = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..8 {
            let l = Arc::clone(&limiter);
            let stop = stop.clone();
            handles.push(tokio::spawn(async move {
                let mut times = Vec::new();
                for _ in 0..10 {
                    l.acquire(&stop).await.unwrap();
                    times.push(Instant::now() - start);
                }
                times
            }));
        }
        // Let the workers queue for slots, then stall the runtime's clock past several of them
        // at once (what a starved process sees): the waiters must not all go together.
        tokio::time::sleep(Duration::from_millis(30)).await;
        tokio::time::advance(Duration::from_millis(100)).await;
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.await.unwrap());
        }
        all.sort();
        assert_eq!(all.len(), 80);
        for pair in all.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_millis(20), "{all:?}");
        }
    }

    /// What a run at `50/s` goes through between its turn and its departure: intents committed
    /// in groups (a varying delay per request), timers firing up to 1.7 ms late, and, every
    /// `stall_every` steps of the clock, a stall of the process of `stall`.
    async fn departures(
        limiter: Arc<RateLimiter>,
        requests: usize,
        stall_every: u32,
        stall: Duration,
    ) -> Vec<Duration> {
        const DELAYS_MS: [u64; 8] = [0, 13, 2, 31, 7, 0, 22, 45];
        let stop = CancellationToken::new();
        let start = Instant::now();
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut workers = Vec::new();
        for _ in 0..8 {
            let (limiter, stop, next) = (Arc::clone(&limiter), stop.clone(), Arc::clone(&next));
            workers.push(tokio::spawn(async move {
                let mut left = Vec::new();
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if n >= requests {
                        return left;
                    }
                    limiter.turn(&stop).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(DELAYS_MS[n % DELAYS_MS.len()])).await;
                    limiter.depart(&stop).await.unwrap();
                    left.push(Instant::now() - start);
                }
            }));
        }
        // The clock moves only here, in steps, so that every timer fires late by part of one.
        let clock = tokio::spawn(async move {
            for step in 1.. {
                tokio::time::advance(Duration::from_micros(1_700)).await;
                if step % stall_every == 0 {
                    tokio::time::advance(stall).await;
                }
            }
        });
        let mut all = Vec::new();
        for worker in workers {
            all.extend(worker.await.unwrap());
        }
        clock.abort();
        all.sort();
        assert_eq!(all.len(), requests);
        all
    }

    /// The most departures in any second, counted like the bench counts arrivals: from each one.
    fn busiest_second(times: &[Duration]) -> usize {
        let mut start = 0;
        let mut most = 0;
        for (end, at) in times.iter().enumerate() {
            while *at - times[start] >= Duration::from_secs(1) {
                start += 1;
            }
            most = most.max(end - start + 1);
        }
        most
    }

    fn mean_per_second(times: &[Duration]) -> f64 {
        (times.len() - 1) as f64 / (times[times.len() - 1] - times[0]).as_secs_f64()
    }

    /// A stalled process sends nothing and does not catch up: the mean at `50/s` loses the
    /// stalled share of the time, and at most 2% more.
    fn assert_mean_loses_only_the_stalls(times: &[Duration], stall_every: u32, stall: Duration) {
        let stalled = stall.as_secs_f64()
            / (Duration::from_micros(1_700) * stall_every + stall).as_secs_f64();
        let mean = mean_per_second(times);
        let kept = 50.0 * (1.0 - stalled);
        assert!(
            mean <= 50.0 && mean >= kept * 0.98,
            "mean {mean}/s, {kept}/s kept"
        );
    }

    /// Bench case `rate`: turns exactly 20 ms apart still put 52 arrivals in one second at the
    /// server, because grouped intent commits released requests together.
    #[tokio::test(start_paused = true)]
    async fn no_second_holds_more_than_the_rate_when_requests_leave_unevenly() {
        let limiter = Arc::new(RateLimiter::new(Rate::parse("50/s").unwrap()));
        let times = departures(limiter, 1_000, u32::MAX, Duration::ZERO).await;
        assert!(busiest_second(&times) <= 50, "{times:?}");
        for later in times.windows(51) {
            assert!(
                later[50] - later[0] >= Duration::from_millis(1_010),
                "{later:?}"
            );
        }
        let mean = mean_per_second(&times);
        assert!((mean / 50.0 - 1.0).abs() <= 0.02, "mean {mean}/s");
    }

    #[tokio::test(start_paused = true)]
    async fn stalls_and_late_wakes_never_put_more_than_the_rate_in_a_second() {
        let limiter = Arc::new(RateLimiter::new(Rate::parse("50/s").unwrap()));
        // A stall of 60 ms about every 1.2 s.
        let times = departures(limiter, 1_000, 700, Duration::from_millis(60)).await;
        assert!(busiest_second(&times) <= 50, "{times:?}");
        for later in times.windows(51) {
            assert!(
                later[50] - later[0] >= Duration::from_millis(1_010),
                "{later:?}"
            );
        }
        assert_mean_loses_only_the_stalls(&times, 700, Duration::from_millis(60));
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_per_minute_keeps_its_window_of_a_minute() {
        let limiter = Arc::new(RateLimiter::new(Rate::parse("120/min").unwrap()));
        let times = departures(limiter, 300, u32::MAX, Duration::ZERO).await;
        for later in times.windows(121) {
            assert!(
                later[120] - later[0] >= Duration::from_millis(60_010),
                "{later:?}"
            );
        }
        let mean = mean_per_second(&times);
        assert!((mean / 2.0 - 1.0).abs() <= 0.02, "mean {mean}/s");
    }

    #[tokio::test(start_paused = true)]
    async fn an_adaptive_pace_keeps_the_window_of_its_interval() {
        let bounds = AutoBounds {
            start: 50.0,
            max: 50.0,
            min: 1.0,
        };
        let limiter = Arc::new(RateLimiter::paced(Pace::Auto(bounds)));
        let times = departures(limiter, 600, 700, Duration::from_millis(60)).await;
        assert!(busiest_second(&times) <= 50, "{times:?}");
        assert_mean_loses_only_the_stalls(&times, 700, Duration::from_millis(60));
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
