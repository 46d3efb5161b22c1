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

use std::collections::HashSet;

use futures_util::StreamExt;
use serde_json::Value;

use super::{Item, Run, StepStop};
use crate::http::{Effect, Exchange, Request};
use crate::jsonpath::{JsonPath, scalar_text};
use crate::playbook::compile::{
    EnrichPlan, FetchPlan, FetchSource, ListingPlan, PageStyle, PaginatePlan,
};
use crate::progress::{Counts, Event};
use crate::providers::Verdict;
use crate::report::{ItemOutcome, ItemReport, StepError};
use crate::secrets::Redactor;

/// Items that cannot be read (no id) are each warned about up to this many; then one line counts
/// the rest, so an answer of a million id-less objects does not print a million lines.
const MAX_ITEM_WARNINGS: usize = 5;

/// The largest ids file read.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

impl Run<'_> {
    pub(super) async fn fetch(
        &mut self,
        step: &str,
        plan: &FetchPlan,
    ) -> Result<Vec<Item>, StepStop> {
        self.progress.event(Event::StepStarted {
            step: step.into(),
            kind: "fetch",
            total: None,
        });
        // Ids from `file:` or `ids:` are ids, whatever the adapter's `task.id` path reads.
        let given_ids = !matches!(plan.source, FetchSource::Http { .. });
        let mut truncated = Vec::new();
        let raw = match &plan.source {
            FetchSource::Http { listing, each } => {
                let ListingPlan {
                    request,
                    items,
                    total,
                    paginate,
                    cap,
                } = listing.as_ref();
                let base = self
                    .render_request(request, &self.ctx(vec![]))
                    .map_err(StepStop::Failed)?;
                let what = format!("{} {}", base.method, base.url);
                let listing = Listing {
                    items,
                    total: total.as_ref(),
                    paginate: paginate.as_ref(),
                    max_items: plan.max_items,
                };
                let found = self.list(step, base, &listing).await?;
                truncated.extend(capped(&what, found.len(), *cap, paginate.is_some()));
                match each {
                    Some(each) => {
                        self.list_each(step, each, found, plan.max_items, &mut truncated)
                            .await?
                    }
                    None => found,
                }
            }
            FetchSource::File { path, id_field } => {
                let path = self
                    .plan
                    .templates
                    .render(path, &self.ctx(vec![]))
                    .map_err(StepStop::Failed)?;
                read_ids_file(std::path::Path::new(path.trim()), id_field.as_deref())
                    .map_err(StepStop::Failed)?
            }
            FetchSource::Ids(t) => {
                let value = self
                    .plan
                    .templates
                    .render_value(t, &self.ctx(vec![]))
                    .map_err(StepStop::Failed)?;
                ids_from_value(&value)
            }
        };
        if let FetchSource::File { .. } | FetchSource::Ids(_) = &plan.source
            && raw.len() as u64 > plan.max_items
        {
            return Err(StepStop::Abort(too_many_items(
                &format!("more ids were given ({})", raw.len()),
                plan.max_items,
            )));
        }
        let mut items = Vec::new();
        let mut seen = HashSet::new();
        let mut duplicates = 0;
        let mut unreadable = 0usize;
        for value in raw {
            let read = if given_ids {
                Item::given(value, &plan.fields)
            } else {
                Item::read(value, &plan.fields)
            };
            match read {
                Ok(item) if seen.insert(item.id.clone()) => items.push(item),
                Ok(_) => duplicates += 1,
                Err(e) => {
                    unreadable += 1;
                    if unreadable <= MAX_ITEM_WARNINGS {
                        let e = e.describe(&self.redactor);
                        self.progress
                            .event(Event::Warning(format!("step {step}: {e}")));
                    }
                }
            }
        }
        if unreadable > MAX_ITEM_WARNINGS {
            self.progress.event(Event::Warning(format!(
                "step {step}: {} more items could not be read, as above",
                unreadable - MAX_ITEM_WARNINGS
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
        if let Some(enrich) = &plan.enrich {
            items = self.enrich(step, enrich, items, &plan.fields).await?;
        }
        self.report.totals.fetched += items.len() as u64;
        let dup = if duplicates > 0 {
            format!(" ({duplicates} duplicates dropped)")
        } else {
            String::new()
        };
        self.progress.event(Event::StepFinished {
            step: step.into(),
            summary: format!("{} items{dup}", items.len()),
        });
        Ok(items)
    }

    /// For each item `outer` the first listing found, the second listing's items (each project's
    /// tasks), in order; a capped answer adds a warning to `truncated`.
    async fn list_each(
        &self,
        step: &str,
        each: &ListingPlan,
        outer: Vec<Value>,
        max_items: u64,
        truncated: &mut Vec<String>,
    ) -> Result<Vec<Value>, StepStop> {
        let mut all = Vec::new();
        let lists = outer.len();
        for (done, item) in (1usize..).zip(outer) {
            let ctx = self.ctx(vec![(
                "item",
                minijinja::Value::from(minijinja::value::Serde(&item)),
            )]);
            let base = self
                .render_request(&each.request, &ctx)
                .map_err(StepStop::Failed)?;
            let what = format!("{} {}", base.method, base.url);
            let listing = Listing {
                items: &each.items,
                total: each.total.as_ref(),
                paginate: each.paginate.as_ref(),
                max_items,
            };
            let found = self.list(step, base, &listing).await?;
            if (all.len() as u64).saturating_add(found.len() as u64) > max_items {
                return Err(StepStop::Abort(too_many_items(
                    &format!(
                        "the listings have more items ({} by listing {done} of {lists})",
                        all.len() + found.len()
                    ),
                    max_items,
                )));
            }
            truncated.extend(capped(
                &what,
                found.len(),
                each.cap,
                each.paginate.is_some(),
            ));
            all.extend(found);
        }
        Ok(all)
    }

    async fn list(
        &self,
        step: &str,
        base: Request,
        listing: &Listing<'_>,
    ) -> Result<Vec<Value>, StepStop> {
        let Listing {
            items: items_paths,
            total: total_path,
            paginate,
            max_items,
        } = *listing;
        let mut all = Vec::new();
        let mut state = PageState::start(paginate.map(|p| &p.style));
        let mut seen_tokens = HashSet::new();
        let mut pages = 0u32;
        let mut total_said = None;
        let older_than = paginate.and_then(|p| {
            let span = jiff::SignedDuration::try_from(p.stop_before?.0).ok()?;
            let cutoff = jiff::Timestamp::now().checked_sub(span).ok()?;
            Some((p.newest_first.as_ref()?, cutoff))
        });
        loop {
            pages += 1;
            let req = state.apply(paginate.map(|p| &p.style), &base);
            let exchange = self
                .http
                .send(&req, Effect::Read, &self.plan.connection.backoff, None)
                .await;
            // Cut short by SIGINT/SIGTERM (a wait ended, or the read was dropped): the run stops.
            let cut_short = exchange.response.is_none() || exchange.error.is_some();
            if cut_short && self.interrupted() {
                return Err(StepStop::Abort("interrupted".into()));
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
            // Counted before anything is copied: the copies are what would not fit.
            if (all.len() as u64).saturating_add(count) > max_items {
                return Err(StepStop::Abort(too_many_items(
                    &format!(
                        "the listing has more items ({} by page {pages})",
                        all.len() as u64 + count
                    ),
                    max_items,
                )));
            }
            all.extend(found.into_iter().cloned());
            self.progress.event(Event::StepProgress {
                step: step.into(),
                total: None,
                counts: Counts {
                    done: all.len() as u64,
                    ..Counts::default()
                },
            });
            let Some(paginate) = paginate else { break };
            if all_older {
                // The rest is older than the window: the API's total counts it, so it says nothing.
                total_said = None;
                break;
            }
            let Some(next) = state.next(
                &paginate.style,
                count,
                json,
                exchange.response.as_ref(),
                &req.url,
            ) else {
                break;
            };
            if let PageState::Link(Some(url)) = &state
                && url.origin() != base.url.origin()
            {
                // The playbook's headers carry credentials: they go to the API's host only.
                return Err(StepStop::Failed(format!(
                    "the next page is on another host ({}) than the API ({}); runbook does not send the connection's credentials there",
                    self.redactor.redact(&url.origin().ascii_serialization()),
                    self.redactor
                        .redact(&base.url.origin().ascii_serialization()),
                )));
            }
            if !seen_tokens.insert(next.clone()) {
                self.progress.event(Event::Warning(format!(
                    "step {step}: the API gave the same next page twice ({next}); stopping there"
                )));
                break;
            }
            if pages >= paginate.max_pages {
                return Err(StepStop::Abort(format!(
                    "the listing has more than max_pages = {} pages; stopped rather than work on a partial list. Raise `paginate.max_pages` or narrow the query",
                    paginate.max_pages
                )));
            }
        }
        if let Some(said) = total_said.filter(|t| *t > all.len() as u64) {
            return Err(StepStop::Abort(format!(
                "the API says there are {said} items but returned {}; stopped rather than work on a truncated list. Raise the request's limit or narrow the query",
                all.len()
            )));
        }
        Ok(all)
    }

    async fn enrich(
        &mut self,
        step: &str,
        plan: &EnrichPlan,
        items: Vec<Item>,
        fields: &crate::playbook::compile::FieldsPlan,
    ) -> Result<Vec<Item>, StepStop> {
        let total = items.len() as u64;
        let results: Vec<(usize, Item, Result<Value, ReadFailure>)> = {
            let this = &*self;
            futures_util::stream::iter(items.into_iter().enumerate())
                .map(|(index, item)| async move {
                    let result = this.read_item(plan, &item).await;
                    (index, item, result)
                })
                .buffer_unordered(plan.concurrency.max(1))
                .collect()
                .await
        };
        let mut ordered = results;
        ordered.sort_by_key(|(i, _, _)| *i);
        let mut kept = Vec::new();
        for (done, (_, mut item, result)) in (1u64..).zip(ordered) {
            match result {
                Ok(value) => {
                    match (plan.merge, &mut item.raw, value) {
                        (true, Value::Object(own), Value::Object(fresh)) => own.extend(fresh),
                        (_, raw, fresh) => *raw = fresh,
                    }
                    item.reread(fields);
                    kept.push(item);
                }
                Err(ReadFailure {
                    message,
                    abort: true,
                    ..
                }) => return Err(StepStop::Abort(message)),
                Err(ReadFailure {
                    message,
                    http_status,
                    attempts,
                    ..
                }) => {
                    let message = self
                        .redactor
                        .redact(&format!("could not read the item: {message}"));
                    self.report.items.push(ItemReport {
                        id: item.id.clone(),
                        label: item.label.clone(),
                        status: item.status.clone(),
                        outcome: ItemOutcome::Failed,
                        http_status,
                        attempts,
                        message: Some(message),
                        step: step.into(),
                        request: None,
                        new_id: None,
                        chain: Vec::new(),
                    });
                }
            }
            self.progress.event(Event::StepProgress {
                step: step.into(),
                total: Some(total),
                counts: Counts {
                    done,
                    ..Counts::default()
                },
            });
        }
        Ok(kept)
    }

    /// One item read again: its new value.
    pub(super) async fn read_item(
        &self,
        plan: &EnrichPlan,
        item: &Item,
    ) -> Result<Value, ReadFailure> {
        let fail = |message: String, http_status, attempts, abort| ReadFailure {
            message,
            http_status,
            attempts,
            abort,
        };
        let req = self
            .render_request(&plan.request, &self.item_ctx(item))
            .map_err(|e| fail(e, None, 0, false))?;
        let exchange = self
            .http
            .send(&req, Effect::Read, &self.plan.connection.backoff, None)
            .await;
        let status = exchange.response.as_ref().map(|r| r.status);
        let attempts = exchange.attempts;
        let cut_short = status.is_none() || exchange.error.is_some();
        if cut_short && self.interrupted() {
            return Err(fail("interrupted".into(), None, attempts, true));
        }
        match read_json(&req, &exchange, &self.redactor) {
            Ok(json) => plan.item.first(json).cloned().ok_or_else(|| {
                let m = format!(
                    "{} {}: no item at {} in the answer",
                    req.method,
                    req.url,
                    plan.item.source()
                );
                fail(m, status, attempts, false)
            }),
            Err(StepStop::Abort(m)) => Err(fail(m, status, attempts, true)),
            Err(StepStop::Failed(m)) => Err(fail(m, status, attempts, false)),
        }
    }
}

/// The warning for an unpaged listing (`what`: its method and URL) whose answer held `count`
/// items, when the API's `cap` says it cannot hold more: what lies beyond the cap was never seen.
fn capped(what: &str, count: usize, cap: Option<u64>, paged: bool) -> Option<String> {
    let cap = cap.filter(|c| !paged && count as u64 >= *c)?;
    Some(format!(
        "possibly truncated: {what} returned {count} items, the most this API returns in one answer (cap: {cap}), so items beyond them may exist and were not seen. Narrow the listing (a narrower query, or `each:` to list per project) until no answer holds {cap} items"
    ))
}

/// Where a listing's items are and how far it may go.
struct Listing<'a> {
    items: &'a [JsonPath],
    total: Option<&'a JsonPath>,
    paginate: Option<&'a PaginatePlan>,
    max_items: u64,
}

/// The abort message of a fetch over its `max_items`: what was seen, the cap, how to raise it.
fn too_many_items(seen: &str, max_items: u64) -> String {
    format!(
        "{seen} than max_items = {max_items}; stopped rather than hold them all in memory. Raise `max_items` on this fetch step (a number, or a template like \"{{{{ vars.max_items }}}}\" to set it with --var) or narrow the query"
    )
}

/// Why one item could not be read again.
pub(super) struct ReadFailure {
    pub(super) message: String,
    http_status: Option<u16>,
    attempts: u32,
    /// The run must stop (credentials refused).
    abort: bool,
}

/// The JSON of a successful read, or why there is none. A body quoted in the reason is cut only
/// after `redactor` ran over it. Borrowed, not cloned: a listing's page can be most of the memory a
/// run holds.
pub(crate) fn read_json<'a>(
    req: &Request,
    exchange: &'a Exchange,
    redactor: &Redactor,
) -> Result<&'a Value, StepStop> {
    let what = format!("{} {}", req.method, req.url);
    if let Verdict::AuthFailed { reason } = &exchange.verdict {
        return Err(StepStop::Abort(format!(
            "authentication failed: {what}: {reason}"
        )));
    }
    let Some(response) = &exchange.response else {
        return Err(StepStop::Failed(format!(
            "{what}: {}",
            exchange.error.as_deref().unwrap_or("no answer")
        )));
    };
    if matches!(response.status, 401 | 403) {
        let detail = short_message(response, redactor);
        return Err(StepStop::Abort(format!(
            "authentication failed: {what}: HTTP {}{detail}",
            response.status
        )));
    }
    if let Some(error) = &exchange.error {
        return Err(StepStop::Failed(format!("{what}: {error}")));
    }
    if let Verdict::Failed { reason } | Verdict::Transient { reason } = &exchange.verdict {
        return Err(StepStop::Failed(format!("{what}: {reason}")));
    }
    if !(200..300).contains(&response.status) {
        return Err(StepStop::Failed(format!(
            "{what}: HTTP {}{}",
            response.status,
            short_message(response, redactor)
        )));
    }
    response.json.as_ref().ok_or_else(|| {
        StepStop::Failed(format!(
            "{what}: expected a JSON answer, got {}",
            response.describe_body(redactor)
        ))
    })
}

fn short_message(response: &crate::http::Response, redactor: &Redactor) -> String {
    let from_json = response.json.as_ref().and_then(|j| {
        crate::jsonpath::message_paths()
            .iter()
            .find_map(|p| p.first_text(j))
    });
    match from_json {
        Some(m) => format!(": {m}"),
        None if response.text.trim().is_empty() => String::new(),
        None => format!(": {}", response.describe_body(redactor)),
    }
}

/// When a path found no items: fine if the list is there and empty, an error if the answer does not
/// have the shape the path expects.
pub(crate) fn check_shape(items: &JsonPath, json: &Value) -> Result<(), String> {
    let source = items.source();
    let parent = source.strip_suffix("[*]").unwrap_or(source);
    if parent == "$" || parent.is_empty() {
        return if json.is_array() {
            Ok(())
        } else {
            Err(format!(
                "expected a JSON array of items, got {}",
                kind(json)
            ))
        };
    }
    let Ok(parent_path) = JsonPath::parse(parent) else {
        return Ok(());
    };
    match parent_path.query(json).first() {
        Some(Value::Array(_)) | Some(Value::Null) => Ok(()),
        Some(other) if parent != source => Err(format!(
            "expected an array at {parent}, got {}",
            kind(other)
        )),
        Some(_) => Ok(()),
        None => {
            let keys = json
                .as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_else(|| kind(json).into());
            Err(format!(
                "the answer has nothing at {parent} (it has: {keys}); check `items:`"
            ))
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Where pagination stands.
enum PageState {
    None,
    Page(u64),
    Offset(u64),
    Cursor(Option<String>),
    Link(Option<url::Url>),
}

impl PageState {
    fn start(style: Option<&PageStyle>) -> PageState {
        match style {
            None => PageState::None,
            Some(PageStyle::Page { start, .. }) => PageState::Page(*start),
            Some(PageStyle::Offset { .. }) => PageState::Offset(0),
            Some(PageStyle::Cursor { .. }) => PageState::Cursor(None),
            Some(PageStyle::NextLinkPath(_) | PageStyle::NextLinkHeader(_)) => {
                PageState::Link(None)
            }
        }
    }

    fn apply(&self, style: Option<&PageStyle>, base: &Request) -> Request {
        let mut req = base.clone();
        match (self, style) {
            (
                PageState::Page(n),
                Some(PageStyle::Page {
                    param,
                    size_param,
                    size,
                    ..
                }),
            ) => {
                set_query(&mut req.url, param, &n.to_string());
                if let (Some(sp), Some(size)) = (size_param, size) {
                    set_query(&mut req.url, sp, &size.to_string());
                }
            }
            (
                PageState::Offset(o),
                Some(PageStyle::Offset {
                    param,
                    limit_param,
                    size,
                }),
            ) => {
                set_query(&mut req.url, param, &o.to_string());
                set_query(&mut req.url, limit_param, &size.to_string());
            }
            (
                PageState::Cursor(Some(c)),
                Some(PageStyle::Cursor {
                    param,
                    in_body: true,
                    ..
                }),
            ) => {
                let mut body = match req.body.take() {
                    Some(Value::Object(m)) => m,
                    _ => serde_json::Map::new(),
                };
                body.insert(param.clone(), Value::String(c.clone()));
                req.body = Some(Value::Object(body));
            }
            (PageState::Cursor(Some(c)), Some(PageStyle::Cursor { param, .. })) => {
                set_query(&mut req.url, param, c)
            }
            (PageState::Link(Some(url)), _) => req.url = url.clone(),
            _ => {}
        }
        req
    }

    /// Advance past a page that held `count` items; the token of the next page, or None at the end.
    fn next(
        &mut self,
        style: &PageStyle,
        count: u64,
        json: &Value,
        response: Option<&crate::http::Response>,
        current: &url::Url,
    ) -> Option<String> {
        match (self, style) {
            (PageState::Page(n), PageStyle::Page { size, .. }) => {
                if count == 0 || size.is_some_and(|s| count < s) {
                    return None;
                }
                // Checked: `start` is the playbook's; past u64 there is no next page to ask for.
                *n = n.checked_add(1)?;
                Some(format!("page {n}"))
            }
            (PageState::Offset(o), PageStyle::Offset { size, .. }) => {
                if count < *size {
                    return None;
                }
                *o = o.checked_add(*size)?;
                Some(format!("offset {o}"))
            }
            (PageState::Cursor(c), PageStyle::Cursor { next, .. }) => {
                let token = next
                    .first(json)
                    .and_then(scalar_text)
                    .filter(|t| !t.is_empty())?;
                *c = Some(token.clone());
                Some(token)
            }
            (PageState::Link(l), PageStyle::NextLinkPath(path)) => {
                let link = path.first_text(json).filter(|t| !t.is_empty())?;
                let url = current.join(&link).ok()?;
                *l = Some(url.clone());
                Some(url.to_string())
            }
            (PageState::Link(l), PageStyle::NextLinkHeader(header)) => {
                let value = response?.header(header)?;
                let link = next_from_link_header(value)?;
                let url = current.join(&link).ok()?;
                *l = Some(url.clone());
                Some(url.to_string())
            }
            _ => None,
        }
    }
}

/// Set query parameter `name` to `value`, replacing any value it had.
fn set_query(url: &mut url::Url, name: &str, value: &str) {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut pairs = url.query_pairs_mut();
    pairs.clear();
    for (k, v) in &kept {
        pairs.append_pair(k, v);
    }
    pairs.append_pair(name, value);
}

/// The `rel="next"` target of an RFC 8288 `Link` header. Links are told apart by their `<`, not by
/// commas, since a target may hold commas (`?status=failed,timed_out`); a `rel` may name several
/// relations (`rel="next last"`).
pub(crate) fn next_from_link_header(value: &str) -> Option<String> {
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let close = after.find('>')?;
        let params = &after[close + 1..];
        let end = params.find('<').unwrap_or(params.len());
        let is_next = params[..end].split([';', ',']).any(|param| {
            param.split_once('=').is_some_and(|(name, rels)| {
                name.trim().eq_ignore_ascii_case("rel")
                    && rels
                        .trim()
                        .trim_matches('"')
                        .split_whitespace()
                        .any(|rel| rel.eq_ignore_ascii_case("next"))
            })
        });
        if is_next {
            return Some(after[..close].trim().to_string());
        }
        rest = &params[end..];
    }
    None
}

/// Ids or objects from a JSON file: an array of strings, or of objects with an id field.
fn read_ids_file(path: &std::path::Path, id_field: Option<&str>) -> Result<Vec<Value>, String> {
    let text =
        crate::files::read_text(path, MAX_FILE_BYTES, "ids file").map_err(|e| e.to_string())?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        format!("{}:{}:{}: not valid JSON: {e}; expected an array of ids, or of objects with an id field", path.display(), e.line(), e.column())
    })?;
    let Value::Array(entries) = value else {
        return Err(format!(
            "{}: expected a JSON array of ids, or of objects with an id field",
            path.display()
        ));
    };
    let fields: Vec<&str> = match id_field {
        Some(f) => vec![f],
        None => vec!["id", "task_id", "taskId", "uuid"],
    };
    entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| match entry {
            Value::String(_) | Value::Number(_) => {
                Ok(serde_json::json!({ "id": scalar_text(&entry) }))
            }
            Value::Object(mut map) => {
                let id = fields
                    .iter()
                    .find_map(|f| map.get(*f).and_then(scalar_text))
                    .ok_or_else(|| {
                        format!(
                            "{}: entry {} has no id field ({}); set `id_field:`",
                            path.display(),
                            i + 1,
                            fields.join(", ")
                        )
                    })?;
                map.insert("id".into(), Value::String(id));
                Ok(Value::Object(map))
            }
            other => Err(format!(
                "{}: entry {} is {}, not an id or an object",
                path.display(),
                i + 1,
                kind(&other)
            )),
        })
        .collect()
}

/// Ids from a rendered value: a list, or text separated by commas, spaces or new lines.
pub(crate) fn ids_from_value(value: &Value) -> Vec<Value> {
    let ids: Vec<String> = match value {
        Value::Array(list) => list.iter().filter_map(scalar_text).collect(),
        other => scalar_text(other)
            .unwrap_or_default()
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    };
    ids.into_iter().map(|id| Item::from_id(&id).raw).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_next_is_found() {
        let v = r#"<https://a/x?page=1>; rel="prev", <https://a/x?page=3>; rel="next""#;
        assert_eq!(
            next_from_link_header(v).as_deref(),
            Some("https://a/x?page=3")
        );
        assert_eq!(
            next_from_link_header(r#"<https://a/x?page=1>; rel="prev""#),
            None
        );
        let commas = r#"<https://a/x?s=a,b&page=1>; rel="first", <https://a/x?s=a,b&page=2>; rel="next last""#;
        assert_eq!(
            next_from_link_header(commas).as_deref(),
            Some("https://a/x?s=a,b&page=2")
        );
    }

    #[test]
    fn ids_come_from_lists_and_text() {
        assert_eq!(ids_from_value(&serde_json::json!("a, b c\nd")).len(), 4);
        assert_eq!(ids_from_value(&serde_json::json!(["a", 2])).len(), 2);
    }
}
