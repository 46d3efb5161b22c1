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
