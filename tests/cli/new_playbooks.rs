//! `runbook new PROVIDER [FILE]`: the starter playbook of every provider is valid and plays against
//! the sandbox at once; an existing file is never overwritten; `-` prints it.

use std::path::Path;
use std::process::Command;

use crate::Runbook;

const PROVIDERS: [&str; 6] = [
    "beam",
    "deepwork",
    "geelark",
    "herodotus",
    "skyvern",
    "http",
];

/// What one run in a shared directory did.
#[derive(Debug)]
pub(crate) struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn expect_code(&self, code: i32) -> &Out {
        assert_eq!(self.code, code, "unexpected exit code:\n{self:#?}");
        self
    }
}

/// `runbook ARGS` in `dir`, which several runs of one test share (its files, its ledger), with
/// the environment cleared but for `PATH`.
pub(crate) fn run_in(dir: &Path, args: &[&str]) -> Out {
    let output = Command::new(env!("CARGO_BIN_EXE_runbook"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the runbook binary runs");
    Out {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn every_starter_playbook_validates_and_plays_against_the_sandbox() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for provider in PROVIDERS {
        let file = format!("{provider}.yaml");
        let wrote = run_in(dir.path(), &["new", provider, &file]);
        wrote.expect_code(0);
        // The first one writes the schema its modeline names; the others find it there.
        let schema_line = if provider == PROVIDERS[0] {
            "wrote playbook.schema.json for the editor (runbook schema > playbook.schema.json refreshes it)\n"
        } else {
            ""
        };
        assert_eq!(
            wrote.stderr,
            format!("{schema_line}wrote {file}; try it: runbook play {file} --sandbox --dry-run\n")
        );
        let text = std::fs::read_to_string(dir.path().join(&file)).expect("the playbook");
        assert!(
            text.starts_with("# yaml-language-server: $schema=playbook.schema.json\n"),
            "{text}"
        );
        assert!(text.contains(&format!("\nname: {provider}\n")), "{text}");
        assert!(
            text.contains(&format!("\nprovider: {provider}\n")),
            "{text}"
        );
        let valid = run_in(dir.path(), &["validate", &file]);
        valid.expect_code(0);
        assert!(
            valid.stdout.starts_with(&format!("{file}: ok (")),
            "{valid:?}"
        );
        let report = format!("{provider}-report.json");
        let played = run_in(
            dir.path(),
            &[
                "play",
                &file,
                "--sandbox",
                "--dry-run",
                "--quiet",
                "-o",
                &report,
            ],
        );
        played.expect_code(0);
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(&report)).expect("the report"),
        )
        .expect("a JSON report");
        let planned = report["totals"]["planned"].as_u64().unwrap_or(0);
        assert!(planned > 0, "{provider}: nothing planned: {report:#}");
        assert_eq!(report["totals"]["failed"], 0, "{provider}: {report:#}");
    }
}

#[test]
fn http_explains_every_field_it_sets() {
    let ran = Runbook::new(["new", "http", "-"]).run();
    ran.expect_code(0);
    for field in [
        "name:",
        "description:",
        "provider:",
        "connection:",
        "base_url:",
        "headers:",
        "timeout:",
        "redirects:",
        "backoff:",
        "task:",
        "vars:",
        "steps:",
        "fetch:",
        "paginate:",
        "filter:",
        "retry:",
        "check:",
        "outcome:",
        "budget:",
        "guards:",
    ] {
        let line = ran
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with(field))
            .unwrap_or_else(|| panic!("no `{field}` in {}", ran.stdout));
        let at = ran.stdout.find(line).unwrap_or(0);
        let before = ran.stdout[..at].lines().last().unwrap_or_default();
        assert!(
            line.contains('#') || before.trim_start().starts_with('#'),
            "`{field}` is not explained by a comment: {line}"
        );
    }
}

#[test]
fn an_existing_file_is_never_overwritten() {
    let ran = Runbook::new(["new", "beam", "mine.yaml"])
        .file("mine.yaml", "keep me\n")
        .run();
    ran.expect_code(2);
    assert_eq!(
        ran.stderr,
        "error: mine.yaml already exists: runbook new never overwrites a file; give another name or remove it\n"
    );
    assert_eq!(
        std::fs::read_to_string(ran.path("mine.yaml")).expect("the file"),
        "keep me\n"
    );
}

#[test]
fn dash_prints_the_playbook_and_writes_nothing() {
    let ran = Runbook::new(["new", "skyvern", "-"]).run();
    ran.expect_code(0);
    assert!(ran.stdout.contains("\nprovider: skyvern\n"), "{ran:?}");
    assert!(ran.stdout.contains("\nname: skyvern-recovery\n"), "{ran:?}");
    assert_eq!(ran.stderr, "");
    assert!(!ran.path("skyvern-recovery.yaml").exists());
}

#[test]
fn without_a_file_it_writes_provider_recovery_yaml() {
    let ran = Runbook::new(["new", "geelark"]).run();
    ran.expect_code(0);
    let text = std::fs::read_to_string(ran.path("geelark-recovery.yaml")).expect("written");
    assert!(text.contains("\nname: geelark-recovery\n"), "{text}");
}

#[test]
fn an_unknown_provider_gets_a_did_you_mean_and_exit_2() {
    let ran = Runbook::new(["new", "skyvren"]).run();
    ran.expect_code(2);
    assert_eq!(
        ran.stderr,
        "error: unknown provider `skyvren`; did you mean `skyvern`?\n"
    );
    assert!(!ran.path("skyvren-recovery.yaml").exists());
}
