//! Ids in every adapter's paths: an id stays one segment, and ids that move the path anyway
//! (`.`, `..`) are refused.

use serde_json::json;

use super::try_plan;
use crate::playbook::compile::StepKind;
use crate::template::context;

/// Every request of `provider`'s defaults that names one item (enrich, retry, verify), each with
/// its method and path as sent for an item whose id and project id are `id`.
fn item_requests(provider: &str, id: &str) -> Vec<(String, Result<String, String>)> {
    use crate::engine::request::{BaseUrl, render};
    use crate::playbook::compile::{FetchSource, RetryMode};
    let steps = "  - fetch: {ids: \"x\", enrich: {}}\n  - retry: {}\n  - verify: {}\n";
    let plan = try_plan(provider, "", steps).unwrap_or_else(|e| panic!("{provider}: {e}"));
    let item = json!({"id": id, "project_id": id, "status": "failed"});
    let task = json!({"id": id, "status": "failed", "new_id": null});
    let ctx = context([("item", &item), ("task", &task), ("ids", &json!([id]))]);
    let mut requests = Vec::new();
    for step in &plan.steps {
        let request = match &step.kind {
            StepKind::Fetch(f) => {
                assert!(matches!(f.source, FetchSource::Ids(_)));
                &f.enrich.as_ref().expect("an enrich request").request
            }
            StepKind::Retry(r) => match &r.mode {
                RetryMode::PerItem(request) | RetryMode::Batch { request, .. } => request,
            },
            StepKind::Verify(v) => &v.read.request,
            _ => continue,
        };
        let base = BaseUrl::new("http://h:1".into());
        let sent = |scope| {
            render(&plan.templates, request, scope, Some(&base), &[])
                .map(|r| format!("{} {}", r.method, r.url.path()))
                .map_err(|e| e.to_string())
        };
        let sent_over_context = sent(crate::template::Scope::Ctx(&ctx));
        if request.reads_only_task_id() {
            assert_eq!(
                sent(crate::template::Scope::TaskId(id)),
                sent_over_context,
                "{provider}: from the id alone"
            );
        }
        let sent = sent_over_context;
        requests.push((step.kind.label().to_string(), sent));
    }
    requests
}

/// Regression (issue 7, case 2): a Skyvern run id or a Deep Work task or project id of
/// `../../admin/x` was POSTed to `/admin/x`, with the key.
#[test]
fn an_id_of_dot_dot_slash_stays_one_segment_in_every_adapters_paths() {
    let e = "..%2F..%2Fadmin%2Fx";
    let expected: [(&str, [&str; 3]); 5] = [
        (
            "beam",
            [
                &format!("GET /agent-tasks/{e}"),
                "POST /agent-tasks/retry",
                &format!("GET /agent-tasks/{e}"),
            ],
        ),
        (
            "deepwork",
            [
                &format!("GET /api/mission-control/tasks/{e}"),
                &format!("POST /api/deep-work/projects/{e}/tasks/{e}/retry"),
                &format!("GET /api/mission-control/tasks/{e}"),
            ],
        ),
        (
            "herodotus",
            [
                &format!("GET /tasks/{e}/status"),
                &format!("POST /tasks/{e}/retry"),
                &format!("GET /tasks/{e}/status"),
            ],
        ),
        (
            "skyvern",
            [
                &format!("GET /v1/runs/{e}"),
                &format!("POST /v1/agents/runs/{e}/retry"),
                &format!("GET /v1/runs/{e}"),
            ],
        ),
        (
            "geelark",
            [
                "POST /open/v1/task/query",
                "POST /open/v1/task/restart",
                "POST /open/v1/task/query",
            ],
        ),
    ];
    for (provider, paths) in expected {
        let sent: Vec<(String, Result<String, String>)> = item_requests(provider, "../../admin/x");
        let want: Vec<(String, Result<String, String>)> = ["fetch", "retry", "verify"]
            .into_iter()
            .zip(paths)
            .map(|(step, path)| (step.to_string(), Ok(path.to_string())))
            .collect();
        assert_eq!(sent, want, "{provider}");
    }
}

#[test]
fn a_dot_dot_id_is_refused_by_every_adapter_that_puts_ids_in_paths() {
    for provider in ["beam", "deepwork", "herodotus", "skyvern"] {
        for (step, sent) in item_requests(provider, "..") {
            let in_path = !(provider == "beam" && step == "retry");
            match sent {
                Err(e) if in_path => assert!(
                    e.ends_with("a segment would be `..`; nothing was sent"),
                    "{provider} {step}: {e}"
                ),
                Ok(path) if !in_path => assert_eq!(path, "POST /agent-tasks/retry"),
                other => panic!("{provider} {step}: {other:?}"),
            }
        }
    }
}
