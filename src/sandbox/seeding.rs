//! What an emulated API's data is seeded from, and the seeded draws several APIs share.
//!
//! Invariants:
//! - Seeded data is a function of [`Seeding`] alone: the same seed and start second give the same
//!   tasks, and ids do not depend on the start second.
//! - Seeded lists are kept newest first with the id breaking ties ([`newest_first`]), the order
//!   every API lists in unless it says otherwise.
//! - Without a task count (`tasks: None`) every API seeds exactly its default mix, draw for draw;
//!   with one, each row of its seeding plan is scaled to the count ([`Seeding::scaled`]), so the
//!   mix of statuses and ages stays the same at any scale and the counts add up to it exactly.

use std::ops::Range;

use rand::Rng;
use rand::rngs::StdRng;

/// Seconds in a day, the unit seeded ages are given in.
pub(crate) const DAY: i64 = 24 * 3600;

/// How to seed one API's data: the seed, the sandbox's start second and how many tasks. A new
/// knob belongs here, so that it reaches every API through the one `seed` call of
/// [`super::api::EmulatedApi`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seeding {
    /// Seed of the task data (also the sandbox's fault and settle seed).
    pub(crate) seed: u64,
    /// Unix seconds the seeded timestamps are relative to (the sandbox's start).
    pub(crate) now: i64,
    /// How many tasks to seed (`runbook sandbox --tasks`); `None`: the API's default mix.
    pub(crate) tasks: Option<usize>,
}

impl Seeding {
    /// The default mix of one seed at one start second.
    pub(crate) fn new(seed: u64, now: i64) -> Seeding {
        Seeding {
            seed,
            now,
            tasks: None,
        }
    }

    /// The row counts of a seeding plan, scaled to [`Seeding::tasks`] when it is set: each row
    /// gets its share rounded down, and the rows with the largest remainders (the first among
    /// equals) one more each, so the counts add up to the task count exactly.
    pub(crate) fn scaled<const ROWS: usize>(&self, counts: [usize; ROWS]) -> [usize; ROWS] {
        let Some(total) = self.tasks else {
            return counts;
        };
        let planned: usize = counts.iter().sum();
        if planned == 0 {
            return counts;
        }
        // u128: a count times a share cannot overflow for any usize inputs.
        let share = |count: usize| (count as u128) * (total as u128);
        let mut scaled = counts.map(|count| (share(count) / planned as u128) as usize);
        let mut by_remainder: Vec<usize> = (0..ROWS).collect();
        by_remainder.sort_by_key(|&row| std::cmp::Reverse(share(counts[row]) % planned as u128));
        let short = total - scaled.iter().sum::<usize>();
        for &row in by_remainder.iter().take(short) {
            scaled[row] += 1;
        }
        scaled
    }
}

/// A v4 UUID drawn from a seeded RNG, so seeded ids repeat for a seed.
pub(crate) fn seeded_uuid(rng: &mut StdRng) -> String {
    uuid::Builder::from_random_bytes(rng.random())
        .into_uuid()
        .to_string()
}

/// Sorts `items` by creation time, newest first, then by id ascending.
pub(crate) fn newest_first<T>(items: &mut [T], key: impl Fn(&T) -> (i64, &str)) {
    items.sort_by(|a, b| {
        let ((a_at, a_id), (b_at, b_id)) = (key(a), key(b));
        b_at.cmp(&a_at).then_with(|| a_id.cmp(b_id))
    });
}

/// How many seconds before start a seeded item was created: within `recent_secs` for a recent
/// item, else from 8 days up to `old_days` days (older than a week, so a "last 7 days" filter
/// leaves it out).
pub(crate) fn seconds_ago(
    rng: &mut StdRng,
    recent: bool,
    recent_secs: Range<i64>,
    old_days: i64,
) -> i64 {
    if recent {
        rng.random_range(recent_secs)
    } else {
        rng.random_range(8 * DAY..old_days * DAY)
    }
}
