//! Reading a playbook file into the model, with every error located in the file and given a hint.

use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::model::Spanned;
use crate::diagnostic::{
    Diagnostic, Position, SourceFile, did_you_mean, source_line, source_lines,
};

/// The largest playbook read (a guard against reading a wrong, huge file).
const MAX_PLAYBOOK_BYTES: u64 = 4 * 1024 * 1024;

/// Read `path` as text: a regular file of at most [`MAX_PLAYBOOK_BYTES`].
pub fn read_source(path: &Path) -> Result<Arc<SourceFile>, Diagnostic> {
    let text = crate::files::read_text(path, MAX_PLAYBOOK_BYTES, "playbook").map_err(|e| {
        let d = Diagnostic::new(e.to_string());
        match e {
            crate::files::ReadError::Io { .. } => {
                d.help("check the path; playbooks usually live in playbooks/")
            }
            _ => d,
        }
    })?;
    Ok(Arc::new(SourceFile {
        path: path.to_path_buf(),
        text,
    }))
}

/// The longest playbook name.
const MAX_NAME_CHARS: usize = 64;

/// A playbook's `name:` names files (the lock, and report files through `run.playbook`): it must be
/// a plain file name, not a path. Letters, digits, `-`, `_` and `.`, starting with a letter or a
/// digit (so never `..`, `.hidden` or `-flag`), at most [`MAX_NAME_CHARS`].
pub fn check_name(file: &Arc<SourceFile>, name: &Spanned<String>) -> Result<(), Diagnostic> {
    let value = &name.value;
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let problem = if value.is_empty() {
        Some("is empty".to_string())
    } else if value.chars().count() > MAX_NAME_CHARS {
        Some(format!("is longer than {MAX_NAME_CHARS} characters"))
    } else if let Some(c) = value.chars().find(|c| !allowed(*c)) {
        Some(format!("holds {c:?}"))
    } else if !value.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        Some("does not start with a letter or a digit".to_string())
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(Diagnostic::new(format!(
            "the playbook name {value:?} {problem}"
        ))
        .at(file, position_of(name))
        .help(format!(
            "a name may hold letters, digits, `-`, `_` and `.`, start with a letter or a digit, and be at most {MAX_NAME_CHARS} characters, like `beam-nightly`"
        ))),
    }
}

/// Parse YAML text into `T`, turning the YAML library's error into a located diagnostic.
pub fn parse<T: DeserializeOwned>(file: &Arc<SourceFile>) -> Result<T, Diagnostic> {
    serde_saphyr::from_str::<T>(&file.text).map_err(|e| {
        let position = e.location().filter(|l| l.line() > 0).map(|l| Position {
            line: l.line() as usize,
            column: l.column() as usize,
        });
        let raw = e.without_snippet().to_string();
        let message = strip_location(&raw);
        let (message, help) = match (duplicate_key(message), position) {
            (Some(key), Some(second)) => explain_duplicate(&file.text, key, second),
            _ => explain(message),
        };
        let mut d = Diagnostic::new(message).at(file, position);
        if let Some(help) = help {
            d = d.help(help);
        }
        d
    })
}

/// The position a `Spanned` value was read from, if it came from a file.
pub fn position_of<T>(spanned: &Spanned<T>) -> Option<Position> {
    let l = spanned.referenced;
    (l.line() > 0).then(|| Position {
        line: l.line() as usize,
        column: l.column() as usize,
    })
}

fn strip_location(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    }
}

/// A clearer message and a hint for the YAML library's common errors.
fn explain(message: &str) -> (String, Option<String>) {
    if let Some((word, expected)) = unknown_name(message, "unknown field `") {
        let step_kinds = ["name", "fetch", "filter", "retry", "verify", "report"];
        let is_step = expected.len() == step_kinds.len()
            && expected.iter().all(|e| step_kinds.contains(&e.as_str()));
        let what = if is_step { "step kind" } else { "key" };
        let help = match did_you_mean(&word, expected.iter().map(String::as_str)) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("expected one of: {}", expected.join(", ")),
        };
        return (format!("unknown {what} `{word}`"), Some(help));
    }
    if let Some((word, expected)) = unknown_name(message, "unknown variant `") {
        let help = match did_you_mean(&word, expected.iter().map(String::as_str)) {
            Some(best) => format!("did you mean `{best}`? (one of: {})", expected.join(", ")),
            None => format!("expected one of: {}", expected.join(", ")),
        };
        return (format!("unknown value `{word}`"), Some(help));
    }
    if let Some(what) = library_wording(message) {
        return what;
    }
    if message.contains("untagged enum Count") {
        return (
            "expected a whole number".into(),
            Some(
                "write a number, or a template that renders one, like \"{{ vars.limit }}\"".into(),
            ),
        );
    }
    if message.contains("untagged enum QueryValue") {
        return (
            "expected a query value".into(),
            Some(
                "write a string, number or boolean, or a list of them to repeat the parameter"
                    .into(),
            ),
        );
    }
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|m| m.strip_suffix('`'))
    {
        return (
            format!("missing key `{field}`"),
            Some(format!("add `{field}:` here")),
        );
    }
    (message.to_string(), None)
}

/// The YAML library's words for a value of the wrong type (`invalid u32`, `expected sequence
/// start`), which name Rust types and parser states, said in the playbook's terms.
fn library_wording(message: &str) -> Option<(String, Option<String>)> {
    let (what, help) = match message {
        "invalid u16" => (
            "expected a whole number up to 65535 (an HTTP status, like 404)",
            "write the number without quotes or other characters",
        ),
        "invalid u8" | "invalid u32" | "invalid u64" | "invalid usize" => (
            "expected a whole number, 0 or more (within range)",
            "write digits only, like `5`",
        ),
        "invalid floating point" => ("expected a number", "write it like `0.5` or `3`"),
        "expected sequence start" => (
            "expected a list",
            "write `[a, b]`, or one `- item` per line under the key",
        ),
        "expected mapping start" => (
            "expected a mapping of keys to values",
            "write `{key: value}`, or `key: value` lines indented under it",
        ),
        "expected string scalar" => (
            "expected text, not a list or a mapping",
            "write one value; quote it if it holds `:`, `{` or `[`",
        ),
        m if m.starts_with("tabs disallowed") => (
            "a tab indents this line, and YAML indents with spaces only",
            "replace the tab with spaces",
        ),
        _ => return None,
    };
    Some((what.to_string(), Some(help.to_string())))
}

/// The key of the YAML library's "duplicate mapping key: KEY, set DuplicateKeyPolicy in Options
/// if acceptable" (advice to a programmer, not to the playbook's author).
fn duplicate_key(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("duplicate mapping key: ")?;
    Some(
        rest.split(", set DuplicateKeyPolicy")
            .next()
            .unwrap_or(rest),
    )
}

/// The message and hint for a key written twice in one mapping, naming both lines.
fn explain_duplicate(text: &str, key: &str, second: Position) -> (String, Option<String>) {
    match first_occurrence(text, key, second) {
        Some(first) if first.line == second.line => (
            format!(
                "the key `{key}` appears twice in this mapping, on line {}",
                second.line
            ),
            Some(format!(
                "it is first at column {}; keep one of the two",
                first.column
            )),
        ),
        Some(first) => {
            let line = source_line(text, first.line).unwrap_or_default().trim();
            (
                format!(
                    "the key `{key}` appears twice in this mapping, at lines {} and {}",
                    first.line, second.line
                ),
                Some(format!(
                    "line {} already says `{line}`; keep one of the two",
                    first.line
                )),
            )
        }
        None => (
            format!("the key `{key}` appears twice in this mapping"),
            Some("keep one of the two".to_string()),
        ),
    }
}

/// Where `key` was first written in the mapping whose second `key` is at `second`: earlier on the
/// same line (a flow mapping, `{a: 1, a: 2}`), or on an earlier line at the same column with no
/// line in between indented less (a block mapping). Read from the text because the YAML library
/// reports only the second place.
fn first_occurrence(text: &str, key: &str, second: Position) -> Option<Position> {
    let lines: Vec<&str> = source_lines(text).collect();
    let line: Vec<char> = lines.get(second.line.checked_sub(1)?)?.chars().collect();
    let pattern: Vec<char> = format!("{key}:").chars().collect();
    let before = &line[..second.column.saturating_sub(1).min(line.len())];
    if let Some(i) = (0..before.len()).rev().find(|&i| {
        before[i..].starts_with(&pattern) && (i == 0 || matches!(before[i - 1], '{' | ',' | ' '))
    }) {
        return Some(Position {
            line: second.line,
            column: i + 1,
        });
    }
    for number in (1..second.line).rev() {
        let l = lines.get(number - 1)?;
        let content = l.trim_start_matches([' ', '-']);
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let column = l.chars().count() - content.chars().count() + 1;
        let unquoted = content.trim_start_matches(['"', '\'']);
        if column == second.column && unquoted.starts_with(key) {
            let after = unquoted[key.len()..].trim_start_matches(['"', '\'']);
            if after.starts_with(':') {
                return Some(Position {
                    line: number,
                    column,
                });
            }
        }
        if column < second.column {
            return None;
        }
    }
    None
}

/// From "unknown field `x`, expected one of a, b" the word and the expected names.
fn unknown_name(message: &str, prefix: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix(prefix)?;
    let (word, rest) = rest.split_once('`')?;
    let expected = rest
        .trim_start_matches(',')
        .trim()
        .trim_start_matches("expected one of")
        .trim_start_matches("expected")
        .split(',')
        .map(|s| s.trim().trim_matches('`').to_string())
        .filter(|s| !s.is_empty())
        .collect();
    Some((word.to_string(), expected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::model::Playbook;
    use std::path::PathBuf;

    fn load(text: &str) -> Result<Playbook, Diagnostic> {
        parse(&Arc::new(SourceFile {
            path: PathBuf::from("p.yaml"),
            text: text.into(),
        }))
    }

    #[test]
    fn unknown_step_kind_is_located_with_a_suggestion() {
        let d = load("name: x\nprovider: http\nsteps:\n  - retyr: {}\n").unwrap_err();
        assert_eq!(d.message, "unknown step kind `retyr`");
        assert_eq!(d.position, Some(Position { line: 4, column: 5 }));
        assert_eq!(d.help.as_deref(), Some("did you mean `retry`?"));
    }

    #[test]
    fn unknown_key_and_value_get_suggestions() {
        let d = load("name: x\nprovidr: http\nsteps: []\n").unwrap_err();
        assert_eq!(d.help.as_deref(), Some("did you mean `provider`?"));
        let d = load("name: x\nprovider: http\nsteps:\n  - retry:\n      outcome:\n        status: {404: faild}\n").unwrap_err();
        assert_eq!(d.message, "unknown value `faild`");
        assert!(d.help.unwrap().starts_with("did you mean `failed`?"));
    }

    /// Regression (issue 11): a key written twice read `duplicate mapping key: timeout, set
    /// DuplicateKeyPolicy in Options if acceptable`.
    #[test]
    fn a_key_written_twice_names_both_lines() {
        let d = load("name: x\nprovider: http\nconnection:\n  timeout: 30s\n  # why\n  rate: 1/s\n  timeout: 10s\nsteps: []\n").unwrap_err();
        assert_eq!(
            d.message,
            "the key `timeout` appears twice in this mapping, at lines 4 and 7"
        );
        assert_eq!(d.position, Some(Position { line: 7, column: 3 }));
        assert_eq!(
            d.help.as_deref(),
            Some("line 4 already says `timeout: 30s`; keep one of the two")
        );
        let d = load("name: x\nprovider: http\nsteps:\n  - fetch: {ids: a, ids: b}\n").unwrap_err();
        assert_eq!(
            d.message,
            "the key `ids` appears twice in this mapping, on line 4"
        );
        assert_eq!(
            d.help.as_deref(),
            Some("it is first at column 13; keep one of the two")
        );
        let d = load("name: x\nprovider: http\nsteps:\n  - name: a\n    fetch: {ids: a}\n  - name: b\n    name: c\n").unwrap_err();
        assert_eq!(
            d.message,
            "the key `name` appears twice in this mapping, at lines 6 and 7"
        );
    }

    /// The YAML library's type names (`invalid u32`) never reach a user.
    #[test]
    fn wrong_types_are_said_in_the_playbooks_terms() {
        for (text, message) in [
            ("steps: 5\n", "expected a list"),
            (
                "steps:\n  - fetch: 5\n",
                "expected a mapping of keys to values",
            ),
            (
                "guards: {window: many}\nsteps: []\n",
                "expected a whole number, 0 or more (within range)",
            ),
            (
                "guards: {max_selected_ratio: lots}\nsteps: []\n",
                "expected a number",
            ),
            (
                "steps:\n  - retry: {outcome: {status: {abc: failed}}}\n",
                "expected a whole number up to 65535 (an HTTP status, like 404)",
            ),
            (
                "steps:\n  - fetch: {request: {path: [1]}}\n",
                "expected text, not a list or a mapping",
            ),
            (
                "steps:\n\t- fetch: {}\n",
                "a tab indents this line, and YAML indents with spaces only",
            ),
        ] {
            let d = load(&format!("name: x\nprovider: http\n{text}")).unwrap_err();
            assert_eq!(d.message, message, "{text}");
            assert!(d.position.is_some(), "{text}");
        }
    }

    #[test]
    fn malformed_yaml_is_located() {
        let d = load("name: x\nprovider: http\nsteps:\n  - fetch:\n      items: [\n").unwrap_err();
        assert_eq!(d.position.map(|p| p.line), Some(5));
    }

    /// Regression: `name: ../../x` was accepted, and the name reaches file names.
    #[test]
    fn a_name_that_is_not_a_plain_file_name_is_refused_where_it_is_written() {
        let help = "a name may hold letters, digits, `-`, `_` and `.`, start with a letter or a digit, and be at most 64 characters, like `beam-nightly`";
        for (name, problem) in [
            ("\"../../x\"", "\"../../x\" holds '/'"),
            ("\"nightly run\"", "\"nightly run\" holds ' '"),
            (
                ".hidden",
                "\".hidden\" does not start with a letter or a digit",
            ),
            ("\"\"", "\"\" is empty"),
        ] {
            let text = format!("name: {name}\nprovider: http\nsteps: []\n");
            let file = Arc::new(SourceFile {
                path: PathBuf::from("p.yaml"),
                text,
            });
            let playbook: Playbook = parse(&file).unwrap();
            let d = check_name(&file, &playbook.name).unwrap_err();
            assert_eq!(d.message, format!("the playbook name {problem}"));
            assert_eq!(d.position, Some(Position { line: 1, column: 7 }));
            assert_eq!(d.help.as_deref(), Some(help));
        }
        let long = "a".repeat(65);
        let file = Arc::new(SourceFile {
            path: PathBuf::from("p.yaml"),
            text: format!("name: {long}\nprovider: http\nsteps: []\n"),
        });
        let playbook: Playbook = parse(&file).unwrap();
        assert!(check_name(&file, &playbook.name).is_err());
        let file = Arc::new(SourceFile {
            path: PathBuf::from("p.yaml"),
            text: "name: beam-nightly.v2_b\nprovider: http\nsteps: []\n".into(),
        });
        let playbook: Playbook = parse(&file).unwrap();
        assert!(check_name(&file, &playbook.name).is_ok());
    }
}
