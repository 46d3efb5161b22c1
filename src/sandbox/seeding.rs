//! What an emulated API's data is seeded from, and the seeded draws several APIs share.
//!
//! Invariants:
//! - Seeded data is a function of [`Seeding`] alone: the same seed and start second give the same
//!   tasks, and ids do not depend on the start second.
//! - Seeded lists are kept newest first with the id breaking ties ([`newest_first`]), the order
//!   every API lists in unless it says otherwise.

use rand::Rng;
use rand::rngs::StdRng;

/// How to seed an API's data: today's defaults are the seed and the sandbox's start second. A
/// per-API scale (how many tasks) belongs here, so that a new knob reaches every API through the
/// one `seed` call of [`super::api::EmulatedApi`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seeding {
    /// Seed of the task data (also the sandbox's fault and settle seed).
    pub(crate) seed: u64,
    /// Unix seconds the seeded timestamps are relative to (the sandbox's start).
    pub(crate) now: i64,
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
