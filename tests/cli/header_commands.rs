//! Issue 11, point 3: the commands a shipped playbook's header suggests work as written. The
//! header of `herodotus-failed.yaml` offered `--var task_ids=a,b,c`, a variable the playbook did
//! not have (exit 2). Every variable a header mentions must be one its playbook has (and each one
//! the playbook has is listed), and every `runbook play …` line of every header runs against the sandbox,
//! with `--dry-run` (reads happen, nothing is retried), from a folder holding a copy of
//! `playbooks/`, as a user in a clone would.
//!
//! What a line cannot say for a test: `NAME=value` before `runbook` is set in the environment
//! (`--sandbox` then points the provider at the sandbox all the same); a `--var name=<…>` is a
//! placeholder for the user's own value and is left out, so that the playbook's default (the
//! sandbox's) stands in; a file a `--var` names that is not in the folder is written there from the
//! sandbox's sample ids, standing for the user's own file.

use std::path::Path;

use crate::{Runbook, repo_path};

/// The environment a header command sets, as `(name, value)` pairs.
type Env = Vec<(String, String)>;

/// One command of a header: the environment it sets and the arguments after `runbook`.
#[derive(Debug)]
struct HeaderCommand {
    line: String,
    env: Env,
    args: Vec<String>,
}

/// The `runbook play` lines of the comment block atop `text` (`cargo run --release -- play …`
/// counts as `runbook play …`).
fn header_commands(text: &str) -> Vec<HeaderCommand> {
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .filter_map(|line| {
            let command = line.trim_start_matches('#').trim();
            let words: Vec<&str> = command.split_whitespace().collect();
            let start = words
                .iter()
                .position(|w| *w == "runbook")
                .map(|i| i + 1)
                .or_else(|| {
                    let cargo = words
                        .windows(3)
                        .position(|w| w == ["cargo", "run", "--release"])?;
                    Some(cargo + 4)
                })?;
            if words.get(start) != Some(&"play") {
                return None;
            }
            let env = words[..start.saturating_sub(1)]
                .iter()
                .filter_map(|w| w.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let mut args = Vec::new();
            let mut rest = words[start..].iter();
            while let Some(word) = rest.next() {
                if *word == "--var" {
                    let value = rest.next().expect("--var has a value");
                    if !value.contains('<') {
                        args.extend(["--var".to_string(), value.to_string()]);
                    }
                    // `<agent uuid>`: the placeholder's other words go too.
                    if value.contains('<') && !value.contains('>') {
                        for more in rest.by_ref() {
                            if more.contains('>') {
                                break;
                            }
                        }
                    }
                } else if word.starts_with('#') {
                    break;
                } else {
                    args.push(word.to_string());
                }
            }
            Some(HeaderCommand {
                line: line.to_string(),
                env,
                args,
            })
        })
        .collect()
}

/// The shipped playbooks and their companion files, as `(relative path, contents)`.
fn shipped_files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(repo_path("playbooks"))
        .expect("playbooks/")
        .map(|e| e.expect("an entry").path())
        .map(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).expect("a name");
            let text = std::fs::read_to_string(&p).expect("a shipped file");
            (format!("playbooks/{name}"), text)
        })
        .collect();
    files.sort();
    files
}

/// The files the `--var`s of `args` name that a user would bring (relative paths only: a test
/// writes nothing outside its folder).
fn named_files(args: &[String], dir: &Path) -> Vec<String> {
    let files: Vec<String> = args
        .iter()
        .filter_map(|a| a.split_once('=').map(|(_, v)| v))
        .filter(|v| v.ends_with(".json") && !dir.join(v).exists())
        .map(str::to_string)
        .collect();
    for file in &files {
        assert!(
            Path::new(file).is_relative(),
            "a header names a file relative to the working folder, not {file}"
        );
    }
    files
}

/// Every variable a header mentions, in a `--var name=…` anywhere or in its `Inputs` list.
fn mentioned_vars(text: &str) -> Vec<String> {
    let header: Vec<&str> = text.lines().take_while(|l| l.starts_with('#')).collect();
    let mut names = Vec::new();
    // `# Inputs (--var name=value):` introduces the list; it names no variable.
    for line in header.iter().filter(|l| !l.starts_with("# Inputs")) {
        let mut rest = *line;
        while let Some(at) = rest.find("--var ") {
            rest = &rest[at + "--var ".len()..];
            let word = rest.split_whitespace().next().unwrap_or_default();
            if let Some((name, _)) = word.trim_start_matches('`').split_once('=') {
                names.push(name.to_string());
            }
        }
    }
    let inputs = header
        .iter()
        .skip_while(|l| !l.starts_with("# Inputs"))
        .skip(1)
        .take_while(|l| l.starts_with("#   "));
    names.extend(inputs.filter_map(|l| l[1..].split_whitespace().next().map(str::to_string)));
    names.sort();
    names.dedup();
    names
}

#[test]
fn every_variable_a_header_mentions_is_one_the_playbook_has() {
    for (path, text) in shipped_files().iter().filter(|(p, _)| p.ends_with(".yaml")) {
        let playbook: serde_json::Value = serde_saphyr::from_str(text).expect("YAML");
        let vars = playbook["vars"].as_object().cloned().unwrap_or_default();
        let mentioned = mentioned_vars(text);
        for name in &mentioned {
            assert!(
                vars.contains_key(name),
                "{path}: the header mentions `--var {name}=…`, but the playbook has no variable `{name}` (it has: {:?})",
                vars.keys().collect::<Vec<_>>()
            );
        }
        let mut undocumented: Vec<&String> =
            vars.keys().filter(|k| !mentioned.contains(k)).collect();
        undocumented.sort();
        assert!(
            undocumented.is_empty(),
            "{path}: the header's `Inputs` does not list {undocumented:?}"
        );
    }
}

#[test]
fn every_header_command_of_every_shipped_playbook_works_against_the_sandbox() {
    let files = shipped_files();
    let sample = std::fs::read_to_string(repo_path("playbooks/herodotus-sandbox-ids.json"))
        .expect("the sandbox's sample ids");
    let mut tried = 0;
    for (path, text) in files.iter().filter(|(p, _)| p.ends_with(".yaml")) {
        let commands = header_commands(text);
        assert!(
            !commands.is_empty(),
            "{path}: its header shows how to play it"
        );
        for command in commands {
            let mut args = command.args.clone();
            for flag in ["--sandbox", "--dry-run"] {
                if !args.iter().any(|a| a == flag) {
                    args.push(flag.to_string());
                }
            }
            let mut runbook = Runbook::new(args.clone());
            for (name, contents) in &files {
                runbook = runbook.file(name, contents);
            }
            for name in named_files(&args, runbook.dir()) {
                runbook = runbook.file(&name, &sample);
            }
            for (k, v) in &command.env {
                runbook = runbook.env(k, v);
            }
            let ran = runbook.run();
            assert_eq!(
                ran.code,
                0,
                "{path}: `{}` ran as `runbook {}`:\n{ran:?}",
                command.line,
                args.join(" ")
            );
            tried += 1;
        }
    }
    assert!(
        tried >= 12,
        "every playbook shows two commands, {tried} found"
    );
}

#[test]
fn header_lines_are_read_as_a_user_would_type_them() {
    let commands = header_commands(
        "# a\n#   runbook play p.yaml --var agent_id=<agent uuid>     # yours\n#   X=1 Y=… runbook play p.yaml --var n=2\n#   cargo run --release -- play p.yaml --sandbox\n#   runbook validate p.yaml\nname: p\n#   runbook play not-in-the-header.yaml\n",
    );
    let seen: Vec<(Env, Vec<String>)> = commands.into_iter().map(|c| (c.env, c.args)).collect();
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        seen,
        [
            (vec![], strings(&["play", "p.yaml"])),
            (
                vec![("X".into(), "1".into()), ("Y".into(), "…".into())],
                strings(&["play", "p.yaml", "--var", "n=2"])
            ),
            (vec![], strings(&["play", "p.yaml", "--sandbox"])),
        ]
    );
}
