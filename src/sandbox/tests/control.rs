//! The sandbox handle and its control endpoints.

use serde_json::json;

use super::{client, sandbox, status_and_json};

#[tokio::test]
async fn binds_loopback_and_names_its_apis() {
    let sandbox = sandbox(7, 0.0).await;
    assert!(sandbox.addr().ip().is_loopback());
    let port = sandbox.addr().port();
    assert_eq!(
        sandbox.base_url("http"),
        Some(format!("http://127.0.0.1:{port}/http"))
    );
    assert_eq!(sandbox.base_url("nope"), None);
    assert!(
        sandbox
            .credentials()
            .contains(&("TASKS_API_TOKEN".to_owned(), "sandbox-token".to_owned()))
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn control_endpoints_are_not_journaled() {
    let sandbox = sandbox(7, 0.0).await;
    let origin = format!("http://{}", sandbox.addr());
    let (status, _) = status_and_json(
        client()
            .get(format!("{origin}/http/tasks"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 401);

    let (status, record) = status_and_json(
        client()
            .get(format!("{origin}/_sandbox/requests"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(record.as_array().map(Vec::len), Some(1));
    assert_eq!(record[0]["path"], json!("/tasks"));
    assert_eq!(record[0]["status"], json!(401));

    let (status, tasks) = status_and_json(
        client()
            .get(format!("{origin}/_sandbox/tasks/http"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(tasks.as_array().map(Vec::len), Some(60));

    let (status, body) = status_and_json(
        client()
            .get(format!("{origin}/_sandbox/tasks/zzz"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], json!("not_found"));

    let (status, body) = status_and_json(
        client()
            .get(format!("{origin}/elsewhere"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], json!("not_found"));
    assert_eq!(sandbox.requests().len(), 1);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn rejects_out_of_range_fault_rate() {
    let result = crate::sandbox::Sandbox::start(crate::sandbox::SandboxConfig {
        faults: 1.5,
        ..Default::default()
    })
    .await;
    assert!(result.is_err());
}

/// The windows endpoint (issue 9's Retry-After bench) names each wait the sandbox asked for, from
/// the arrival of the request told to wait to the end of its wait.
#[tokio::test]
async fn windows_list_each_retry_after_announced() {
    let sandbox = sandbox(7, 1.0).await;
    let origin = format!("http://{}", sandbox.addr());
    let client = client();
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let answer = client.get(format!("{origin}/http/tasks")).send().await;
        statuses.push(answer.expect("sent").status().as_u16());
    }
    assert_eq!(statuses, [503, 429], "faults alternate, a 503 first");
    let (status, windows) = status_and_json(
        client
            .get(format!("{origin}/_sandbox/windows"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 200);
    let told_at = sandbox.requests()[1].at_ms;
    assert_eq!(
        windows,
        json!([{"api": "http", "from_ms": told_at, "until_ms": told_at + 1_000}])
    );
    sandbox.shutdown().await;
}
