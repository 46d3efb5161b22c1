//! The interpreter: runs a compiled [`Plan`]'s steps in order over one HTTP client and collects a
//! [`RunReport`]. One file per step kind.
//!
//! Invariants: nothing mutating is sent in a dry run; an authentication failure, a guard or a
//! ledger that cannot be used aborts the run (no new requests), and the report is still produced;
//! a template found broken whatever the data (out of fuel, recursion) stops the run before its next
//! step; every message that reaches the report has passed the redactor.

mod error;
pub(crate) mod fetch;
mod filter;
pub mod item;
pub(crate) mod outcome;
mod outputs;
pub(crate) mod request;
pub(crate) mod results;
mod retry;
mod verify;

use std::collections::HashMap;
use std::sync::Arc;

use minijinja::Value as Ctx;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::client::HttpClient;
use crate::ledger::{Ledger, Past};
use crate::playbook::compile::{Plan, StepKind};
use crate::progress::{Event, Progress};
use crate::report::{RunReport, StepError as ReportedError, Totals};
use crate::secrets::{EnvSource, Redactor, SecretSource};
use crate::time::rfc3339;
pub use error::{Abort, StepError};
pub use item::Item;
use outputs::{Outputs, StepOutput};

/// Choices made on the command line for one run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub dry_run: bool,
    /// Retry at most this many items.
    pub limit: Option<u64>,
    /// Overrides every retry step's concurrency.
    pub concurrency: Option<usize>,
    /// Base URL to use instead of the playbook's (the sandbox).
    pub base_url: Option<String>,
    /// Where runs, items and requests are recorded.
    pub ledger: Option<Arc<Ledger>>,
    /// The unfinished run this one continues, and what it (and the runs it resumed) did per item.
    pub resume: Option<(String, HashMap<String, Past>)>,
    /// Send again the retries that were in flight when the resumed run stopped and cannot be checked.
    pub retry_unknown: bool,
    /// Go past the blast-radius guards.
    pub yes: bool,
    /// Cancelled on SIGINT/SIGTERM: every wait (rate slot, `Retry-After` gate, backoff, verify's
    /// poll interval) ends at once, nothing new is sent, reads in flight are dropped, retries in
    /// flight get [`crate::client::IN_FLIGHT_GRACE`] and are then left in the ledger as in flight;
    /// the report is written.
    pub interrupted: CancellationToken,
    /// Why the run must not start (the ledger cannot be used): no step runs, the run is aborted
    /// and its reports say why.
    pub stop_before_start: Option<String>,
}

/// How a step ended when it did not simply succeed.
#[derive(Debug)]
pub enum StepStop {
    /// The step failed; later steps still run on what there is.
    Failed(String),
    /// The run stops: authentication refused, a guard tripped, interrupted.
    Abort(Abort),
}

/// Why a run could not be set up: nothing has been sent. Each names the playbook's setting.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// `connection.base_url` cannot be rendered.
    #[error("connection.base_url: {0}")]
    BaseUrl(String),
    /// A `connection.headers` value cannot be rendered, or can never be sent.
    #[error("connection.headers.{name}: {why}")]
    Header { name: String, why: String },
    /// The HTTP client cannot be built.
    #[error(transparent)]
    Client(#[from] crate::client::ClientError),
}

/// Everything a run shares between its steps.
pub struct Run<'a> {
    pub plan: &'a Plan,
    pub http: HttpClient,
    pub redactor: Redactor,
    pub progress: Arc<dyn Progress>,
    pub options: RunOptions,
    base_url: Option<request::BaseUrl>,
    headers: Vec<(String, String)>,
    vars: Ctx,
    steps: Ctx,
    outputs: Outputs,
    last: StepOutput,
    /// What a fetch found while it applied the next filter's tests, for that filter to report.
    prefiltered: Option<filter::Prefiltered>,
    /// The step running now, as results name it.
    step: results::StepRef,
    /// The one writer of results: ledger, progress, report.
    results: results::Results,
    /// The run's report: its items and totals are filled from `results` when the run ends.
    pub report: RunReport,
    /// Report files named by report steps, rendered.
    pub files: Vec<(std::path::PathBuf, Option<String>)>,
    /// The step that stopped the run, and where it is written (redacted).
    pub stopped: Option<StepError>,
}

/// Run `plan`. Errors here are set-up errors (a template in the connection settings that cannot be
/// rendered, a missing credential): nothing has been sent.
pub async fn run(
    plan: &Plan,
    env: Arc<EnvSource>,
    redactor: Redactor,
    progress: Arc<dyn Progress>,
    options: RunOptions,
    now: jiff::Timestamp,
) -> Result<Run<'_>, SetupError> {
    let vars_ctx = crate::template::context([("vars", &plan.vars)]);
    let base_url = match (&options.base_url, &plan.connection.base_url) {
        (Some(url), _) => Some(url.clone()),
        (None, Some(t)) => Some(
            plan.templates
                .render(t, &vars_ctx)
                .map_err(|e| SetupError::BaseUrl(e.to_string()))?,
        ),
        (None, None) => None,
    }
    .map(request::BaseUrl::new);
    let mut headers = Vec::new();
    for (name, t) in &plan.connection.headers {
        let value = plan
            .templates
            .render(t, &vars_ctx)
            .map_err(|e| SetupError::Header {
                name: name.clone(),
                why: e.to_string(),
            })?;
        redactor.register_from(SecretSource::Header {
            name,
            value: &value,
        });
        // A header that can never be sent fails the run before its first request, not each
        // request five times.
        crate::client::header_pair(name, &value).map_err(|e| SetupError::Header {
            name: name.clone(),
            why: e.to_string(),
        })?;
        headers.push((name.clone(), value));
    }
    let c = &plan.connection;
    let http = HttpClient::new(
        Arc::clone(&plan.provider),
        env,
        redactor.clone(),
        Arc::clone(&progress),
        crate::client::ClientSettings {
            rate: c.rate,
            timeout: c.timeout,
            connect_timeout: c.connect_timeout,
            redirects: c.redirects,
        },
        options.interrupted.clone(),
    )?;
    let run_id = format!(
        "{}-{:04x}",
        now.strftime("%Y%m%dT%H%M%SZ"),
        rand::random::<u16>()
    );
    let report = RunReport {
        playbook: plan.name.clone(),
        provider: plan.provider.name().to_string(),
        run_id,
        dry_run: options.dry_run,
        // Only the sandbox sets the base URL from outside the playbook.
        sandbox: options.base_url.is_some(),
        started_at: rfc3339(now),
        finished_at: String::new(),
        totals: Totals::default(),
        items: Vec::new(),
        aborted: None,
        resumed_from: options.resume.as_ref().map(|(id, _)| id.clone()),
        errors: Vec::new(),
        pace: Vec::new(),
    };
    let results = results::Results::new(
        options.ledger.clone(),
        Arc::clone(&progress),
        redactor.clone(),
    );
    let mut stop_before_start = options.stop_before_start.clone();
    if stop_before_start.is_none()
        && let Err(e) = results.start(
            &report.run_id,
            plan,
            &report.started_at,
            options.dry_run,
            report.resumed_from.as_deref(),
        )
    {
        stop_before_start = Some(e.into());
    }
    let mut run = Run {
        plan,
        http,
        redactor,
        progress,
        options,
        base_url,
        headers,
        vars: Ctx::from(minijinja::value::Serde(&plan.vars)),
        steps: Outputs::default().context(),
        outputs: Outputs::default(),
        last: StepOutput::default(),
        prefiltered: None,
        step: results::StepRef {
            index: 0,
            name: String::new(),
        },
        results,
        report,
        files: Vec::new(),
        stopped: None,
    };
    // A run the ledger did not record is not finished in it either.
    let recorded = stop_before_start.is_none();
    match stop_before_start {
        Some(reason) => run.refuse_to_start(reason),
        None => run.execute().await,
    }
    if let Some(summary) = run.http.pace_summary() {
        run.report.pace.push(pace_report("connection", summary));
    }
    run.report.finished_at = rfc3339(jiff::Timestamp::now());
    (run.report.items, run.report.totals) = run.results.report();
    if recorded {
        // The log is copied into the database while the report renders.
        run.results.settle().await;
        let json = run
            .redactor
            .redact(&crate::report::json::render_stored(&run.report));
        if let Err(e) = run.results.finish(&run.report, &json).await {
            run.report.errors.push(ReportedError {
                step: "ledger".into(),
                message: e.into(),
            });
        }
    }
    Ok(run)
}

/// An adaptive pace's summary as the report records it, paces rounded to hundredths.
pub(crate) fn pace_report(
    scope: &str,
    summary: crate::client::pace::PaceSummary,
) -> crate::report::PaceReport {
    let round = |rate: f64| (rate * 100.0).round() / 100.0;
    crate::report::PaceReport {
        scope: scope.to_string(),
        start: round(summary.start),
        reached: round(summary.reached),
        highest: round(summary.highest),
        slowdowns: summary.slowdowns,
        throttled: summary.throttled,
        announced: summary.announced,
    }
}

impl Run<'_> {
    /// Whether SIGINT or SIGTERM asked the run to stop.
    pub fn interrupted(&self) -> bool {
        self.options.interrupted.is_cancelled()
    }

    async fn execute(&mut self) {
        for (index, step) in self.plan.steps.iter().enumerate() {
            self.step = results::StepRef {
                index,
                name: step.name.clone(),
            };
            if self.interrupted() {
                self.abort_with(index, Abort::Interrupted);
                return;
            }
            // A template that cannot be rendered whatever the data makes the playbook invalid:
            // the run stops before the next step (exit 2).
            if let Some(why) = self.plan.templates.broken() {
                self.abort_with(index, Abort::TemplateBroken(why));
                return;
            }
            let input = match &step.kind {
                StepKind::Filter(f) => self.input(f.input.as_deref()),
                StepKind::Retry(r) => self.input(r.input.as_deref()),
                StepKind::Verify(v) => self.input(v.input.as_deref()),
                _ => self.last.items.to_vec(),
            };
            let result = match &step.kind {
                StepKind::Fetch(f) => {
                    let next = self.plan.steps.get(index + 1).map(|s| &s.kind);
                    let filter = match next {
                        Some(StepKind::Filter(filter)) if f.filtered_by_next => Some(filter),
                        _ => None,
                    };
                    self.fetch(&step.name, f, filter)
                        .await
                        .map(|(items, count)| StepOutput {
                            count,
                            items: Arc::new(items),
                        })
                }
                StepKind::Filter(f) => self.filter(&step.name, f, input).map(StepOutput::all),
                StepKind::Retry(r) => self.retry(&step.name, r, input).await.map(StepOutput::all),
                StepKind::Verify(v) => self.verify(&step.name, v, input).await.map(StepOutput::all),
                StepKind::Report(r) => {
                    self.report_files(r);
                    Ok(self.last.clone())
                }
            };
            match result {
                Ok(items) => self.finish_step(&step.name, items),
                Err(StepStop::Failed(message)) => {
                    let message = self.redactor.redact(&message);
                    self.progress.event(Event::StepFinished {
                        step: step.name.clone(),
                        summary: format!("failed: {message}"),
                    });
                    self.report.errors.push(ReportedError {
                        step: step.name.clone(),
                        message,
                    });
                    self.finish_step(&step.name, StepOutput::default());
                }
                Err(StepStop::Abort(reason)) => {
                    self.abort_with(index, reason);
                    return;
                }
            }
        }
    }

    /// Abort before the first step: nothing is fetched or sent; the reports are still named.
    fn refuse_to_start(&mut self, reason: String) {
        self.report.aborted = Some(self.redactor.redact(&reason));
        for step in &self.plan.steps {
            if let StepKind::Report(r) = &step.kind {
                self.report_files(r);
            }
        }
    }

    /// Stop the run at step `index`: record why and where, and still name every report file.
    fn abort_with(&mut self, index: usize, reason: Abort) {
        let plan = self.plan;
        let step = &plan.steps[index];
        let reason = reason.redacted(&self.redactor);
        self.progress.event(Event::StepFinished {
            step: step.name.clone(),
            summary: format!("aborted: {reason}"),
        });
        self.report.aborted = Some(format!("step {}: {reason}", step.name));
        self.stopped = Some(StepError {
            index,
            name: step.name.clone(),
            file: plan.file.path.display().to_string(),
            position: step.position,
            kind: reason,
        });
        for later in &self.plan.steps {
            if let StepKind::Report(r) = &later.kind {
                self.report_files(r);
            }
        }
    }

    fn input(&self, name: Option<&str>) -> Vec<Item> {
        match name {
            Some(n) => self
                .outputs
                .get(n)
                .map(|o| o.items.to_vec())
                .unwrap_or_default(),
            None => self.last.items.to_vec(),
        }
    }

    fn finish_step(&mut self, name: &str, output: StepOutput) {
        self.outputs.insert(name, output.clone());
        self.steps = self.outputs.context();
        self.last = output;
    }

    /// A template context with `vars`, `steps` and `extra`.
    fn ctx(&self, extra: Vec<(&str, Ctx)>) -> Ctx {
        let mut map: std::collections::BTreeMap<&str, Ctx> = extra.into_iter().collect();
        map.insert("vars", self.vars.clone());
        map.insert("steps", self.steps.clone());
        Ctx::from(map)
    }

    /// A template context for one item: `item` (its answer) and `task` (its common fields).
    fn item_ctx(&self, item: &Item) -> Ctx {
        self.ctx(vec![
            ("item", item.template_value()),
            ("task", task_value(item)),
        ])
    }

    fn render_request(
        &self,
        plan: &crate::playbook::compile::RequestPlan,
        ctx: &Ctx,
    ) -> Result<crate::client::Request, request::RequestError> {
        self.render_over(plan, crate::template::Scope::Ctx(ctx))
    }

    /// The request `plan` makes for `item`: from its id alone when that is all the request reads
    /// (no context is built), else over the item's context.
    fn item_request(
        &self,
        plan: &crate::playbook::compile::RequestPlan,
        item: &Item,
    ) -> Result<crate::client::Request, request::RequestError> {
        if plan.reads_only_task_id() {
            self.render_over(plan, crate::template::Scope::TaskId(&item.id))
        } else {
            self.render_request(plan, &self.item_ctx(item))
        }
    }

    fn render_over(
        &self,
        plan: &crate::playbook::compile::RequestPlan,
        scope: crate::template::Scope<'_>,
    ) -> Result<crate::client::Request, request::RequestError> {
        request::render(
            &self.plan.templates,
            plan,
            scope,
            self.base_url.as_ref(),
            &self.headers,
        )
    }

    /// Name the report step's files: rendered, and kept under the working directory.
    fn report_files(&mut self, r: &crate::playbook::compile::ReportPlan) {
        let run = json!({ "id": self.report.run_id, "playbook": self.plan.name, "started_at": self.report.started_at });
        let ctx = self.ctx(vec![("run", Ctx::from(minijinja::value::Serde(run)))]);
        for t in &r.files {
            let path = self
                .plan
                .templates
                .render(t, &ctx)
                .map_err(|e| format!("report file name: {e}"))
                .and_then(|p| crate::report::confined_path(&p));
            match path {
                Ok(path) => self.files.push((path, r.title.clone())),
                Err(message) => self.report.errors.push(ReportedError {
                    step: "report".into(),
                    message: self.redactor.redact(&message),
                }),
            }
        }
    }
}

/// `task` in templates: [`Item::task`] made straight as a template value, without a JSON tree in
/// between, since it is made for every request of a retry.
fn task_value(item: &Item) -> Ctx {
    let text = |v: &Option<String>| v.as_deref().map_or(Ctx::from(()), Ctx::from);
    let created_at = item
        .created_at
        .as_ref()
        .map_or(Ctx::from(()), |v| Ctx::from(minijinja::value::Serde(v)));
    Ctx::from(std::collections::BTreeMap::from([
        ("id", Ctx::from(item.id.as_str())),
        ("label", text(&item.label)),
        ("status", text(&item.status)),
        ("created_at", created_at),
        ("message", text(&item.message)),
        ("new_id", text(&item.new_id)),
    ]))
}

/// `items` in the order of their keys, stable. The keys are sorted, with each item's position, and
/// each item is then moved once: sorting the items themselves (results, items: hundreds of bytes
/// each) moves every one of them many times, and a run's end waits for it. Items already in order
/// are handed back as they are.
pub(crate) fn sorted_by_key<T, K: Ord>(items: Vec<T>, key: impl Fn(&T) -> K) -> Vec<T> {
    let mut order: Vec<(K, usize)> = items
        .iter()
        .enumerate()
        .map(|(position, item)| (key(item), position))
        .collect();
    if order.is_sorted() {
        return items;
    }
    // Positions are unique: an unstable sort of (key, position) is the stable order of the keys.
    order.sort_unstable();
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|(_, position)| slots[position].take())
        .collect()
}

#[cfg(test)]
mod sorted_by_key_tests {
    use super::sorted_by_key;

    #[test]
    fn equal_keys_keep_their_order_and_every_item_comes_back_once() {
        let items = vec![(2, "a"), (1, "b"), (2, "c"), (0, "d"), (1, "e")];
        let sorted = sorted_by_key(items, |(key, _)| *key);
        assert_eq!(sorted, [(0, "d"), (1, "b"), (1, "e"), (2, "a"), (2, "c")]);
        assert_eq!(sorted_by_key(Vec::<u8>::new(), |x| *x), Vec::<u8>::new());
        assert_eq!(sorted_by_key(vec![3, 4, 4, 9], |x| *x), [3, 4, 4, 9]);
    }
}

#[cfg(test)]
mod item_ctx_tests {
    use super::{Ctx, Item, task_value};

    /// `task` made by hand is the template value [`Item::task`]'s JSON makes, field by field.
    #[test]
    fn task_value_is_the_template_value_of_item_task() {
        let mut item = Item::from_id("t-1");
        item.label = Some("nightly".into());
        item.created_at = Some(Box::new(serde_json::json!(1_700_000_000)));
        item.new_id = Some("t-2".into());
        let by_json = Ctx::from(minijinja::value::Serde(item.task()));
        assert_eq!(task_value(&item), by_json);
        assert_eq!(task_value(&item).to_string(), by_json.to_string());
        let bare = Item::from_id("t-3");
        assert_eq!(
            task_value(&bare),
            Ctx::from(minijinja::value::Serde(bare.task()))
        );
    }

    /// `item` parsed straight from the item's text is the value its parsed JSON tree made.
    #[test]
    fn item_template_value_is_the_template_value_of_its_json() {
        let item = Item::from_id("t-1");
        assert_eq!(
            item.template_value(),
            Ctx::from(minijinja::value::Serde(item.raw()))
        );
    }
}
