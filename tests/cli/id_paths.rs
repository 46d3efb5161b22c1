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
