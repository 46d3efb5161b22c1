//! Hand-written scans of template source, because minijinja keeps its lexer and syntax tree
//! private: how many operators a tag holds, where a tag ends outside string literals, whether the
//! source is one `{{ expression }}`, and the `ago('…')` literals to check at compile time.
//! Each scan only looks; a miscount at worst refuses a monstrous tag or leaves a check to render time.

use crate::units::Span;

use super::MAX_OPERATORS;

/// Whether a tag of `source` holds more than [`MAX_OPERATORS`] operators (outside string
/// literals): chains minijinja would follow without a depth limit. Written by hand because
/// minijinja's lexer is not public; it only counts, so a miscount at worst refuses a monstrous tag.
pub(super) fn too_many_operators(source: &str) -> bool {
    const KEYWORDS: &[&str] = &["not", "and", "or", "if", "else", "is", "in"];
    let mut rest = source;
    while let Some(open) = rest
        .match_indices('{')
        .map(|(i, _)| i)
        .find(|&i| matches!(rest.as_bytes().get(i + 1), Some(b'{' | b'%')))
    {
        let tag = &rest[open + 2..];
        let mut count = 0;
        let mut literal = StringLiteral::default();
        let mut word = String::new();
        let mut end = tag.len();
        let mut chars = tag.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if literal.consumes(c) {
                continue;
            }
            if c.is_alphanumeric() || c == '_' {
                word.push(c);
                continue;
            }
            if KEYWORDS.contains(&word.as_str()) {
                count += 1;
            }
            word.clear();
            match c {
                '\'' | '"' => literal.open(c),
                '}' | '%' if chars.peek().is_some_and(|(_, n)| *n == '}') => {
                    end = i;
                    break;
                }
                '-' | '+' | '~' | '*' | '/' | '%' | '|' | '.' | '<' | '>' | '=' | '!' | '[' => {
                    count += 1
                }
                _ => {}
            }
        }
        if KEYWORDS.contains(&word.as_str()) {
            count += 1;
        }
        if count > MAX_OPERATORS {
            return true;
        }
        rest = &tag[end..];
    }
    false
}

/// Where a scan stands relative to a string literal (`'…'` or `"…"`, with backslash escapes).
#[derive(Default)]
struct StringLiteral {
    /// The quote of the literal the scan is inside, if any.
    quote: Option<char>,
    /// The previous character was a backslash inside the literal.
    escaped: bool,
}

impl StringLiteral {
    /// Whether `c` belongs to an open literal (its closing quote included): the scan skips it.
    fn consumes(&mut self, c: char) -> bool {
        let Some(q) = self.quote else {
            return false;
        };
        if self.escaped {
            self.escaped = false;
        } else if c == '\\' {
            self.escaped = true;
        } else if c == q {
            self.quote = None;
        }
        true
    }

    /// A literal opens with the quote `c`.
    fn open(&mut self, c: char) {
        self.quote = Some(c);
    }
}

/// The expression inside `{{ … }}` when that is the whole (trimmed) source.
pub(super) fn single_expression(source: &str) -> Option<&str> {
    let inner = source.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") {
        return None;
    }
    Some(inner.trim())
}

/// Where `closing` ends the tag whose text starts `body`, outside string literals.
pub(super) fn tag_end(body: &str, closing: &str) -> Option<usize> {
    let mut literal = StringLiteral::default();
    for (i, c) in body.char_indices() {
        if literal.consumes(c) {
            continue;
        }
        if c == '\'' || c == '"' {
            literal.open(c);
        } else if body[i..].starts_with(closing) {
            return Some(i);
        }
    }
    None
}

/// `ago('…')` with a literal argument is checked when the template is compiled, so that
/// `validate` refuses `ago('18446744073709551615s1s')` as it refuses the same text in `since:`.
/// Hand-written because minijinja keeps its syntax tree private: the scan looks inside tags only and
/// at calls whose whole argument is one quoted string; anything else is checked when rendered.
pub(super) fn check_ago_literals(source: &str) -> Result<(), String> {
    for literal in literal_calls(source, "ago") {
        Span::parse(literal).map_err(|e| format!("ago(): {e}"))?;
    }
    Ok(())
}

/// The string literals that `function` is called with in the tags of `source` (`{{ … }}` and
/// `{% … %}`; comments and text are not code): `ago('7d')` gives `7d`. Only calls whose whole
/// argument is one quoted string without escapes count.
pub(super) fn literal_calls<'a>(source: &'a str, function: &str) -> Vec<&'a str> {
    let call = format!("{function}(");
    let mut literals = Vec::new();
    let mut rest = source;
    while let Some(open) = [rest.find("{{"), rest.find("{%")]
        .into_iter()
        .flatten()
        .min()
    {
        let closing = if rest[open..].starts_with("{{") {
            "}}"
        } else {
            "%}"
        };
        let tag = &rest[open + 2..];
        // Outside string literals, so `ago('1d') ~ '}}'` is one tag.
        let close = tag_end(tag, closing).unwrap_or(tag.len());
        let mut inside = &tag[..close];
        while let Some(at) = inside.find(&call) {
            let before = inside[..at].chars().next_back();
            let args = inside[at + call.len()..].trim_start();
            inside = &inside[at + call.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
                continue;
            }
            let Some(quote) = args.chars().next().filter(|c| *c == '\'' || *c == '"') else {
                continue;
            };
            let Some(end) = args[1..].find(quote) else {
                continue;
            };
            let literal = &args[1..1 + end];
            if literal.contains('\\') || !args[2 + end..].trim_start().starts_with(')') {
                continue;
            }
            literals.push(literal);
        }
        rest = &tag[close..];
    }
    literals
}
