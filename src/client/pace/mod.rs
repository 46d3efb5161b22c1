//! Adaptive pacing (`rate: auto`): a small pure state machine that turns what the provider's
//! answers say into the interval between two requests. Its inputs are one [`Observation`] per
//! answer (clean, or a sign of the limit, with the rate-limit headers it carried) and the clock;
//! its output is [`Controller::interval`]. It never sleeps, sends or prints: the limiter asks it for
//! the interval, the send loop feeds it answers and shows the changes it reports.
//!
//! How it moves:
//! - A limit the provider announces ([`headers`]) sets the pace outright, at [`MARGIN`] of it.
//! - Otherwise it probes: it doubles while answers stay clean ([`HOLD_FAST`] at each pace) until
//!   the first sign of the limit. A sliding window refuses a request only once its limit was
//!   admitted in the second before, so the clean answers to the requests sent in that second
//!   measure the limit: the pace settles at [`SETTLE`] of it and holds there (one gentle cut, not
//!   a halving and a climb back). Where too few answers came for a measure (a fixed window, a
//!   slow provider), it falls back to the fastest pace answered cleanly (at most halving),
//!   remembers the pace that was throttled, and searches between the two (half way each
//!   [`HOLD`]) until within [`CLOSE`] of the throttled one. Once settled, after [`PROBE_FIRST`] it
//!   probes above once, waiting twice as long after each probe that fails, so a provider that
//!   raises its limit is found again without throttles every few seconds.
//! - A throttle on a request sent before the last slow-down says nothing new (it was on the wire
//!   already): one burst of 429s is one slow-down, not one per worker.
//! - A throttle at the settled pace, when the last second got through about what that pace sends,
//!   is arrivals bunched on the way: the pace is cut by [`CLOSE`] and held there (throttled again
//!   within a [`HOLD`], cut to [`MARGIN`] of it), so the margin grows only as far as the
//!   bunching asks. A measure well under the pace means the limit fell (the pace settles under
//!   the new one), and with no measure the pace halves.
//!
//! Invariants: the pace is always within the bounds (`min` ≤ pace ≤ `max`), finite and above
//! zero, whatever the answers or headers say; no input panics. Written by hand: the crates that
//! pace requests (governor, tower's rate limit) take a fixed quota, and this one must move on
//! tokio's clock, which tests pause.

pub(crate) mod headers;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::units::Rate;
use headers::Announced;

/// Pace held cleanly before doubling, while no throttle has been seen.
pub(crate) const HOLD_FAST: Duration = Duration::from_millis(150);
/// Pace held cleanly before the next step up, once a throttled pace is known.
pub(crate) const HOLD: Duration = Duration::from_secs(2);
/// How near the throttled pace the search stops (a share of it).
pub(crate) const CLOSE: f64 = 0.02;
/// Clean time at the top of the search before the first probe above it.
pub(crate) const PROBE_FIRST: Duration = Duration::from_secs(30);
/// The longest wait between two probes.
pub(crate) const PROBE_MOST: Duration = Duration::from_secs(240);
/// The share of an announced limit used: a little room for requests that reach the provider
/// closer together than they left.
pub(crate) const MARGIN: f64 = 0.95;
/// The share of a limit measured from throttles that is used. Closer than [`MARGIN`]: an
/// unannounced limit is allowed a few throttled answers (issue 10: 2%), and every margin point
/// costs a point of the run's time.
pub(crate) const SETTLE: f64 = 0.97;
/// How long the sending times of clean answers are kept.
const REMEMBERED: Duration = Duration::from_secs(3);
/// The fastest pace there is: one request a microsecond.
const FASTEST: f64 = 1e6;
/// A change of pace smaller than this share is not reported.
const NOTICEABLE: f64 = 0.05;

/// A pace written in a playbook: fixed (`5/s`) or adaptive (`auto`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pace {
    Fixed(Rate),
    Auto(AutoBounds),
}

/// The bounds of `rate: auto`, in requests per second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AutoBounds {
    pub start: f64,
    pub max: f64,
    pub min: f64,
}

impl AutoBounds {
    /// `start` when not given.
    pub const DEFAULT_START: f64 = 5.0;
    /// `max` when not given.
    pub const DEFAULT_MAX: f64 = 1000.0;
    /// `min` when not given: one request every ten seconds.
    pub const DEFAULT_MIN: f64 = 0.1;
}

impl Default for AutoBounds {
    fn default() -> Self {
        AutoBounds {
            start: Self::DEFAULT_START,
            max: Self::DEFAULT_MAX,
            min: Self::DEFAULT_MIN,
        }
    }
}

/// Requests per second of a fixed rate.
pub(crate) fn per_second(rate: Rate) -> f64 {
    f64::from(rate.count.get()) / rate.per.as_secs_f64()
}

/// What one answer says about the pace.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Signal {
    /// Answered without a sign of the limit.
    Clean,
    /// A sign of the limit: `why` names it (`HTTP 429`, `GeeLark 40007`).
    Throttled { why: String },
    /// Says nothing either way (a 500, a dropped connection); its headers may still.
    Neutral,
}

/// One answer, as the controller sees it.
#[derive(Clone, Debug)]
pub(crate) struct Observation {
    /// When its request left: a throttle of a request sent before the last slow-down is old news.
    pub sent_at: Instant,
    pub signal: Signal,
    /// The rate-limit headers it carried, if any.
    pub announced: Option<Announced>,
}

/// Why the pace is what it is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Reason {
    Start,
    Slowed { why: String },
    Faster,
    Probing,
    Announced { what: String },
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Start => write!(f, "starting pace"),
            Reason::Slowed { why } => write!(f, "slowed down: {why}"),
            Reason::Faster => write!(f, "answers clean, speeding up"),
            Reason::Probing => write!(f, "answers clean for a while, probing for a higher limit"),
            Reason::Announced { what } => write!(f, "the provider announces {what}"),
        }
    }
}

/// A change of pace worth showing.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PaceChange {
    /// Requests per second, before and after.
    pub from: f64,
    pub to: f64,
    pub reason: Reason,
}

/// What a run's adaptive pace did, for the report.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct PaceSummary {
    pub start: f64,
    /// The pace at the end.
    pub reached: f64,
    pub highest: f64,
    /// Times the pace was cut on a sign of the limit.
    pub slowdowns: u32,
    /// Answers that were a sign of the limit.
    pub throttled: u32,
    /// Whether the provider announced its limit in headers.
    pub announced: bool,
}

/// The adaptive pace: see the module's documentation.
#[derive(Debug)]
pub(crate) struct Controller {
    bounds: AutoBounds,
    /// The probed pace (requests per second).
    rate: f64,
    /// The fastest pace answered cleanly for a whole hold (0: none yet).
    good: f64,
    /// The pace the search climbs to within [`CLOSE`]: the slowest pace throttled since, or
    /// [`SETTLE`] of a measured limit (none before the first throttle).
    bad: Option<f64>,
    /// When the probed pace was last set.
    changed_at: Instant,
    /// When it was last cut.
    cut_at: Option<Instant>,
    /// Whether it went up since.
    stepped: bool,
    /// Whether the pace now is a probe above the top of the search.
    probing: bool,
    probe_wait: Duration,
    /// The pace a provider's headers set, while it announces one.
    announced: Option<f64>,
    /// When the requests of the last clean answers left (the last [`REMEMBERED`]).
    clean_sent: VecDeque<Instant>,
    /// The longest time to reset seen: the window, where no header states it.
    window_seen: Duration,
    reason: Reason,
    summary: PaceSummary,
}

impl Controller {
    pub(crate) fn new(bounds: AutoBounds, now: Instant) -> Controller {
        let bounds = sane(bounds);
        Controller {
            bounds,
            rate: bounds.start,
            good: 0.0,
            bad: None,
            changed_at: now,
            cut_at: None,
            stepped: false,
            probing: false,
            probe_wait: PROBE_FIRST,
            announced: None,
            window_seen: Duration::ZERO,
            clean_sent: VecDeque::new(),
            reason: Reason::Start,
            summary: PaceSummary {
                start: bounds.start,
                reached: bounds.start,
                highest: bounds.start,
                slowdowns: 0,
                throttled: 0,
                announced: false,
            },
        }
    }

    /// The pace now, in requests per second: within the bounds.
    pub(crate) fn rate(&self) -> f64 {
        self.clamp(self.announced.unwrap_or(self.rate))
    }

    /// The time between two requests now.
    pub(crate) fn interval(&self) -> Duration {
        // `rate()` is finite and at least `min` > 0: the quotient is finite and positive.
        Duration::try_from_secs_f64(1.0 / self.rate()).unwrap_or(Duration::from_secs(1))
    }

    /// Why the pace is what it is.
    #[cfg(test)]
    pub(crate) fn reason(&self) -> &Reason {
        &self.reason
    }

    pub(crate) fn summary(&self) -> PaceSummary {
        PaceSummary {
            reached: self.rate(),
            ..self.summary
        }
    }

    /// Take in one answer at `now`; a change worth showing is returned.
    pub(crate) fn observe(&mut self, seen: Observation, now: Instant) -> Option<PaceChange> {
        let before = self.rate();
        let reason_before = self.reason.clone();
        match &seen.signal {
            Signal::Throttled { why } => self.throttled(why, seen.sent_at, now),
            Signal::Clean => {
                self.remember_clean(seen.sent_at, now);
                if seen.announced.is_none() && self.announced.is_none() {
                    self.clean(seen.sent_at, now);
                }
            }
            Signal::Neutral => {}
        }
        if let Some(announced) = &seen.announced {
            self.announce(announced, &seen.signal);
        }
        let after = self.rate();
        self.summary.highest = self.summary.highest.max(after);
        let noticeable = (after - before).abs() > before * NOTICEABLE;
        let new_kind =
            std::mem::discriminant(&self.reason) != std::mem::discriminant(&reason_before);
        (noticeable || (new_kind && after != before)).then(|| PaceChange {
            from: before,
            to: after,
            reason: self.reason.clone(),
        })
    }

    fn clamp(&self, rate: f64) -> f64 {
        if rate.is_finite() {
            rate.clamp(self.bounds.min, self.bounds.max)
        } else {
            self.bounds.max
        }
    }

    fn throttled(&mut self, why: &str, sent_at: Instant, now: Instant) {
        self.summary.throttled = self.summary.throttled.saturating_add(1);
        if self.cut_at.is_some_and(|cut| sent_at < cut) {
            return;
        }
        let before = self.rate();
        let delivered = self.delivered_before(sent_at);
        // The last cut was not enough: throttled again at the pace it set, before a whole hold.
        let again = !self.stepped
            && self
                .cut_at
                .is_some_and(|cut| now.saturating_duration_since(cut) < HOLD);
        let measured = delivered >= before / 8.0;
        let settled = !self.probing && self.bad.is_some_and(|top| before <= top);
        let bunched = settled && measured && delivered + 1.0 >= before * (1.0 - 2.0 * CLOSE);
        let (after, top) = if bunched {
            // Settled under a limit measured before, the last second got through about what
            // this pace sends in one: the refused request met arrivals bunched on the way (a
            // stalled process, the network), not a pace above the limit. Make a little more
            // room and keep it, so the margin grows only as far as the bunching asks; more if
            // throttled again before a whole hold.
            let after = before * if again { MARGIN } else { 1.0 - CLOSE };
            (after, after)
        } else if measured {
            // A sliding window refuses a request once its limit was admitted in the second
            // before: the clean answers of that second measure the limit. Settle at SETTLE of
            // it, and cut deeper only if the last cut at this pace was not enough.
            let settle = delivered * SETTLE;
            let cap = if again { before * MARGIN } else { before };
            (settle.min(cap), settle)
        } else if self.probing {
            // The limit was not raised: back to the top of the search, and stay there.
            let back = self.good.max(before / 2.0).min(before);
            (back, back / (1.0 - CLOSE))
        } else if self.cut_at.is_some() && !self.stepped {
            // Throttled again at the pace the last slow-down set: it was not enough. Halve.
            (before / 2.0, before)
        } else {
            // Back to the last pace held cleanly, at most halving.
            (self.good.max(before / 2.0).min(before), before)
        };
        if self.probing {
            self.probe_wait = (self.probe_wait * 2).min(PROBE_MOST);
            self.probing = false;
        }
        self.rate = self.clamp(after);
        self.good = self.good.min(self.rate);
        self.bad = Some(top.max(self.rate));
        self.announced = None;
        self.changed_at = now;
        self.cut_at = Some(now);
        self.stepped = false;
        self.summary.slowdowns = self.summary.slowdowns.saturating_add(1);
        self.reason = Reason::Slowed { why: why.into() };
    }

    /// Clean answers to requests sent in the second before `sent_at` (one sent exactly a second
    /// before has left a sliding window by then).
    fn delivered_before(&self, sent_at: Instant) -> f64 {
        let from = sent_at.checked_sub(Duration::from_secs(1));
        self.clean_sent
            .iter()
            .filter(|t| **t < sent_at && from.is_none_or(|f| **t > f))
            .count() as f64
    }

    /// Remember when a clean answer's request left, for [`Controller::delivered_before`].
    fn remember_clean(&mut self, sent_at: Instant, now: Instant) {
        if let Some(old) = now.checked_sub(REMEMBERED) {
            while self.clean_sent.front().is_some_and(|t| *t < old) {
                self.clean_sent.pop_front();
            }
        }
        self.clean_sent.push_back(sent_at);
    }

    fn clean(&mut self, sent_at: Instant, now: Instant) {
        let hold = if self.bad.is_some() { HOLD } else { HOLD_FAST };
        if sent_at < self.changed_at + hold {
            return;
        }
        self.good = self.good.max(self.rate);
        if self.probing {
            self.probing = false;
            self.probe_wait = PROBE_FIRST;
        }
        let next = match self.bad {
            None => {
                self.reason = Reason::Faster;
                self.rate * 2.0
            }
            Some(bad) if self.rate < bad * (1.0 - CLOSE) => {
                self.reason = Reason::Faster;
                (self.rate + bad) / 2.0
            }
            Some(bad) => {
                if now.saturating_duration_since(self.changed_at) < self.probe_wait {
                    return;
                }
                // The limit may have been raised: look a quarter above where it was.
                let above = bad * 1.25;
                self.bad = Some(above);
                self.probing = true;
                self.reason = Reason::Probing;
                (self.rate + above) / 2.0
            }
        };
        let next = self.clamp(next);
        if next != self.rate {
            self.rate = next;
            self.changed_at = now;
            self.stepped = true;
        }
    }

    fn announce(&mut self, announced: &Announced, signal: &Signal) {
        self.window_seen = self.window_seen.max(announced.reset.unwrap_or_default());
        let Some((target, what)) = announced.target(self.window_seen) else {
            return;
        };
        self.summary.announced = true;
        let target = self.clamp(target * MARGIN);
        // A throttle outranks the figures that came with it (they may be another client's).
        if matches!(signal, Signal::Throttled { .. }) && target >= self.rate {
            return;
        }
        self.announced = Some(target);
        self.rate = target;
        self.reason = Reason::Announced { what };
    }
}

/// Bounds with every value finite and above zero, `min ≤ start ≤ max` (the compiler refuses others;
/// this keeps the controller total whatever it is given).
fn sane(bounds: AutoBounds) -> AutoBounds {
    let positive = |v: f64, or: f64| if v.is_finite() && v > 0.0 { v } else { or };
    let max = positive(bounds.max, AutoBounds::DEFAULT_MAX).min(FASTEST);
    let min = positive(bounds.min, AutoBounds::DEFAULT_MIN).min(max);
    let start = positive(bounds.start, AutoBounds::DEFAULT_START).clamp(min, max);
    AutoBounds { start, max, min }
}

/// A pace as a person reads it: `12/s`, `2.5/s`, `30/min`.
pub(crate) fn show(rate: f64) -> String {
    if rate >= 10.0 {
        format!("{rate:.0}/s")
    } else if rate >= 1.0 {
        format!("{:.1}/s", rate)
    } else {
        format!("{:.1}/min", rate * 60.0)
    }
}
