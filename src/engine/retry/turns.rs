//! Sending slots of a retry step: never more than `concurrency` requests out at once, while, with
//! no rate to keep, up to as many more workers record their intents ahead of their turn.
//!
//! Why: an intent must be committed before its request leaves, and waiting for that commit in the
//! sending slot put the ledger's writer on every request's critical path (at concurrency 8 the
//! workers spent their time waiting for commits, not for the provider). With intents ahead, a
//! worker whose intent is committed takes a slot the moment one frees, and the next intents commit
//! while the requests are out.
//!
//! Invariants:
//! - At most `concurrency` requests are out at once: a request leaves only while it holds one of
//!   the `concurrency` slots, and keeps it until its answer (and any check or second sending of an
//!   ambiguous one) is handled.
//! - At most `concurrency` intents are ahead (committed, request not yet sent): the step runs at
//!   most `2 × concurrency` workers, `concurrency` of them in slots. A run killed then leaves those
//!   intents in flight; `--resume` checks such an item with the provider (or reports it `unknown`),
//!   never resends it blindly — the state of a kill between an intent and its request, as before.
//! - A worker that gets its slot after the step was stopped (interrupt, breaker, abort) sends
//!   nothing and withdraws its intent, so a run that stops leaves no intent for what it never sent.
//! - With a rate (the step's or the connection's) no intent goes ahead: a worker waits for its
//!   rate slot, then records its intent, then sends, so a run killed while requests wait for the
//!   rate leaves none of them in flight.
//!
//! A [`tokio::sync::Semaphore`] holds the slots: it is fair (first come, first served), so
//! workers take slots in the order their intents were committed.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{Semaphore, SemaphorePermit};

/// A retry step's sending slots and its stop: see the module's documentation.
pub(super) struct Turns {
    slots: Semaphore,
    concurrency: usize,
    ahead: bool,
    stopped: AtomicBool,
}

impl Turns {
    /// `concurrency` slots; intents go ahead unless the step is `paced` by a rate.
    pub(super) fn new(concurrency: usize, paced: bool) -> Turns {
        let concurrency = concurrency.max(1);
        Turns {
            slots: Semaphore::new(concurrency),
            concurrency,
            ahead: !paced,
            stopped: AtomicBool::new(false),
        }
    }

    /// How many workers the step runs at once: those in slots and those whose intents are ahead.
    pub(super) fn workers(&self) -> usize {
        if self.ahead {
            self.concurrency.saturating_mul(2)
        } else {
            self.concurrency
        }
    }

    /// Whether intents are recorded ahead of the sending slot (no rate to keep).
    pub(super) fn ahead(&self) -> bool {
        self.ahead
    }

    /// Wait for a sending slot; held until the permit is dropped. `None` only if the slots were
    /// closed, which they never are: the caller then sends nothing.
    pub(super) async fn slot(&self) -> Option<SemaphorePermit<'_>> {
        self.slots.acquire().await.ok()
    }

    /// Stop the step: no request leaves after this.
    pub(super) fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
    }

    /// Whether the step was stopped.
    pub(super) fn stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cap holds with intents ahead: `concurrency` slots, twice as many workers.
    #[tokio::test]
    async fn unpaced_steps_run_twice_the_workers_and_hand_out_only_concurrency_slots() {
        let turns = Turns::new(3, false);
        assert_eq!(turns.workers(), 6);
        let held: Vec<_> = [turns.slot().await, turns.slot().await, turns.slot().await].into();
        assert!(held.iter().all(Option::is_some));
        assert!(
            turns.slots.try_acquire().is_err(),
            "a fourth slot while three are held"
        );
        drop(held);
        assert!(turns.slots.try_acquire().is_ok());
    }

    /// With a rate, no intent goes ahead of its turn.
    #[test]
    fn paced_steps_run_no_worker_ahead() {
        let turns = Turns::new(4, true);
        assert_eq!(turns.workers(), 4);
        assert!(!turns.ahead());
    }
}
