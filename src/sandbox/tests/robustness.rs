//! Properties every emulated API shares: no panics on hostile input, faults that change nothing,
//! determinism for a seed.

use serde_json::{Value, json};

use super::{APIS, client, sandbox, status_and_json};
use crate::sandbox::Sandbox;

/// One retry-style request per API that would change state if it got through.
fn mutating_request(sandbox: &Sandbox, api: &str) -> reqwest::RequestBuilder {
    let base = sandbox.base_url(api).expect("known api");
    let credentials = sandbox.credentials();
    let credential = |name: &str| {
        credentials
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .expect("credential")
    };
    let first_id = |status_key: &str, status: Value| {
        sandbox
            .tasks(api)
            .into_iter()
            .find(|task| task[status_key] == status)
            .and_then(|task| {
                ["id", "taskId", "workflow_run_id"]
                    .iter()
                    .find_map(|key| task[*key].as_str().map(str::to_owned))
            })
            .expect("seeded task")
    };
    match api {
        "http" => client()
            .post(format!(
                "{base}/tasks/{}/retry",
                first_id("status", json!("failed"))
            ))
            .bearer_auth(credential("TASKS_API_TOKEN")),
        "beam" => client()
            .post(format!("{base}/agent-tasks/retry"))
            .header("x-api-key", credential("BEAM_API_KEY"))
            .header("current-workspace-id", credential("BEAM_WORKSPACE_ID"))
            .json(&json!({"taskId": first_id("status", json!("FAILED"))})),
        "beam-prod" => client()
            .post(format!("{base}/agent-tasks/retry"))
            .header("x-api-key", credential("BEAM_API_KEY_PROD"))
            .header("current-workspace-id", credential("BEAM_WORKSPACE_ID_PROD"))
            .json(&json!({"taskId": first_id("status", json!("FAILED"))})),
        "deepwork" => {
            let task = sandbox
                .tasks(api)
                .into_iter()
                .find(|task| task["status"] == json!("blocked"))
                .expect("blocked task");
            client()
                .post(format!(
                    "{base}/api/deep-work/projects/{}/tasks/{}/retry",
                    task["project_id"].as_str().expect("project"),
                    task["id"].as_str().expect("id")
                ))
                .bearer_auth(credential("DEEPWORK_TOKEN"))
        }
        "herodotus" => client()
            .post(format!(
                "{base}/tasks/{}/retry",
                first_id("status", json!("TraceGenFailed"))
            ))
            .header("x-api-key", credential("HERODOTUS_API_KEY")),
        "geelark" => client()
            .post(format!("{base}/open/v1/task/restart"))
            .header("traceId", "0f0e0d0c-0000-4000-8000-000000000000")
            .bearer_auth(credential("GEELARK_TOKEN"))
            .json(&json!({"ids": [sandbox
                .tasks(api)
                .into_iter()
                .find(|task| {
                    task["status"] == json!(4)
                        && task["restartCount"] == json!(0)
                        && task["envDeleted"] == json!(false)
                        && task["resourceExpired"] == json!(false)
                })
                .and_then(|task| task["id"].as_str().map(str::to_owned))
                .expect("restartable task")]})),
        _ => client()
            .post(format!(
                "{base}/v1/agents/runs/{}/retry",
                first_id("status", json!("failed"))
            ))
            .header("x-api-key", credential("SKYVERN_API_KEY")),
    }
}

#[tokio::test]
async fn every_api_is_served_with_credentials() {
    let sandbox = sandbox(7, 0.0).await;
    let names: Vec<String> = sandbox
        .credentials()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    for expected in [
        "TASKS_API_TOKEN",
        "BEAM_API_KEY",
        "BEAM_WORKSPACE_ID",
        "BEAM_API_KEY_PROD",
        "BEAM_WORKSPACE_ID_PROD",
        "DEEPWORK_TOKEN",
        "HERODOTUS_API_KEY",
        "GEELARK_APP_ID",
        "GEELARK_API_KEY",
        "GEELARK_TOKEN",
        "SKYVERN_API_KEY",
    ] {
        assert!(names.iter().any(|name| name == expected), "{expected}");
    }
    for api in APIS {
        let url = sandbox.base_url(api).expect("served");
        assert_eq!(url, format!("http://{}/{api}", sandbox.addr()));
        assert!(!sandbox.tasks(api).is_empty(), "{api} has seeded tasks");
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_real_request_succeeds_without_faults() {
    let sandbox = sandbox(7, 0.0).await;
    for api in APIS {
        let before = sandbox.tasks(api);
        let response = mutating_request(&sandbox, api).send().await.expect("sent");
        let status = response.status().as_u16();
        assert!(matches!(status, 200 | 201), "{api}: {status}");
        assert_ne!(sandbox.tasks(api), before, "{api}: the retry changed state");
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn faulted_requests_change_nothing_anywhere() {
    let sandbox = sandbox(9, 1.0).await;
    for api in APIS {
        let before = sandbox.tasks(api);
        for _ in 0..2 {
            let response = mutating_request(&sandbox, api).send().await.expect("sent");
            let status = response.status().as_u16();
            let retry_after = response.headers().contains_key("retry-after");
            let (_, body) = status_and_json(response).await;
            match (api, status) {
                (_, 503) => assert_eq!(body, json!({"error": "unavailable"})),
                ("geelark", 200) => assert_eq!(body["code"], json!(40007)),
                // The real Skyvern announces no wait.
                ("skyvern", 429) => assert!(!retry_after, "{api}"),
                (_, 429) => assert!(retry_after, "{api}"),
                other => panic!("{api}: unexpected {other:?} {body}"),
            }
        }
        assert_eq!(sandbox.tasks(api), before, "{api}");
    }
    let record = sandbox.requests();
    assert_eq!(record.len(), 14);
    assert!(record.iter().all(|request| request.fault));
    assert!(
        record
            .iter()
            .all(|request| request.at_ms <= record[record.len() - 1].at_ms)
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn hostile_input_gets_json_4xx() {
    let sandbox = sandbox(7, 0.0).await;
    let huge = "9".repeat(4000);
    for api in APIS {
        let base = sandbox.base_url(api).expect("served");
        let attempts = [
            client().get(format!("{base}/tasks/{huge}")),
            client().get(format!("{base}/tasks/%C3%28/status")),
            client()
                .post(format!("{base}/agent-tasks/retry"))
                .body("{\"taskId\":"),
            client()
                .post(format!("{base}/open/v1/task/restart"))
                .header("traceId", "t")
                .body("[1,2"),
            client().post(format!("{base}/v1/agents/runs/{huge}/retry")),
            client().delete(format!("{base}/tasks")),
            client().get(format!("{base}/")),
            client()
                .put(format!("{base}/open/v1/task/query"))
                .body(vec![0xff, 0xfe, 0x00]),
        ];
        for request in attempts {
            let response = request.send().await.expect("sent");
            let status = response.status().as_u16();
            let text = response.text().await.expect("body");
            let json: Result<Value, _> = serde_json::from_str(&text);
            assert!(json.is_ok(), "{api} answered non-JSON {status}: {text}");
            assert!(
                (400..500).contains(&status) || status == 200,
                "{api}: {status} {text}"
            );
        }
    }
    let record = sandbox.requests();
    // `GET /{api}/` is answered by the server-wide 404, outside any API, so it is not journaled.
    assert_eq!(record.len(), 7 * 7);
    assert!(record.iter().all(|request| request.status >= 200));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn oversized_bodies_are_413_json() {
    let sandbox = sandbox(7, 0.0).await;
    let base = sandbox.base_url("http").expect("served");
    let response = client()
        .post(format!("{base}/tasks/retry"))
        .bearer_auth("sandbox-token")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .expect("sent");
    let (status, body) = status_and_json(response).await;
    assert_eq!(
        (status, body["error"].clone()),
        (413, json!("payload_too_large"))
    );
    assert_eq!(sandbox.requests()[0].status, 413);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn same_seed_same_ids_and_statuses_everywhere() {
    let a = sandbox(21, 0.0).await;
    let b = sandbox(21, 0.0).await;
    let c = sandbox(22, 0.0).await;
    let shape = |sandbox: &Sandbox, api: &str| -> Vec<Value> {
        sandbox
            .tasks(api)
            .into_iter()
            .map(|task| {
                let id = ["id", "taskId", "workflow_run_id"]
                    .iter()
                    .find_map(|key| task.get(*key).cloned());
                json!([id, task["status"]])
            })
            .collect()
    };
    for api in APIS {
        assert_eq!(shape(&a, api), shape(&b, api), "{api}");
        assert_ne!(shape(&a, api), shape(&c, api), "{api}");
    }
    for sandbox in [a, b, c] {
        sandbox.shutdown().await;
    }
}

#[test]
fn seeded_ids_do_not_depend_on_the_start_time() {
    use std::sync::Arc;

    use crate::sandbox::seeding::Seeding;
    use crate::sandbox::state::Shared;
    fn ids(tasks: Vec<Value>) -> Vec<Value> {
        tasks
            .into_iter()
            .map(|task| {
                ["id", "taskId", "workflow_run_id"]
                    .iter()
                    .find_map(|key| task.get(*key).cloned())
                    .unwrap_or(Value::Null)
            })
            .collect()
    }
    let shared = Arc::new(Shared::new(
        crate::sandbox::SandboxConfig::default(),
        "http://127.0.0.1:9".to_owned(),
    ));
    let apis = crate::sandbox::registry(&shared);
    assert_eq!(apis.len(), 7, "every API is checked");
    let (early, late) = (1_790_000_000, 1_790_123_457);
    for api in &apis {
        api.seed(&Seeding::new(3, early));
        let at_early = ids(api.snapshot());
        api.seed(&Seeding::new(3, late));
        assert!(!at_early.is_empty(), "{}", api.name());
        assert_eq!(at_early, ids(api.snapshot()), "{}", api.name());
    }
}
