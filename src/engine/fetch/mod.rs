//! The fetch step: items from HTTP listings (four pagination styles, guarded by `max_pages`), from
//! a local JSON file, or from a list of ids; optionally each read again (enrichment).
//!
//! A listing ordered newest first (`paginate.order: newest_first`) with a `stop_before` window stops
//! after the first page whose items are all older than the window: every later page is older still.
//! A page with an item whose time cannot be read never stops it.
//!
//! Invariant: a step never holds more than its `max_items` items; the count is checked on each page
//! before its items are copied, and going past it aborts the run (exit 3) with a written report.
//!
//! A listing may be nested (`each:`: each project's tasks) and may declare its API's `cap`: an
//! answer holding exactly that many items may be truncated, so it is reported (a warning, an entry
//! in the report's `errors`, exit 1) rather than taken for the whole list.
//!
//! Items are picked from each page as it arrives ([`picker`]): the page's tree is dropped once its
//! items are read into compact items, and when the next filter alone reads the fetch, its tests
//! run there too, so a fetch holds the items it keeps, not every page it read.
//!
//! Rooms: [`listing`] (a listing's pages, `each:`, caps), [`pages`] (the four pagination styles),
//! [`picker`] (items picked as they are found),
//! [`ids`] (ids from a file or the playbook), [`enrich`] (each item read again), [`answer`] (what
//! a listing's or a read's answer holds, or why it holds nothing usable).

mod answer;
mod enrich;
mod ids;
mod listing;
mod pages;
mod picker;

use std::fmt;

use super::filter::Sieve;
use super::{Abort, Item, Run, StepStop};
use crate::playbook::compile::{FetchPlan, FetchSource, FilterPlan};
use crate::progress::Event;
use crate::report::StepError;

// The property tests read answers, pages and ids as the step does.
#[cfg(test)]
pub(crate) use answer::{check_shape, read_json};
pub(crate) use ids::ids_from_value;
use ids::read_ids_file;
use listing::Listing;
#[cfg(test)]
pub(crate) use pages::next_from_link_header;
use picker::{Found, Picker};

/// Items that cannot be read (no id) are each warned about up to this many; then one line counts
/// the rest, so an answer of a million id-less objects does not print a million lines.
const MAX_ITEM_WARNINGS: usize = 5;

/// How a fetch went past its `max_items`: what was seen when the count did. The abort's message is
/// written once, in [`Overflow::abort`].
#[derive(Clone, Copy, Debug)]
enum Overflow {
    /// `file:` or `ids:` gave this many ids.
    Given { count: usize },
    /// A listing held this many items by this page.
    Page { count: u64, page: u32 },
    /// The `each:` listings held this many items together by this listing of this many.
    Listings {
        count: u64,
        listing: usize,
        of: usize,
    },
}

impl fmt::Display for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Overflow::Given { count } => write!(f, "more ids were given ({count})"),
            Overflow::Page { count, page } => {
                write!(f, "the listing has more items ({count} by page {page})")
            }
            Overflow::Listings { count, listing, of } => write!(
                f,
                "the listings have more items ({count} by listing {listing} of {of})"
            ),
        }
    }
}

impl Overflow {
    /// The run's abort: what was seen, the cap, how to raise it.
    fn abort(self, max_items: u64) -> StepStop {
        StepStop::Abort(Abort::Guard(format!(
            "{self} than max_items = {max_items}; stopped rather than hold them all in memory. Raise `max_items` on this fetch step (a number, or a template like \"{{{{ vars.max_items }}}}\" to set it with --var) or narrow the query"
        )))
    }
}

impl Run<'_> {
    /// The fetch step. With `filter` (the next step, when it alone reads this fetch and no
    /// template reads its items), that filter's tests are applied to each item as it is found, and
    /// what they found is left for the filter step to report.
    pub(super) async fn fetch(
        &mut self,
        step: &str,
        plan: &FetchPlan,
        filter: Option<&FilterPlan>,
    ) -> Result<(Vec<Item>, usize), StepStop> {
        self.progress.event(Event::StepStarted {
            step: step.into(),
            kind: "fetch",
            total: None,
        });
        // Ids from `file:` or `ids:` are ids, whatever the adapter's `task.id` path reads.
        let given_ids = !matches!(plan.source, FetchSource::Http { .. });
        // Enriched items are filtered on what the second read found: after it, never before.
        let sieve = filter
            .filter(|_| plan.enrich.is_none())
            .map(|f| Sieve::new(f, false));
        let mut picker = Picker::new(&plan.fields, given_ids, sieve);
        let mut truncated = Vec::new();
        match &plan.source {
            FetchSource::Http { listing, each } => {
                let top = Listing::from(listing.as_ref());
                let each = each.as_deref().map(Listing::from);
                self.list_all(step, top, each, plan.max_items, &mut truncated, &mut picker)
                    .await?;
            }
            FetchSource::File { path, id_field } => {
                let path = self
                    .plan
                    .templates
                    .render(path, &self.ctx(vec![]))
                    .map_err(|e| StepStop::Failed(e.into()))?;
                let this = &*self;
                // Past `max_items`, the ids are counted, not kept: the abort says how many.
                let count = read_ids_file(
                    std::path::Path::new(path.trim()),
                    id_field.as_deref(),
                    |value| {
                        if picker.counted < plan.max_items {
                            picker.found(this, &value);
                        }
                    },
                )
                .map_err(StepStop::Failed)?;
                if count as u64 > plan.max_items {
                    return Err(Overflow::Given { count }.abort(plan.max_items));
                }
            }
            FetchSource::Ids(t) => {
                let value = self
                    .plan
                    .templates
                    .render_value(t, &self.ctx(vec![]))
                    .map_err(|e| StepStop::Failed(e.into()))?;
                let ids = ids_from_value(&value);
                if ids.len() as u64 > plan.max_items {
                    return Err(Overflow::Given { count: ids.len() }.abort(plan.max_items));
                }
                for value in &ids {
                    picker.found(self, value);
                }
            }
        }
        for e in &picker.warnings {
            self.progress
                .event(Event::Warning(format!("step {step}: {e}")));
        }
        if picker.unreadable > MAX_ITEM_WARNINGS {
            self.progress.event(Event::Warning(format!(
                "step {step}: {} more items could not be read, as above",
                picker.unreadable - MAX_ITEM_WARNINGS
            )));
        }
        for warning in truncated {
            let message = self.redactor.redact(&warning);
            self.progress
                .event(Event::Warning(format!("step {step}: {message}")));
            self.report.errors.push(StepError {
                step: step.into(),
                message,
            });
        }
        let mut items = std::mem::take(&mut picker.items);
        if let Some(enrich) = &plan.enrich {
            items = self.enrich(step, enrich, items, &plan.fields).await?;
        }
        // Without a filter applied here, the count is what enrichment left.
        let count = match picker.prefiltered() {
            Some(done) => {
                self.prefiltered = Some(done);
                done.total
            }
            None => items.len(),
        };
        self.results.fetched(count as u64);
        let dup = if picker.duplicates > 0 {
            format!(" ({} duplicates dropped)", picker.duplicates)
        } else {
            String::new()
        };
        self.progress.event(Event::StepFinished {
            step: step.into(),
            summary: format!("{count} items{dup}"),
        });
        Ok((items, count))
    }
}
