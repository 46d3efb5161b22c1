//! Issue 11, point 9, replayed through the binary: report files get the umask's permissions (not
//! 0600) and are still written whole; the Markdown report carries Herodotus's notes on retried
//! items; a sandbox run says so; a GeeLark dry run shows its batch request once; an aborted run's
//! headline says where it stopped.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::new_playbooks::{Out, run_in};
use crate::{FakeApi, Runbook, playbook, repo_path};

/// `runbook ARGS` in `dir` under `umask`, through `sh` (the test process's own umask is left
/// alone: other tests run beside it).
fn run_with_umask(dir: &Path, umask: &str, args: &[&str]) -> Out {
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_runbook"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .output()
        .expect("sh runs the runbook binary");
    Out {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{} is written: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Regression: reports were written 0600 whatever the umask, so CI artifact uploaders and other
/// users could not read them.
#[test]
fn reports_get_the_umasks_permissions_and_no_temporary_file_is_left() {
    let retry = [
        "retry",
        "herodotus",
        "01KDTYS38NT624Z3450ZQP6227",
        "--sandbox",
        "--quiet",
    ];
    for (umask, expected) in [("022", 0o644), ("077", 0o600), ("002", 0o664)] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut args = retry.to_vec();
        args.extend(["-o", "reports/r.json", "-o", "reports/r.md", "-o", "r.xml"]);
        run_with_umask(dir.path(), umask, &args).expect_code(0);
        for name in ["reports/r.json", "reports/r.md", "r.xml"] {
            assert_eq!(
                mode(&dir.path().join(name)),
                expected,
                "{name} under umask {umask}"
            );
        }
        // `show -o` writes the same way.
        run_with_umask(
            dir.path(),
            umask,
            &["show", "--sandbox", "last", "-o", "reports/r.md"],
        )
        .expect_code(0);
        assert_eq!(mode(&dir.path().join("reports/r.md")), expected);
        let mut left: Vec<String> = std::fs::read_dir(dir.path().join("reports"))
            .expect("the reports folder")
            .map(|e| {
                e.expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        left.sort();
        assert_eq!(left, ["r.json", "r.md"], "only the reports, whole");
    }
}

#[test]
fn herodotus_notes_are_in_the_markdown_report_of_a_sandbox_run() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // The playbook reads its sample ids from a path relative to the working directory.
    std::fs::create_dir(dir.path().join("playbooks")).expect("a playbooks folder");
    for name in ["herodotus-failed.yaml", "herodotus-sandbox-ids.json"] {
        std::fs::copy(
            repo_path(&format!("playbooks/{name}")),
            dir.path().join("playbooks").join(name),
        )
        .expect("copy a shipped file");
    }
    run_in(
        dir.path(),
        &[
            "play",
            "playbooks/herodotus-failed.yaml",
            "--sandbox",
            "-o",
            "h.md",
            "-o",
            "h.json",
        ],
    )
    .expect_code(1);
    let md = std::fs::read_to_string(dir.path().join("h.md")).expect("the Markdown report");
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("h.json")).expect("the JSON report"),
    )
    .expect("JSON");
    assert_eq!(json["sandbox"], true);
    let run_id = json["run_id"].as_str().expect("a run id");
    assert!(md.contains(&format!("Run `{run_id}` (sandbox), ")), "{md}");
    assert!(md.contains("### Retried (9)"), "{md}");
    for row in [
        "| `01KDTJWTWN1TZQNQ4FFG40Q0JW` |  | TaskDecommitmentFailed | 200 | 1 | only the decommitment re-runs |",
        "| `01KDTYS38NT624Z3450ZQP6227` |  | ChainProofsFetchFailed | 200 | 1 | the whole pipeline re-runs from Received |",
    ] {
        assert!(md.contains(row), "{row} in:\n{md}");
    }
    // Every item of the JSON report is a row of the Markdown one.
    for item in json["items"].as_array().expect("items") {
        let id = item["id"].as_str().expect("an id");
        assert!(md.contains(&format!("| `{id}` |")), "{id} in:\n{md}");
    }
}

/// Regression: a GeeLark dry run showed its one batch request as ten identical "planned" rows.
#[test]
fn a_geelark_dry_run_plans_one_request_per_batch() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let playbook = repo_path("playbooks/geelark-restart.yaml");
    let ran = run_in(
        dir.path(),
        &[
            "play",
            &playbook.display().to_string(),
            "--sandbox",
            "--dry-run",
            "-o",
            "g.md",
        ],
    );
    ran.expect_code(0);
    let md = std::fs::read_to_string(dir.path().join("g.md")).expect("the Markdown report");
    assert!(md.contains("### Planned (10 items in 1 request)\n"), "{md}");
    let rows: Vec<&str> = md.lines().filter(|l| l.contains("/task/restart")).collect();
    assert_eq!(rows.len(), 1, "{md}");
    assert_eq!(rows[0].matches("` phone-").count(), 10, "{md}");
    assert!(
        ran.stdout
            .contains("\n  planned (10 items in 1 request):\n    POST http://127.0.0.1:"),
        "{ran:#?}"
    );
    assert_eq!(ran.stdout.matches("/task/restart").count(), 1, "{ran:#?}");
    assert!(ran.stdout.contains("\n      for 10 items: "), "{ran:#?}");
}

/// Regression: a run aborted by its first retry read `retried 0 of 0 selected` or the like.
#[test]
fn an_aborted_runs_headline_names_the_step_it_stopped_at() {
    let api = FakeApi::start(
        Router::new()
            .route(
                "/tasks",
                get(|| async {
                    axum::Json(json!({"tasks": [
                        {"id": "t1", "status": "failed"},
                        {"id": "t2", "status": "failed"},
                    ]}))
                }),
            )
            .route(
                "/tasks/{id}/retry",
                post(|| async { (StatusCode::UNAUTHORIZED, "token expired") }),
            ),
    );
    let ran = Runbook::play(&playbook(
        "  - fetch:\n      request: {path: /tasks}\n      items: $.tasks[*]\n  - name: retry-failed\n    retry:\n      request:\n        method: POST\n        path: \"/tasks/{{ task.id }}/retry\"\n",
    ))
    .api(&api)
    .report("report.md")
    .run();
    ran.expect_code(3);
    let headline = "aborted at step retry-failed, after retrying 0 of 2 selected";
    assert!(
        ran.stdout.starts_with(&format!(
            "test: run {}: {headline}\n",
            ran.report()["run_id"].as_str().unwrap_or_default()
        )),
        "{ran:?}"
    );
    let md = std::fs::read_to_string(ran.path("report.md")).expect("the Markdown report");
    assert!(md.contains(&format!("\n**{headline}**\n")), "{md}");
}
