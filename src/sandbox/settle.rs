//! How retried work settles: after a retry, an item shows its provider's in-progress status for the
//! first `settle_reads` reads of it ([`super::SandboxConfig::settle_reads`]), then a final status
//! that stays: success for most items, failure for one in five.
//!
//! Invariants:
//! - Each API decides once, when it is seeded, how a retry of each item ends ([`failing`]): of the
//!   n items a retry can be applied to at start, exactly ⌈n/5⌉ fail, chosen by the seed and their
//!   ids. An item that fails once fails on every later retry too, and a test can tell from a
//!   snapshot (`sandbox_settles_to`) how a retry of each item will end. (Independent one-in-five
//!   draws would leave a store of eight items with none failing, or half of them.)
//! - Only reads of the item itself move it (each API names its reading endpoints in its `//!`
//!   block); lists, snapshots and the control endpoints show where it is without moving it.
//! - A read moves nothing that is not in motion: an item never retried, or one already settled.

use std::collections::BTreeSet;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// One item in this many (rounded up) of those a retry can be applied to settles to failure.
const FAIL_ONE_IN: usize = 5;

/// How a retry ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Fate {
    #[default]
    Success,
    Failure,
}

/// The ids among `population` (the items of `api` a retry can be applied to at start) whose
/// retries fail: the ⌈n/5⌉ with the lowest draw for the seed.
pub(crate) fn failing<'a>(
    seed: u64,
    api: &str,
    population: impl IntoIterator<Item = &'a str>,
) -> BTreeSet<String> {
    let mut drawn: Vec<(u64, &str)> = population
        .into_iter()
        .map(|id| (draw(seed, api, id, 0), id))
        .collect();
    drawn.sort_unstable();
    let count = drawn.len().div_ceil(FAIL_ONE_IN);
    drawn
        .into_iter()
        .take(count)
        .map(|(_, id)| id.to_owned())
        .collect()
}

/// The fate of item `id`, given the failing ids of its API.
pub(crate) fn fate_of(failing: &BTreeSet<String>, id: &str) -> Fate {
    if failing.contains(id) {
        Fate::Failure
    } else {
        Fate::Success
    }
}

/// Eight bytes of SHA-256 over the seed, the API and the id: stable across Rust versions and
/// platforms, unlike `std`'s hashers, which promise neither.
pub(crate) fn draw(seed: u64, api: &str, id: &str, lane: usize) -> u64 {
    let digest = Sha256::digest(format!("{seed}\n{api}\n{id}"));
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[lane * 8..lane * 8 + 8]);
    u64::from_le_bytes(bytes)
}

/// The settling rule of a sandbox: its seed and how many reads an item stays in progress.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule {
    seed: u64,
    settle_reads: u32,
}

impl Rule {
    pub(crate) fn new(seed: u64, settle_reads: u32) -> Rule {
        Rule { seed, settle_reads }
    }

    /// A number below `count` fixed for the item, to pick its failure message and the like.
    pub(crate) fn pick(&self, api: &str, id: &str, count: usize) -> usize {
        let count = u64::try_from(count.max(1)).unwrap_or(u64::MAX);
        usize::try_from(draw(self.seed, api, id, 1) % count).unwrap_or(0)
    }
}

/// (id, status) of the items that a retry put in motion and that have settled, in list order;
/// `items` yields each item's progress, id and status as the API writes it.
pub(crate) fn settled<'a, S: ToString>(
    items: impl Iterator<Item = (Progress, &'a str, S)>,
) -> Vec<(String, String)> {
    items
        .filter(|(progress, _, _)| progress.is_settled())
        .map(|(_, id, status)| (id.to_owned(), status.to_string()))
        .collect()
}

/// Every item as `show` writes it for a snapshot, with `sandbox_settles_to`: how a retry of it
/// ends (`null` for an item that cannot be retried and is not in motion).
pub(crate) fn snapshot<T, S: serde::Serialize>(
    items: &[T],
    show: impl Fn(&T) -> Value,
    settles_to: impl Fn(&T) -> Option<S>,
) -> Vec<Value> {
    items
        .iter()
        .map(|item| {
            let mut value = show(item);
            value["sandbox_settles_to"] = serde_json::json!(settles_to(item));
            value
        })
        .collect()
}

/// An item whose get-one read moves it on in one step: in progress, then settled ([`read`]).
///
/// Every API's item shows its motion the same way: while it moves, its status reads [`MOVING`]
/// (its last-changed second is touched once, when the status changes); when it settles, its status
/// and failure details are the ones its fate decides, changed as of that read. An API states only
/// what differs: its fields, its spelling of the statuses, its failure details.
///
/// [`MOVING`]: Settles::MOVING
pub(crate) trait Settles {
    /// How the API spells a status.
    type Status: PartialEq + Copy;
    /// The status an item shows while it moves.
    const MOVING: Self::Status;
    /// The item's id and its progress.
    fn motion(&mut self) -> (&str, &mut Progress);
    /// The item's status and the second it last changed.
    fn face(&mut self) -> (&mut Self::Status, &mut i64);
    /// Sets the failure details the item's fate decides (none on success), `rule` picking among
    /// them, and returns the final status it settles to.
    fn settle_details(&mut self, rule: Rule) -> Self::Status;
}

/// Reads item `id` of `items` through its get-one endpoint, moving it on if a retry put it in
/// motion; `None` when there is no such item.
pub(crate) fn read<'a, T: Settles>(
    items: &'a mut [T],
    id: &str,
    rule: Rule,
    now: i64,
) -> Option<&'a T> {
    let index = items.iter_mut().position(|item| item.motion().0 == id)?;
    let item = &mut items[index];
    match item.motion().1.read(rule) {
        Some(Step::InProgress { .. }) => {
            let (status, changed) = item.face();
            if *status != T::MOVING {
                *status = T::MOVING;
                *changed = now;
            }
        }
        Some(Step::Settle) => {
            let settled = item.settle_details(rule);
            let (status, changed) = item.face();
            *status = settled;
            *changed = now;
        }
        None => {}
    }
    Some(item)
}

/// Where an item stands with respect to retries made through the sandbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Never retried through the sandbox (or its motion was stopped from outside, by a cancel).
    #[default]
    Untouched,
    /// Retried; `reads` reads of it since.
    Moving { reads: u32 },
    /// Retried and settled to a final status.
    Settled,
}

/// What one read of a moving item shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The `nth` read since the retry (from 1), still in progress.
    InProgress { nth: u32 },
    /// The read that settles the item.
    Settle,
}

impl Progress {
    /// The progress of an item a retry was just accepted for.
    pub(crate) const STARTED: Progress = Progress::Moving { reads: 0 };

    /// Puts the item in motion (a retry was accepted).
    pub(crate) fn start(&mut self) {
        *self = Progress::STARTED;
    }

    pub(crate) fn is_moving(self) -> bool {
        matches!(self, Progress::Moving { .. })
    }

    pub(crate) fn is_settled(self) -> bool {
        self == Progress::Settled
    }

    /// Counts one read of the item; `None` when it is not moving (the read changes nothing).
    pub(crate) fn read(&mut self, rule: Rule) -> Option<Step> {
        let Progress::Moving { reads } = self else {
            return None;
        };
        *reads = reads.saturating_add(1);
        if *reads <= rule.settle_reads {
            Some(Step::InProgress { nth: *reads })
        } else {
            *self = Progress::Settled;
            Some(Step::Settle)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_then_settles_once() {
        let rule = Rule::new(7, 2);
        let mut progress = Progress::default();
        assert_eq!(progress.read(rule), None);
        progress.start();
        assert_eq!(progress.read(rule), Some(Step::InProgress { nth: 1 }));
        assert_eq!(progress.read(rule), Some(Step::InProgress { nth: 2 }));
        assert_eq!(progress.read(rule), Some(Step::Settle));
        assert!(progress.is_settled());
        assert_eq!(progress.read(rule), None);
    }

    #[test]
    fn zero_reads_settles_on_the_first() {
        let mut progress = Progress::default();
        progress.start();
        assert_eq!(progress.read(Rule::new(1, 0)), Some(Step::Settle));
    }

    #[test]
    fn one_in_five_rounded_up_fails_and_the_seed_decides_which() {
        let ids: Vec<String> = (0..30).map(|n| format!("item-{n}")).collect();
        let of =
            |seed, count: usize| failing(seed, "http", ids.iter().take(count).map(String::as_str));
        assert_eq!(of(7, 30), of(7, 30));
        assert_ne!(of(7, 30), of(8, 30));
        for (count, fail) in [(0, 0), (1, 1), (5, 1), (6, 2), (8, 2), (30, 6)] {
            assert_eq!(of(7, count).len(), fail, "{count}");
        }
        assert_eq!(fate_of(&of(7, 30), "item-999"), Fate::Success);
    }
}
