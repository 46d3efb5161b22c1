//! What a run prints when nobody watches a terminal (issue 11, points 4 and 7), compared whole
//! with the timestamps and the run id masked: `--quiet` keeps the one-line summary and every
//! failed item (it printed nothing, so the README's cron line logged nothing); progress lines start
//! with an RFC 3339 UTC timestamp and name a step's kind before its name (a fetch named `failed`
//! read as an error); `--log-format json` gives one object per line; `--color` and `NO_COLOR`
//! decide colour, and a pipe gets none in `auto`.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;

use crate::{FakeApi, Runbook, playbook};

/// Timestamps become `[TS]`, run ids `[RUN]`.
fn mask(text: &str) -> String {
    let ts = regex::Regex::new(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z").expect("a pattern");
    let run = regex::Regex::new(r"\b\d{8}T\d{6}Z-[0-9a-f]{4}\b").expect("a pattern");
    let text = run.replace_all(text, "[RUN]");
    ts.replace_all(&text, "[TS]").into_owned()
}

/// An API that retries `ok*` ids (204) and knows no other (404).
fn api() -> FakeApi {
    FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(
            |axum::extract::Path(id): axum::extract::Path<String>| async move {
                if id.starts_with("ok") {
                    StatusCode::NO_CONTENT
                } else {
                    StatusCode::NOT_FOUND
                }
            },
        ),
    ))
}

/// A fetch named `failed`, a filter named `selected`, an unnamed retry.
fn nightly(ids: &str) -> String {
    playbook(&format!(
        "  - name: failed\n    fetch: {{ids: \"{ids}\"}}\n  - name: selected\n    filter: {{limit: 10}}\n  - retry:\n      request: {{path: \"/tasks/{{{{ task.id | urlencode }}}}/retry\"}}\n"
    ))
}

#[test]
fn plain_progress_lines_are_timestamped_and_name_a_steps_kind_then_its_name() {
    let api = api();
    let ran = Runbook::play(&nightly("ok1,ok2")).api(&api).run();
    ran.expect_code(0);
    let lines: Vec<String> = mask(&ran.stderr)
        .lines()
        // A running line is printed at most every 5 s: whether one shows depends on the clock.
        .filter(|l| !l.starts_with("[TS] retry: 1/2"))
        .map(str::to_string)
        .collect();
    assert_eq!(
        lines,
        [
            "[TS] fetch failed: started",
            "[TS] fetch failed: 2 items",
            "[TS] filter selected: started",
            "[TS] filter selected: kept 2 of 2",
            "[TS] retry: started, 2 items",
            "[TS] retry: 2/2 retried 2 failed 0",
            "[TS] recorded run [RUN] in .runbook/ledger.db; wrote report.json; next: runbook show [RUN] (this run), runbook history (every run)",
        ],
        "{}",
        ran.stderr
    );
}

#[test]
fn quiet_keeps_the_summary_line_and_every_failed_item() {
    let api = api();
    let ran = Runbook::play(&nightly("ok1,gone1,ok2"))
        .api(&api)
        .arg("--quiet")
        .run();
    ran.expect_code(1);
    assert_eq!(
        mask(&ran.stdout),
        "[TS] test: run [RUN]: retried 2 of 3 selected (fetched 3, skipped 0, failed 1); exit 1\n\
         [TS] failed gone1 (step retry): HTTP 404\n"
    );
    assert_eq!(ran.stderr, "");
}

#[test]
fn quiet_prints_one_line_on_a_clean_run() {
    let api = api();
    let ran = Runbook::play(&nightly("ok1"))
        .api(&api)
        .arg("--quiet")
        .run();
    ran.expect_code(0);
    assert_eq!(
        mask(&ran.stdout),
        "[TS] test: run [RUN]: retried 1 of 1 selected (fetched 1, skipped 0, failed 0); exit 0\n"
    );
    assert_eq!(ran.stderr, "");
}

/// Each line of `text` as a JSON object, with its keys in order.
fn objects(text: &str) -> Vec<(Vec<String>, Value)> {
    text.lines()
        .map(|l| {
            let value: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l}"));
            let keys = value
                .as_object()
                .unwrap_or_else(|| panic!("not an object: {l}"))
                .keys()
                .cloned()
                .collect();
            (keys, value)
        })
        .collect()
}

#[test]
fn log_format_json_gives_one_object_per_line_with_stable_keys() {
    let api = api();
    let ran = Runbook::play(&nightly("ok1,gone1"))
        .api(&api)
        .no_report()
        .args(["--log-format", "json"])
        .run();
    ran.expect_code(1);
    let mut lines = objects(&ran.stderr);
    // The run ends with where it was recorded, as one more object.
    let (keys, recorded) = lines.pop().expect("lines");
    assert_eq!(keys, ["ts", "event", "text", "run_id"], "{recorded}");
    assert_eq!(recorded["event"], "recorded");
    let run_id = recorded["run_id"].as_str().expect("run_id");
    assert!(
        recorded["text"]
            .as_str()
            .is_some_and(|t| t.starts_with(&format!("recorded run {run_id} in "))),
        "{recorded}"
    );
    let step_keys = [
        "ts",
        "event",
        "text",
        "step",
        "kind",
        "total",
        "done",
        "retried",
        "failed",
        "unknown",
        "not_sent",
        "skipped",
        "backed_off",
    ];
    for (keys, value) in &lines {
        assert!(keys.starts_with(&step_keys.map(String::from)), "{value}");
    }
    let (_, last) = lines.last().expect("lines");
    assert_eq!(last["event"], "step_finished");
    assert_eq!(last["text"], "retry: 2/2 retried 1 failed 1");
    assert_eq!((&last["retried"], &last["failed"]), (&1.into(), &1.into()));
    let ts = last["ts"].as_str().expect("ts");
    assert_eq!(mask(ts), "[TS]", "RFC 3339 UTC: {ts}");

    let quiet = Runbook::play(&nightly("ok1,gone1"))
        .api(&api)
        .no_report()
        .args(["--log-format", "json", "--quiet"])
        .run();
    let lines = objects(&quiet.stdout);
    assert_eq!(lines.len(), 2, "{}", quiet.stdout);
    assert_eq!(
        lines[0].0,
        [
            "ts",
            "event",
            "text",
            "playbook",
            "run_id",
            "dry_run",
            "headline",
            "totals",
            "aborted",
            "exit_code"
        ]
    );
    assert_eq!(lines[0].1["exit_code"], 1);
    assert_eq!(
        lines[1].0,
        [
            "ts",
            "event",
            "text",
            "step",
            "id",
            "outcome",
            "http_status",
            "message"
        ]
    );
    assert_eq!(
        (&lines[1].1["id"], &lines[1].1["outcome"]),
        (&"gone1".into(), &"failed".into())
    );
}

#[test]
fn colour_follows_color_and_no_color_and_never_reaches_a_pipe_in_auto() {
    const RED: &str = "\u{1b}[31m";
    let api = api();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut runbook = Runbook::play(&nightly("ok1,gone1"))
            .api(&api)
            .no_report()
            .args(args.iter().copied());
        for (k, v) in env {
            runbook = runbook.env(k, v);
        }
        runbook.run()
    };
    let auto = run(&[], &[]);
    assert!(!auto.stdout.contains('\u{1b}') && !auto.stderr.contains('\u{1b}'));
    let always = run(&["--color", "always"], &[("NO_COLOR", "1")]);
    assert!(
        always.stdout.contains(&format!("{RED}failed 1\u{1b}[0m")),
        "{:?}",
        always.stdout
    );
    assert!(
        always.stdout.contains(&format!("\n  {RED}failed (1):")),
        "{:?}",
        always.stdout
    );
    let forced = run(&[], &[("CLICOLOR_FORCE", "1")]);
    assert!(forced.stdout.contains(RED), "{:?}", forced.stdout);
    let vetoed = run(&[], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]);
    assert!(!vetoed.stdout.contains('\u{1b}'), "{:?}", vetoed.stdout);
    let never = run(&["--color", "never"], &[("CLICOLOR_FORCE", "1")]);
    assert!(!never.stdout.contains('\u{1b}'), "{:?}", never.stdout);
    let refused = run(&["-o", "report.xyz", "--color", "always"], &[]);
    assert!(
        refused
            .stderr
            .starts_with(&format!("{RED}error:\u{1b}[0m -o report.xyz:")),
        "{:?}",
        refused.stderr
    );
    let plain = run(&["-o", "report.xyz"], &[]);
    assert!(
        plain.stderr.starts_with("error: -o report.xyz:"),
        "{:?}",
        plain.stderr
    );
}

/// With `--log-format json` every line a run writes to stderr is an object, errors and warnings
/// included: a collector that parses each line loses none (the playbook's mistakes with their
/// place, a run a guard stopped, a report that cannot be written).
#[test]
fn log_format_json_makes_errors_objects_too_with_their_place_and_exit_code() {
    let bad = playbook("  - name: failed\n    fetch: {bogus: 1}\n");
    let ran = Runbook::play(&bad).args(["--log-format", "json"]).run();
    ran.expect_code(2);
    let lines = objects(&ran.stderr);
    assert_eq!(lines.len(), 1, "{}", ran.stderr);
    let (keys, error) = &lines[0];
    assert_eq!(
        keys,
        &[
            "ts",
            "event",
            "text",
            "file",
            "line",
            "column",
            "help",
            "exit_code"
        ],
        "{error}"
    );
    assert_eq!(error["event"], "error");
    assert_eq!(error["text"], "unknown key `bogus`");
    assert_eq!(
        (&error["file"], &error["line"], &error["column"]),
        (&"playbook.yaml".into(), &8.into(), &13.into())
    );
    assert_eq!(error["exit_code"], 2);
    // Plain, the same mistake keeps its caret under the file's line.
    let plain = Runbook::play(&bad).run();
    plain.expect_code(2);
    assert!(
        plain
            .stderr
            .starts_with("error: unknown key `bogus`\n --> playbook.yaml:8:13\n"),
        "{}",
        plain.stderr
    );

    let api = api();
    let guarded = format!("{}guards: {{max_selected: 1}}\n", nightly("ok1,ok2"));
    let ran = Runbook::play(&guarded)
        .api(&api)
        .no_report()
        // A file where the report's folder should be: the report cannot be written.
        .file("blocker", "")
        .args(["--log-format", "json", "-o", "blocker/report.json"])
        .run();
    ran.expect_code(3);
    assert!(api.requests().is_empty(), "the guard sends nothing");
    let lines = objects(&ran.stderr);
    let errors: Vec<&Value> = lines
        .iter()
        .map(|(_, v)| v)
        .filter(|v| v["event"] == "error")
        .collect();
    assert_eq!(errors.len(), 2, "{}", ran.stderr);
    let stopped = errors[0];
    assert_eq!(
        (&stopped["step"], &stopped["file"]),
        (&"retry".into(), &"playbook.yaml".into()),
        "{stopped}"
    );
    assert!(
        stopped["text"]
            .as_str()
            .is_some_and(|t| t.contains("guards.max_selected = 1")),
        "{stopped}"
    );
    assert!(
        errors[1]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("cannot write report blocker/report.json")),
        "{}",
        errors[1]
    );
}
