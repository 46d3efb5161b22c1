//! The PocketPaw Deep Work emulation under `/deepwork`.

use serde_json::{Value, json};

use super::{client, sandbox, status_and_json};
use crate::sandbox::{RateLimit, Sandbox};

const TOKEN: &str = "pp_sandbox_token";

fn base(sandbox: &Sandbox) -> String {
    sandbox.base_url("deepwork").expect("deepwork api")
}

async fn get(url: &str) -> (u16, Value) {
    status_and_json(
        client()
            .get(url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("sent"),
    )
    .await
}

async fn retry(sandbox: &Sandbox, project: &str, task: &str) -> (u16, Value) {
    let url = format!(
        "{}/api/deep-work/projects/{project}/tasks/{task}/retry",
        base(sandbox)
    );
    status_and_json(
        client()
            .post(url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("sent"),
    )
    .await
}

/// Ids of seeded tasks of `project` with `status`.
fn ids(sandbox: &Sandbox, project: &str, status: &str) -> Vec<String> {
    sandbox
        .tasks("deepwork")
        .iter()
        .filter(|task| task["project_id"] == json!(project) && task["status"] == json!(status))
        .filter_map(|task| task["id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn auth_by_bearer_or_query_token() {
    let sandbox = sandbox(7, 0.0).await;
    let url = format!("{}/api/mission-control/tasks", base(&sandbox));
    let (status, body) = status_and_json(client().get(&url).send().await.expect("sent")).await;
    assert_eq!((status, body), (401, json!({"detail": "Unauthorized"})));
    let (status, _) = status_and_json(
        client()
            .get(&url)
            .bearer_auth("pp_wrong")
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = status_and_json(
        client()
            .get(format!("{url}?token={TOKEN}"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 200);
    sandbox.set_deepwork_localhost_bypass(true);
    let (status, _) = status_and_json(client().get(&url).send().await.expect("sent")).await;
    assert_eq!(status, 200);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn lists_blocked_tasks_with_limit_and_count() {
    let sandbox = sandbox(7, 0.0).await;
    let (status, body) = get(&format!(
        "{}/api/mission-control/tasks?status=blocked",
        base(&sandbox)
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["count"], json!(8));
    assert_eq!(body["tasks"].as_array().map(Vec::len), Some(8));
    let (_, body) = get(&format!(
        "{}/api/mission-control/tasks?status=blocked&limit=3",
        base(&sandbox)
    ))
    .await;
    assert_eq!(
        (
            body["count"].clone(),
            body["tasks"].as_array().map(Vec::len)
        ),
        (json!(8), Some(3))
    );
    let (status, body) = get(&format!(
        "{}/api/mission-control/tasks?limit=abc",
        base(&sandbox)
    ))
    .await;
    assert_eq!(status, 422);
    assert!(body["detail"].is_array());
    let (_, all) = get(&format!("{}/api/mission-control/tasks", base(&sandbox))).await;
    assert_eq!(all["count"], json!(25));

    let id = ids(&sandbox, "proj-alpha", "blocked").remove(0);
    let (status, body) = get(&format!(
        "{}/api/mission-control/tasks/{id}",
        base(&sandbox)
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["task"]["id"], json!(id));
    assert!(body["task"]["error_message"].is_string());
    assert_eq!(body["messages"], json!([]));
    let (status, body) = get(&format!(
        "{}/api/mission-control/tasks/nope",
        base(&sandbox)
    ))
    .await;
    assert_eq!((status, body), (404, json!({"detail": "Task not found"})));

    let (status, plan) = get(&format!(
        "{}/api/deep-work/projects/proj-alpha/plan",
        base(&sandbox)
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(plan["tasks"].as_array().map(Vec::len), Some(12));
    assert_eq!(plan["progress"]["blocked"], json!(5));
    assert_eq!(plan["progress"]["total"], json!(12));
    let (status, _) = get(&format!(
        "{}/api/deep-work/projects/proj-zeta/plan",
        base(&sandbox)
    ))
    .await;
    assert_eq!(status, 404);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn retry_moves_blocked_to_assigned() {
    let sandbox = sandbox(7, 0.0).await;
    let id = ids(&sandbox, "proj-beta", "blocked").remove(0);
    let (status, body) = retry(&sandbox, "proj-beta", &id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], json!(true));
    assert_eq!(body["task"]["status"], json!("assigned"));
    assert_eq!(body["task"]["retry_count"], json!(2));
    assert_eq!(body["task"]["error_message"], Value::Null);
    assert_eq!(body["progress"]["blocked"], json!(2));

    let (status, body) = retry(&sandbox, "proj-beta", &id).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"detail": "Can only retry tasks with status 'blocked', got 'assigned'"})
        )
    );
    let done = ids(&sandbox, "proj-alpha", "done").remove(0);
    let (status, body) = retry(&sandbox, "proj-alpha", &done).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"detail": "Can only retry tasks with status 'blocked', got 'done'"})
        )
    );
    let blocked_alpha = ids(&sandbox, "proj-alpha", "blocked").remove(0);
    let (status, body) = retry(&sandbox, "proj-beta", &blocked_alpha).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"detail": "Task does not belong to this project"})
        )
    );
    let (status, body) = retry(&sandbox, "proj-alpha", "no-such-task").await;
    assert_eq!((status, body), (404, json!({"detail": "Task not found"})));
    let (status, body) = retry(&sandbox, "proj-nope", &blocked_alpha).await;
    assert_eq!(
        (status, body),
        (404, json!({"detail": "Project not found"}))
    );
    assert_eq!(ids(&sandbox, "proj-alpha", "blocked").len(), 5);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn token_bucket_limits_with_headers() {
    let sandbox = sandbox(7, 0.0).await;
    sandbox.set_deepwork_rate_limit(Some(RateLimit {
        per_second: 0.2,
        burst: 2,
    }));
    let url = format!("{}/api/mission-control/projects", base(&sandbox));
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = client()
            .get(&url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("sent");
        assert_eq!(
            response
                .headers()
                .get("x-ratelimit-limit")
                .and_then(|v| v.to_str().ok()),
            Some("2")
        );
        assert!(response.headers().contains_key("x-ratelimit-remaining"));
        assert!(response.headers().contains_key("x-ratelimit-reset"));
        let retry_after = response.headers().get("retry-after").is_some();
        let (status, body) = status_and_json(response).await;
        if status == 429 {
            assert!(retry_after);
            assert_eq!(body, json!({"detail": "Too many requests"}));
        } else {
            assert_eq!(body["count"], json!(3));
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
    assert_eq!(
        sandbox.retry_after_violations().len(),
        1,
        "the 4th came inside the window"
    );
    sandbox.set_deepwork_rate_limit(None);
    let response = client()
        .get(&url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("sent");
    assert!(!response.headers().contains_key("x-ratelimit-limit"));
    sandbox.shutdown().await;
}

/// PocketPaw's own limiter is on from the start: of 100 requests sent at once, the burst of 30
/// passes (and what refills meanwhile, 10 a second), the rest are 429 with `Retry-After: 1` (its
/// wait rounded up to whole seconds).
#[tokio::test]
async fn pocketpaws_limiter_is_on_by_default() {
    let sandbox = sandbox(7, 0.0).await;
    let url = format!("{}/api/mission-control/projects", base(&sandbox));
    let http = client();
    let answers = futures_util::future::join_all((0..100).map(|_| {
        let request = http.get(&url).bearer_auth(TOKEN);
        async move {
            let response = request.send().await.expect("sent");
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            (response.status().as_u16(), retry_after)
        }
    }))
    .await;
    let passed = answers.iter().filter(|(s, _)| *s == 200).count();
    let limited: Vec<_> = answers.iter().filter(|(s, _)| *s == 429).collect();
    assert!(passed >= 30, "the burst passes: {answers:?}");
    assert_eq!(passed + limited.len(), 100, "{answers:?}");
    assert!(!limited.is_empty(), "100 at once are over the limit");
    assert!(limited.iter().all(|(_, wait)| wait.as_deref() == Some("1")));
    sandbox.shutdown().await;
}

/// With 102 blocked tasks the list stops at 100, and so does `count`; a project's own answer
/// lists every task.
#[tokio::test]
async fn the_task_list_and_its_count_stop_at_100() {
    let sandbox = sandbox(7, 0.0).await;
    sandbox.set_deepwork_rate_limit(None);
    let added = sandbox.add_deepwork_blocked_tasks(94);
    assert_eq!(added.len(), 94);
    let (status, body) = get(&format!(
        "{}/api/mission-control/tasks?status=blocked&limit=1000",
        base(&sandbox)
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["count"], json!(100), "8 seeded + 94 added, capped");
    assert_eq!(body["tasks"].as_array().map(Vec::len), Some(100));
    let (_, project) = get(&format!(
        "{}/api/mission-control/projects/proj-alpha",
        base(&sandbox)
    ))
    .await;
    let blocked = project["tasks"]
        .as_array()
        .map(|tasks| tasks.iter().filter(|t| t["status"] == "blocked").count());
    assert_eq!(blocked, Some(5 + 94));
    sandbox.shutdown().await;
}

/// A failed dispatch answers 500 after the reset was saved: the task is `assigned` with one more
/// retry, and sending it again gets 400 "got 'assigned'". (`runbook sandbox
/// --deepwork-dispatch-failures 1` sets the same share.)
#[tokio::test]
async fn a_failed_dispatch_answers_500_after_the_reset() {
    let sandbox = Sandbox::start(crate::sandbox::SandboxConfig {
        deepwork_dispatch_failures: 1.0,
        ..crate::sandbox::SandboxConfig::default()
    })
    .await
    .expect("sandbox starts");
    let id = ids(&sandbox, "proj-alpha", "blocked").remove(0);
    let (status, body) = retry(&sandbox, "proj-alpha", &id).await;
    assert_eq!(status, 500);
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("Retry dispatch failed")),
        "{body}"
    );
    let task = sandbox
        .tasks("deepwork")
        .into_iter()
        .find(|t| t["id"] == json!(id))
        .expect("the task");
    assert_eq!(task["status"], "assigned");
    assert_eq!(task["retry_count"], json!(2));
    let (status, body) = retry(&sandbox, "proj-alpha", &id).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"detail": "Can only retry tasks with status 'blocked', got 'assigned'"})
        )
    );
    sandbox.shutdown().await;
}

/// Without the retry route (PocketPaw 0.4.4) a retry gets FastAPI's own 404, which is not the
/// per-task "Task not found".
#[tokio::test]
async fn a_missing_retry_route_is_frameworks_not_found() {
    let sandbox = sandbox(7, 0.0).await;
    let id = ids(&sandbox, "proj-alpha", "blocked").remove(0);
    let (status, body) = retry(&sandbox, "proj-alpha", "no-such-task").await;
    assert_eq!((status, body), (404, json!({"detail": "Task not found"})));
    sandbox.set_deepwork_retry_route(false);
    let (status, body) = retry(&sandbox, "proj-alpha", &id).await;
    assert_eq!((status, body), (404, json!({"detail": "Not Found"})));
    assert_eq!(ids(&sandbox, "proj-alpha", "blocked").len(), 5);
    sandbox.shutdown().await;
}
