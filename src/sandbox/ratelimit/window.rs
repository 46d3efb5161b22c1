//! One API's sliding one-second window: which requests it admits, and what it tells the client.
//!
//! A window remembers the arrival of each request it admitted in the last second (at most the
//! limit, so its size is bounded by the largest limit ever in force). A request is admitted while
//! fewer than `limit` admitted requests arrived in the second before it; a refused request is not
//! remembered, so a client that keeps knocking does not push its own slot further away.
//!
//! Invariants:
//! - `now` is always passed in (the caller reads tokio's clock), so every decision here is a pure
//!   function of the arrivals and the limit, testable at exact instants.
//! - An arrival leaves the window exactly one second after it came: at `t + 1s` it no longer counts.
//! - Every wait announced is whole seconds, rounded up, and at least one.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// The window's length: limits are per sliding second.
pub(crate) const WINDOW: Duration = Duration::from_secs(1);

/// What a client may still do, as the announcing headers tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quota {
    /// Requests allowed in any sliding second now.
    pub(crate) limit: u32,
    /// Requests the window admits before it next refuses one.
    pub(crate) remaining: u32,
    /// Whole seconds (rounded up, at least one) until the oldest admitted request leaves the
    /// window, that is until `remaining` grows again.
    pub(crate) reset_secs: u64,
}

/// The decision on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Admitted(Quota),
    /// Refused: `retry_after_secs` (whole seconds, at least one) is the time until the window
    /// frees a slot.
    Throttled {
        quota: Quota,
        retry_after_secs: u64,
    },
}

impl Verdict {
    pub(crate) fn quota(&self) -> Quota {
        match *self {
            Verdict::Admitted(quota) | Verdict::Throttled { quota, .. } => quota,
        }
    }
}

/// One API's admitted arrivals of the last second, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Window {
    admitted: VecDeque<Instant>,
}

impl Window {
    /// Decides on a request arriving at `now` under `limit` requests per sliding second, and
    /// remembers it if admitted.
    pub(crate) fn admit(&mut self, limit: u32, now: Instant) -> Verdict {
        while self
            .admitted
            .front()
            .is_some_and(|&arrived| now.saturating_duration_since(arrived) >= WINDOW)
        {
            self.admitted.pop_front();
        }
        let held = self.admitted.len();
        let limit_slots = usize::try_from(limit).unwrap_or(usize::MAX);
        if held < limit_slots {
            self.admitted.push_back(now);
            let remaining = limit_slots - held - 1;
            return Verdict::Admitted(Quota {
                limit,
                remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
                reset_secs: self.secs_until_leaves(0, now),
            });
        }
        // After a lowered limit the window may hold more than `limit`: a slot frees when all but
        // `limit - 1` of them have left, that is when the arrival at `held - limit` leaves.
        let wait = self.secs_until_leaves(held - limit_slots, now);
        Verdict::Throttled {
            quota: Quota {
                limit,
                remaining: 0,
                reset_secs: wait,
            },
            retry_after_secs: wait,
        }
    }

    /// Whole seconds, rounded up and at least one, until the `index`-th held arrival leaves; one
    /// when there is none (a refused request under a limit of zero).
    fn secs_until_leaves(&self, index: usize, now: Instant) -> u64 {
        let Some(&arrived) = self.admitted.get(index) else {
            return 1;
        };
        let left = (arrived + WINDOW).saturating_duration_since(now);
        let whole = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        whole.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn throttled(verdict: Verdict) -> bool {
        matches!(verdict, Verdict::Throttled { .. })
    }

    #[test]
    fn the_request_past_the_limit_in_one_second_is_the_one_refused() {
        let start = Instant::now();
        let mut window = Window::default();
        let verdicts: Vec<Verdict> = (0..4)
            .map(|i| window.admit(3, start + ms(i * 100)))
            .collect();
        let refused: Vec<bool> = verdicts.iter().copied().map(throttled).collect();
        assert_eq!(refused, [false, false, false, true]);
        let remaining: Vec<u32> = verdicts.iter().map(|v| v.quota().remaining).collect();
        assert_eq!(remaining, [2, 1, 0, 0]);
        // The oldest came at 0 ms: at 300 ms it leaves in 700 ms, announced as one whole second.
        assert_eq!(
            verdicts[3],
            Verdict::Throttled {
                quota: Quota {
                    limit: 3,
                    remaining: 0,
                    reset_secs: 1
                },
                retry_after_secs: 1
            }
        );
    }

    #[test]
    fn a_slot_frees_when_the_oldest_leaves_the_window() {
        let start = Instant::now();
        let mut window = Window::default();
        for i in 0..2 {
            assert!(!throttled(window.admit(2, start + ms(i * 400))));
        }
        // 999 ms after the first: it still counts.
        assert!(throttled(window.admit(2, start + ms(999))));
        // 1000 ms after the first: it has left, one slot is free, the one at 400 ms still counts.
        assert_eq!(
            window.admit(2, start + ms(1000)),
            Verdict::Admitted(Quota {
                limit: 2,
                remaining: 0,
                reset_secs: 1
            })
        );
        assert!(throttled(window.admit(2, start + ms(1001))));
        assert!(!throttled(window.admit(2, start + ms(1400))));
    }

    #[test]
    fn refused_requests_do_not_hold_a_slot() {
        let start = Instant::now();
        let mut window = Window::default();
        assert!(!throttled(window.admit(1, start)));
        for i in 1..10 {
            assert!(throttled(window.admit(1, start + ms(i * 100))));
        }
        assert!(!throttled(window.admit(1, start + ms(1000))));
    }

    #[test]
    fn after_a_lowered_limit_the_wait_is_until_enough_have_left() {
        let start = Instant::now();
        let mut window = Window::default();
        for i in 0..4 {
            assert!(!throttled(window.admit(4, start + ms(i * 100))));
        }
        // The limit halves to 2 at 500 ms: four are held, so three must leave before one more
        // fits; at 1050 ms only the first has left, at 1200 ms the third (at 200 ms) leaves too.
        assert!(throttled(window.admit(2, start + ms(500))));
        assert!(throttled(window.admit(2, start + ms(1050))));
        assert!(!throttled(window.admit(2, start + ms(1200))));
    }

    #[test]
    fn a_limit_of_zero_refuses_everything_with_a_one_second_wait() {
        let mut window = Window::default();
        assert_eq!(
            window.admit(0, Instant::now()),
            Verdict::Throttled {
                quota: Quota {
                    limit: 0,
                    remaining: 0,
                    reset_secs: 1
                },
                retry_after_secs: 1
            }
        );
    }
}
