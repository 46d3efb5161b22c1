//! "Safe to run unattended": the ledger, `--resume` after a crash, the lock, the guards and the
//! circuit breaker, interrupts, retry budgets, `history` and `show`, `verify`, and ambiguous
//! retries — each judged by what the provider saw (the sandbox's record, or a fake server's) and by
//! the reports and the ledger.
//!
//! Invariants: every test has its own working directory ([`Bench`]) that several runs of the
//! binary share (so they share the ledger and its lock), its own sandbox or fake server on
//! 127.0.0.1:0 inside the test's multi-threaded runtime, and waits for the binary on a blocking
//! thread so the server keeps answering meanwhile. Nothing waits on a fixed sleep: waits are
//! bounded polls of a condition (the sandbox's record, a file, a line on stderr) or a process's
//! exit.

mod ambiguous;
mod budget;
mod crash;
mod group_commit;
mod guards;
mod history;
mod history_by_file;
mod intents_ahead;
mod interrupt;
mod lineage;
mod lock;
mod skyvern_nights;
mod verify;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{Next, from_fn};
use runbook::sandbox::{RecordedRequest, Sandbox, SandboxConfig};
use serde_json::Value;

use crate::Journal;

/// Longest one run of the binary may take before the test fails (a hang guard, not a speed
/// assertion).
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// Longest a bounded poll waits for its condition.
const POLL_LIMIT: Duration = Duration::from_secs(30);

/// The sandbox's generic API credential.
const TOKEN: &str = "sandbox-token";

/// The head of the playbooks here: the generic provider at `API_URL` with the sandbox's bearer
/// token, short backoffs, and the task fields of the sandbox's generic API.
fn head(name: &str) -> String {
    format!(
        r#"name: {name}
provider: http
connection:
  base_url: "{{{{ env('API_URL') }}}}"
  headers:
    Authorization: "Bearer {{{{ secret('TASKS_API_TOKEN') }}}}"
  backoff: {{initial: 10ms, max: 50ms, attempts: 3}}
task:
  label: $.name
  message: $.error
"#
    )
}

/// A playbook over a frozen listing: the tasks are read from `tasks.json` (a snapshot of the
/// sandbox taken before the first run), so a resumed run sees every task as it was listed then —
/// still failed — and only the ledger can keep it from retrying one twice. `retry_extra` is added
/// under the retry step (indented six spaces).
fn frozen_playbook(name: &str, concurrency: usize, retry_extra: &str) -> String {
    format!(
        r#"{head}steps:
  - name: listed
    fetch: {{file: tasks.json}}
  - name: eligible
    filter: {{status_in: [failed, timed_out]}}
  - name: retried
    retry:
      request: {{path: "/tasks/{{{{ task.id }}}}/retry"}}
      concurrency: {concurrency}
      outcome: {{status: {{409: skipped}}}}
{retry_extra}"#,
        head = head(name)
    )
}

/// The `check:` that reads one task of the generic API.
const CHECK: &str = "      check: {request: {method: GET, path: \"/tasks/{{ task.id }}\"}}\n";

/// A sandbox with answers held back `latency_ms` after each state change.
async fn sandbox(latency_ms: u64, settle_reads: u32) -> Sandbox {
    Sandbox::start(SandboxConfig {
        latency_ms,
        settle_reads,
        ..SandboxConfig::default()
    })
    .await
    .expect("the sandbox starts")
}

/// The ids of the sandbox's generic tasks that are failed or timed out (the eligible ones), and the
/// others, from a snapshot.
fn split_eligible(tasks: &[Value]) -> (Vec<String>, Vec<String>) {
    let mut eligible = Vec::new();
    let mut other = Vec::new();
    for t in tasks {
        let id = t["id"].as_str().expect("a task id").to_string();
        match t["status"].as_str() {
            Some("failed" | "timed_out") => eligible.push(id),
            _ => other.push(id),
        }
    }
    (eligible, other)
}

/// The task id of a recorded `POST /tasks/{id}/retry`, if it is one.
fn retried_id(r: &RecordedRequest) -> Option<String> {
    let id = r.path.strip_prefix("/tasks/")?.strip_suffix("/retry")?;
    (r.method == "POST" && r.api == "http" && !id.is_empty()).then(|| id.to_string())
}

/// The retry requests the sandbox has received, in arrival order.
fn retry_requests(sandbox: &Sandbox) -> Vec<RecordedRequest> {
    sandbox
        .requests()
        .into_iter()
        .filter(|r| retried_id(r).is_some())
        .collect()
}

/// How many retry requests each task id got (faulted ones excluded: they never reached the
/// emulation).
fn retries_per_id(requests: &[RecordedRequest]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in requests.iter().filter(|r| !r.fault) {
        if let Some(id) = retried_id(r) {
            *counts.entry(id).or_insert(0) += 1;
        }
    }
    counts
}

/// Wait (a bounded poll) until `done` holds; fails the test after [`POLL_LIMIT`].
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !done() {
        assert!(
            start.elapsed() < POLL_LIMIT,
            "gave up waiting for {what} after {POLL_LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Send a signal (`INT`, `TERM`, `KILL`) to a process.
fn signal(child: &Child, name: &str) {
    let pid = child.id();
    let status = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// A working directory shared by several runs of the binary, with the environment they get.
struct Bench {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

/// What one run printed and how it exited.
struct Out {
    /// `None` when a signal ended it.
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Out {
    fn expect_code(&self, code: i32) -> &Out {
        assert_eq!(self.code, Some(code), "unexpected exit code:\n{self:?}");
        self
    }
}

impl Bench {
    fn new() -> Bench {
        Bench {
            dir: tempfile::tempdir().expect("a temporary directory"),
            env: Vec::new(),
        }
    }

    /// The generic API of `sandbox` as `API_URL`, with its token.
    fn at_sandbox(sandbox: &Sandbox) -> Bench {
        let url = sandbox.base_url("http").expect("the sandbox serves /http");
        Bench::new()
            .env("API_URL", &url)
            .env("TASKS_API_TOKEN", TOKEN)
    }

    fn env(mut self, name: &str, value: &str) -> Bench {
        self.env.push((name.into(), value.into()));
        self
    }

    fn write(&self, name: &str, contents: &str) {
        std::fs::write(self.path(name), contents).expect("write a test file");
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Write the sandbox's generic tasks, as they are now, to `tasks.json`; returns them.
    fn freeze_listing(&self, sandbox: &Sandbox) -> Vec<Value> {
        let tasks = sandbox.tasks("http");
        self.write(
            "tasks.json",
            &serde_json::to_string(&tasks).expect("tasks as JSON"),
        );
        tasks
    }

    /// A JSON file of the working directory.
    fn json(&self, name: &str) -> Value {
        let text = std::fs::read_to_string(self.path(name))
            .unwrap_or_else(|e| panic!("{name} was not written: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
    }

    /// `runbook ARGS` in the working directory, with `PATH` and the bench's variables only.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_runbook"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .spawn()
            .expect("the runbook binary starts")
    }

    /// Run to the end (or fail the test after [`RUN_LIMIT`]).
    async fn run(&self, args: &[&str]) -> Out {
        finish(self.spawn(args), args).await
    }
}

/// Wait for a child's exit (on a blocking thread) and collect its output.
async fn finish(child: Child, what: &[&str]) -> Out {
    let pid = child.id();
    let waiting = tokio::task::spawn_blocking(move || child.wait_with_output());
    let output = match tokio::time::timeout(RUN_LIMIT, waiting).await {
        Ok(joined) => joined
            .expect("the waiting thread finishes")
            .expect("runbook runs"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("runbook {what:?} did not finish within {RUN_LIMIT:?}");
        }
    };
    Out {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Ids of a report's items with outcome `outcome`, sorted.
fn ids_with(report: &Value, outcome: &str) -> Vec<String> {
    let mut ids: Vec<String> = report["items"]
        .as_array()
        .expect("items is an array")
        .iter()
        .filter(|i| i["outcome"] == outcome)
        .map(|i| i["id"].as_str().expect("an item id").to_string())
        .collect();
    ids.sort();
    ids
}

/// `runbook history` rows: (run id, state column, the whole line), newest first.
fn history_rows(stdout: &str) -> Vec<(String, String, String)> {
    stdout
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let state = if cols.get(4) == Some(&"(dry)") {
                format!("{} (dry)", cols[3])
            } else {
                cols.get(3).copied().unwrap_or_default().to_string()
            };
            (cols[0].to_string(), state, l.to_string())
        })
        .collect()
}

/// Serve `router` on 127.0.0.1:0 from the current runtime, journaling every request.
async fn serve(router: Router) -> (String, Journal) {
    let journal = Journal::default();
    let j = journal.clone();
    let app = router.layer(from_fn(move |req: Request, next: Next| {
        let j = j.clone();
        async move { crate::record(j, req, next).await }
    }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("a local address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), journal)
}
