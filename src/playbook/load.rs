//! Reading a playbook file into the model, with every error located in the file and given a hint.

use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::model::Spanned;
use crate::diagnostic::{Diagnostic, Position, SourceFile, did_you_mean};

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

/// Parse YAML text into `T`, turning the YAML library's error into a located diagnostic.
pub fn parse<T: DeserializeOwned>(file: &Arc<SourceFile>) -> Result<T, Diagnostic> {
    serde_saphyr::from_str::<T>(&file.text).map_err(|e| {
        let position = e.location().filter(|l| l.line() > 0).map(|l| Position {
            line: l.line() as usize,
            column: l.column() as usize,
        });
        let raw = e.without_snippet().to_string();
        let message = strip_location(&raw);
        let (message, help) = explain(message);
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

    #[test]
    fn malformed_yaml_is_located() {
        let d = load("name: x\nprovider: http\nsteps:\n  - fetch:\n      items: [\n").unwrap_err();
        assert_eq!(d.position.map(|p| p.line), Some(5));
    }
}
