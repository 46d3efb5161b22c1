//! A fetch's listings: the top-level one and, with `each:`, a second one per item it found (each
//! project's tasks). Both go through one path, [`Run::read_listing`]: the request rendered, the
//! pages read, the count held to `max_items` on each page, the API's `cap` checked.
//!
//! Invariant: the items of every listing of a step count together against its `max_items`, and
//! the count is checked before a page's items are picked (and before the next page is asked
//! for). A page's items are handed to a [`Found`] while the page is read, and while the next
//! page's request is under way (a cursor's walk pays the provider's time and this process's in
//! turn otherwise); a listing holds at most two pages, the one picked and the next.

use std::collections::HashSet;

use serde_json::Value;

use super::answer::{check_shape, read_json};
use super::pages::PageState;
use super::picker::{Found, Picker};
use super::{Overflow, Run, StepStop};
use crate::client::{Effect, Exchange, Request};
use crate::engine::Abort;
use crate::jsonpath::JsonPath;
use crate::playbook::compile::{ListingPlan, PaginatePlan, RequestPlan};
use crate::progress::{Counts, Event};

/// One listing of a fetch step: where its request, items, total and pages are, and its API's cap.
#[derive(Clone, Copy)]
pub(super) struct Listing<'a> {
    pub(super) request: &'a RequestPlan,
    pub(super) items: &'a [JsonPath],
    pub(super) total: Option<&'a JsonPath>,
    pub(super) paginate: Option<&'a PaginatePlan>,
    /// The most items one answer holds (an answer holding that many may be truncated).
    pub(super) cap: Option<u64>,
}

impl<'a> From<&'a ListingPlan> for Listing<'a> {
    fn from(plan: &'a ListingPlan) -> Listing<'a> {
        Listing {
            request: &plan.request,
            items: &plan.items,
            total: plan.total.as_ref(),
            paginate: plan.paginate.as_ref(),
            cap: plan.cap,
        }
    }
}

/// How many items a listing may add: the step's `max_items` less what its earlier listings held.
#[derive(Clone, Copy)]
struct Budget {
    max_items: u64,
    /// Items the step's earlier listings found.
    held: u64,
    /// For an `each:` listing: which one it is, of how many.
    each: Option<(usize, usize)>,
}

impl Budget {
    /// Refuse a listing that holds `count` items by page `page`, if with what is held they are
    /// more than `max_items`.
    fn check(&self, count: u64, page: u32) -> Result<(), StepStop> {
        let count = self.held.saturating_add(count);
        if count <= self.max_items {
            return Ok(());
        }
        let overflow = match self.each {
            None => Overflow::Page { count, page },
            Some((listing, of)) => Overflow::Listings { count, listing, of },
        };
        Err(overflow.abort(self.max_items))
    }
}

impl Run<'_> {
    /// The items of a fetch's listings, handed to `picker` as they are found: `top`'s, or with
    /// `each`, for each of `top`'s items the second listing's (each project's tasks), in order. A
    /// capped answer adds a warning to `truncated`.
    pub(super) async fn list_all(
        &self,
        step: &str,
        top: Listing<'_>,
        each: Option<Listing<'_>>,
        max_items: u64,
        truncated: &mut Vec<String>,
        picker: &mut Picker<'_>,
    ) -> Result<(), StepStop> {
        let budget = Budget {
            max_items,
            held: 0,
            each: None,
        };
        let ctx = self.ctx(vec![]);
        let Some(each) = each else {
            return self
                .read_listing(step, &top, &ctx, budget, truncated, picker)
                .await;
        };
        let mut outer: Vec<Value> = Vec::new();
        self.read_listing(step, &top, &ctx, budget, truncated, &mut outer)
            .await?;
        let of = outer.len();
        for (listing, item) in (1usize..).zip(outer) {
            let ctx = self.ctx(vec![(
                "item",
                minijinja::Value::from(minijinja::value::Serde(&item)),
            )]);
            let budget = Budget {
                max_items,
                held: picker.counted,
                each: Some((listing, of)),
            };
            self.read_listing(step, &each, &ctx, budget, truncated, picker)
                .await?;
        }
        Ok(())
    }

    /// One listing: its request rendered over `ctx`, its pages read within `budget`, its answer
    /// checked against the API's cap.
    async fn read_listing<F: Found>(
        &self,
        step: &str,
        listing: &Listing<'_>,
        ctx: &minijinja::Value,
        budget: Budget,
        truncated: &mut Vec<String>,
        sink: &mut F,
    ) -> Result<(), StepStop> {
        let base = self
            .render_request(listing.request, ctx)
            .map_err(|e| StepStop::Failed(e.to_string()))?;
        let what = format!("{} {}", base.method, base.url);
        let found = self.list(step, base, listing, budget, sink).await?;
        truncated.extend(capped(
            &what,
            found,
            listing.cap,
            listing.paginate.is_some(),
        ));
        Ok(())
    }

    /// The pages of one listing from `base`, each page's count checked against `budget` before
    /// its items are handed to `sink`; how many items the listing found.
    async fn list<F: Found>(
        &self,
        step: &str,
        base: Request,
        listing: &Listing<'_>,
        budget: Budget,
        sink: &mut F,
    ) -> Result<u64, StepStop> {
        let Listing {
            items: items_paths,
            total: total_path,
            paginate,
            ..
        } = *listing;
        let mut all = 0u64;
        let mut state = PageState::start(paginate.map(|p| &p.style));
        let mut seen_tokens = HashSet::new();
        let mut pages = 0u32;
        let mut total_said = None;
        let older_than = paginate.and_then(|p| {
            let span = jiff::SignedDuration::try_from(p.stop_before?.0).ok()?;
            let cutoff = jiff::Timestamp::now().checked_sub(span).ok()?;
            Some((p.newest_first.as_ref()?, cutoff))
        });
        // The next page's request, sent while the page before it was being picked.
        let mut ahead: Option<(Request, Exchange)> = None;
        loop {
            pages += 1;
            let (req, exchange) = match ahead.take() {
                Some(sent) => sent,
                None => {
                    let req = state.apply(paginate.map(|p| &p.style), &base);
                    let exchange = self.read(&req).await;
                    (req, exchange)
                }
            };
            // Cut short by SIGINT/SIGTERM (a wait ended, or the read was dropped): the run stops.
            let cut_short = exchange.response.is_none() || exchange.error.is_some();
            if cut_short && self.interrupted() {
                return Err(StepStop::Abort(Abort::Interrupted));
            }
            let json = read_json(&req, &exchange, &self.redactor)?;
            let found: Vec<&Value> = items_paths.iter().flat_map(|p| p.query(json)).collect();
            if let ([path], true) = (items_paths, found.is_empty()) {
                check_shape(path, json)
                    .map_err(|e| StepStop::Failed(format!("{} {}: {e}", req.method, req.url)))?;
            }
            if let Some(said) = total_path
                .and_then(|p| p.first(json))
                .and_then(Value::as_u64)
            {
                total_said = Some(said);
            }
            let count = found.len() as u64;
            let all_older = older_than.is_some_and(|(time, cutoff)| {
                !found.is_empty()
                    && found.iter().all(|item| {
                        time.first(item)
                            .and_then(crate::time::parse_timestamp)
                            .is_some_and(|at| at < cutoff)
                    })
            });
            // Counted before anything is picked: the items are what would not fit.
            budget.check(all + count, pages)?;
            let next = match paginate {
                None => Next::Last,
                Some(_) if all_older => {
                    // The rest is older than the window: the API's total counts it, so it says
                    // nothing.
                    total_said = None;
                    Next::Last
                }
                Some(paginate) => {
                    let page = Page {
                        count,
                        json,
                        response: exchange.response.as_ref(),
                        url: &req.url,
                        number: pages,
                    };
                    self.next_page(step, paginate, page, &base, &mut state, &mut seen_tokens)
                }
            };
            // The next page is asked for while this one's items are picked: the provider makes
            // it while this process reads, and a fetch holds at most two pages.
            let end = match next {
                Next::Page(next_req) => {
                    let (exchange, ()) = tokio::join!(biased; self.read(&next_req), async {
                        // Lets the request be written before the picking holds this thread.
                        tokio::task::yield_now().await;
                        for value in found {
                            sink.found(self, value);
                        }
                    });
                    ahead = Some((next_req, exchange));
                    None
                }
                end => {
                    for value in found {
                        sink.found(self, value);
                    }
                    Some(end)
                }
            };
            all += count;
            self.progress.event(Event::StepProgress {
                step: step.into(),
                total: None,
                counts: Counts {
                    done: all,
                    ..Counts::default()
                },
            });
            match end {
                None | Some(Next::Page(_)) => {}
                Some(Next::Last) => break,
                Some(Next::Repeated(warning)) => {
                    self.progress.event(Event::Warning(warning));
                    break;
                }
                Some(Next::Refused(stop)) => return Err(stop),
            }
        }
        if let Some(said) = total_said.filter(|t| *t > all) {
            return Err(StepStop::Abort(Abort::Guard(format!(
                "the API says there are {said} items but returned {all}; stopped rather than work on a truncated list. Raise the request's limit or narrow the query"
            ))));
        }
        Ok(all)
    }
}

/// What comes after a page of a paginated listing.
enum Next {
    /// The request for the next page.
    Page(Request),
    /// That was the last page.
    Last,
    /// The API gave a next page it gave before: the warning, and no more pages.
    Repeated(String),
    /// The next page may not be read: the step stops, once this page's items are picked.
    Refused(StepStop),
}

/// A page just read, as the pagination needs it.
struct Page<'a> {
    count: u64,
    json: &'a Value,
    response: Option<&'a crate::client::Response>,
    url: &'a url::Url,
    /// Which page of the listing it is, from 1.
    number: u32,
}

impl Run<'_> {
    /// One page of a listing, read.
    async fn read(&self, req: &Request) -> Exchange {
        self.http
            .send(req, Effect::Read, &self.plan.connection.backoff, None)
            .await
    }

    /// What comes after `page` of a listing from `base`; `state` moves on to it.
    fn next_page(
        &self,
        step: &str,
        paginate: &PaginatePlan,
        page: Page<'_>,
        base: &Request,
        state: &mut PageState,
        seen_tokens: &mut HashSet<String>,
    ) -> Next {
        let Some(next) = state.next(
            &paginate.style,
            page.count,
            page.json,
            page.response,
            page.url,
        ) else {
            return Next::Last;
        };
        if let PageState::Link(Some(url)) = &*state
            && url.origin() != base.url.origin()
        {
            // The playbook's headers carry credentials: they go to the API's host only.
            return Next::Refused(StepStop::Failed(format!(
                "the next page is on another host ({}) than the API ({}); runbook does not send the connection's credentials there",
                self.redactor.redact(&url.origin().ascii_serialization()),
                self.redactor
                    .redact(&base.url.origin().ascii_serialization()),
            )));
        }
        if !seen_tokens.insert(next.clone()) {
            return Next::Repeated(format!(
                "step {step}: the API gave the same next page twice ({next}); stopping there"
            ));
        }
        if page.number >= paginate.max_pages {
            return Next::Refused(StepStop::Abort(Abort::Guard(format!(
                "the listing has more than max_pages = {} pages; stopped rather than work on a partial list. Raise `paginate.max_pages` or narrow the query",
                paginate.max_pages
            ))));
        }
        Next::Page(state.apply(Some(&paginate.style), base))
    }
}

/// The warning for an unpaged listing (`what`: its method and URL) whose answer held `count`
/// items, when the API's `cap` says it cannot hold more: what lies beyond the cap was never seen.
fn capped(what: &str, count: u64, cap: Option<u64>, paged: bool) -> Option<String> {
    let cap = cap.filter(|c| !paged && count >= *c)?;
    Some(format!(
        "possibly truncated: {what} returned {count} items, the most this API returns in one answer (cap: {cap}), so items beyond them may exist and were not seen. Narrow the listing (a narrower query, or `each:` to list per project) until no answer holds {cap} items"
    ))
}
