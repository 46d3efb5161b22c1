//! Located, user-facing errors: a message, the file, line and column it concerns, a caret line under
//! the offending text, and a hint that says how to fix it.
//!
//! Rendered in the style of rustc and just:
//!
//! ```text
//! error: unknown field `retyr`
//!   --> nightly.yaml:14:5
//!    |
//! 14 |   - retyr:
//!    |     ^^^^^
//!    = help: did you mean `retry`?
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A source file kept in memory so that diagnostics can quote it.
#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

/// A 1-based position in a source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// One user-facing error with its place and a hint.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub message: String,
    pub file: Option<Arc<SourceFile>>,
    pub position: Option<Position>,
    /// How many characters the caret line underlines (at least one).
    pub width: usize,
    pub help: Option<String>,
    /// A warning: shown, but the playbook still runs.
    pub warning: bool,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>) -> Self {
        Diagnostic {
            message: message.into(),
            file: None,
            position: None,
            width: 1,
            help: None,
            warning: false,
        }
    }

    /// A problem worth showing that does not stop the playbook, rendered `warning: …`.
    pub fn warning(message: impl Into<String>) -> Self {
        Diagnostic {
            warning: true,
            ..Diagnostic::new(message)
        }
    }

    pub fn at(mut self, file: &Arc<SourceFile>, position: Option<Position>) -> Self {
        self.file = Some(Arc::clone(file));
        self.position = position;
        if let Some(pos) = position {
            self.width = token_width(&file.text, pos);
        }
        self
    }

    /// Point the caret at `word` instead of the whole value, when `word` stands on the value's
    /// first line at or after its column as a whole name (not inside a longer one): the filter in
    /// `"{{ ids | tojsn }}"`. Otherwise the diagnostic is left as it is.
    pub fn narrow_to(mut self, word: &str) -> Self {
        let (Some(file), Some(pos)) = (&self.file, self.position) else {
            return self;
        };
        let Some(line) = source_line(&file.text, pos.line) else {
            return self;
        };
        let chars: Vec<char> = line.chars().collect();
        let needle: Vec<char> = word.chars().collect();
        let is_name = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric() || *c == '_');
        let found = (pos.column.saturating_sub(1)..chars.len()).find(|&i| {
            chars[i..].starts_with(&needle)
                && !is_name(i.checked_sub(1).and_then(|j| chars.get(j)))
                && !is_name(chars.get(i + needle.len()))
        });
        if let Some(i) = found.filter(|_| !needle.is_empty()) {
            self.position = Some(Position {
                line: pos.line,
                column: i + 1,
            });
            self.width = needle.len();
        }
        self
    }

    /// Point the caret at one character of a value: the one `offset` characters into `value`, the
    /// value's text as read from the YAML at the diagnostic's position. Only when the line holds
    /// that text as is (plain, or quoted without escapes before that character); otherwise the
    /// caret stays under the whole value.
    pub fn point_into(mut self, value: &str, offset: usize) -> Self {
        let (Some(file), Some(pos)) = (&self.file, self.position) else {
            return self;
        };
        let Some(line) = source_line(&file.text, pos.line) else {
            return self;
        };
        let rest: Vec<char> = line.chars().skip(pos.column.saturating_sub(1)).collect();
        let quoted = matches!(rest.first(), Some('"' | '\''));
        let shown = &rest[usize::from(quoted)..];
        let wanted: Vec<char> = value.chars().take(offset + 1).collect();
        if wanted.len() == offset + 1 && shown.starts_with(&wanted) {
            self.position = Some(Position {
                line: pos.line,
                column: pos.column + usize::from(quoted) + offset,
            });
            self.width = 1;
        }
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn file_path(&self) -> Option<&Path> {
        self.file.as_deref().map(|f| f.path.as_path())
    }
}

/// The width of the token that starts at `pos`: a quoted scalar to its closing quote; a plain one
/// (a key or a value, spaces and all: `5 minutes`) up to `: `, ` #`, the end of the line, or in a
/// flow collection (`{a: 1, b: 2}`) the next `,`, `}` or `]`.
fn token_width(text: &str, pos: Position) -> usize {
    let Some(line) = source_line(text, pos.line) else {
        return 1;
    };
    let before: String = line.chars().take(pos.column.saturating_sub(1)).collect();
    let depth = before.chars().fold(0i32, |d, c| match c {
        '{' | '[' => d + 1,
        '}' | ']' => d - 1,
        _ => d,
    });
    let in_flow = depth > 0;
    let rest: String = line.chars().skip(pos.column.saturating_sub(1)).collect();
    let rest = rest.trim_end();
    let quoted = rest.starts_with('"') || rest.starts_with('\'');
    let width = if quoted {
        let quote = rest.chars().next().unwrap_or('"');
        rest.chars()
            .skip(1)
            .position(|c| c == quote)
            .map_or(rest.chars().count(), |i| i + 2)
    } else {
        let chars: Vec<char> = rest.chars().collect();
        let ends = |i: usize| {
            let next = chars.get(i + 1).copied();
            match chars[i] {
                ':' => next.is_none_or(char::is_whitespace),
                '#' => i > 0 && chars[i - 1].is_whitespace(),
                ',' | '}' | ']' => in_flow,
                _ => false,
            }
        };
        let end = (0..chars.len()).find(|&i| ends(i)).unwrap_or(chars.len());
        chars[..end]
            .iter()
            .rposition(|c| !c.is_whitespace())
            .map_or(1, |last| last + 1)
    };
    width.max(1)
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = if self.warning { "warning" } else { "error" };
        writeln!(f, "{severity}: {}", self.message)?;
        if let Some(file) = &self.file {
            let shown = file.path.display();
            match self.position {
                Some(pos) => {
                    let number = pos.line.to_string();
                    let pad = " ".repeat(number.len());
                    writeln!(f, "{pad}--> {shown}:{}:{}", pos.line, pos.column)?;
                    if let Some(line) = source_line(&file.text, pos.line) {
                        writeln!(f, "{pad} |")?;
                        writeln!(f, "{number} | {line}")?;
                        let indent: String = line
                            .chars()
                            .take(pos.column.saturating_sub(1))
                            .map(|c| if c == '\t' { '\t' } else { ' ' })
                            .collect();
                        writeln!(f, "{pad} | {indent}{}", "^".repeat(self.width))?;
                    }
                    if let Some(help) = &self.help {
                        writeln!(f, "{pad} = help: {help}")?;
                    }
                    return Ok(());
                }
                None => writeln!(f, "  --> {shown}")?,
            }
        }
        if let Some(help) = &self.help {
            writeln!(f, "  = help: {help}")?;
        }
        Ok(())
    }
}

/// Line `number` (1-based) of `text`, counting lines as YAML does: a line ends at `\r\n`, `\n`
/// or a lone `\r` (Rust's `str::lines` does not break at a lone `\r`).
pub fn source_line(text: &str, number: usize) -> Option<&str> {
    source_lines(text).nth(number.checked_sub(1)?)
}

/// The lines of `text` as YAML counts them.
pub fn source_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.find(['\r', '\n']) {
            Some(i) => {
                let skip = if current[i..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                rest = Some(&current[i + skip..]).filter(|r| !r.is_empty());
                Some(&current[..i])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// The closest of `candidates` to `word`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_file_line_column_caret_and_help() {
        let file = Arc::new(SourceFile {
            path: PathBuf::from("nightly.yaml"),
            text: "name: x\nsteps:\n  - retyr: {}\n".into(),
        });
        let d = Diagnostic::new("unknown field `retyr`")
            .at(&file, Some(Position { line: 3, column: 5 }))
            .help("did you mean `retry`?");
        let text = d.to_string();
        assert_eq!(
            text,
            "error: unknown field `retyr`\n --> nightly.yaml:3:5\n  |\n3 |   - retyr: {}\n  |     ^^^^^\n  = help: did you mean `retry`?\n"
        );
    }

    #[test]
    fn a_warning_renders_like_an_error_but_for_its_label() {
        let file = Arc::new(SourceFile {
            path: PathBuf::from("p.yaml"),
            text: "path: /t/{{ task.id }}\n".into(),
        });
        let d = Diagnostic::warning("unencoded")
            .at(&file, Some(Position { line: 1, column: 7 }))
            .help("encode it");
        assert_eq!(
            d.to_string(),
            "warning: unencoded\n --> p.yaml:1:7\n  |\n1 | path: /t/{{ task.id }}\n  |       ^^^^^^^^^^^^^^^^\n  = help: encode it\n"
        );
    }

    /// Regression (issue 11): the caret under `since: 5 minutes` covered one character.
    #[test]
    fn the_caret_covers_a_whole_plain_value_and_stops_at_a_key_or_a_comment() {
        let file = Arc::new(SourceFile {
            path: PathBuf::from("p.yaml"),
            text: "since: 5 minutes   # why\n- retyr: {}\nx: {a: 5 min, b: 1}\nurl: http://h:1/x\n"
                .into(),
        });
        let width = |line, column| token_width(&file.text, Position { line, column });
        assert_eq!(width(1, 8), "5 minutes".len());
        assert_eq!(width(2, 3), "retyr".len());
        assert_eq!(width(3, 8), "5 min".len());
        assert_eq!(width(4, 6), "http://h:1/x".len());
        assert_eq!(width(1, 1), "since".len());
    }

    #[test]
    fn the_caret_can_narrow_to_one_name_in_the_value() {
        let file = Arc::new(SourceFile {
            path: PathBuf::from("p.yaml"),
            text: "body: {ids: \"{{ ids | tojson | tojsn }}\"}\n".into(),
        });
        let at = Some(Position {
            line: 1,
            column: 13,
        });
        let d = Diagnostic::new("unknown filter")
            .at(&file, at)
            .narrow_to("tojsn");
        assert_eq!(
            d.position,
            Some(Position {
                line: 1,
                column: 32
            })
        );
        assert_eq!(d.width, 5);
        let d = Diagnostic::new("elsewhere")
            .at(&file, at)
            .narrow_to("secret");
        assert_eq!((d.position, d.width), (at, 28));
    }

    #[test]
    fn lines_break_where_yaml_breaks_them() {
        let lines: Vec<&str> = source_lines("a\r\nb\rc\nd").collect();
        assert_eq!(lines, ["a", "b", "c", "d"]);
        assert_eq!(source_line(" \t \ra\t", 2), Some("a\t"));
        assert_eq!(source_line("x\n", 2), None);
    }

    #[test]
    fn suggests_only_close_words() {
        assert_eq!(
            did_you_mean("retyr", ["fetch", "retry", "report"]),
            Some("retry")
        );
        assert_eq!(did_you_mean("zzz", ["fetch", "retry"]), None);
    }
}
