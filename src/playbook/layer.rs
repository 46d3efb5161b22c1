//! The layer step: the provider adapter's defaults overlaid onto the playbook once, before
//! compilation, so that the compiler reads one playbook and never asks "the playbook's, or else the
//! adapter's?".
//!
//! An adapter's defaults are written in the playbook language (`providers::Provider::defaults_yaml`)
//! and read into [`Defaults`]. Overlaying fills only gaps: a value the playbook gives always wins,
//! field by field (headers by name, whatever their case; backoff settings one by one). Invariants:
//!
//! - a fetch naming its own route (`path` or `url`) takes nothing of the adapter's listing (its
//!   query, items path, total, pagination and cap belong to the adapter's route), and a fetch from
//!   `file:` or `ids:` takes none of it either;
//! - a retry with its own `request` or `batch` keeps its mode: the adapter's request only fills
//!   what its own request leaves out (a batch takes nothing);
//! - a read of one item (`enrich`, a retry's `check`, a verify) without a request of its own takes
//!   the adapter's get-one request with its item path; one with its own request takes only the
//!   parts it leaves out (query and headers merged by name), and its own item path or `$`.
//!
//! Every value keeps the place it was written: the adapter's text is read as if it followed the
//! playbook's last line, and [`Sources::place`] tells which file a line belongs to, so that an error
//! in an adapter's default points at `<built-in NAME adapter>:LINE:COL`, not into the playbook.

use std::sync::Arc;

use super::load::{parse, position_of};
use super::model::{
    Backoff, Connection, Defaults, Enrich, Fetch, Playbook, Request, Retry, Spanned, TaskFields,
    Verify,
};
use crate::diagnostic::{Diagnostic, Position, SourceFile};
use crate::providers::Provider;

/// Which text a value was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    Playbook,
    Adapter,
}

/// A place in the playbook or the adapter's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Place {
    pub(crate) origin: Origin,
    pub(crate) position: Option<Position>,
}

impl Place {
    /// A place in the playbook (a step, or nowhere in particular).
    pub(crate) fn playbook(position: Option<Position>) -> Place {
        Place {
            origin: Origin::Playbook,
            position,
        }
    }
}

/// The two texts a layered playbook was read from.
pub(crate) struct Sources {
    pub(crate) playbook: Arc<SourceFile>,
    pub(crate) adapter: Arc<SourceFile>,
    /// Lines up to this one are the playbook's; the adapter's first line was read as the next.
    adapter_offset: usize,
}

impl Sources {
    /// Where `value` was written.
    pub(crate) fn place<T>(&self, value: &Spanned<T>) -> Place {
        match position_of(value) {
            Some(p) if p.line > self.adapter_offset => Place {
                origin: Origin::Adapter,
                position: Some(Position {
                    line: p.line - self.adapter_offset,
                    column: p.column,
                }),
            },
            position => Place::playbook(position),
        }
    }

    /// The file of `origin`.
    pub(crate) fn file(&self, origin: Origin) -> &Arc<SourceFile> {
        match origin {
            Origin::Playbook => &self.playbook,
            Origin::Adapter => &self.adapter,
        }
    }

    /// A diagnostic located at `place`.
    pub(crate) fn locate(&self, diagnostic: Diagnostic, place: Place) -> Diagnostic {
        diagnostic.at(self.file(place.origin), place.position)
    }
}

/// A playbook with its adapter's defaults overlaid, and the texts its values were read from.
pub(crate) struct Layered {
    pub(crate) playbook: Playbook,
    pub(crate) sources: Sources,
}

/// Read `provider`'s defaults for `playbook` (read from `file`) and overlay them onto it.
pub(crate) fn layer(
    file: &Arc<SourceFile>,
    mut playbook: Playbook,
    provider: &dyn Provider,
) -> Result<Layered, Diagnostic> {
    let adapter = Arc::new(SourceFile {
        path: format!("<built-in {} adapter>", provider.name()).into(),
        text: provider
            .defaults_yaml(&playbook.connection.options)
            .map_err(Diagnostic::new)?,
    });
    let adapter_offset = file.text.lines().count() + 1;
    let sources = Sources {
        playbook: Arc::clone(file),
        adapter,
        adapter_offset,
    };
    let defaults = read_defaults(&sources)?;
    overlay(&mut playbook, &defaults);
    Ok(Layered { playbook, sources })
}

/// The adapter's defaults, read as if their text followed the playbook's (see [`Sources::place`]).
fn read_defaults(sources: &Sources) -> Result<Defaults, Diagnostic> {
    let text = &sources.adapter.text;
    if text.trim().is_empty() {
        return Ok(Defaults::default());
    }
    let shifted = Arc::new(SourceFile {
        path: sources.adapter.path.clone(),
        text: "\n".repeat(sources.adapter_offset) + text,
    });
    parse(&shifted).map_err(|d| {
        let position = d.position.map(|p| Position {
            line: p.line.saturating_sub(sources.adapter_offset),
            column: p.column,
        });
        Diagnostic { file: None, ..d }.at(&sources.adapter, position)
    })
}

/// Fill the gaps of `playbook` with `defaults`.
fn overlay(playbook: &mut Playbook, defaults: &Defaults) {
    connection(&mut playbook.connection, &defaults.connection);
    task_fields(&mut playbook.task, &defaults.task);
    let get = defaults.get.as_ref();
    for step in &mut playbook.steps {
        let step = &mut step.value;
        if let Some(f) = &mut step.fetch {
            fetch(f, defaults.fetch.as_ref(), get);
        }
        if let Some(r) = &mut step.retry {
            retry(r, defaults.retry.as_ref(), get);
        }
        if let Some(v) = &mut step.verify {
            verify(v, defaults.verify.as_ref(), get);
        }
    }
}

/// `own`, or else a copy of `default`.
fn fill<T: Clone>(own: &mut Option<T>, default: &Option<T>) {
    if own.is_none() {
        own.clone_from(default);
    }
}

fn connection(c: &mut Connection, d: &Connection) {
    fill(&mut c.base_url, &d.base_url);
    for (name, value) in &d.headers {
        if !c.headers.keys().any(|k| k.eq_ignore_ascii_case(name)) {
            c.headers.insert(name.clone(), value.clone());
        }
    }
    fill(&mut c.rate, &d.rate);
    fill(&mut c.timeout, &d.timeout);
    fill(&mut c.connect_timeout, &d.connect_timeout);
    backoff(&mut c.backoff, &d.backoff);
    fill(&mut c.redirects, &d.redirects);
}

/// Backoff settings one by one: the playbook's, else the adapter's.
fn backoff(own: &mut Option<Backoff>, default: &Option<Backoff>) {
    let Some(d) = default else { return };
    let b = own.get_or_insert_with(Backoff::default);
    fill(&mut b.attempts, &d.attempts);
    fill(&mut b.initial, &d.initial);
    fill(&mut b.max, &d.max);
    fill(&mut b.on_status, &d.on_status);
    fill(&mut b.max_retry_after, &d.max_retry_after);
}

fn task_fields(t: &mut TaskFields, d: &TaskFields) {
    fill(&mut t.id, &d.id);
    fill(&mut t.label, &d.label);
    fill(&mut t.status, &d.status);
    fill(&mut t.created_at, &d.created_at);
    fill(&mut t.message, &d.message);
}

fn fetch(f: &mut Fetch, d: Option<&Fetch>, get: Option<&Enrich>) {
    if let (Some(e), Some(g)) = (&mut f.enrich, get) {
        read_one(
            &mut e.request,
            &mut e.item,
            g.request.as_ref(),
            g.item.as_ref(),
        );
    }
    let own_route = f
        .request
        .as_ref()
        .is_some_and(|r| r.path.is_some() || r.url.is_some());
    let Some(d) = d.filter(|_| !own_route && f.file.is_none() && f.ids.is_none()) else {
        return;
    };
    request(&mut f.request, d.request.as_ref());
    fill(&mut f.items, &d.items);
    fill(&mut f.total, &d.total);
    match (&mut f.paginate, &d.paginate) {
        // The API's order is the adapter's knowledge: a playbook that pages its own way keeps it
        // unless it says otherwise.
        (Some(p), Some(dp)) if p.order.is_none() && p.time.is_none() && dp.order.is_some() => {
            p.order = dp.order;
            p.time.clone_from(&dp.time);
        }
        (own, dp) => fill(own, dp),
    }
    fill(&mut f.cap, &d.cap);
}

/// A request with what it leaves out taken from `default` (see [`Request::over`]).
fn request(own: &mut Option<Request>, default: Option<&Request>) {
    let Some(d) = default else { return };
    *own = Some(match own.take() {
        Some(r) => r.over(d),
        None => d.clone(),
    });
}

/// A read of one item: its own request over the adapter's; the adapter's item path only with the
/// adapter's request.
fn read_one(
    request: &mut Option<Request>,
    item: &mut Option<Spanned<String>>,
    default_request: Option<&Request>,
    default_item: Option<&Spanned<String>>,
) {
    if request.is_none() && item.is_none() && default_request.is_some() {
        *item = default_item.cloned();
    }
    self::request(request, default_request);
}

fn retry(r: &mut Retry, d: Option<&Retry>, get: Option<&Enrich>) {
    match (&mut r.check, get) {
        (Some(c), Some(g)) => read_one(
            &mut c.request,
            &mut c.item,
            g.request.as_ref(),
            g.item.as_ref(),
        ),
        (check, Some(g)) => *check = Some(g.clone()),
        (_, None) => {}
    }
    let Some(d) = d else { return };
    if r.request.is_none() && r.batch.is_none() {
        r.request.clone_from(&d.request);
        r.batch.clone_from(&d.batch);
    } else if r.batch.is_none() {
        request(&mut r.request, d.request.as_ref());
    }
    fill(&mut r.concurrency, &d.concurrency);
    fill(&mut r.rate, &d.rate);
    backoff(&mut r.backoff, &d.backoff);
    match (&mut r.outcome, &d.outcome) {
        // What the adapter knows of its server's ambiguous and missing-route answers stays, unless
        // the playbook's own `outcome` says otherwise.
        (Some(own), Some(dflt)) => {
            fill(&mut own.ambiguous, &dflt.ambiguous);
            fill(&mut own.missing_route, &dflt.missing_route);
        }
        (own, dflt) => fill(own, dflt),
    }
    fill(&mut r.new_id, &d.new_id);
    fill(&mut r.note, &d.note);
    fill(&mut r.counter, &d.counter);
}

/// A verify reads with the adapter's own verify request, else its get-one request.
fn verify(v: &mut Verify, d: Option<&Verify>, get: Option<&Enrich>) {
    let (default_request, default_item) = match d.filter(|d| d.request.is_some()) {
        Some(d) => (d.request.as_ref(), d.item.as_ref()),
        None => (
            get.and_then(|g| g.request.as_ref()),
            get.and_then(|g| g.item.as_ref()),
        ),
    };
    read_one(&mut v.request, &mut v.item, default_request, default_item);
    if let Some(d) = d {
        fill(&mut v.success, &d.success);
        fill(&mut v.failure, &d.failure);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::find;
    use std::path::PathBuf;

    fn source(text: &str) -> Arc<SourceFile> {
        Arc::new(SourceFile {
            path: PathBuf::from("p.yaml"),
            text: text.into(),
        })
    }

    fn layered(provider: &str, body: &str) -> Layered {
        let file = source(&format!("name: t\nprovider: {provider}\n{body}"));
        let playbook: Playbook = parse(&file).expect("a playbook");
        let adapter = find(provider).expect("an adapter");
        layer(&file, playbook, adapter.as_ref()).expect("layered")
    }

    fn text(value: &Option<Spanned<String>>) -> Option<&str> {
        value.as_ref().map(|v| v.value.as_str())
    }

    #[test]
    fn the_playbooks_value_wins_and_keeps_its_place() {
        let l = layered(
            "deepwork",
            "connection:\n  base_url: http://mine\n  headers: {authorization: mine}\ntask:\n  label: $.name\nsteps: []\n",
        );
        let c = &l.playbook.connection;
        assert_eq!(text(&c.base_url), Some("http://mine"));
        assert_eq!(
            c.headers.len(),
            1,
            "the adapter's Authorization is overridden whatever its case"
        );
        assert_eq!(c.headers["authorization"].value, "mine");
        let label = l.playbook.task.label.as_ref().expect("a label");
        assert_eq!(label.value, "$.name");
        assert_eq!(
            l.sources.place(label),
            Place::playbook(Some(Position {
                line: 7,
                column: 10
            }))
        );
    }

    #[test]
    fn an_adapter_default_fills_a_gap_and_points_into_the_adapter() {
        let l = layered("deepwork", "steps:\n  - fetch: {}\n  - retry: {}\n");
        let c = &l.playbook.connection;
        assert!(
            matches!(&c.rate, Some(r) if matches!(&r.value, crate::playbook::model::RateSetting::Text(t) if t == "8/s"))
        );
        let base_url = c.base_url.as_ref().expect("the adapter's base URL");
        let place = l.sources.place(base_url);
        assert_eq!(place.origin, Origin::Adapter);
        assert_eq!(place.position.map(|p| p.line), Some(3));
        assert_eq!(
            l.sources.file(place.origin).path,
            PathBuf::from("<built-in deepwork adapter>")
        );
        let fetch = l.playbook.steps[0].value.fetch.as_ref().expect("a fetch");
        assert_eq!(fetch.cap, Some(100));
        assert!(fetch.request.as_ref().is_some_and(|r| r.path.is_some()));
        let retry = l.playbook.steps[1].value.retry.as_ref().expect("a retry");
        let outcome = retry.outcome.as_ref().expect("the adapter's outcome");
        assert_eq!(outcome.ambiguous, Some(vec![500]));
        assert!(retry.check.is_some(), "the get-one request checks an item");
    }

    #[test]
    fn nothing_else_changes() {
        let body = "steps:\n  - fetch: {request: {path: /mine}}\n  - fetch: {ids: \"a b\"}\n  - retry: {batch: {size: 2}}\n";
        let l = layered("deepwork", body);
        let steps = &l.playbook.steps;
        let own_route = steps[0].value.fetch.as_ref().expect("a fetch");
        assert_eq!(
            own_route.cap, None,
            "a fetch naming its own route keeps its own listing"
        );
        assert!(own_route.items.is_none() && own_route.total.is_none());
        let ids = steps[1].value.fetch.as_ref().expect("a fetch");
        assert!(ids.request.is_none() && ids.cap.is_none());
        let retry = steps[2].value.retry.as_ref().expect("a retry");
        assert!(retry.request.is_none(), "a batch takes no per-item request");
        assert!(l.playbook.connection.timeout.is_none());
        assert!(l.playbook.guards.max_selected.is_none());
        let plain = layered("http", body);
        assert!(plain.playbook.connection.base_url.is_none());
        assert!(plain.playbook.connection.headers.is_empty());
    }

    #[test]
    fn an_own_paging_keeps_the_adapters_order_unless_it_says_one() {
        let l = layered(
            "skyvern",
            "steps:\n  - fetch: {paginate: {page: {param: p}}}\n  - fetch: {paginate: {page: {param: p}, order: unordered}}\n",
        );
        let order = |i: usize| {
            let f = l.playbook.steps[i].value.fetch.as_ref().expect("a fetch");
            f.paginate.as_ref().and_then(|p| p.order)
        };
        assert_eq!(
            order(0),
            Some(crate::playbook::model::ListOrder::NewestFirst)
        );
        assert_eq!(order(1), Some(crate::playbook::model::ListOrder::Unordered));
    }
}
