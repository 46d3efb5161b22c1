//! Exit codes as the README documents them (src/exit.rs), the JSON report's documented shape, the
//! Markdown report, and report files written whole or not at all.

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::{Value, json};

use crate::{FakeApi, Runbook, playbook};

/// Retries answered by id: `ok*` 200, `busy*` 409 (skipped by rule), `auth*` 401, others 422.
fn api() -> FakeApi {
    FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(|Path(id): Path<String>| async move {
            let status = if id.starts_with("ok") {
                StatusCode::OK
            } else if id.starts_with("busy") {
                StatusCode::CONFLICT
            } else if id.starts_with("auth") {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            (
                status,
                axum::Json(json!({"message": format!("answer for {id}")})),
            )
                .into_response()
        }),
    ))
}

fn retry(ids: &str) -> String {
    playbook(&format!(
        "  - fetch: {{ids: \"{ids}\"}}\n  - retry:\n      request: {{path: \"/tasks/{{{{ task.id }}}}/retry\"}}\n      outcome: {{status: {{409: skipped}}}}\n"
    ))
    .replace("name: test", "name: nightly-retry")
}

#[test]
fn exit_codes_follow_the_readme() {
    assert_eq!(
        [
            runbook::exit::OK,
            runbook::exit::SOME_FAILED,
            runbook::exit::INVALID,
            runbook::exit::ABORTED
        ],
        [0, 1, 2, 3],
        "the documented codes"
    );
    let api = api();
    let code = |text: &str| Runbook::play(text).api(&api).run().code;
    assert_eq!(code(&retry("ok1 busy1")), 0, "handled, skipped included");
    assert_eq!(code(&retry("ok1 bad1")), 1, "some failed");
    assert_eq!(code(&retry("ok1 auth1")), 3, "credentials refused");
    assert_eq!(
        code(&format!("{}  - retyr: {{}}\n", retry("ok1"))),
        2,
        "invalid"
    );
    assert_eq!(
        code(&playbook(
            "  - fetch: {ids: \"\"}\n  - retry:\n      request: {path: /x}\n"
        )),
        0,
        "nothing to do"
    );
}

fn is_text_or_null(v: &Value) -> bool {
    v.is_string() || v.is_null()
}

fn is_timestamp(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.parse::<jiff::Timestamp>().is_ok())
}

#[test]
fn json_report_has_every_documented_field_with_its_type() {
    let api = api();
    let ran = Runbook::play(&retry("ok1 busy1 bad1")).api(&api).run();
    ran.expect_code(1);
    let r = ran.report();
    assert_eq!(r["playbook"], "nightly-retry");
    assert!(r["run_id"].as_str().is_some_and(|s| !s.is_empty()), "{r:#}");
    assert_eq!(r["dry_run"], false);
    assert!(is_timestamp(&r["started_at"]), "{}", r["started_at"]);
    assert!(is_timestamp(&r["finished_at"]), "{}", r["finished_at"]);
    assert!(r["aborted"].is_null());
    assert!(r["errors"].as_array().is_some_and(Vec::is_empty));
    let totals = &r["totals"];
    for name in ["fetched", "selected", "retried", "skipped", "failed"] {
        assert!(totals[name].is_u64(), "totals.{name} is a count: {totals}");
    }
    assert_eq!(
        [1, 1, 1, 3, 3].map(Value::from).to_vec(),
        ["retried", "skipped", "failed", "selected", "fetched"]
            .map(|n| totals[n].clone())
            .to_vec()
    );
    let items = r["items"].as_array().expect("items is an array");
    assert_eq!(items.len(), 3);
    for item in items {
        assert!(item["id"].is_string(), "{item}");
        assert!(is_text_or_null(&item["label"]), "{item}");
        assert!(is_text_or_null(&item["status"]), "{item}");
        assert!(
            ["retried", "skipped", "failed", "planned"]
                .contains(&item["outcome"].as_str().unwrap_or_default()),
            "{item}"
        );
        assert!(
            item["http_status"].is_u64() || item["http_status"].is_null(),
            "{item}"
        );
        assert!(item["attempts"].is_u64(), "{item}");
        assert!(is_text_or_null(&item["message"]), "{item}");
    }
    let bad = ran.item("bad1");
    assert_eq!(bad["http_status"], 422);
    assert_eq!(bad["attempts"], 1);
    assert!(
        bad["message"]
            .as_str()
            .is_some_and(|m| m.contains("answer for bad1"))
    );
}

#[test]
fn markdown_report_has_the_counts_and_a_failed_section() {
    let api = api();
    let ran = Runbook::play(&retry("ok1 busy1 bad1 bad2"))
        .api(&api)
        .report("summary.md")
        .run();
    ran.expect_code(1);
    let md = std::fs::read_to_string(ran.path("summary.md")).expect("the Markdown report");
    assert!(md.starts_with("## nightly-retry\n"), "{md}");
    assert!(
        md.contains("| fetched | selected | retried | skipped | failed |"),
        "{md}"
    );
    assert!(md.contains("| 4 | 4 | 1 | 1 | 2 |"), "{md}");
    assert!(md.contains("### Failed (2)"), "{md}");
    let failed = md.split("### Failed (2)").nth(1).unwrap_or_default();
    assert!(
        failed.contains("`bad1`") && failed.contains("answer for bad1"),
        "{md}"
    );
    assert!(md.contains("### Skipped (1)"), "{md}");
}

#[test]
fn a_report_step_names_its_files_with_templates() {
    let api = api();
    let text = retry("ok1") + "  - report:\n      files: [\"out/{{ run.playbook }}.json\"]\n";
    let ran = Runbook::play(&text).api(&api).no_report().run();
    ran.expect_code(0);
    let written = std::fs::read_to_string(ran.path("out/nightly-retry.json")).expect("written");
    let report: Value = serde_json::from_str(&written).expect("JSON");
    assert_eq!(report["totals"]["retried"], 1);
}

#[test]
fn a_report_that_cannot_be_written_leaves_no_partial_file() {
    let api = api();
    // `blocked/report.json` is a directory, so the finished report cannot be renamed onto it.
    let run = Runbook::play(&retry("ok1")).api(&api).no_report().args([
        "-o",
        "blocked/report.json",
        "-o",
        "fine.json",
    ]);
    std::fs::create_dir_all(run.dir().join("blocked/report.json")).expect("a directory");
    let ran = run.run();
    ran.expect_code(1);
    assert!(
        ran.stderr
            .contains("cannot write report blocked/report.json"),
        "{ran:?}"
    );
    let left: Vec<String> = std::fs::read_dir(ran.path("blocked"))
        .expect("blocked/ is still there")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        left,
        ["report.json"],
        "no temporary or partial file is left"
    );
    assert!(ran.path("blocked/report.json").is_dir());
    let fine: Value =
        serde_json::from_str(&std::fs::read_to_string(ran.path("fine.json")).expect("written"))
            .expect("JSON");
    assert_eq!(
        fine["totals"]["retried"], 1,
        "the other report is still written"
    );
}

#[test]
fn an_unknown_report_format_is_refused_before_anything_is_sent() {
    let api = api();
    let ran = Runbook::play(&retry("ok1"))
        .api(&api)
        .no_report()
        .args(["-o", "report.txt"])
        .run();
    ran.expect_code(2);
    assert!(ran.stderr.contains("report.txt"), "{ran:?}");
    assert!(api.requests().is_empty());
}
