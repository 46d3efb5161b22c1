//! The writer's inbox: where workers hand in their writes and the writer thread takes them, a
//! group at a time.
//!
//! Invariants: writes are taken in the order they were handed in; a group holds at most
//! [`MAX_GROUP`] writes; the writer is woken for a write needed now (an intent needed now, a flush,
//! a nudge), a full group, or the first write of a hold, and otherwise sleeps until the hold ends;
//! once closed, nothing more is accepted and the writer takes what is left, then stops.
//!
//! Written by hand over a mutex and a condition variable rather than with a channel: a channel
//! (std's or crossbeam's) wakes the receiver for every message.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{Job, MAX_GROUP, needed_now};
use crate::ledger::LedgerError;

/// Where workers hand in their writes and the writer takes them, a group at a time.
///
/// A channel would wake the writer for every write; here a write wakes it only when someone needs
/// the queue committed now (an intent needed now, a flush, a nudge, a full group) or when it opens
/// a hold (the writer then sleeps until the hold ends): with intents ahead, the workers' thread
/// hands in about two writes per request and wakes the writer about once per group.
#[derive(Default)]
pub(super) struct Inbox {
    queue: Mutex<Queue>,
    wake: Condvar,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    /// Someone needs the queue committed now.
    now: bool,
    /// When the oldest job of the queue was handed in: its hold runs from then.
    since: Option<Instant>,
    /// The writer sleeps: a job it must see wakes it.
    asleep: bool,
    closed: bool,
}

impl Inbox {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue `job`; wake the writer if it must commit now, or start the queue's hold.
    pub(super) fn hand_in(&self, job: Job) -> Result<(), LedgerError> {
        let mut queue = self.queue();
        if queue.closed {
            return Err(LedgerError::WriterStopped);
        }
        let opens_hold = queue.since.is_none();
        if opens_hold {
            queue.since = Some(Instant::now());
        }
        let now = needed_now(&job);
        queue.jobs.push(job);
        if now || queue.jobs.len() >= MAX_GROUP {
            queue.now = true;
        }
        if queue.asleep && (queue.now || opens_hold) {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// The next group to commit, once someone needs it now, its hold (`hold`) is over or the inbox
    /// is closed; `None` once closed and empty.
    pub(super) fn take(&self, hold: Duration) -> Option<Vec<Job>> {
        let mut queue = self.queue();
        loop {
            let due = queue.since.map(|since| since + hold);
            let over = due.is_some_and(|due| due <= Instant::now());
            if queue.now || over || queue.closed {
                if queue.jobs.is_empty() {
                    // Only closed can leave nothing to take.
                    return None;
                }
                let at = queue.jobs.len().min(MAX_GROUP);
                let rest = queue.jobs.split_off(at);
                let group = std::mem::replace(&mut queue.jobs, rest);
                // What is left of a full queue is taken right after.
                queue.now = !queue.jobs.is_empty();
                queue.since = (!queue.jobs.is_empty()).then(Instant::now);
                return Some(group);
            }
            queue.asleep = true;
            queue = match due {
                Some(due) => {
                    let wait = due.saturating_duration_since(Instant::now());
                    self.wake
                        .wait_timeout(queue, wait)
                        .map(|(queue, _)| queue)
                        .unwrap_or_else(|e| e.into_inner().0)
                }
                None => self.wake.wait(queue).unwrap_or_else(|e| e.into_inner()),
            };
            queue.asleep = false;
        }
    }

    /// No more writes: the writer takes what is queued, then ends.
    pub(super) fn close(&self) {
        self.queue().closed = true;
        self.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full group is taken at once, without waiting for its hold; what is beyond it right
    /// after; a closed inbox refuses writes and, once empty, ends the writer.
    #[test]
    fn a_queue_longer_than_a_group_is_taken_a_group_at_a_time() {
        let inbox = Inbox::default();
        let hour = Duration::from_secs(3600);
        for request_id in 0..MAX_GROUP + 3 {
            inbox.hand_in(Job::Withdraw(request_id as i64)).unwrap();
        }
        assert_eq!(inbox.take(hour).map(|g| g.len()), Some(MAX_GROUP));
        assert_eq!(inbox.take(hour).map(|g| g.len()), Some(3));
        inbox.close();
        assert!(inbox.hand_in(Job::Nudge).is_err());
        assert!(inbox.take(hour).is_none());
    }
}
