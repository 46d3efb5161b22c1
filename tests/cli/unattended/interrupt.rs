//! SIGINT and SIGTERM during a slow run: no new retry request after the signal, only those in
//! flight finish; the report and the ledger are written, exit 3; `--resume` then finishes the rest
//! without sending anything twice. A second SIGINT quits at once with 130.

use std::io::BufRead;

use super::{
    Bench, frozen_playbook, history_rows, ids_with, retries_per_id, retry_requests, sandbox,
    signal, split_eligible, wait_until,
};

const CONCURRENCY: usize = 2;

async fn interrupt_then_resume(sig: &str) {
    let sandbox = sandbox(250, 1).await;
    let bench = Bench::at_sandbox(&sandbox);
    let tasks = bench.freeze_listing(&sandbox);
    let (eligible, _) = split_eligible(&tasks);
    bench.write(
        "playbook.yaml",
        &frozen_playbook("nightly", CONCURRENCY, ""),
    );
    let args = [
        "play",
        "playbook.yaml",
        "-o",
        "first.json",
        "-o",
        "first.md",
    ];
    let child = bench.spawn(&args);
    wait_until("four retry requests", || {
        retry_requests(&sandbox).len() >= 4
    })
    .await;
    // Counted before the signal is sent: every arrival after this is "after the signal" or earlier.
    let before = retry_requests(&sandbox).len();
    signal(&child, sig);
    let out = super::finish(child, &args).await;
    out.expect_code(3);
    assert!(
        out.stderr
            .contains("interrupted: finishing the requests in flight"),
        "{out:?}"
    );

    let sent = retry_requests(&sandbox);
    assert!(
        sent.len() - before <= CONCURRENCY,
        "{} retry requests arrived after the signal; at most the {CONCURRENCY} in flight may",
        sent.len() - before
    );
    assert!(sent.len() < eligible.len(), "the run stopped sending");

    let report = bench.json("first.json");
    assert!(bench.path("first.md").exists(), "every report is written");
    let aborted = report["aborted"].as_str().unwrap_or_default();
    assert!(aborted.contains("interrupted"), "{report:#}");
    assert_eq!(report["resumed_from"], serde_json::Value::Null);
    let retried = ids_with(&report, "retried");
    assert_eq!(
        retried.len(),
        sent.len(),
        "every request that was sent got its answer and is reported retried"
    );
    for item in report["items"].as_array().expect("items") {
        if item["outcome"] != "retried" {
            assert!(
                item["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("not sent")),
                "{item}"
            );
        }
    }

    let history = bench.run(&["history"]).await;
    let rows = history_rows(&history.stdout);
    assert_eq!(rows.len(), 1, "{}", history.stdout);
    assert_eq!(rows[0].0, report["run_id"].as_str().unwrap_or_default());
    assert_eq!(
        rows[0].1, "aborted",
        "the ledger closed the run:\n{}",
        history.stdout
    );

    let out = bench
        .run(&["play", "playbook.yaml", "--resume", "-o", "second.json"])
        .await;
    out.expect_code(0);
    let per_id = retries_per_id(&retry_requests(&sandbox));
    for id in &eligible {
        assert_eq!(per_id.get(id), Some(&1), "{id} retried exactly once in all");
    }
    assert_eq!(per_id.len(), eligible.len());
    let second = bench.json("second.json");
    assert_eq!(second["resumed_from"], report["run_id"]);
    assert_eq!(second["aborted"], serde_json::Value::Null);
    assert_eq!(second["totals"]["retried"], eligible.len());
    for item in second["items"].as_array().expect("items") {
        let id = item["id"].as_str().unwrap_or_default().to_string();
        let message = item["message"].as_str().unwrap_or_default();
        assert_eq!(
            message.starts_with("handled by the resumed run"),
            retried.contains(&id),
            "what the interrupted run retried is reported, not sent again: {item}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_stops_new_retries_writes_everything_and_resume_finishes() {
    interrupt_then_resume("INT").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_new_retries_writes_everything_and_resume_finishes() {
    interrupt_then_resume("TERM").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_sigint_quits_at_once_with_130() {
    // Answers held back for long: quitting "at once" means before they come.
    let latency_ms = 5_000;
    let sandbox = sandbox(latency_ms, 1).await;
    let bench = Bench::at_sandbox(&sandbox);
    bench.freeze_listing(&sandbox);
    bench.write("playbook.yaml", &frozen_playbook("nightly", 2, ""));
    let args = ["play", "playbook.yaml", "-o", "report.json"];
    let mut child = bench.spawn(&args);
    // stderr, line by line, from a reading thread.
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    let stderr = child.stderr.take().expect("stderr is piped");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    wait_until("a retry request", || !retry_requests(&sandbox).is_empty()).await;
    signal(&child, "INT");
    let mut seen = Vec::new();
    loop {
        let line = tokio::time::timeout(super::POLL_LIMIT, lines.recv())
            .await
            .expect("the first SIGINT is acknowledged");
        let line = line.unwrap_or_else(|| panic!("stderr ended: {seen:#?}"));
        let acknowledged = line.starts_with("interrupted: finishing");
        seen.push(line);
        if acknowledged {
            break;
        }
    }
    signal(&child, "INT");
    let status = tokio::time::timeout(
        super::RUN_LIMIT,
        tokio::task::spawn_blocking(move || child.wait()),
    )
    .await
    .expect("the run quits")
    .expect("the waiting thread finishes")
    .expect("the run is reaped");
    assert_eq!(status.code(), Some(130));
    let mut rest = String::new();
    while let Some(line) = lines.recv().await {
        rest.push_str(&line);
        rest.push('\n');
    }
    assert!(rest.contains("interrupted twice: quitting now"), "{rest}");
    // The request in flight (its answer held back 5 s) was not waited for: the run never got to
    // writing its report.
    assert!(!bench.path("report.json").exists());
    // The ledger is consistent: it opens, and holds the run, unfinished.
    let history = bench.run(&["history"]).await;
    history.expect_code(0);
    let rows = history_rows(&history.stdout);
    assert_eq!(rows.len(), 1, "{}", history.stdout);
    assert_eq!(rows[0].1, "running", "{}", history.stdout);
}

/// SIGINT while the verify step polls: the run stops polling, reports the retried items `pending`,
/// exits 3; `--resume` sends no retry again and verifies the same items to the end.
#[tokio::test(flavor = "multi_thread")]
async fn sigint_during_verify_then_resume_verifies_without_retrying() {
    // Each retried task shows running for 40 reads, then settles: the interrupt after two polls
    // comes long before.
    let sandbox = sandbox(0, 40).await;
    let bench = Bench::at_sandbox(&sandbox);
    let tasks = bench.freeze_listing(&sandbox);
    let (eligible, _) = split_eligible(&tasks);
    let text = format!(
        "{}  - verify:\n      request: {{path: \"/tasks/{{{{ task.id }}}}\"}}\n      success: [succeeded]\n      failure: [failed]\n      concurrency: 8\n      every: 20ms\n      timeout: 30s\n",
        frozen_playbook("nightly", 8, "")
    );
    bench.write("playbook.yaml", &text);
    let reads = || {
        sandbox
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.starts_with("/tasks/"))
            .count()
    };
    let args = ["play", "playbook.yaml", "-o", "first.json"];
    let child = bench.spawn(&args);
    // Two polls of every task: the verify step is under way, nothing has settled yet.
    wait_until("the verify step's polls", || reads() >= 2 * eligible.len()).await;
    signal(&child, "INT");
    let out = super::finish(child, &args).await;
    out.expect_code(3);
    let first = bench.json("first.json");
    assert!(
        first["aborted"]
            .as_str()
            .is_some_and(|a| a.contains("interrupted")),
        "{first:#}"
    );
    let mut sorted = eligible.clone();
    sorted.sort();
    assert_eq!(ids_with(&first, "pending"), sorted, "{first:#}");
    assert!(
        sandbox.settled("http").is_empty(),
        "the interrupt came before any settled"
    );

    let out = bench
        .run(&["play", "playbook.yaml", "--resume", "-o", "second.json"])
        .await;
    let per_id = retries_per_id(&retry_requests(&sandbox));
    assert_eq!(per_id.len(), eligible.len());
    assert!(per_id.values().all(|n| *n == 1), "{per_id:?}");
    let second = bench.json("second.json");
    assert_eq!(second["resumed_from"], first["run_id"]);
    let settled = sandbox.settled("http");
    assert_eq!(
        settled.len(),
        eligible.len(),
        "every task verified to the end"
    );
    let with = |status: &str| -> Vec<String> {
        let mut ids: Vec<String> = settled
            .iter()
            .filter(|(_, s)| s == status)
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(
        ids_with(&second, "recovered"),
        with("succeeded"),
        "{second:#}"
    );
    assert_eq!(
        ids_with(&second, "still_failing"),
        with("failed"),
        "{second:#}"
    );
    out.expect_code(if with("failed").is_empty() { 0 } else { 1 });
}
