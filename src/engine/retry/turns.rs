//! Sending slots of a retry step: never more than `concurrency` requests out at once, while, with
//! no rate to keep, more workers record their intents ahead of their turn (eight per slot, at most
//! 64, never fewer than the slots: [`ahead_of`]).
//!
//! Why: an intent must be committed before its request leaves, and waiting for that commit in the
//! sending slot put the ledger's writer on every request's critical path (at concurrency 8 the
//! workers spent their time waiting for commits, not for the provider). With intents ahead, a
//! worker whose intent is committed takes a slot the moment one frees, and the next intents commit
//! while the requests are out. And since a commit costs much the same whether it carries four
//! intents or forty (the same table and index tail pages are rewritten), an intent handed in while
//! enough committed ones wait for a slot (a quarter of those allowed ahead: the low-water mark) is
//! only needed *soon* ([`Needed::Soon`]): the writer holds it for the next commit someone needs
//! now, so commits carry a group at a time instead of whatever arrived during the last one.
//!
//! Invariants:
//! - At most `concurrency` requests are out at once: a request leaves only while it holds one of
//!   the `concurrency` slots, and keeps it until its answer (and any check or second sending of an
//!   ambiguous one) is handled.
//! - At most [`ahead_of`]`(concurrency)` intents are ahead (committed, request not yet sent): the
//!   step runs at most that many workers besides the `concurrency` in slots. A run killed then
//!   leaves those intents in flight; `--resume` checks such an item with the provider (or reports
//!   it `unknown`), never resends it blindly — the state of a kill between an intent and its
//!   request, as before.
//! - A worker never holds a slot waiting for an intent held back: if its slot comes before its
//!   intent's commit, it nudges the writer to commit at once ([`Turns::slot_after`]).
//! - A worker that gets its slot after the step was stopped (interrupt, breaker, abort) sends
//!   nothing and withdraws its intent, so a run that stops leaves no intent for what it never sent.
//! - With a rate (the step's or the connection's) no intent goes ahead: a worker waits for its
//!   rate slot, then records its intent (needed now), then sends, so a run killed while requests
//!   wait for the rate leaves none of them in flight.
//!
//! A [`tokio::sync::Semaphore`] holds the slots: it is fair (first come, first served), so
//! workers take slots in the order they asked, which is the order they started.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use futures_util::future::{Either, select};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::ledger::Needed;

/// Intents a step without a rate may record ahead of each sending slot, up to [`AHEAD_MOST`].
const AHEAD_PER_SLOT: usize = 8;

/// Most intents ahead of the slots, unless the concurrency is higher: then as many as slots.
const AHEAD_MOST: usize = 64;

/// A retry step's sending slots and its stop: see the module's documentation.
pub(super) struct Turns {
    slots: Semaphore,
    concurrency: usize,
    /// How many intents may be ahead of their turn; 0 with a rate.
    ahead: usize,
    /// Workers whose intent is committed and who wait for a sending slot.
    ready: AtomicUsize,
    stopped: AtomicBool,
}

impl Turns {
    /// `concurrency` slots; intents go ahead unless the step is `paced` by a rate.
    pub(super) fn new(concurrency: usize, paced: bool) -> Turns {
        let concurrency = concurrency.max(1);
        Turns {
            slots: Semaphore::new(concurrency),
            concurrency,
            ahead: if paced { 0 } else { ahead_of(concurrency) },
            ready: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
        }
    }

    /// How many workers the step runs at once: those in slots and those whose intents are ahead.
    pub(super) fn workers(&self) -> usize {
        self.concurrency.saturating_add(self.ahead)
    }

    /// Whether intents are recorded ahead of the sending slot (no rate to keep).
    pub(super) fn ahead(&self) -> bool {
        self.ahead > 0
    }

    /// When an intent handed in now is needed: at once with a rate, or when fewer committed
    /// intents wait for a slot than the low-water mark (a quarter of those allowed ahead); else
    /// soon, so that the writer commits a group at a time.
    pub(super) fn needed(&self) -> Needed {
        let low_water = (self.ahead / 4).max(1);
        if self.ahead == 0 || self.ready.load(Ordering::SeqCst) < low_water {
            Needed::Now
        } else {
            Needed::Soon
        }
    }

    /// Wait for the intent's commit (`committed`) and a sending slot, both at once: the slot is
    /// asked for while the intent commits, so that slots go to the workers in the order they
    /// started (requests leave in the items' order). `nudge` is called if the slot comes first:
    /// the worker's intent is then needed now. The slot is `None` only if the slots were closed,
    /// which they never are: the caller then sends nothing.
    pub(super) async fn slot_after<T>(
        &self,
        committed: impl Future<Output = T>,
        nudge: impl FnOnce(),
    ) -> (T, Option<SemaphorePermit<'_>>) {
        let slot = pin!(self.slots.acquire());
        let committed = pin!(committed);
        match select(committed, slot).await {
            Either::Left((result, slot)) => {
                self.ready.fetch_add(1, Ordering::SeqCst);
                let slot = slot.await.ok();
                self.ready.fetch_sub(1, Ordering::SeqCst);
                (result, slot)
            }
            Either::Right((slot, committed)) => {
                nudge();
                (committed.await, slot.ok())
            }
        }
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

/// How many intents a step without a rate may record ahead of its `concurrency` sending slots:
/// [`AHEAD_PER_SLOT`] per slot, at most [`AHEAD_MOST`], never fewer than the slots. Enough that a
/// commit carries a few dozen intents while the requests before them go out; few enough that a
/// run killed at concurrency 1 leaves at most 8 intents its requests never sent.
fn ahead_of(concurrency: usize) -> usize {
    concurrency
        .saturating_mul(AHEAD_PER_SLOT)
        .min(AHEAD_MOST)
        .max(concurrency)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cap holds with intents ahead: `concurrency` slots, and the workers whose intents wait
    /// ahead of them.
    #[tokio::test]
    async fn unpaced_steps_run_workers_ahead_and_hand_out_only_concurrency_slots() {
        let turns = Turns::new(3, false);
        assert_eq!(turns.workers(), 3 + 3 * AHEAD_PER_SLOT);
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(turns.slot_after(async {}, || {}).await.1);
        }
        assert!(held.iter().all(Option::is_some));
        assert!(
            turns.slots.try_acquire().is_err(),
            "a fourth slot while three are held"
        );
        drop(held);
        assert!(turns.slots.try_acquire().is_ok());
    }

    /// Intents ahead: eight per slot, at most 64, never fewer than the slots.
    #[test]
    fn intents_ahead_are_eight_per_slot_at_most_64_and_never_fewer_than_the_slots() {
        assert_eq!(ahead_of(1), 8);
        assert_eq!(ahead_of(8), 64);
        assert_eq!(ahead_of(16), 64);
        assert_eq!(ahead_of(100), 100);
        assert_eq!(Turns::new(100, false).workers(), 200);
    }

    /// With a rate, no intent goes ahead of its turn, and each is needed at once.
    #[test]
    fn paced_steps_run_no_worker_ahead() {
        let turns = Turns::new(4, true);
        assert_eq!(turns.workers(), 4);
        assert!(!turns.ahead());
        assert_eq!(turns.needed(), Needed::Now);
    }

    /// An intent is needed now while fewer committed intents wait for a slot than the low-water
    /// mark (a quarter of those ahead), soon once that many wait.
    #[test]
    fn intents_are_needed_now_below_the_low_water_mark_and_soon_above() {
        let turns = Turns::new(8, false);
        assert_eq!(turns.needed(), Needed::Now, "nothing committed waits");
        // 64 ahead at concurrency 8: the mark is 16.
        turns.ready.store(15, Ordering::SeqCst);
        assert_eq!(turns.needed(), Needed::Now);
        turns.ready.store(16, Ordering::SeqCst);
        assert_eq!(turns.needed(), Needed::Soon);
    }

    /// A worker whose slot comes before its intent's commit nudges the writer; one whose intent
    /// commits first does not, and counts as ready until its slot comes.
    #[tokio::test]
    async fn a_worker_nudges_the_writer_only_when_its_slot_comes_before_its_commit() {
        let turns = Turns::new(1, false);
        let mut nudged = false;
        let (_, first) = turns.slot_after(async {}, || nudged = true).await;
        assert!(!nudged, "committed at once: no nudge");
        assert_eq!(turns.ready.load(Ordering::SeqCst), 0);
        let (done, commit) = tokio::sync::oneshot::channel::<()>();
        let waiting = turns.slot_after(commit, || {});
        let mut waiting = Box::pin(waiting);
        assert!(
            futures_util::poll!(&mut waiting).is_pending(),
            "no slot free yet"
        );
        assert_eq!(
            turns.ready.load(Ordering::SeqCst),
            0,
            "not committed yet, so not ready"
        );
        let _ = done.send(());
        assert!(futures_util::poll!(&mut waiting).is_pending());
        assert_eq!(
            turns.ready.load(Ordering::SeqCst),
            1,
            "committed, waiting for a slot"
        );
        drop(first);
        let (_, second) = waiting.await;
        assert!(second.is_some());
        assert_eq!(turns.ready.load(Ordering::SeqCst), 0);

        let mut nudged = false;
        let (done, commit) = tokio::sync::oneshot::channel::<()>();
        let slot_first = turns.slot_after(commit, || nudged = true);
        let mut slot_first = Box::pin(slot_first);
        drop(second);
        assert!(futures_util::poll!(&mut slot_first).is_pending());
        let _ = done.send(());
        let (_, third) = slot_first.await;
        assert!(third.is_some());
        assert!(nudged, "the slot came first: nudged");
    }
}
