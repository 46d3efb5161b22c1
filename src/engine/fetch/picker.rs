//! Where a fetch's items go as they are found, page by page: each answer's items are read into
//! compact [`Item`]s (id and fields, the JSON as text) while the page is still there, duplicates and
//! items without an id are dropped, and — when only the next filter reads this fetch — that
//! filter's tests are applied at once (an item its status tests drop is never made whole). The page's tree is dropped when its items are picked, so a
//! fetch holds what it keeps, not every page it read.
//!
//! Invariant: the items are picked in the order the listings and pages gave them, so the result is
//! the same as picking from every page collected first.

use std::collections::HashSet;

use serde_json::Value;

use super::MAX_ITEM_WARNINGS;
use crate::engine::filter::{Prefiltered, Sieve, Verdict};
use crate::engine::{Item, Run};
use crate::playbook::compile::FieldsPlan;

/// Where a listing hands each item it finds.
pub(super) trait Found {
    /// One item of an answer, as the answer holds it.
    fn found(&mut self, run: &Run<'_>, value: &Value);
}

/// The outer items of an `each:` listing (projects, say), kept whole: each one's templates read them.
impl Found for Vec<Value> {
    fn found(&mut self, _: &Run<'_>, value: &Value) {
        self.push(value.clone());
    }
}

/// A fetch step's items, picked as they are found.
pub(super) struct Picker<'p> {
    fields: &'p FieldsPlan,
    /// Ids from `file:` or `ids:` are ids whatever the adapter's `task.id` path reads.
    given_ids: bool,
    /// The next filter's tests, when it alone reads this fetch.
    sieve: Option<Sieve<'p>>,
    seen: HashSet<String>,
    /// Values found, readable or not, duplicates included: what `max_items` counts.
    pub(super) counted: u64,
    /// Items read (duplicates dropped), before any filter: the fetch's count.
    pub(super) read: usize,
    pub(super) duplicates: usize,
    pub(super) unreadable: usize,
    /// The first [`MAX_ITEM_WARNINGS`] items that could not be read, described (redacted).
    pub(super) warnings: Vec<String>,
    /// Whether the sieve's limit is reached: later items are counted, not kept.
    full: bool,
    pub(super) items: Vec<Item>,
}

impl<'p> Picker<'p> {
    pub(super) fn new(
        fields: &'p FieldsPlan,
        given_ids: bool,
        sieve: Option<Sieve<'p>>,
    ) -> Picker<'p> {
        Picker {
            fields,
            given_ids,
            sieve,
            seen: HashSet::new(),
            counted: 0,
            read: 0,
            duplicates: 0,
            unreadable: 0,
            warnings: Vec::new(),
            full: false,
            items: Vec::new(),
        }
    }

    /// What the filter applied here found, for the filter step to report; `None` without one.
    pub(super) fn prefiltered(&self) -> Option<Prefiltered> {
        self.sieve.as_ref().map(|s| Prefiltered {
            total: self.read,
            undated: s.undated,
        })
    }
}

impl Found for Picker<'_> {
    fn found(&mut self, run: &Run<'_>, value: &Value) {
        self.counted += 1;
        let id = match Item::id_in(value, self.fields, self.given_ids) {
            Ok(id) => id,
            Err(e) => {
                self.unreadable += 1;
                if self.unreadable <= MAX_ITEM_WARNINGS {
                    self.warnings.push(e.describe(&run.redactor));
                }
                return;
            }
        };
        if !self.seen.insert(id.clone()) {
            self.duplicates += 1;
            return;
        }
        self.read += 1;
        if self.full {
            return;
        }
        let Some(sieve) = &mut self.sieve else {
            self.items.push(Item::with_id(value, id, self.fields));
            return;
        };
        // Most of a big listing is dropped by its status: the rest of such an item (its compact
        // text above all) is never made.
        if sieve.drops_status(Item::status_in(value, self.fields).as_deref()) {
            return;
        }
        let item = Item::with_id(value, id, self.fields);
        match sieve.judge(run, &item) {
            Verdict::Keep => self.items.push(item),
            Verdict::Drop => {}
            Verdict::Full => self.full = true,
        }
    }
}
