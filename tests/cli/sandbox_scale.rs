//! `runbook sandbox --tasks` and `--latency` (issue 9): the standalone sandbox seeds as many tasks
//! as it is told, per API or for all, and refuses a count it cannot place.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Stdio};

use serde_json::Value;

use crate::{Runbook, runtime};

/// A `runbook sandbox` child process, killed when dropped.
struct Served {
    child: Child,
    origin: String,
    /// Kept open while the sandbox runs: it prints more after its address, and a closed pipe
    /// would end it (regression: the test read one line, dropped the pipe, and the sandbox died
    /// on its next line when the machine was slow enough for the drop to come first).
    _stdout: BufReader<ChildStdout>,
}

impl Served {
    /// Starts `runbook sandbox --port 0 ARGS…` and waits for the line naming its address.
    fn start(args: &[&str]) -> Served {
        let runbook = Runbook::new(["sandbox", "--port", "0"]).args(args.iter().copied());
        let mut child = (runbook.command())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the runbook binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut stdout = BufReader::new(stdout);
        let mut first = String::new();
        (stdout.read_line(&mut first)).expect("the sandbox prints its address");
        let origin = (first.trim().strip_prefix("runbook sandbox listening on "))
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        Served {
            child,
            origin,
            _stdout: stdout,
        }
    }

    /// How many ids the control endpoint lists for `api`.
    fn count(&self, api: &str) -> usize {
        let url = format!("{}/_sandbox/ids/{api}", self.origin);
        let ids: Value = runtime().block_on(async {
            let client = reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client");
            let answer = client.get(url).send().await.expect("sent");
            answer.json().await.expect("JSON")
        });
        ids.as_array().map_or(0, Vec::len)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn tasks_sets_every_apis_count_and_one_apis_over_it() {
    let served = Served::start(&["--tasks", "300", "--tasks", "http=2_500", "--latency", "1"]);
    assert_eq!(served.count("http"), 2_500);
    assert_eq!(served.count("beam"), 300);
    assert_eq!(served.count("skyvern"), 300);
}

#[test]
fn without_tasks_the_default_mix_is_served() {
    let served = Served::start(&[]);
    assert_eq!(served.count("http"), 60);
}

#[test]
fn tasks_for_an_api_the_sandbox_does_not_serve_is_a_usage_error() {
    let ran = Runbook::new(["sandbox", "--port", "0", "--tasks", "htp=5"]).run();
    ran.expect_code(2);
    assert_eq!(
        ran.stderr,
        "error: sandbox: --tasks names no sandbox API 'htp'; the APIs are http, beam, beam-prod, \
         deepwork, herodotus, geelark, skyvern\n"
    );
}

#[test]
fn tasks_that_is_not_a_count_is_refused_by_the_parser() {
    for bad in ["many", "http=", "=5", "http=-1"] {
        let ran = Runbook::new(["sandbox", "--port", "0", "--tasks", bad]).run();
        ran.expect_code(2);
        assert!(
            ran.stderr.starts_with(&format!(
                "error: invalid value '{bad}' for '--tasks <N|API=N>': `{bad}` is not a task count: N, or API=N such as http=100000\n"
            )),
            "{}",
            ran.stderr
        );
    }
}

/// Every runbook process turns transparent huge pages off for itself (src/main.rs says why): the
/// kernel shows it as `THP_enabled: 0` in the process's status, whatever the system's setting.
#[cfg(target_os = "linux")]
#[test]
fn a_runbook_process_runs_without_transparent_huge_pages() {
    let served = Served::start(&[]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", served.child.id()))
        .expect("the sandbox's status is readable");
    let thp = status
        .lines()
        .find_map(|line| line.strip_prefix("THP_enabled:"));
    // Kernels before 5.0 do not show the line; nothing to check there.
    if let Some(value) = thp {
        assert_eq!(value.trim(), "0", "{status}");
    }
}
