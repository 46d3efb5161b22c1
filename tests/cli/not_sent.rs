//! Items a run never sent are `not_sent`, not `failed` (issue 11, point 6): Ctrl-C after 6 of 20
//! retries said "failed 13", so alerts fired on work that was never attempted. Replayed here: 20
//! items, one at a time; the first 6 are answered, the 7th hangs, SIGINT comes. The 7th (in flight)
//! is `unknown`, the other 13 `not_sent`: not failed in the summary, the report's totals, JUnit
//! (skipped) or the metrics, and `--resume` sends exactly those 13 (they have no intent in the
//! ledger) and not the one that may have been carried out.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;

use crate::{FakeApi, Runbook, playbook};

/// Longest the test waits for runbook to reach the 7th request.
const REACH_GUARD: Duration = Duration::from_secs(30);

/// Twenty ids retried one at a time.
fn twenty() -> String {
    let ids: Vec<String> = (1..=20).map(|n| format!("t{n:02}")).collect();
    playbook(&format!(
        "  - fetch: {{ids: \"{}\"}}\n  - name: retried\n    retry:\n      request: {{path: \"/tasks/{{{{ task.id }}}}/retry\"}}\n",
        ids.join(",")
    ))
}

/// An API that answers the first `answered` retries 204 and holds every later one unanswered
/// while `hang` is set.
fn api(answered: usize, hang: Arc<AtomicBool>) -> FakeApi {
    let seen = Arc::new(AtomicUsize::new(0));
    FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(move || {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let hang = hang.load(Ordering::SeqCst) && n >= answered;
            async move {
                if hang {
                    std::future::pending::<()>().await;
                }
                StatusCode::NO_CONTENT
            }
        }),
    ))
}

#[test]
fn an_interrupted_run_reports_items_never_sent_as_not_sent_and_resume_sends_them() {
    let hang = Arc::new(AtomicBool::new(true));
    let api = api(6, Arc::clone(&hang));
    let runbook =
        Runbook::play(&twenty())
            .api(&api)
            .args(["-o", "report.xml", "-o", "metrics.prom"]);
    let child = runbook
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the runbook binary starts");
    let start = Instant::now();
    while api.with_method("POST").len() < 7 {
        assert!(start.elapsed() < REACH_GUARD, "the 7th retry never came");
        std::thread::sleep(Duration::from_millis(2));
    }
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let output = child.wait_with_output().expect("the run ends");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(3),
        "interrupted: exit 3\n{stdout}"
    );
    assert_eq!(
        api.with_method("POST").len(),
        7,
        "nothing sent after SIGINT"
    );

    let read = |name: &str| {
        std::fs::read_to_string(runbook.dir().join(name))
            .unwrap_or_else(|e| panic!("{name} is written: {e}"))
    };
    let report: serde_json::Value = serde_json::from_str(&read("report.json")).expect("JSON");
    let totals = &report["totals"];
    assert_eq!(
        (
            &totals["retried"],
            &totals["failed"],
            &totals["unknown"],
            &totals["not_sent"]
        ),
        (
            &serde_json::json!(6),
            &serde_json::json!(0),
            &serde_json::json!(1),
            &serde_json::json!(13)
        ),
        "{totals}"
    );
    let not_sent: Vec<&str> = report["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["outcome"] == "not_sent")
        .map(|i| i["message"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(not_sent, vec!["not sent: the run was stopped"; 13]);
    assert!(
        stdout.contains(
            "  fetched 20  selected 20  retried 6  skipped 0  failed 0  unknown 1  not_sent 13\n"
        ),
        "the summary does not count them failed:\n{stdout}"
    );
    assert!(stdout.contains("\n  not_sent (13):\n"), "{stdout}");
    let junit = read("report.xml");
    assert!(
        junit.contains("tests=\"21\" failures=\"1\" errors=\"1\" skipped=\"13\""),
        "JUnit: the unknown one fails, the 13 are skipped, the abort is an error:\n{junit}"
    );
    let metrics = read("metrics.prom");
    assert!(
        metrics.contains("outcome=\"not_sent\"} 13\n")
            && metrics.contains("outcome=\"failed\"} 0\n"),
        "{metrics}"
    );

    hang.store(false, Ordering::SeqCst);
    let resumed =
        Runbook::new(["play", "playbook.yaml", "--resume", "-o", "second.json"]).api(&api);
    let output = resumed
        .command()
        .current_dir(runbook.dir())
        .output()
        .expect("the resumed run runs");
    assert_eq!(
        output.status.code(),
        Some(1),
        "the in-flight one stays unknown: {output:?}"
    );
    let posts: Vec<String> = api.with_method("POST")[7..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    let want: Vec<String> = (8..=20).map(|n| format!("/tasks/t{n:02}/retry")).collect();
    assert_eq!(
        posts, want,
        "--resume sends the 13 never sent, and only them"
    );
    let second: serde_json::Value =
        serde_json::from_str(&read("second.json")).expect("second.json is JSON");
    assert_eq!(second["totals"]["retried"], 19, "{}", second["totals"]);
    assert_eq!(second["totals"]["not_sent"], 0);
}
