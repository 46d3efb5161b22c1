//! Ids in request paths (issue 7, case 2): a provider's ids are hostile input. Each test serves
//! ids that once steered retries to other endpoints (`..` → `POST /retry`, `.` → the batch endpoint
//! `POST /tasks/retry`, `a/b` → `/tasks/a/b/retry`, `a#frag` → `/tasks/a`) and asserts, from the
//! fake API's journal, the exact paths that arrived: only `/tasks/<one segment>/retry`, or nothing.
//! An item whose id cannot be one segment is `failed`, with a reason that names the id and the
//! path, and nothing is sent for it.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::{FakeApi, Ran, Runbook, playbook};

/// The ids a hostile listing returns.
/// (An empty id never reaches a retry: the fetch drops an item without an id; see
/// [`an_empty_value_in_a_path_is_refused`].)
const HOSTILE: [&str; 7] = [
    "..",
    ".",
    "a/b",
    "a#frag",
    "a?x=1",
    "%2e%2e",
    "../../admin/x",
];

/// An API listing [`HOSTILE`] as failed tasks at `GET /tasks`, accepting every retry with 204
/// (whatever path it reaches) and answering anything else 404. The journal sees every request.
fn hostile_api() -> FakeApi {
    let tasks: Vec<Value> = HOSTILE
        .iter()
        .map(|id| json!({"id": id, "status": "failed"}))
        .collect();
    FakeApi::start(
        Router::new()
            .route(
                "/tasks",
                get(move || {
                    let tasks = tasks.clone();
                    async move { axum::Json(json!({ "tasks": tasks })) }
                }),
            )
            .route(
                "/tasks/{id}/retry",
                post(|| async { StatusCode::NO_CONTENT }),
            )
            .fallback(|| async { StatusCode::NOT_FOUND }),
    )
}

/// A playbook that lists the hostile tasks and retries each at `path`.
fn retry_at(path: &str) -> String {
    playbook(&format!(
        "  - name: list\n    fetch:\n      request: {{path: /tasks}}\n      items: $.tasks[*]\n  - name: again\n    retry:\n      request: {{path: \"{path}\"}}\n"
    ))
}

/// Every request the API received after the listing, as `METHOD path`.
fn sent(api: &FakeApi) -> Vec<String> {
    let mut all: Vec<String> = api
        .requests()
        .into_iter()
        .filter(|r| !(r.method == "GET" && r.path == "/tasks"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    all.sort();
    all
}

/// Each item's outcome and message, in [`HOSTILE`] order; each item was handled by step `again`.
fn results(ran: &Ran) -> Vec<(String, String, String)> {
    HOSTILE
        .iter()
        .map(|id| {
            let item = ran.item(id);
            assert_eq!(item["step"], "again", "{item}");
            (
                id.to_string(),
                item["outcome"].as_str().unwrap_or_default().to_string(),
                item["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn expected(rows: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    rows.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

/// Regression (issue 7, case 2): with `urlencode`, `..` was sent as `POST /retry`, `.` as
/// `POST /tasks/retry` and `a/b` as `POST /tasks/a/b/retry`.
#[test]
fn encoded_hostile_ids_reach_only_their_own_retry_path_and_dot_ids_are_refused() {
    let api = hostile_api();
    let path = "/tasks/{{ task.id | urlencode }}/retry";
    let ran = Runbook::play(&retry_at(path)).api(&api).run();
    ran.expect_code(1);
    assert_eq!(
        sent(&api),
        [
            "POST /tasks/%252e%252e/retry",
            "POST /tasks/..%2F..%2Fadmin%2Fx/retry",
            "POST /tasks/a%23frag/retry",
            "POST /tasks/a%2Fb/retry",
            "POST /tasks/a%3Fx%3D1/retry",
        ]
    );
    let refused = |shown: &str, segment: &str| {
        format!(
            "cannot build the request: {shown} would change the shape of the path `{path}`: a segment would be {segment}; nothing was sent"
        )
    };
    assert_eq!(
        results(&ran),
        expected(&[
            ("..", "failed", &refused("the value `..`", "`..`")),
            (".", "failed", &refused("the value `.`", "`.`")),
            ("a/b", "retried", ""),
            ("a#frag", "retried", ""),
            ("a?x=1", "retried", ""),
            ("%2e%2e", "retried", ""),
            ("../../admin/x", "retried", ""),
        ])
    );
    assert_eq!(ran.stderr.matches("warning:").count(), 0, "{ran:?}");
}

/// Regression (issue 7, case 2): without the filter, `a#frag` was sent as `POST /tasks/a` and
/// `a?x=1` as `POST /tasks/a` with a query; now nothing whose id would move the path is sent.
#[test]
fn unencoded_hostile_ids_are_refused_and_nothing_is_sent() {
    let api = hostile_api();
    let path = "/tasks/{{ task.id }}/retry";
    let ran = Runbook::play(&retry_at(path)).api(&api).run();
    ran.expect_code(1);
    assert_eq!(sent(&api), Vec::<String>::new());
    let segment = |shown: &str, segment: &str| {
        format!(
            "cannot build the request: {shown} would change the shape of the path `{path}`: a segment would be {segment}; nothing was sent"
        )
    };
    let holds = |id: &str, what: &str| {
        format!(
            "cannot build the request: the value `{id}` would change the shape of the path `{path}`: it holds {what}; nothing was sent (encode it: `{{{{ … | urlencode }}}}`)"
        )
    };
    assert_eq!(
        results(&ran),
        expected(&[
            ("..", "failed", &segment("the value `..`", "`..`")),
            (".", "failed", &segment("the value `.`", "`.`")),
            ("a/b", "failed", &holds("a/b", "`/`")),
            ("a#frag", "failed", &holds("a#frag", "`#`")),
            ("a?x=1", "failed", &holds("a?x=1", "`?`")),
            (
                "%2e%2e",
                "failed",
                &segment("the value `%2e%2e`", "`%2e%2e`")
            ),
            ("../../admin/x", "failed", &holds("../../admin/x", "`/`")),
        ])
    );
}

const UNENCODED_WARNING: &str = "warning: `{{ task.id }}` goes into the request path unencoded: an item whose value holds `/`, `?` or `#` (`a/b`, `../x`) is refused rather than sent
  --> playbook.yaml:13:23
   |
13 |       request: {path: \"/tasks/{{ task.id }}/retry\"}
   |                       ^^^^^^^^^^^^^^^^^^^^^^^^^^^^
   = help: write `{{ task.id | urlencode }}`: it encodes `/`, `?`, `#`, `%` and every other reserved character, so the value stays one path segment
";

#[test]
fn validate_warns_where_an_item_value_goes_into_a_path_unencoded() {
    let ran = Runbook::validate(&retry_at("/tasks/{{ task.id }}/retry")).run();
    ran.expect_code(0);
    assert_eq!(ran.stderr, UNENCODED_WARNING);
    assert_eq!(ran.stdout, "playbook.yaml: ok (2 steps, provider http)\n");
}

#[test]
fn play_warns_before_the_first_request() {
    let api = hostile_api();
    let ran = Runbook::play(&retry_at("/tasks/{{ task.id }}/retry"))
        .api(&api)
        .arg("--quiet")
        .run();
    assert!(ran.stderr.starts_with(UNENCODED_WARNING), "{ran:?}");
}

#[test]
fn validate_is_silent_when_ids_are_encoded_or_come_only_from_vars() {
    let text = retry_at("/tasks/{{ task.id | urlencode }}/retry{{ vars.suffix }}")
        .replace("steps:", "vars: {suffix: /now}\nsteps:");
    let ran = Runbook::validate(&text).run();
    ran.expect_code(0);
    assert_eq!(ran.stderr, "");
}

/// An empty value (here a project id) would leave `/projects//tasks/…`: refused for that item.
#[test]
fn an_empty_value_in_a_path_is_refused() {
    let api = FakeApi::start(
        Router::new()
            .route(
                "/tasks",
                get(|| async {
                    axum::Json(json!({"tasks": [{"id": "t1", "project": ""}, {"id": "t2", "project": "p"}]}))
                }),
            )
            .fallback(|| async { StatusCode::NO_CONTENT }),
    );
    let path = "/projects/{{ item.project | urlencode }}/tasks/{{ task.id | urlencode }}/retry";
    let ran = Runbook::play(&retry_at(path)).api(&api).run();
    ran.expect_code(1);
    assert_eq!(sent(&api), ["POST /projects/p/tasks/t2/retry"]);
    assert_eq!(ran.item("t1")["outcome"], "failed");
    assert_eq!(
        ran.item("t1")["message"],
        format!(
            "cannot build the request: an empty value would change the shape of the path `{path}`: a segment would be empty; nothing was sent"
        )
    );
}

// ---- the built-in adapters, pointed at a fake API by their <PROVIDER>_BASE_URL ---------------

/// `runbook play` of a `provider` playbook with `steps`, its base URL variable `base_url_var`
/// pointing at `api` and `credentials` set.
fn adapter(
    provider: &str,
    steps: &str,
    api: &FakeApi,
    base_url_var: &str,
    credentials: &[&str],
) -> Ran {
    let text = format!("name: t\nprovider: {provider}\nsteps:\n{steps}");
    let mut runbook = Runbook::play(&text).env(base_url_var, &api.url());
    for name in credentials {
        runbook = runbook.env(name, "credential-for-the-id-path-tests");
    }
    runbook.run()
}

/// Every request but the listing at `listing`, as `METHOD path`, sorted.
fn sent_besides(api: &FakeApi, listing: &str) -> Vec<String> {
    let mut all: Vec<String> = api
        .requests()
        .into_iter()
        .filter(|r| r.path != listing)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    all.sort();
    all
}

/// The message of an item refused because its id is `..` in `path`.
fn dot_dot(path: &str) -> String {
    format!(
        "cannot build the request: the value `..` would change the shape of the path `{path}`: a segment would be `..`; nothing was sent"
    )
}

/// Regression (issue 7, case 2): a Skyvern run id `../../admin/x` was POSTed to `/admin/x`.
#[test]
fn skyvern_run_ids_stay_one_segment() {
    let api = FakeApi::start(
        Router::new()
            .route(
                "/v1/agents/runs",
                get(|| async {
                    let run = |id: &str| json!({"workflow_run_id": id, "status": "failed"});
                    axum::Json(json!([run("../../admin/x"), run("a/b"), run("..")]))
                }),
            )
            .route(
                "/v1/agents/runs/{id}/retry",
                post(|| async { axum::Json(json!({"run_id": "wr_new"})) }),
            )
            .fallback(|| async { StatusCode::NOT_FOUND }),
    );
    let steps = "  - fetch: {}\n  - filter: {}\n  - retry: {}\n";
    let ran = adapter(
        "skyvern",
        steps,
        &api,
        "SKYVERN_BASE_URL",
        &["SKYVERN_API_KEY"],
    );
    ran.expect_code(1);
    assert_eq!(
        sent_besides(&api, "/v1/agents/runs"),
        [
            "POST /v1/agents/runs/..%2F..%2Fadmin%2Fx/retry",
            "POST /v1/agents/runs/a%2Fb/retry",
        ]
    );
    assert_eq!(ran.item("../../admin/x")["outcome"], "retried");
    assert_eq!(ran.item("..")["outcome"], "failed");
    assert_eq!(
        ran.item("..")["message"],
        dot_dot("/v1/agents/runs/{{ task.id | urlencode }}/retry")
    );
}

/// Regression (issue 7, case 2): a Deep Work task or project id `../../admin/…` was POSTed to
/// `/admin/…`.
#[test]
fn deepwork_task_and_project_ids_stay_one_segment_each() {
    let api = FakeApi::start(
        Router::new()
            .route(
                "/api/mission-control/tasks",
                get(|| async {
                    let task = |id: &str, project: &str| {
                        json!({"id": id, "project_id": project, "status": "blocked"})
                    };
                    axum::Json(json!({
                        "tasks": [task("../../admin/x", "p1"), task("t2", "../../admin/p"), task("..", "p1")],
                        "count": 3,
                    }))
                }),
            )
            .fallback(|| async { axum::Json(json!({"success": true})) }),
    );
    let steps = "  - fetch: {}\n  - filter: {}\n  - retry: {}\n";
    let ran = adapter(
        "deepwork",
        steps,
        &api,
        "DEEPWORK_BASE_URL",
        &["DEEPWORK_TOKEN"],
    );
    ran.expect_code(1);
    assert_eq!(
        sent_besides(&api, "/api/mission-control/tasks"),
        [
            "POST /api/deep-work/projects/..%2F..%2Fadmin%2Fp/tasks/t2/retry",
            "POST /api/deep-work/projects/p1/tasks/..%2F..%2Fadmin%2Fx/retry",
        ]
    );
    assert_eq!(ran.item("..")["outcome"], "failed");
    assert_eq!(
        ran.item("..")["message"],
        dot_dot(
            "/api/deep-work/projects/{{ required(item.project_id, 'the task has no project_id: only Deep Work project tasks can be retried') | urlencode }}/tasks/{{ task.id | urlencode }}/retry"
        )
    );
}

/// Herodotus reads each id's status at `/tasks/{id}/status` before retrying it.
#[test]
fn herodotus_task_ids_stay_one_segment_in_reads_and_retries() {
    let api = FakeApi::start(
        Router::new()
            .route(
                "/tasks/{id}/status",
                get(
                    |axum::extract::Path(id): axum::extract::Path<String>| async move {
                        axum::Json(json!({"id": id, "status": "DryRunFailed"}))
                    },
                ),
            )
            .fallback(|| async { axum::Json(json!({"status": "accepted"})) }),
    );
    let steps =
        "  - fetch: {ids: \"../../admin/x a/b ..\", enrich: {}}\n  - filter: {}\n  - retry: {}\n";
    let ran = adapter(
        "herodotus",
        steps,
        &api,
        "HERODOTUS_BASE_URL",
        &["HERODOTUS_API_KEY"],
    );
    assert_eq!(
        sent_besides(&api, ""),
        [
            "GET /tasks/..%2F..%2Fadmin%2Fx/status",
            "GET /tasks/a%2Fb/status",
            "POST /tasks/..%2F..%2Fadmin%2Fx/retry",
            "POST /tasks/a%2Fb/retry",
        ],
        "{ran:?}"
    );
    ran.expect_code(1);
    assert_read_refused(&ran, "/tasks/{{ task.id | urlencode }}/status");
}

/// Beam retries by body, but reads a task at `/agent-tasks/{id}`.
#[test]
fn beam_task_ids_stay_one_segment_in_reads() {
    let api = FakeApi::start(
        Router::new()
            .route(
                "/agent-tasks",
                get(|| async {
                    axum::Json(json!({"data": [
                        {"id": "../../admin/x", "status": "FAILED"},
                        {"id": "..", "status": "FAILED"},
                    ]}))
                }),
            )
            .route(
                "/agent-tasks/{id}",
                get(
                    |axum::extract::Path(id): axum::extract::Path<String>| async move {
                        axum::Json(json!({"id": id, "status": "FAILED"}))
                    },
                ),
            )
            .fallback(|| async { StatusCode::CREATED }),
    );
    let steps = "  - fetch: {enrich: {}}\n  - filter: {}\n  - retry: {}\n";
    let ran = adapter(
        "beam",
        steps,
        &api,
        "BEAM_BASE_URL",
        &["BEAM_API_KEY", "BEAM_WORKSPACE_ID"],
    );
    assert_eq!(
        sent_besides(&api, "/agent-tasks"),
        [
            "GET /agent-tasks/..%2F..%2Fadmin%2Fx",
            "POST /agent-tasks/retry",
        ],
        "{ran:?}"
    );
    let retry = api.with_method("POST");
    assert_eq!(retry[0].json(), json!({"taskId": "../../admin/x"}));
    ran.expect_code(1);
    assert_read_refused(&ran, "/agent-tasks/{{ task.id | urlencode }}");
}

/// The item `..` failed in the fetch step, its read refused: nothing was sent for it.
fn assert_read_refused(ran: &Ran, path: &str) {
    let item = ran.item("..");
    assert_eq!(
        (&item["outcome"], &item["step"], &item["message"]),
        (
            &json!("failed"),
            &json!("fetch"),
            &json!(format!(
                "could not read the item: the value `..` would change the shape of the path `{path}`: a segment would be `..`; nothing was sent"
            ))
        )
    );
}
