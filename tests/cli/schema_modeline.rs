//! Regression: `runbook new` in a folder with no `schemas/` near wrote a modeline pointing at
//! `../schemas/playbook.schema.json`, a file a user outside this repository does not have. Now the
//! modeline names a schema that exists: the nearest committed one, else a copy written beside the
//! playbook (never over a file), the same text `runbook schema` prints.

use crate::new_playbooks::run_in;

/// The file a playbook's first-line modeline names, resolved from the playbook's folder.
fn modeline_target(dir: &std::path::Path, playbook: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(dir.join(playbook)).expect("the playbook");
    let first = text.lines().next().unwrap_or_default();
    let target = first
        .strip_prefix("# yaml-language-server: $schema=")
        .unwrap_or_else(|| panic!("no modeline: {first}"));
    let folder = dir.join(playbook);
    folder.parent().expect("a folder").join(target)
}

#[test]
fn in_a_fresh_folder_the_modeline_names_the_schema_written_beside_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    run_in(dir.path(), &["new", "http"]).expect_code(0);
    let schema_file = modeline_target(dir.path(), "http-recovery.yaml");
    let written = std::fs::read_to_string(&schema_file).expect("the modeline's schema exists");
    let printed = run_in(dir.path(), &["schema"]);
    printed.expect_code(0);
    assert_eq!(
        written, printed.stdout,
        "the copy is `runbook schema`'s text"
    );
    // The playbook plays as written from the same folder.
    run_in(
        dir.path(),
        &[
            "play",
            "http-recovery.yaml",
            "--sandbox",
            "--dry-run",
            "--quiet",
        ],
    )
    .expect_code(0);
}

#[test]
fn a_schema_already_beside_it_is_named_and_kept() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(
        dir.path().join("playbook.schema.json"),
        "{\"mine\": true}\n",
    )
    .expect("a schema");
    let wrote = run_in(dir.path(), &["new", "beam", "nightly.yaml"]);
    wrote.expect_code(0);
    assert_eq!(
        wrote.stderr,
        "wrote nightly.yaml; try it: runbook play nightly.yaml --sandbox --dry-run\n"
    );
    assert_eq!(
        std::fs::read_to_string(modeline_target(dir.path(), "nightly.yaml")).expect("kept"),
        "{\"mine\": true}\n"
    );
}

#[test]
fn a_committed_schema_is_named_and_nothing_is_written_beside_the_playbook() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir_all(dir.path().join("schemas")).expect("folders");
    std::fs::write(dir.path().join("schemas/playbook.schema.json"), "{}\n").expect("a schema");
    run_in(dir.path(), &["new", "skyvern", "playbooks/team/sky.yaml"]).expect_code(0);
    assert_eq!(
        modeline_target(dir.path(), "playbooks/team/sky.yaml"),
        dir.path()
            .join("playbooks/team")
            .join("../../schemas/playbook.schema.json")
    );
    assert!(
        !dir.path()
            .join("playbooks/team/playbook.schema.json")
            .exists()
    );
}

#[test]
fn a_playbook_in_a_new_subfolder_gets_the_schema_in_that_subfolder() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let wrote = run_in(dir.path(), &["new", "geelark", "ops/g.yaml"]);
    wrote.expect_code(0);
    assert!(
        wrote
            .stderr
            .starts_with("wrote ops/playbook.schema.json for the editor"),
        "{}",
        wrote.stderr
    );
    let schema_file = modeline_target(dir.path(), "ops/g.yaml");
    assert_eq!(schema_file, dir.path().join("ops/playbook.schema.json"));
    assert!(schema_file.is_file());
}
