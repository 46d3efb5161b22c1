//! The `fetch` step: where its items come from (an HTTP listing, perhaps one per item of another,
//! a local file, or ids given), how a listing pages, and how many items it may hold.
//!
//! The top-level listing and each `each:` listing are compiled by one function, [`Compiler::listing`];
//! they differ only in the names their templates may read and in where their paging's time is.

use std::collections::BTreeSet;

use super::plan::{FetchPlan, FetchSource, FieldsPlan, ListingPlan, PageStyle, PaginatePlan};
use super::plan::{StepKind, StepPlan};
use super::{Compiler, ROOTS_LIST, StepAt, constant_path};
use crate::jsonpath::JsonPath;
use crate::playbook::layer::Place;
use crate::playbook::model;

/// Names the request of a `fetch: each:` listing may use: the outer item as `item`.
const ROOTS_EACH: &[&str] = &["vars", "steps", "item"];
const DEFAULT_MAX_PAGES: u32 = 100;
/// Items one page holds under `offset:` paging unless it says otherwise.
const DEFAULT_OFFSET_SIZE: u64 = 50;
/// Most items one fetch step holds unless it says otherwise. Measured (debug build, issue 7): fetching
/// and retrying 50,000 items peaks at 310 MB of RSS (`/usr/bin/time -v`), where 1,000,000 items ran
/// out of memory; recovery runs are far smaller, and a larger one raises the cap knowingly.
pub(crate) const DEFAULT_MAX_ITEMS: u64 = 50_000;

/// Which listing is compiled: the fetch's own, or the one of `each:`.
#[derive(Clone, Copy)]
enum Level {
    Top,
    Each,
}

impl Compiler<'_> {
    pub(super) fn fetch(&mut self, f: &model::Fetch, at: StepAt) -> Option<FetchPlan> {
        let place = at.place;
        let fields = self.step_fields(f.fields.as_ref())?;
        let sources = [f.request.is_some(), f.file.is_some(), f.ids.is_some()]
            .iter()
            .filter(|x| **x)
            .count();
        if sources > 1 {
            return self.error(
                place,
                "a fetch takes items from one of `request`, `file` or `ids`",
                None,
            );
        }
        if let (Some(stop), true) = (&f.stop_before, f.file.is_some() || f.ids.is_some()) {
            return self.error(
                self.sources.place(stop),
                "`stop_before` stops paging a listing; ids from `file` or `ids` are not paged",
                Some("remove `stop_before`".into()),
            );
        }
        let source = if let Some(path) = &f.file {
            FetchSource::File {
                path: self.template(path, ROOTS_LIST)?,
                id_field: f.id_field.clone(),
            }
        } else if let Some(ids) = &f.ids {
            FetchSource::Ids(self.template(ids, ROOTS_LIST)?)
        } else {
            let Some(request) = &f.request else {
                return self.error(
                    place,
                    "this fetch has no `request`, `file` or `ids`",
                    Some("add `request: {path: /tasks}` and `items: $.tasks[*]`".into()),
                );
            };
            let listing = model::Listing {
                request: request.clone(),
                items: f.items.clone(),
                total: f.total.clone(),
                paginate: f.paginate.clone(),
                cap: f.cap,
            };
            let mut listing = self.listing(&listing, place, Level::Top, &fields)?;
            if let Some(stop) = &f.stop_before {
                match listing
                    .paginate
                    .as_mut()
                    .filter(|p| p.newest_first.is_some())
                {
                    Some(p) => p.stop_before = Some(self.span(stop)?),
                    None => {
                        return self.error(
                            self.sources.place(stop),
                            "`stop_before` stops paging a listing ordered newest first, and this one is not",
                            Some(
                                "add `order: newest_first` (and `time:`) to `paginate`, if the API sorts so".into(),
                            ),
                        );
                    }
                }
            }
            let each = match &f.each {
                Some(e) => Some(Box::new(self.listing(e, place, Level::Each, &fields)?)),
                None => None,
            };
            FetchSource::Http {
                listing: Box::new(listing),
                each,
            }
        };
        if !matches!(source, FetchSource::Http { .. }) && (f.cap.is_some() || f.each.is_some()) {
            return self.error(
                place,
                "`cap` and `each` are for a fetch with a `request`, not `file` or `ids`",
                None,
            );
        }
        let enrich = self.optional(f.enrich.as_ref(), |c, e| c.enrich(e, place))?;
        let max_items = match &f.max_items {
            Some(m) => match self.count(m, "max_items")? {
                0 => {
                    return self.error(self.sources.place(m), "max_items must be at least 1", None);
                }
                n => n,
            },
            None => DEFAULT_MAX_ITEMS,
        };
        Some(FetchPlan {
            source,
            max_items,
            enrich,
            fields,
            filtered_by_next: false,
        })
    }

    /// The fields of a fetch's items: its own `fields:` over the playbook's `task:` (its `id`,
    /// `label` and `message`; `status` and `created_at` are its own or the usual paths).
    fn step_fields(&mut self, own: Option<&model::TaskFields>) -> Option<FieldsPlan> {
        let task = self.task_fields.clone()?;
        let Some(own) = own else { return Some(task) };
        let mut plan = self.fields(own);
        if own.id.is_none() {
            plan.id = task.id;
        }
        plan.label = plan.label.or(task.label);
        plan.message = plan.message.or(task.message);
        Some(plan)
    }

    /// One HTTP listing: the fetch's own (`Level::Top`) or the one of `each:`.
    fn listing(
        &mut self,
        l: &model::Listing,
        at: Place,
        level: Level,
        fields: &FieldsPlan,
    ) -> Option<ListingPlan> {
        let (roots, created_at, fix) = match level {
            Level::Top => (ROOTS_LIST, fields.created_at.as_ref(), ""),
            Level::Each => (ROOTS_EACH, None, " in `each:`"),
        };
        let request = self.request(&l.request, roots, "GET", at)?;
        let items = match &l.items {
            Some(p) => self.jsonpaths(p)?,
            None => vec![constant_path("$[*]")],
        };
        let total = self.optional(l.total.as_ref(), Self::jsonpath)?;
        let paginate = self.optional(l.paginate.as_ref(), |c, p| c.paginate(p, at, created_at))?;
        if l.cap.is_some() && paginate.is_some() {
            return self.error(
                at,
                "`cap` is for a listing without pagination (a paged listing goes on to the next page)",
                Some(format!("remove `cap:` or `paginate:`{fix}")),
            );
        }
        Some(ListingPlan {
            request,
            items,
            total,
            paginate,
            cap: l.cap,
        })
    }

    fn paginate(
        &mut self,
        p: &model::Paginate,
        at: Place,
        created_at: Option<&JsonPath>,
    ) -> Option<PaginatePlan> {
        let styles = [
            p.page.is_some(),
            p.offset.is_some(),
            p.cursor.is_some(),
            p.next_link.is_some(),
        ];
        if styles.iter().filter(|s| **s).count() != 1 {
            return self.error(
                at,
                "`paginate` needs exactly one of `page`, `offset`, `cursor` or `next_link`",
                None,
            );
        }
        let style = if let Some(page) = &p.page {
            PageStyle::Page {
                param: page.param.clone().unwrap_or_else(|| "page".into()),
                start: page.start.unwrap_or(1),
                size_param: page.size_param.clone(),
                size: page.size,
            }
        } else if let Some(o) = &p.offset {
            PageStyle::Offset {
                param: o.param.clone().unwrap_or_else(|| "offset".into()),
                limit_param: o.limit_param.clone().unwrap_or_else(|| "limit".into()),
                size: o.size.unwrap_or(DEFAULT_OFFSET_SIZE).max(1),
            }
        } else if let Some(c) = &p.cursor {
            PageStyle::Cursor {
                param: c.param.clone().unwrap_or_else(|| "cursor".into()),
                in_body: c.location == Some(model::CursorLocation::Body),
                next: self.jsonpath(&c.next)?,
            }
        } else {
            let link = p.next_link.as_ref()?;
            match (&link.path, &link.header) {
                (Some(path), None) => PageStyle::NextLinkPath(self.jsonpath(path)?),
                (None, Some(header)) => PageStyle::NextLinkHeader(header.to_ascii_lowercase()),
                _ => {
                    return self.error(
                        at,
                        "`next_link` takes one of `path` (a JSONPath) or `header` (e.g. link)",
                        None,
                    );
                }
            }
        };
        let max_pages = p.max_pages.unwrap_or(DEFAULT_MAX_PAGES).max(1);
        let newest_first = match (p.order.unwrap_or_default(), &p.time) {
            (model::ListOrder::Unordered, Some(time)) => {
                return self.error(
                    self.sources.place(time),
                    "`paginate.time` is the time a listing is ordered by: it needs `order: newest_first`",
                    Some("add `order: newest_first`, or remove `time:`".into()),
                );
            }
            (model::ListOrder::Unordered, None) => None,
            (model::ListOrder::NewestFirst, Some(time)) => Some(self.jsonpath(time)?),
            (model::ListOrder::NewestFirst, None) => match created_at {
                Some(path) => Some(path.clone()),
                None => {
                    return self.error(
                        at,
                        "`order: newest_first` needs the time the listing is ordered by",
                        Some("add `time: $.created_at` (a JSONPath) to `paginate`".into()),
                    );
                }
            },
        };
        Some(PaginatePlan {
            style,
            max_pages,
            newest_first,
            stop_before: None,
        })
    }
}

/// A listing ordered newest first with no `stop_before` of its own stops paging at the window of
/// the filter that reads it: the one step reading the fetch's items must be a filter whose `since`
/// looks at the items' own time (no `time:` template, which could read another field).
pub(super) fn stop_before_from_filters(steps: &mut [StepPlan]) {
    for i in 0..steps.len() {
        let StepKind::Fetch(fetch) = &steps[i].kind else {
            continue;
        };
        let FetchSource::Http { listing, .. } = &fetch.source else {
            continue;
        };
        let Some(p) = &listing.paginate else { continue };
        if p.newest_first.is_none() || p.stop_before.is_some() {
            continue;
        }
        let readers: Vec<&StepPlan> = readers(steps, i).map(|(_, s)| s).collect();
        let since = match readers.as_slice() {
            [
                StepPlan {
                    kind: StepKind::Filter(f),
                    ..
                },
            ] if f.time.is_none() => f.since,
            _ => None,
        };
        if let StepKind::Fetch(fetch) = &mut steps[i].kind
            && let FetchSource::Http { listing, .. } = &mut fetch.source
            && let Some(p) = &mut listing.paginate
        {
            p.stop_before = since;
        }
    }
}

/// The steps after `steps[i]` that read its items: a filter, retry or verify naming it as `input`,
/// or the next step when it names none.
fn readers(steps: &[StepPlan], i: usize) -> impl Iterator<Item = (usize, &StepPlan)> {
    let name = steps[i].name.as_str();
    steps[i + 1..].iter().enumerate().filter(move |(k, s)| {
        let input = match &s.kind {
            StepKind::Filter(f) => f.input.as_deref(),
            StepKind::Retry(r) => r.input.as_deref(),
            StepKind::Verify(v) => v.input.as_deref(),
            _ => return false,
        };
        input == Some(name) || (input.is_none() && *k == 0)
    })
}

/// A fetch without enrichment whose only reader is the filter right after it, and whose items no
/// template reads (`steps_read`: what templates read of `steps`; its count may be read), is
/// filtered as it is read: see `FetchPlan::filtered_by_next`.
pub(super) fn filters_as_read(steps: &mut [StepPlan], steps_read: &BTreeSet<String>) {
    for i in 0..steps.len() {
        let StepKind::Fetch(fetch) = &steps[i].kind else {
            continue;
        };
        let name = steps[i].name.as_str();
        let own = format!("steps.{name}");
        let count = format!("{own}.count");
        let items_read = steps_read.iter().any(|r| {
            r == "steps" || r == &own || (r.starts_with(&format!("{own}.")) && r != &count)
        });
        let only_next_filter = matches!(
            readers(steps, i).collect::<Vec<_>>().as_slice(),
            [(
                0,
                StepPlan {
                    kind: StepKind::Filter(_),
                    ..
                }
            )]
        );
        let fused = fetch.enrich.is_none() && only_next_filter && !items_read;
        if let StepKind::Fetch(fetch) = &mut steps[i].kind {
            fetch.filtered_by_next = fused;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{compile_steps, errors};
    use super::super::{FetchPlan, FetchSource, Plan, StepKind};
    use super::DEFAULT_MAX_ITEMS;

    fn fetch(plan: &Plan) -> &FetchPlan {
        match &plan.steps[0].kind {
            StepKind::Fetch(f) => f,
            _ => panic!("a fetch first"),
        }
    }

    #[test]
    fn a_listing_defaults_to_every_element_unpaged_and_the_default_cap_of_items() {
        let plan = compile_steps("", "  - fetch: {request: {path: /t}}\n").expect("a plan");
        let f = fetch(&plan);
        assert_eq!(f.max_items, DEFAULT_MAX_ITEMS);
        let FetchSource::Http { listing, each } = &f.source else {
            panic!("a listing")
        };
        assert_eq!(listing.items.len(), 1);
        assert!(listing.paginate.is_none() && listing.cap.is_none() && each.is_none());
    }

    #[test]
    fn the_sources_of_a_fetch_exclude_each_other() {
        assert_eq!(
            errors(compile_steps("", "  - fetch: {ids: a, file: f.json}\n")),
            ["a fetch takes items from one of `request`, `file` or `ids`"]
        );
        assert_eq!(
            errors(compile_steps("", "  - fetch: {}\n")),
            ["this fetch has no `request`, `file` or `ids`"]
        );
        assert_eq!(
            errors(compile_steps("", "  - fetch: {ids: a, cap: 5}\n")),
            ["`cap` and `each` are for a fetch with a `request`, not `file` or `ids`"]
        );
        assert_eq!(
            errors(compile_steps("", "  - fetch: {ids: a, stop_before: 1d}\n")),
            ["`stop_before` stops paging a listing; ids from `file` or `ids` are not paged"]
        );
    }

    #[test]
    fn a_capped_listing_is_not_paged_at_either_level() {
        let paged = "paginate: {page: {}}";
        assert_eq!(
            errors(compile_steps(
                "",
                &format!("  - fetch: {{request: {{path: /t}}, cap: 5, {paged}}}\n")
            )),
            [
                "`cap` is for a listing without pagination (a paged listing goes on to the next page)"
            ]
        );
        let result = compile_steps(
            "",
            &format!(
                "  - fetch: {{request: {{path: /p}}, each: {{request: {{path: \"/p/{{{{ item.id | urlencode }}}}\"}}, cap: 5, {paged}}}}}\n"
            ),
        );
        let Err(diags) = result else {
            panic!("compiled")
        };
        assert_eq!(
            diags[0].help.as_deref(),
            Some("remove `cap:` or `paginate:` in `each:`")
        );
    }

    #[test]
    fn paging_styles_and_their_defaults() {
        assert_eq!(
            errors(compile_steps(
                "",
                "  - fetch: {request: {path: /t}, paginate: {page: {}, offset: {}}}\n"
            )),
            ["`paginate` needs exactly one of `page`, `offset`, `cursor` or `next_link`"]
        );
        let plan = compile_steps(
            "",
            "  - fetch: {request: {path: /t}, paginate: {offset: {}}}\n",
        )
        .expect("a plan");
        let FetchSource::Http { listing, .. } = &fetch(&plan).source else {
            panic!("a listing")
        };
        let p = listing.paginate.as_ref().expect("paged");
        assert_eq!(p.max_pages, super::DEFAULT_MAX_PAGES);
        assert!(
            matches!(&p.style, super::PageStyle::Offset { size: 50, param, limit_param } if param == "offset" && limit_param == "limit")
        );
        assert!(p.newest_first.is_none());
    }

    #[test]
    fn newest_first_paging_reads_the_items_time_and_stops_at_the_filters_since() {
        let steps = "  - fetch: {request: {path: /t}, paginate: {page: {}, order: newest_first}}\n  - filter: {since: 2h}\n";
        let plan = compile_steps("", steps).expect("a plan");
        let FetchSource::Http { listing, .. } = &fetch(&plan).source else {
            panic!("a listing")
        };
        let p = listing.paginate.as_ref().expect("paged");
        assert_eq!(
            p.newest_first
                .as_ref()
                .map(|t| t.source().to_string())
                .as_deref(),
            Some("$.created_at")
        );
        assert_eq!(p.stop_before.map(|s| s.0.as_secs()), Some(7200));
        assert_eq!(
            errors(compile_steps(
                "",
                "  - fetch: {request: {path: /t}, stop_before: 1d}\n"
            )),
            ["`stop_before` stops paging a listing ordered newest first, and this one is not"]
        );
        assert_eq!(
            errors(compile_steps(
                "",
                "  - fetch: {request: {path: /t}, paginate: {page: {}, time: $.at}}\n"
            )),
            ["`paginate.time` is the time a listing is ordered by: it needs `order: newest_first`"]
        );
    }

    #[test]
    fn max_items_is_at_least_one() {
        assert_eq!(
            errors(compile_steps("", "  - fetch: {ids: a, max_items: 0}\n")),
            ["max_items must be at least 1"]
        );
        let plan = compile_steps(
            "vars: {n: 7}\n",
            "  - fetch: {ids: a, max_items: \"{{ vars.n }}\"}\n",
        )
        .expect("a plan");
        assert_eq!(fetch(&plan).max_items, 7);
    }

    #[test]
    fn a_fetch_read_only_by_the_next_filter_and_no_template_is_filtered_as_it_is_read() {
        let fused =
            |steps: &str| fetch(&compile_steps("", steps).expect("a plan")).filtered_by_next;
        let fetch_step = "  - name: all\n    fetch: {request: {path: /t}}\n";
        let filter = "  - filter: {status_in: [failed]}\n";
        assert!(fused(&format!("{fetch_step}{filter}")));
        assert!(fused(&format!(
            "{fetch_step}  - filter: {{input: all, limit: 2}}\n  - retry: {{request: {{path: \"/r/{{{{ steps.all.count }}}}\"}}}}\n"
        )));
        // Not when anything else reads the items.
        assert!(!fused(fetch_step));
        assert!(!fused(&format!(
            "{fetch_step}  - retry: {{request: {{path: /r}}}}\n"
        )));
        assert!(!fused(&format!(
            "{fetch_step}{filter}  - retry: {{input: all, request: {{path: /r}}}}\n"
        )));
        assert!(!fused(&format!(
            "{fetch_step}{filter}  - retry: {{request: {{path: /r, body: {{x: \"{{{{ steps.all.items }}}}\"}}}}}}\n"
        )));
        assert!(!fused(
            "  - name: all\n    fetch: {request: {path: /t}, enrich: {request: {path: /one}}}\n  - filter: {limit: 1}\n"
        ));
    }
}
