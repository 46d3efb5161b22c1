//! Lineage of retries that create new work, for any provider: a generic `http` playbook with
//! `new_id:` against a fake API whose retry makes a new task and leaves the old one failed (as
//! Skyvern's does). Night after night, each failed task is retried once; after that only the head
//! of its chain (the newest task) may be, `budget` counts the whole chain, a dry run records no
//! link, and the report, `show`, `history` and `verify` all follow the chain.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{Bench, head, ids_with, serve};

/// Tasks by id, in creation order: (id, status).
type Tasks = Arc<Mutex<Vec<(String, String)>>>;

/// A task API whose retry of `x` creates task `x.1` and answers its id; the old task stays
/// failed. Work that started from `a` always fails again; any other recovers.
fn chain_api(tasks: Tasks) -> Router {
    Router::new()
        .route(
            "/tasks",
            get(|State(tasks): State<Tasks>| async move {
                let all: Vec<Value> = tasks
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .map(|(id, status)| json!({"id": id, "status": status}))
                    .collect();
                axum::Json(json!({"tasks": all}))
            }),
        )
        .route(
            "/tasks/{id}",
            get(
                |State(tasks): State<Tasks>, Path(id): Path<String>| async move {
                    let tasks = tasks.lock().unwrap_or_else(|e| e.into_inner());
                    let status = tasks
                        .iter()
                        .find(|(t, _)| *t == id)
                        .map(|(_, s)| s.clone())
                        .unwrap_or_default();
                    axum::Json(json!({"id": id, "status": status}))
                },
            ),
        )
        .route(
            "/tasks/{id}/retry",
            post(
                |State(tasks): State<Tasks>, Path(id): Path<String>| async move {
                    let new_id = format!("{id}.1");
                    let status = if id.starts_with('a') {
                        "failed"
                    } else {
                        "completed"
                    };
                    tasks
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((new_id.clone(), status.to_string()));
                    axum::Json(json!({"id": new_id, "status": "created"}))
                },
            ),
        )
        .with_state(tasks)
}

fn playbook() -> String {
    format!(
        r#"{head}steps:
  - fetch:
      request: {{path: /tasks}}
      items: $.tasks[*]
  - filter: {{status_in: [failed]}}
  - retry:
      request: {{path: "/tasks/{{{{ task.id }}}}/retry"}}
      new_id: $.id
      budget: {{max: 2, per: 7d}}
  - verify:
      request: {{path: "/tasks/{{{{ task.new_id }}}}"}}
      success: [completed]
      failure: [failed]
      every: 10ms
      timeout: 5s
"#,
        head = head("chains")
    )
}

/// Each item's (outcome, chain, message), by id.
fn by_id(report: &Value) -> BTreeMap<String, (String, Vec<String>, String)> {
    report["items"]
        .as_array()
        .expect("items is an array")
        .iter()
        .map(|i| {
            let chain = i["chain"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .map(|id| id.as_str().unwrap_or_default().to_string())
                        .collect()
                })
                .unwrap_or_default();
            (
                i["id"].as_str().unwrap_or_default().to_string(),
                (
                    i["outcome"].as_str().unwrap_or_default().to_string(),
                    chain,
                    i["message"].as_str().unwrap_or_default().to_string(),
                ),
            )
        })
        .collect()
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_generic_playbook_with_new_id_retries_each_chain_at_its_head_within_the_budget() {
    let tasks: Tasks = Arc::new(Mutex::new(vec![
        ("a".into(), "failed".into()),
        ("b".into(), "failed".into()),
    ]));
    let (url, journal) = serve(chain_api(Arc::clone(&tasks))).await;
    let bench = Bench::new()
        .env("API_URL", &url)
        .env("TASKS_API_TOKEN", "t");
    bench.write("playbook.yaml", &playbook());
    let posts = || -> Vec<String> {
        journal
            .all()
            .into_iter()
            .filter(|r| r.method == "POST")
            .map(|r| r.path)
            .collect()
    };
    let gets_of = |path: &str| {
        journal
            .all()
            .into_iter()
            .filter(|r| r.method == "GET" && r.path == path)
            .count()
    };

    // Night 1: both originals retried once; verify reads the new tasks, never the old ones.
    bench
        .run(&["play", "playbook.yaml", "-o", "night1.json"])
        .await
        .expect_code(1);
    assert_eq!(posts(), ["/tasks/a/retry", "/tasks/b/retry"]);
    assert!(gets_of("/tasks/a.1") > 0 && gets_of("/tasks/b.1") > 0);
    assert_eq!(gets_of("/tasks/a") + gets_of("/tasks/b"), 0);
    let night1 = bench.json("night1.json");
    let items = by_id(&night1);
    assert_eq!(items["a"].0, "still_failing");
    assert_eq!(items["a"].1, ids(&["a", "a.1"]));
    assert_eq!(items["b"].0, "recovered");
    assert_eq!(items["b"].1, ids(&["b", "b.1"]));
    let run1 = night1["run_id"].as_str().expect("a run id").to_string();

    // A dry run plans only the head of the failed chain, and records no link.
    bench
        .run(&["play", "playbook.yaml", "--dry-run", "-o", "dry.json"])
        .await
        .expect_code(0);
    assert_eq!(posts().len(), 2, "a dry run sends nothing");
    let dry = by_id(&bench.json("dry.json"));
    assert_eq!(dry["a.1"].0, "planned");
    assert_eq!(dry["a.1"].1, ids(&["a", "a.1"]));
    assert_eq!(dry["a"].0, "skipped");

    // Night 2: the originals are skipped, naming where their chain went; the failed head is
    // retried (so the dry run linked nothing).
    bench
        .run(&["play", "playbook.yaml", "-o", "night2.json"])
        .await
        .expect_code(1);
    assert_eq!(
        posts(),
        ["/tasks/a/retry", "/tasks/b/retry", "/tasks/a.1/retry"]
    );
    let night2 = bench.json("night2.json");
    let items = by_id(&night2);
    assert_eq!(ids_with(&night2, "skipped"), ["a", "b"]);
    assert_eq!(items["a"].2, format!("retried before as a.1 in run {run1}"));
    assert_eq!(items["a"].1, ids(&["a", "a.1", "a.1.1"]));
    assert_eq!(items["a.1"].0, "still_failing");
    assert_eq!(items["a.1"].1, ids(&["a", "a.1", "a.1.1"]));
    let run2 = night2["run_id"].as_str().expect("a run id").to_string();

    // Night 3: the head's chain has had its two retries this week: chronic, nothing sent.
    bench
        .run(&["play", "playbook.yaml", "-o", "night3.json"])
        .await
        .expect_code(0);
    assert_eq!(posts().len(), 3, "nothing sent on night 3");
    let night3 = bench.json("night3.json");
    assert_eq!(ids_with(&night3, "chronic"), ["a.1.1"]);
    assert_eq!(
        by_id(&night3)["a.1.1"].2,
        "its chain (a → a.1 → a.1.1) retried 2 times in the last 7d (budget 2): not retried again"
    );
    assert_eq!(ids_with(&night3, "skipped"), ["a", "a.1", "b"]);

    // `show` prints the chains of a past run; `history` counts the retries that made new work.
    let shown = bench.run(&["show", &run2]).await;
    shown.expect_code(0);
    assert!(
        shown.stdout.contains("a → a.1 → a.1.1  (still_failing)"),
        "{shown:?}"
    );
    let history = bench.run(&["history"]).await;
    history.expect_code(0);
    let line = |run: &str| {
        history
            .stdout
            .lines()
            .find(|l| l.starts_with(run))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line(&run1).ends_with("(2 retries created new work)"),
        "{history:?}"
    );
    assert!(
        line(&run2).ends_with("(1 retry created new work)"),
        "{history:?}"
    );
    bench
        .run(&["show", &run2, "-o", "night2.md"])
        .await
        .expect_code(0);
    let markdown = std::fs::read_to_string(bench.path("night2.md")).expect("night2.md");
    assert!(
        markdown.contains(
            "### Chains (2)\n\n| chain (original → newest) | outcome |\n|---|---|\n| `a` → `a.1` → `a.1.1` | still_failing |\n| `b` → `b.1` | skipped |\n"
        ),
        "{markdown}"
    );
}

/// An answer naming the item itself (a retry in place) links nothing: the item may be retried the
/// next night, as before lineage existed.
#[tokio::test(flavor = "multi_thread")]
async fn an_answer_naming_the_item_itself_makes_no_chain() {
    let router = Router::new()
        .route(
            "/tasks",
            get(|| async { axum::Json(json!({"tasks": [{"id": "t", "status": "failed"}]})) }),
        )
        .route(
            "/tasks/{id}/retry",
            post(|Path(id): Path<String>| async move { axum::Json(json!({"id": id})) }),
        );
    let (url, journal) = serve(router).await;
    let bench = Bench::new()
        .env("API_URL", &url)
        .env("TASKS_API_TOKEN", "t");
    let text = format!(
        r#"{head}steps:
  - fetch:
      request: {{path: /tasks}}
      items: $.tasks[*]
  - retry:
      request: {{path: "/tasks/{{{{ task.id }}}}/retry"}}
      new_id: $.id
"#,
        head = head("in-place")
    );
    bench.write("playbook.yaml", &text);
    for night in ["1.json", "2.json"] {
        bench
            .run(&["play", "playbook.yaml", "-o", night])
            .await
            .expect_code(0);
        let report = bench.json(night);
        assert_eq!(ids_with(&report, "retried"), ["t"], "{report:#}");
        assert_eq!(report["items"][0]["chain"], Value::Null, "{report:#}");
    }
    let posts = journal
        .all()
        .into_iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 2, "a retry in place is retried again the next night");
}

/// A retry that may have been carried out and creates new work is never sent again on a check of
/// the old item: still failed, it cannot show that no new work was made. The fake drops the first
/// retry's connection, after carrying it out for `a-1` and before for `b-1`.
#[tokio::test(flavor = "multi_thread")]
async fn an_ambiguous_retry_that_creates_new_work_is_unknown_not_resent() {
    let (out, report, counts) = super::ambiguous::run(
        "      new_id: $.id\n      check: {request: {path: \"/tasks/{{ task.id }}\"}}\n",
    )
    .await;
    out.expect_code(1);
    assert_eq!(counts["b-1"].0, 1, "b-1 sent once: {counts:?}");
    assert_eq!(ids_with(&report, "retried"), ["a-1"], "{report:#}");
    assert_eq!(ids_with(&report, "unknown"), ["b-1"], "{report:#}");
    let b = report["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["id"] == "b-1")
        .cloned()
        .unwrap_or_default();
    assert!(
        b["message"]
            .as_str()
            .unwrap_or_default()
            .ends_with("its retry creates new work and leaves it failed, so its status cannot show whether the retry was carried out"),
        "{b:#}"
    );
}

/// The next night does not forget it: a retry into new work that got no answer stays `unknown`
/// and unsent until `--retry-unknown` says to send it; once sent and answered, it is settled.
#[tokio::test(flavor = "multi_thread")]
async fn an_unanswered_retry_into_new_work_is_not_resent_the_next_night() {
    use super::ambiguous::{counts, playbook, start};
    let (url, api) = start(&["b-1"]).await;
    let bench = Bench::new()
        .env("API_URL", &url)
        .env("TASKS_API_TOKEN", "t");
    bench.write(
        "playbook.yaml",
        &playbook("      new_id: $.id\n      check: {request: {path: \"/tasks/{{ task.id }}\"}}\n"),
    );
    let play = |report: &'static str, extra: Option<&'static str>| {
        let bench = &bench;
        async move {
            let mut args = vec!["play", "playbook.yaml", "-o", report];
            args.extend(extra);
            bench.run(&args).await
        }
    };
    play("1.json", None).await.expect_code(1);
    play("2.json", None).await.expect_code(1);
    assert_eq!(counts(&api)["b-1"].0, 1, "not sent on night 2");
    let night2 = bench.json("2.json");
    assert_eq!(ids_with(&night2, "unknown"), ["b-1"]);
    let run1 = bench.json("1.json")["run_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        night2["items"][0]["message"],
        format!(
            "a retry sent in run {run1} got no answer and may have created new work that runbook never learned of: not sent again (check the provider; --retry-unknown sends it)"
        )
    );
    play("3.json", Some("--retry-unknown")).await.expect_code(0);
    assert_eq!(counts(&api)["b-1"].0, 2, "sent when told to");
    assert_eq!(ids_with(&bench.json("3.json"), "retried"), ["b-1"]);
    // Its answer settles the old question: once the retried work failed again (one read of the
    // fake shows it), the next night retries it as any failed task (the fake names no new id).
    reqwest::get(format!("{url}/tasks/b-1"))
        .await
        .expect("the fake answers");
    play("4.json", None).await.expect_code(0);
    assert_eq!(counts(&api)["b-1"].0, 3, "sent again on night 4");
    assert_eq!(ids_with(&bench.json("4.json"), "retried"), ["b-1"]);
}
