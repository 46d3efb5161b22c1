//! The circuit breaker of a retry step: it trips when too many retries fail, N in a row or a share
//! of the last `window`, and the step then stops sending.

use std::collections::VecDeque;

/// Trips when too many retries fail: N in a row, or a share of the last `window`.
pub(super) struct Breaker {
    consecutive: u32,
    recent: VecDeque<bool>,
    max_consecutive: Option<u32>,
    max_ratio: Option<f64>,
    window: usize,
}

impl Breaker {
    /// Record one item's result; the reason to stop, if the breaker trips.
    pub(super) fn record(&mut self, failed: bool) -> Option<String> {
        self.consecutive = if failed { self.consecutive + 1 } else { 0 };
        self.recent.push_back(failed);
        if self.recent.len() > self.window {
            self.recent.pop_front();
        }
        if let Some(max) = self.max_consecutive.filter(|m| self.consecutive >= *m) {
            return Some(format!(
                "circuit breaker: {max} retries failed in a row; stopped sending"
            ));
        }
        let failures = self.recent.iter().filter(|f| **f).count();
        let ratio = failures as f64 / self.recent.len() as f64;
        match self.max_ratio {
            Some(max) if self.recent.len() >= self.window && ratio > max => Some(format!(
                "circuit breaker: {failures} of the last {} retries failed (more than {:.0}%); stopped sending",
                self.recent.len(),
                max * 100.0
            )),
            _ => None,
        }
    }
}

impl Breaker {
    /// A breaker set as the playbook's guards say.
    pub(super) fn new(guards: &crate::playbook::compile::GuardsPlan) -> Breaker {
        Breaker {
            consecutive: 0,
            recent: VecDeque::new(),
            max_consecutive: guards.max_consecutive_failures,
            max_ratio: guards.max_failure_ratio,
            window: guards.window as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Breaker;
    use std::collections::VecDeque;

    fn breaker(max_consecutive: Option<u32>, max_ratio: Option<f64>, window: usize) -> Breaker {
        Breaker {
            consecutive: 0,
            recent: VecDeque::new(),
            max_consecutive,
            max_ratio,
            window,
        }
    }

    #[test]
    fn trips_after_n_failures_in_a_row_only() {
        let mut b = breaker(Some(3), None, 20);
        assert!(b.record(true).is_none());
        assert!(b.record(true).is_none());
        assert!(b.record(false).is_none());
        assert!(b.record(true).is_none());
        assert!(b.record(true).is_none());
        assert!(b.record(true).is_some());
    }

    #[test]
    fn trips_on_a_failure_ratio_once_the_window_is_full() {
        let mut b = breaker(None, Some(0.5), 4);
        assert!(b.record(true).is_none());
        assert!(b.record(true).is_none());
        assert!(b.record(true).is_none(), "window not full yet");
        assert!(b.record(false).is_some(), "3 of 4 failed");
        let mut b = breaker(None, Some(0.5), 4);
        for failed in [true, false, true, false, true, false] {
            assert!(b.record(failed).is_none(), "half is not more than half");
        }
    }
}
