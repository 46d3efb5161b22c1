//! The committed JSON Schema and the shipped playbooks stay in sync with the code.

use crate::{Runbook, repo_path};

#[test]
fn schema_output_equals_the_committed_schema() {
    let ran = Runbook::new(["schema"]).run();
    ran.expect_code(0);
    let committed = std::fs::read_to_string(repo_path("schemas/playbook.schema.json"))
        .expect("schemas/playbook.schema.json");
    assert!(
        ran.stdout == committed,
        "`runbook schema` differs from schemas/playbook.schema.json; regenerate it with `cargo run -- schema > schemas/playbook.schema.json`"
    );
}

#[test]
fn every_shipped_playbook_names_the_schema_and_validates() {
    let mut playbooks: Vec<_> = std::fs::read_dir(repo_path("playbooks"))
        .expect("playbooks/")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    playbooks.sort();
    assert!(!playbooks.is_empty(), "playbooks/ has playbooks");
    for path in &playbooks {
        let text = std::fs::read_to_string(path).expect("a playbook");
        assert!(
            text.starts_with("# yaml-language-server: $schema=../schemas/playbook.schema.json\n"),
            "{} must start with the yaml-language-server schema line",
            path.display()
        );
    }
    // No credentials and no network: validation needs neither.
    let ran = Runbook::new(["validate"])
        .args(playbooks.iter().map(|p| p.display().to_string()))
        .run();
    ran.expect_code(0);
    for path in &playbooks {
        assert!(
            ran.stdout.contains(&format!("{}: ok", path.display())),
            "{} validated:\n{ran:?}",
            path.display()
        );
    }
}

/// Regression: the committed schema called `status_in`, `only_status` and the other status lists
/// arrays only, so an editor flagged the shipped playbooks' `"{{ vars.statuses }}"` that runbook
/// itself accepts. Every shipped playbook must pass the schema as an editor applies it.
#[test]
fn every_shipped_playbook_passes_the_committed_schema() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_path("schemas/playbook.schema.json"))
            .expect("schemas/playbook.schema.json"),
    )
    .expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    for entry in std::fs::read_dir(repo_path("playbooks")).expect("playbooks/") {
        let path = entry.expect("an entry").path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a playbook");
        let playbook: serde_json::Value =
            serde_saphyr::from_str(&text).expect("a playbook is YAML that maps to JSON");
        let errors: Vec<String> = validator
            .iter_errors(&playbook)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{}:\n{}",
            path.display(),
            errors.join("\n")
        );
    }
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    // `runbook schema | head -1`: the reader is gone before runbook writes.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = Runbook::new(["schema"])
        .command()
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("runbook runs");
    assert_eq!(output.status.code(), Some(0));
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
