//! The generic task API under `/http`.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{client, sandbox, status_and_json};
use crate::sandbox::Sandbox;

const TOKEN: &str = "sandbox-token";

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

async fn post(url: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = client().post(url).bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    status_and_json(request.send().await.expect("sent")).await
}

fn base(sandbox: &Sandbox) -> String {
    sandbox.base_url("http").expect("http api")
}

fn ids_with_status(sandbox: &Sandbox, statuses: &[&str]) -> BTreeSet<String> {
    sandbox
        .tasks("http")
        .iter()
        .filter(|task| {
            statuses
                .iter()
                .any(|status| task["status"] == json!(status))
        })
        .filter_map(|task| task["id"].as_str().map(str::to_owned))
        .collect()
}

/// Follows `next` links from `first`, returning every task id seen, in order.
async fn walk(first: String) -> Vec<String> {
    let mut seen = Vec::new();
    let mut url = Some(first);
    while let Some(current) = url {
        let (status, page) = get(&current).await;
        assert_eq!(status, 200, "{current}: {page}");
        for task in page["tasks"].as_array().expect("tasks array") {
            seen.push(task["id"].as_str().expect("id").to_owned());
        }
        url = page["next"].as_str().map(str::to_owned);
        assert_eq!(page["next"].is_null(), page["next_cursor"].is_null());
        assert!(seen.len() <= 60, "runaway pagination");
    }
    seen
}

#[tokio::test]
async fn seeded_mix_is_exact() {
    let sandbox = sandbox(7, 0.0).await;
    let tasks = sandbox.tasks("http");
    assert_eq!(tasks.len(), 60);
    let count = |status: &str| {
        tasks
            .iter()
            .filter(|task| task["status"] == json!(status))
            .count()
    };
    assert_eq!(
        [
            count("failed"),
            count("timed_out"),
            count("canceled"),
            count("succeeded"),
            count("running")
        ],
        [24, 6, 6, 18, 6]
    );
    for task in &tasks {
        let retryable = task["status"] == json!("failed") || task["status"] == json!("timed_out");
        assert_eq!(task["error"].is_string(), retryable, "{task}");
        assert!(
            task["created_at"]
                .as_str()
                .is_some_and(|at| at.ends_with('Z'))
        );
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn every_pagination_style_walks_filtered_tasks_once() {
    let sandbox = sandbox(11, 0.0).await;
    let expected = ids_with_status(&sandbox, &["failed", "timed_out"]);
    assert_eq!(expected.len(), 30);
    let base = base(&sandbox);
    for first in [
        format!("{base}/tasks?status=failed&status=timed_out&per_page=7"),
        format!("{base}/tasks?status=failed,timed_out&offset=0&limit=4"),
        format!("{base}/tasks?status=failed,timed_out&cursor=&limit=9"),
        format!("{base}/tasks?status=timed_out&status=failed&page=1&per_page=100"),
    ] {
        let seen = walk(first.clone()).await;
        let unique: BTreeSet<String> = seen.iter().cloned().collect();
        assert_eq!(seen.len(), unique.len(), "{first}: duplicates");
        assert_eq!(unique, expected, "{first}");
    }
    // Unfiltered default: 10 per page, 6 pages, ordered by created_at desc.
    let seen = walk(format!("{base}/tasks")).await;
    assert_eq!(seen.len(), 60);
    let order: Vec<String> = sandbox
        .tasks("http")
        .iter()
        .map(|task| task["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(seen, order);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn list_answers_total_and_link_header() {
    let sandbox = sandbox(7, 0.0).await;
    let response = client()
        .get(format!("{}/tasks?status=failed&per_page=5", base(&sandbox)))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("sent");
    let link = response
        .headers()
        .get("link")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .expect("link header");
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, 200);
    assert_eq!(body["total"], json!(24));
    assert_eq!(body["tasks"].as_array().map(Vec::len), Some(5));
    let next = body["next"].as_str().expect("next url");
    assert_eq!(link, format!("<{next}>; rel=\"next\""));
    assert!(next.starts_with(&base(&sandbox)));
    assert!(next.contains("page=2") && next.contains("status=failed"));

    let (status, last) = get(&format!(
        "{}/tasks?status=failed&page=5&per_page=5",
        base(&sandbox)
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(last["tasks"].as_array().map(Vec::len), Some(4));
    assert_eq!(last["next"], Value::Null);
    assert_eq!(last["next_cursor"], Value::Null);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn bad_list_parameters_are_400() {
    let sandbox = sandbox(7, 0.0).await;
    for query in [
        "status=bogus",
        "page=0",
        "per_page=101",
        "limit=0",
        "page=x",
        "page=1&offset=3",
        "cursor=zz&limit=3",
        "cursor=abc&page=2",
        "offset=99999999999999999999999",
        "page=1&page=2",
    ] {
        let (status, body) = get(&format!("{}/tasks?{query}", base(&sandbox))).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"], json!("bad_request"), "{query}");
        assert!(body["message"].is_string());
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn missing_or_wrong_token_is_401() {
    let sandbox = sandbox(7, 0.0).await;
    let expected = json!({"error": "unauthorized", "message": "missing or invalid bearer token"});
    let url = format!("{}/tasks/task-001", base(&sandbox));
    let (status, body) = status_and_json(client().get(&url).send().await.expect("sent")).await;
    assert_eq!((status, &body), (401, &expected));
    let (status, body) = status_and_json(
        client()
            .get(&url)
            .bearer_auth("wrong")
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!((status, &body), (401, &expected));
    let (status, body) = status_and_json(
        client()
            .post(format!("{}/tasks/task-001/retry", base(&sandbox)))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!((status, &body), (401, &expected));
    let before = sandbox.tasks("http");
    assert_eq!(sandbox.tasks("http"), before);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn retry_queues_a_retryable_task_once() {
    let sandbox = sandbox(7, 0.0).await;
    let id = ids_with_status(&sandbox, &["failed"])
        .into_iter()
        .next()
        .expect("a failed task");
    let (_, before) = get(&format!("{}/tasks/{id}", base(&sandbox))).await;

    let (status, body) = post(&format!("{}/tasks/{id}/retry", base(&sandbox)), None).await;
    assert_eq!((status, body), (200, json!({"id": id, "status": "queued"})));
    assert!(ids_with_status(&sandbox, &["queued"]).contains(&id));
    // The first read after a retry shows the task running (see `settle.rs`).
    let (_, after) = get(&format!("{}/tasks/{id}", base(&sandbox))).await;
    assert_eq!(after["status"], json!("running"));
    assert_eq!(
        after["attempts"].as_u64(),
        before["attempts"].as_u64().map(|n| n + 1)
    );
    assert_eq!(after["error"], Value::Null);

    let (status, body) = post(&format!("{}/tasks/{id}/retry", base(&sandbox)), None).await;
    assert_eq!(status, 409);
    assert_eq!(
        body,
        json!({
            "error": "not_retryable",
            "message": format!("task {id} is running; only failed or timed_out tasks can be retried"),
        })
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn unknown_and_ineligible_tasks() {
    let sandbox = sandbox(7, 0.0).await;
    let (status, body) = get(&format!("{}/tasks/task-999", base(&sandbox))).await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"error": "not_found", "message": "no task task-999"})
        )
    );
    let (status, _) = post(&format!("{}/tasks/task-999/retry", base(&sandbox)), None).await;
    assert_eq!(status, 404);

    let succeeded = ids_with_status(&sandbox, &["succeeded"])
        .into_iter()
        .next()
        .expect("one");
    let (status, body) = post(&format!("{}/tasks/{succeeded}/retry", base(&sandbox)), None).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"], json!("not_retryable"));

    let huge = "x".repeat(5000);
    let (status, body) = get(&format!("{}/tasks/{huge}", base(&sandbox))).await;
    assert_eq!(status, 404);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|message| message.len() < 200)
    );
    let (status, body) = get(&format!("{}/tasks/%FF%FE", base(&sandbox))).await;
    assert_eq!(status, 400, "{body}");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn batch_retry_reports_each_id() {
    let sandbox = sandbox(7, 0.0).await;
    let failed = ids_with_status(&sandbox, &["failed"])
        .into_iter()
        .next()
        .expect("failed");
    let timed_out = ids_with_status(&sandbox, &["timed_out"])
        .into_iter()
        .next()
        .expect("timed out");
    let running = ids_with_status(&sandbox, &["running"])
        .into_iter()
        .next()
        .expect("running");
    let url = format!("{}/tasks/retry", base(&sandbox));
    let (status, body) = post(
        &url,
        Some(json!({"ids": [failed, timed_out, running, "nope", failed]})),
    )
    .await;
    assert_eq!(status, 200);
    let results = body["results"].as_array().expect("results");
    assert_eq!(results.len(), 5);
    assert_eq!(results[0], json!({"id": failed, "ok": true}));
    assert_eq!(results[1], json!({"id": timed_out, "ok": true}));
    assert_eq!(results[2]["code"], json!("NOT_RETRYABLE"));
    assert_eq!(results[3]["code"], json!("NOT_FOUND"));
    assert_eq!(
        results[4]["code"],
        json!("NOT_RETRYABLE"),
        "second retry of the same id"
    );
    assert_eq!(ids_with_status(&sandbox, &["queued"]).len(), 2);

    let too_many: Vec<String> = (0..51).map(|n| format!("task-{n:03}")).collect();
    for body in [
        json!({"ids": []}),
        json!({"ids": too_many}),
        json!({"ids": [1]}),
        json!({}),
    ] {
        let (status, answer) = post(&url, Some(body.clone())).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(answer["error"], json!("bad_request"));
    }
    let (status, answer) = status_and_json(
        client()
            .post(&url)
            .bearer_auth(TOKEN)
            .body("{not json")
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!((status, &answer["error"]), (400, &json!("bad_request")));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn faults_change_no_state_and_open_retry_after_windows() {
    let sandbox = sandbox(7, 1.0).await;
    let before = sandbox.tasks("http");
    let failed = ids_with_status(&sandbox, &["failed"])
        .into_iter()
        .next()
        .expect("failed");
    let url = format!("{}/tasks/{failed}/retry", base(&sandbox));
    let mut retry_afters = Vec::new();
    for _ in 0..4 {
        let response = client()
            .post(&url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("sent");
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let (status, body) = status_and_json(response).await;
        match status {
            503 => assert_eq!(body, json!({"error": "unavailable"})),
            429 => retry_afters.push(retry_after.expect("retry-after on 429")),
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(sandbox.tasks("http"), before);
    assert_eq!(retry_afters.len(), 2);
    assert_eq!(retry_afters[0], "1");
    assert!(
        httpdate::parse_http_date(&retry_afters[1]).is_ok(),
        "{}",
        retry_afters[1]
    );

    let record = sandbox.requests();
    assert_eq!(record.len(), 4);
    assert!(record.iter().all(|request| request.fault));
    assert_eq!(
        record
            .iter()
            .map(|request| request.status)
            .collect::<Vec<_>>(),
        [503, 429, 503, 429]
    );
    // Requests 3 and 4 came right after the first 429 told the client to wait a second.
    let violations = sandbox.retry_after_violations();
    assert_eq!(violations.len(), 2);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn same_seed_same_world() {
    let a = sandbox(42, 0.0).await;
    let b = sandbox(42, 0.0).await;
    let c = sandbox(43, 0.0).await;
    let shape = |sandbox: &Sandbox| -> Vec<Value> {
        sandbox
            .tasks("http")
            .into_iter()
            .map(|task| {
                json!([
                    task["id"],
                    task["name"],
                    task["status"],
                    task["error"],
                    task["attempts"]
                ])
            })
            .collect()
    };
    assert_eq!(shape(&a), shape(&b));
    assert_ne!(shape(&a), shape(&c));
    let (_, page_a) = get(&format!("{}/tasks?status=failed&per_page=100", base(&a))).await;
    let (_, page_b) = get(&format!("{}/tasks?status=failed&per_page=100", base(&b))).await;
    let ids = |page: &Value| {
        page["tasks"]
            .as_array()
            .map(|tasks| tasks.iter().map(|t| t["id"].clone()).collect::<Vec<_>>())
    };
    assert_eq!(ids(&page_a), ids(&page_b));
    for sandbox in [a, b, c] {
        sandbox.shutdown().await;
    }
}
