//! Integration tests of the `runbook` binary: one `mod` per feature, all through two helpers.
//!
//! - [`Runbook`] runs the binary in a fresh temporary directory with an explicit environment
//!   (`env_clear`, then `PATH` and only what the test gives), so a developer's `.env` or variables
//!   never leak in. It returns the exit code, stdout, stderr and the report, if one was asked for.
//! - [`FakeApi`] serves an axum `Router` built by the test on `127.0.0.1:0` and journals every
//!   request (method, path, query, body, arrival time, answer time, status). Tests assert on that
//!   journal: what was sent, how often, and when.
//!
//! Invariants: no test reaches anything but 127.0.0.1; no test sleeps to wait for something; timing
//! is asserted only as lower bounds measured by the fake server's own clock.

mod adaptive_pace;
mod agreement;
mod ambiguous_answers;
mod architecture;
mod batch;
mod broken_ledger;
mod canary;
mod capped_listings;
mod completions;
mod dry_run;
mod fetch_sources;
mod filter;
mod filtered_as_read;
mod found_at_load;
mod gate;
mod github_actions;
mod golden;
mod header_commands;
mod history_json;
mod hostile;
mod id_paths;
mod ids_are_ids;
mod item_caps;
mod junit;
mod ledger_in_memory;
mod lock_race;
mod log_lines;
mod malformed_answers;
mod max_pages;
mod metrics;
mod new_playbooks;
mod newest_first;
mod not_sent;
mod notify;
mod one_off_retry;
mod outcome;
mod overflow;
mod pagination;
mod providers;
mod proxy;
mod rate;
mod recipes;
mod redaction;
mod redirects;
mod report_files;
mod report_paths;
mod reports;
mod retry_after;
mod run_flags;
mod run_time_aborts;
mod sandbox;
mod sandbox_rate_limit;
mod sandbox_runs;
mod sandbox_scale;
mod schema;
mod schema_agreement;
mod schema_modeline;
mod secret_precheck;
mod secrets;
mod signals;
mod tls;
mod transient;
mod unattended;
mod unreadable_files;
mod unsendable_headers;
mod walkthrough;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::middleware::{Next, from_fn};
use axum::response::Response;
use serde_json::Value;

/// Longest a single run of the binary may take before the test fails (a hang guard, not a speed
/// assertion).
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// The runtime every fake server runs on; the tests themselves are synchronous.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("the test runtime starts")
    })
}

/// The usual head of a test playbook: the generic provider pointed at `API_URL`, with short
/// backoffs so that transient failures do not slow the suite.
pub fn playbook(steps: &str) -> String {
    format!(
        "name: test\nprovider: http\nconnection:\n  base_url: \"{{{{ env('API_URL') }}}}\"\n  backoff: {{initial: 10ms, max: 50ms, attempts: 3}}\nsteps:\n{steps}"
    )
}

/// One run of the binary, to be configured and then [`Runbook::run`].
pub struct Runbook {
    dir: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
    report: Option<String>,
}

impl Runbook {
    /// `runbook ARGS` in an empty temporary directory.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(args: I) -> Runbook {
        Runbook {
            dir: tempfile::tempdir().expect("a temporary directory"),
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            report: None,
        }
    }

    /// `runbook play playbook.yaml -o report.json` with `text` as the playbook.
    pub fn play(text: &str) -> Runbook {
        Runbook::new(["play", "playbook.yaml"])
            .file("playbook.yaml", text)
            .report("report.json")
    }

    /// `runbook validate playbook.yaml` with `text` as the playbook.
    pub fn validate(text: &str) -> Runbook {
        Runbook::new(["validate", "playbook.yaml"]).file("playbook.yaml", text)
    }

    /// Write a file into the working directory.
    pub fn file(self, name: &str, contents: &str) -> Runbook {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create the file's directory");
        }
        std::fs::write(path, contents).expect("write a test file");
        self
    }

    pub fn arg(mut self, arg: &str) -> Runbook {
        self.args.push(arg.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Runbook {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Runbook {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Point `API_URL` at a fake API.
    pub fn api(self, api: &FakeApi) -> Runbook {
        let url = api.url();
        self.env("API_URL", &url)
    }

    /// Ask for a report at `name` (`-o name`), read back by [`Ran::report`].
    pub fn report(mut self, name: &str) -> Runbook {
        self.args.push("-o".into());
        self.args.push(name.into());
        if name.ends_with(".json") {
            self.report = Some(name.into());
        }
        self
    }

    /// Run without a report file.
    pub fn no_report(mut self) -> Runbook {
        if let Some(name) = self.report.take() {
            let at = self
                .args
                .windows(2)
                .position(|w| w[0] == "-o" && w[1] == name);
            if let Some(i) = at {
                self.args.drain(i..i + 2);
            }
        }
        self
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The command, with its environment cleared but for `PATH` and the test's own variables.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_runbook"));
        cmd.args(&self.args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Run to completion (or fail the test after [`RUN_LIMIT`]).
    pub fn run(self) -> Ran {
        let child = self
            .command()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the runbook binary starts");
        let watchdog = Watchdog::start(child.id());
        let output = child.wait_with_output().expect("the runbook binary runs");
        drop(watchdog);
        Ran {
            code: output.status.code().expect(
                "runbook exits with a code, not a signal (or it was killed by the watchdog)",
            ),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            report: self.report.clone(),
            dir: self.dir,
        }
    }

    /// Run to completion like [`Runbook::run`], calling `react` as soon as a line of stderr matches
    /// `trigger`, that is, once runbook has told that it reached some point (say, it is backing
    /// off). Tests use it to change the fake API's behaviour at that moment instead of sleeping.
    /// `react` is not called if no line matches.
    pub fn run_reacting(self, trigger: impl Fn(&str) -> bool, react: impl FnOnce()) -> Ran {
        use std::io::{BufRead, Read};
        let mut child = self
            .command()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the runbook binary starts");
        let watchdog = Watchdog::start(child.id());
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let reading = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        });
        let stderr = child.stderr.take().expect("stderr is piped");
        let mut react = Some(react);
        let mut err = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if trigger(&line)
                && let Some(react) = react.take()
            {
                react();
            }
            err.push_str(&line);
            err.push('\n');
        }
        let status = child.wait().expect("the runbook binary runs");
        drop(watchdog);
        Ran {
            code: status.code().expect(
                "runbook exits with a code, not a signal (or it was killed by the watchdog)",
            ),
            stdout: reading.join().unwrap_or_default(),
            stderr: err,
            report: self.report.clone(),
            dir: self.dir,
        }
    }
}

/// Kills a runbook process that is still running [`RUN_LIMIT`] after it started (a hang guard);
/// dropping the watchdog stands it down.
struct Watchdog {
    _stand_down: std::sync::mpsc::Sender<()>,
}

impl Watchdog {
    fn start(pid: u32) -> Watchdog {
        let (done, finished) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                finished.recv_timeout(RUN_LIMIT)
            {
                eprintln!("runbook (pid {pid}) did not finish within {RUN_LIMIT:?}: killing it");
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        });
        Watchdog { _stand_down: done }
    }
}

/// What a run did.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    report: Option<String>,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Ran {
    /// Fail unless the exit code is `code`, showing the output.
    pub fn expect_code(&self, code: i32) -> &Ran {
        assert_eq!(self.code, code, "unexpected exit code:\n{self:?}");
        self
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The JSON report asked for with [`Runbook::report`].
    pub fn report(&self) -> Value {
        let name = self
            .report
            .as_deref()
            .expect("the run asked for a JSON report");
        let text = std::fs::read_to_string(self.path(name))
            .unwrap_or_else(|e| panic!("the report {name} was not written ({e}):\n{self:?}"));
        serde_json::from_str(&text).expect("the report is JSON")
    }

    /// The report's item with id `id`.
    pub fn item(&self, id: &str) -> Value {
        let report = self.report();
        let found: Vec<&Value> = items(&report).filter(|i| i["id"] == id).collect();
        assert_eq!(found.len(), 1, "item {id} appears once in {report:#}");
        found[0].clone()
    }

    /// Ids of the report's items, in report order.
    pub fn item_ids(&self) -> Vec<String> {
        items(&self.report())
            .map(|i| i["id"].as_str().expect("an item id is text").to_string())
            .collect()
    }

    /// Each item's id and outcome, sorted by id.
    pub fn outcomes(&self) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = items(&self.report())
            .map(|i| {
                (
                    i["id"].as_str().unwrap_or_default().to_string(),
                    i["outcome"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        all.sort();
        all
    }

    /// `totals.NAME` of the report.
    pub fn total(&self, name: &str) -> u64 {
        self.report()["totals"][name]
            .as_u64()
            .unwrap_or_else(|| panic!("totals.{name} is a number"))
    }
}

fn items(report: &Value) -> impl Iterator<Item = &Value> {
    report["items"]
        .as_array()
        .expect("items is an array")
        .iter()
}

/// Pairs of (id, outcome) from string slices, sorted, to compare with [`Ran::outcomes`].
pub fn outcomes(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    all.sort();
    all
}

/// One request as a fake API received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Query parameters in order, decoded.
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// When the request reached the handler (monotonic clock).
    pub arrived: Instant,
    /// The same moment on the wall clock (for HTTP-date `Retry-After`).
    pub arrived_wall: SystemTime,
    /// When the answer left the handler.
    pub answered: Option<Instant>,
    pub status: u16,
}

impl Recorded {
    /// The first value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A journal of requests, shared by a fake API and its test.
#[derive(Clone, Default)]
pub struct Journal(Arc<Mutex<Vec<Recorded>>>);

impl Journal {
    pub fn all(&self) -> Vec<Recorded> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn push(&self, r: Recorded) -> usize {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        all.push(r);
        all.len() - 1
    }

    fn answered(&self, index: usize, status: u16) {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = all.get_mut(index) {
            r.answered = Some(Instant::now());
            r.status = status;
        }
    }
}

/// An in-process HTTP API on 127.0.0.1, built by the test, journaling every request.
pub struct FakeApi {
    addr: SocketAddr,
    journal: Journal,
    server: tokio::task::JoinHandle<()>,
}

impl FakeApi {
    /// Serve `router` on a free port.
    pub fn start(router: Router) -> FakeApi {
        FakeApi::start_on(0, router)
    }

    /// Serve `router` on `port` (0: a free one).
    pub fn start_on(port: u16, router: Router) -> FakeApi {
        let journal = Journal::default();
        let j = journal.clone();
        let app = router.layer(from_fn(move |req: Request, next: Next| {
            let j = j.clone();
            async move { record(j, req, next).await }
        }));
        let (addr, server) = runtime().block_on(async move {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .expect("bind 127.0.0.1");
            let addr = listener.local_addr().expect("a local address");
            let server = tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            (addr, server)
        });
        FakeApi {
            addr,
            journal,
            server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn journal(&self) -> Journal {
        self.journal.clone()
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.journal.all()
    }

    /// The requests with this method.
    pub fn with_method(&self, method: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method)
            .collect()
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn record(journal: Journal, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, 16 * 1024 * 1024).await.unwrap_or_default();
    let query = url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let index = journal.push(Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        arrived: Instant::now(),
        arrived_wall: SystemTime::now(),
        answered: None,
        status: 0,
    });
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    journal.answered(index, response.status().as_u16());
    response
}

/// A port on 127.0.0.1 that nothing listens on (it was free a moment ago).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("a local address").port()
}

/// The repository's own files (playbooks/, schemas/).
pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}
