//! The README's sandbox walk-through, followed literally (issue 11: "followed on a fresh clone,
//! ends with `history` and `show` working"). The commands are read from the README's block, so the
//! test and the text cannot drift apart: every `runbook` line is run in order in a folder holding
//! the shipped playbooks, as a fresh clone's root does.

use std::path::Path;

use crate::new_playbooks::run_in;
use crate::repo_path;

/// The marker above the walk-through's code block in the README.
const MARKER: &str =
    "<!-- walk-through: tests/cli/walkthrough.rs runs the `runbook` lines below -->";

/// The `runbook` commands of the walk-through, in order, without their comments, as arguments.
fn walkthrough_commands(readme: &str) -> Vec<Vec<String>> {
    let after = readme
        .split_once(MARKER)
        .map(|(_, rest)| rest)
        .expect("the README has the walk-through marker");
    let block = after
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(block, _)| block)
        .expect("a sh block follows the marker");
    block
        .lines()
        .map(|line| {
            line.split_once('#')
                .map_or(line, |(command, _)| command)
                .trim()
        })
        .filter_map(|command| command.strip_prefix("runbook "))
        .map(|args| args.split_whitespace().map(String::from).collect())
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a folder");
    for entry in std::fs::read_dir(from).expect("read a folder") {
        let entry = entry.expect("a folder entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy a file");
        }
    }
}

#[test]
fn the_readme_sandbox_walkthrough_ends_with_history_and_show_working() {
    let readme = std::fs::read_to_string(repo_path("README.md")).expect("the README");
    let commands = walkthrough_commands(&readme);
    let names: Vec<String> = commands.iter().map(|c| c[..2].join(" ")).collect();
    assert_eq!(
        names,
        [
            "play playbooks/beam-nightly.yaml",
            "play playbooks/beam-nightly.yaml",
            "history --sandbox",
            "show --sandbox"
        ],
        "the walk-through's commands"
    );
    let clone = tempfile::tempdir().expect("a temporary directory");
    copy_dir(&repo_path("playbooks"), &clone.path().join("playbooks"));
    copy_dir(&repo_path("schemas"), &clone.path().join("schemas"));
    let mut outs = Vec::new();
    for args in &commands {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let ran = run_in(clone.path(), &args);
        ran.expect_code(0);
        outs.push(ran);
    }
    let id_of = |stdout: &str| -> String {
        stdout
            .split_once(": run ")
            .and_then(|(_, rest)| rest.split_once(':'))
            .map(|(id, _)| id.to_string())
            .expect("the summary names the run")
    };
    let dry = id_of(&outs[0].stdout);
    let real = id_of(&outs[1].stdout);
    // Each run said where it went and what to try next: the very commands that follow.
    assert!(
        outs[1].stderr.ends_with(&format!(
            "recorded run {real} in .runbook/sandbox-ledger.db; wrote report.md; next: runbook show --sandbox {real} (this run), runbook history --sandbox (every run)\n"
        )),
        "{:#?}",
        outs[1]
    );
    assert!(clone.path().join("report.md").is_file());
    // history lists both runs, newest first; show prints the last one.
    let ids: Vec<&str> = outs[2]
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(ids, [real.as_str(), dry.as_str()], "{:#?}", outs[2]);
    assert!(
        outs[3]
            .stdout
            .starts_with(&format!("beam-nightly (sandbox): run {real}: retried ")),
        "{:#?}",
        outs[3]
    );
}
