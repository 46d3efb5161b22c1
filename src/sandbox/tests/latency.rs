//! Injected latency: answers are held back after the request is journaled and its state change
//! applied, so a client that gives up during the delay leaves a retry carried out but unanswered.

use std::time::Duration;

use serde_json::json;
use tokio::time::{Instant, timeout};

use super::{client, status_and_json};
use crate::sandbox::{Sandbox, SandboxConfig};

/// A bound no healthy test gets near; only there so that a regression fails instead of hanging.
const GUARD: Duration = Duration::from_secs(20);

async fn sandbox_with_latency(latency_ms: u64) -> Sandbox {
    Sandbox::start(SandboxConfig {
        latency_ms,
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox starts")
}

fn status_of(sandbox: &Sandbox, id: &str) -> serde_json::Value {
    sandbox
        .tasks("http")
        .into_iter()
        .find(|task| task["id"] == json!(id))
        .map(|task| task["status"].clone())
        .expect("task")
}

#[tokio::test]
async fn the_retry_is_applied_while_its_answer_is_held_back() {
    // Ten minutes: the answer cannot arrive while the test looks.
    let sandbox = sandbox_with_latency(600_000).await;
    let id = sandbox
        .tasks("http")
        .into_iter()
        .find(|task| task["status"] == "failed")
        .and_then(|task| task["id"].as_str().map(str::to_owned))
        .expect("a failed task");
    let url = format!(
        "{}/tasks/{id}/retry",
        sandbox.base_url("http").expect("http")
    );
    let retry =
        tokio::spawn(async move { client().post(url).bearer_auth("sandbox-token").send().await });

    timeout(GUARD, async {
        while status_of(&sandbox, &id) != "queued" {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the retry is applied before its answer leaves");
    assert!(!retry.is_finished(), "the answer is still held back");
    let journal = sandbox.requests();
    assert_eq!(journal.len(), 1);
    assert_eq!(
        journal[0].status, 200,
        "journaled with the status it will answer"
    );

    // The client gives up (a crash): the retry stays carried out.
    retry.abort();
    assert!(retry.await.is_err_and(|error| error.is_cancelled()));
    assert_eq!(status_of(&sandbox, &id), "queued");
    assert_eq!(sandbox.requests().len(), 1);
    drop(sandbox);
}

/// Bench case `versus-sequential` plays 10,000 retries at concurrency 64 against `--latency 5`:
/// the hold-back is a timer per request, so requests wait out their latency side by side. Were
/// it a lock or a blocked thread, the second request would not be journaled before the first's
/// ten minutes had passed.
#[tokio::test]
async fn many_requests_wait_out_their_latency_at_once() {
    let sandbox = sandbox_with_latency(600_000).await;
    let base = sandbox.base_url("http").expect("http");
    let http = client();
    let waiting: Vec<_> = (0..16)
        .map(|_| {
            let request = http
                .get(format!("{base}/tasks"))
                .bearer_auth("sandbox-token");
            tokio::spawn(request.send())
        })
        .collect();
    timeout(GUARD, async {
        while sandbox.requests().len() < waiting.len() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("every request is journaled while the others are held back");
    assert!(
        waiting.iter().all(|answer| !answer.is_finished()),
        "no answer left before its latency"
    );
    for answer in waiting {
        answer.abort();
    }
    drop(sandbox);
}

#[tokio::test]
async fn answers_take_at_least_the_latency_and_control_endpoints_none() {
    let latency = Duration::from_millis(300);
    let sandbox = sandbox_with_latency(300).await;
    let http = client();
    let url = format!("{}/tasks/task-001", sandbox.base_url("http").expect("http"));
    for token in ["sandbox-token", "wrong"] {
        let started = Instant::now();
        let response = timeout(GUARD, http.get(&url).bearer_auth(token).send())
            .await
            .expect("answered")
            .expect("sent");
        assert!(
            started.elapsed() >= latency,
            "{token}: {:?}",
            started.elapsed()
        );
        let (status, _) = status_and_json(response).await;
        assert_eq!(status, if token == "wrong" { 401 } else { 200 });
    }
    drop(sandbox);

    // With an hour of latency, the control endpoints still answer within the guard.
    let sandbox = sandbox_with_latency(3_600_000).await;
    let origin = format!("http://{}", sandbox.addr());
    for path in [
        "/_sandbox/requests",
        "/_sandbox/violations",
        "/_sandbox/tasks/http",
        "/_sandbox/ids/http",
    ] {
        let response = timeout(GUARD, http.get(format!("{origin}{path}")).send())
            .await
            .expect("control endpoints are not delayed")
            .expect("sent");
        assert_eq!(response.status().as_u16(), 200, "{path}");
    }
    drop(sandbox);
}

#[tokio::test]
async fn faults_are_held_back_too() {
    let sandbox = Sandbox::start(SandboxConfig {
        faults: 1.0,
        latency_ms: 300,
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox starts");
    let url = format!("{}/tasks", sandbox.base_url("http").expect("http"));
    let started = Instant::now();
    let response = timeout(
        GUARD,
        client().get(&url).bearer_auth("sandbox-token").send(),
    )
    .await
    .expect("answered")
    .expect("sent");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(response.status().as_u16(), 503);
    assert!(sandbox.requests()[0].fault);
    sandbox.shutdown().await;
}

#[test]
fn no_latency_by_default() {
    assert_eq!(SandboxConfig::default().latency_ms, 0);
}
