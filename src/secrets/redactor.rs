//! The redactor: the registry of secrets (a few multi-pattern matchers that grow all run long)
//! and the replacing of every registered value, its encodings and its starts with [`REDACTED`].

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, RwLock};

use aho_corasick::AhoCorasick;

use super::encodings::{decoded_views, forms};
use super::names::{is_credential_name, is_sensitive_header, is_signature_header};

/// What is shown in place of a secret.
pub const REDACTED: &str = "<redacted>";

/// `Authorization` schemes: in a header value that starts with one, what follows is the token.
const AUTH_SCHEMES: &[&str] = &[
    "basic",
    "bearer",
    "token",
    "digest",
    "apikey",
    "api-key",
    "key",
    "bot",
    "jwt",
    "oauth",
    "sso-key",
    "hmac",
    "signature",
    "negotiate",
];

/// Values shorter than this are not redacted: replacing every `1` or `ab` would mangle output and
/// such short values are not credentials.
const MIN_SECRET_LEN: usize = 4;

/// How many leading characters of a secret (in any of its forms) are enough to redact: text that
/// holds only the start of a secret (an API echoing the first 20 characters, an error cut short)
/// loses that start, and the rest of it that follows, however long it runs on.
pub const PREFIX_CHARS: usize = 8;

/// Replaces every known secret, its common encodings, and any run of 8 or more of its first
/// characters, with [`REDACTED`].
///
/// Text is searched as it is and, when it holds escapes, decoded four ways (percent-encoding with
/// `+` as a space and without, JSON string escapes, HTML character references), so that a secret
/// is found whichever encoder an API used and in whichever letter case its hex digits are.
///
/// Cloning shares the set: a secret registered while rendering a template is redacted everywhere.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    state: Arc<RwLock<Registry>>,
}

/// The registered secrets, as a few multi-pattern matchers.
///
/// GeeLark registers a new signature with every request, so the set grows all run long. Rebuilding
/// one matcher per registration would be quadratic, and scanning for each secret in turn is slow:
/// new forms go into a small matcher of their own, merged with the previous one while that is not
/// at least twice its size. There are never more than log2(forms) matchers, and each form is built
/// into one O(log n) times over a run.
#[derive(Debug, Default)]
struct Registry {
    /// Values already registered, whole only (`[0]`) and by prefix (`[1]`), so that the same
    /// header registered by every request costs one lookup under the read lock.
    seen: [HashSet<String>; 2],
    levels: Vec<Level>,
    /// The longest form, in bytes: how far past a cut a secret that starts before it can reach.
    longest: usize,
}

/// One matcher: the distinct keys (the part of a form that must be seen), each with the forms that
/// start with it.
#[derive(Debug)]
struct Level {
    keys: Vec<(String, Vec<String>)>,
    /// How many forms the keys lead to: the level's size when levels are merged.
    forms: usize,
    /// `None` only if the automaton could not be built (far past any real set of secrets): the
    /// keys are then searched one by one.
    matcher: Option<AhoCorasick>,
}

impl Level {
    fn build(keys: BTreeMap<String, BTreeSet<String>>) -> Level {
        let keys: Vec<(String, Vec<String>)> = keys
            .into_iter()
            .map(|(key, forms)| (key, forms.into_iter().collect()))
            .collect();
        let forms = keys.iter().map(|(_, forms)| forms.len()).sum();
        // The crate's own choice of automaton (a DFA for a few keys, a contiguous NFA for many):
        // measured in release on a 20 MB report, it searches 2x faster than the non-contiguous
        // NFA, which is quicker to build but searched more often than built.
        let matcher = AhoCorasick::new(keys.iter().map(|(key, _)| key)).ok();
        Level {
            keys,
            forms,
            matcher,
        }
    }

    /// Push the range of every occurrence of a key in `hay`, stretched over as much of each form
    /// starting with that key as follows it.
    fn find(&self, hay: &[u8], found: &mut Vec<(usize, usize)>) {
        let mut at = |start: usize, index: usize| {
            if let Some((_, forms)) = self.keys.get(index) {
                for form in forms {
                    let rest = hay.get(start..).unwrap_or_default();
                    let same = rest
                        .iter()
                        .zip(form.as_bytes())
                        .take_while(|(a, b)| a == b)
                        .count();
                    found.push((start, start + same));
                }
            }
        };
        match &self.matcher {
            Some(matcher) => {
                for m in matcher.find_overlapping_iter(hay) {
                    at(m.start(), m.pattern().as_usize());
                }
            }
            None => {
                for (index, (key, _)) in self.keys.iter().enumerate() {
                    let key = key.as_bytes();
                    for (start, window) in hay.windows(key.len()).enumerate() {
                        if window == key {
                            at(start, index);
                        }
                    }
                }
            }
        }
    }
}

/// Where runbook met a value that may be a secret. [`Redactor::register_from`] is the one place
/// that decides, from where a value was met, whether and how it is redacted.
#[derive(Clone, Copy, Debug)]
pub enum SecretSource<'a> {
    /// A `secret('NAME')`: secret whatever its name.
    Secret(&'a str),
    /// An environment variable read with `env()` or used by an adapter: secret when its name is a
    /// credential's ([`is_credential_name`]).
    Variable { name: &'a str, value: &'a str },
    /// A header runbook sends: a per-request signature ([`is_signature_header`]), a credential
    /// ([`is_sensitive_header`]), or nothing secret.
    Header { name: &'a str, value: &'a str },
}

impl Redactor {
    /// How many matchers the registry holds now (tests check it stays logarithmic).
    #[cfg(test)]
    pub(super) fn matcher_count(&self) -> usize {
        self.state
            .read()
            .map(|s| s.levels.len())
            .unwrap_or(usize::MAX)
    }

    /// Remember what of a value met at `source` is secret; every caller outside this folder
    /// registers through here.
    pub fn register_from(&self, source: SecretSource<'_>) {
        match source {
            SecretSource::Secret(value) => self.register(value),
            SecretSource::Variable { name, value } if is_credential_name(name) => {
                self.register(value)
            }
            SecretSource::Variable { .. } => {}
            SecretSource::Header { name, value } if is_signature_header(name) => {
                self.register_signature(value)
            }
            SecretSource::Header { name, value } if is_sensitive_header(name) => {
                self.register_header(value)
            }
            SecretSource::Header { .. } => {}
        }
    }

    /// Remember `value` as a secret: it, its encoded forms, and any start of them of
    /// [`PREFIX_CHARS`] characters or more are redacted from now on.
    pub(crate) fn register(&self, value: &str) {
        self.remember(value, true);
    }

    /// Remember the value of a credential header (`Bearer abc`, a signature), and the token after
    /// its scheme.
    pub(super) fn register_header(&self, value: &str) {
        use base64::Engine;
        let Some((scheme, token)) = value
            .split_once(' ')
            .filter(|(scheme, _)| AUTH_SCHEMES.iter().any(|s| s.eq_ignore_ascii_case(scheme)))
        else {
            self.register(value);
            return;
        };
        // The whole `Bearer abc` only as a whole: a prefix of it is the scheme and the token's
        // first letters, which would redact "Bearer token missing" from an error message.
        self.remember(value, false);
        self.register(token.trim());
        // Basic: base64 of `user:password`; an API may echo either in clear.
        if !scheme.eq_ignore_ascii_case("basic") {
            return;
        }
        let decoded = base64::engine::general_purpose::STANDARD.decode(token.trim());
        if let Some(pair) = decoded.ok().and_then(|d| String::from_utf8(d).ok()) {
            self.register(&pair);
            if let Some((_, password)) = pair.split_once(':') {
                self.register(password);
            }
        }
    }

    /// Remember a per-request signature (GeeLark's `sign`): a digest that changes with every request
    /// and is worthless once used. Only the whole value and its encoded forms are redacted, not its
    /// starts: with thousands of signatures registered, the prefix rule would redact ids that happen
    /// to begin with the same 8 hex digits.
    pub(super) fn register_signature(&self, value: &str) {
        self.remember(value, false);
    }

    fn remember(&self, value: &str, by_prefix: bool) {
        if value.chars().count() < MIN_SECRET_LEN {
            return;
        }
        let set = usize::from(by_prefix);
        // The common case, a value every request registers again: a shared lock, no allocation.
        if self.state.read().unwrap_or_else(|e| e.into_inner()).seen[set].contains(value) {
            return;
        }
        let mut registry = self.state.write().unwrap_or_else(|e| e.into_inner());
        if !registry.seen[set].insert(value.to_string()) {
            return;
        }
        let mut batch: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for form in forms(value) {
            if form.chars().count() < MIN_SECRET_LEN {
                continue;
            }
            let key = match form.char_indices().nth(PREFIX_CHARS) {
                Some((end, _)) if by_prefix => form[..end].to_string(),
                _ => form.clone(),
            };
            registry.longest = registry.longest.max(form.len());
            batch.entry(key).or_default().insert(form);
        }
        while let Some(last) = registry.levels.last() {
            if last.forms > 2 * batch.values().map(BTreeSet::len).sum::<usize>() {
                break;
            }
            let Some(last) = registry.levels.pop() else {
                break;
            };
            for (key, forms) in last.keys {
                batch.entry(key).or_default().extend(forms);
            }
        }
        registry.levels.push(Level::build(batch));
    }

    /// `text` with every secret replaced.
    pub fn redact(&self, text: &str) -> String {
        let registry = self.state.read().unwrap_or_else(|e| e.into_inner());
        if registry.levels.is_empty() {
            return text.to_string();
        }
        let mut ranges = Vec::new();
        let search = |hay: &[u8]| {
            let mut found = Vec::new();
            for level in &registry.levels {
                level.find(hay, &mut found);
            }
            found
        };
        ranges.extend(search(text.as_bytes()));
        for view in decoded_views(text) {
            for (start, end) in search(&view.bytes) {
                if end > start {
                    ranges.push((view.origin(start).0, view.origin(end - 1).1));
                }
            }
        }
        drop(registry);
        replace_ranges(text, ranges)
    }

    /// `text` redacted, then cut to at most `max_chars` characters, the last of them `…` when it
    /// was cut. Every excerpt runbook shows or stores is made here: redacting first means a cut
    /// can never leave the start of a secret behind, and a cut never splits the marker.
    pub fn excerpt(&self, text: &str, max_chars: usize) -> String {
        // Only the head of a long text can show: redact just enough of it that every secret
        // starting before the cut is seen whole, however escaped (at most 6 bytes of text for
        // one decoded byte, `&quot;`), and a 16 MiB page costs no more than a short one.
        let longest = self.state.read().unwrap_or_else(|e| e.into_inner()).longest;
        let mut head_len = max_chars
            .saturating_mul(4)
            .saturating_add(longest.saturating_mul(6))
            .saturating_add(64)
            .min(text.len());
        while !text.is_char_boundary(head_len) {
            head_len -= 1;
        }
        let clean = self.redact(&text[..head_len]);
        let whole = head_len == text.len();
        if whole && clean.chars().count() <= max_chars {
            return clean;
        }
        let keep = max_chars.saturating_sub(1);
        let mut end = clean
            .char_indices()
            .nth(keep)
            .map_or(clean.len(), |(i, _)| i);
        if let Some(marker) = clean[..end].rfind(REDACTED.split_at(1).0)
            && clean[marker..].starts_with(REDACTED)
            && marker + REDACTED.len() > end
        {
            end = marker;
        }
        format!("{}…", &clean[..end])
    }

    /// Redact every string inside a JSON value.
    pub fn redact_json(&self, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::String(s) => Value::String(self.redact(s)),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.redact_json(v)).collect())
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (self.redact(k), self.redact_json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// `text` with each of the (possibly overlapping) byte ranges replaced by one marker, widened to
/// whole characters.
fn replace_ranges(text: &str, mut ranges: Vec<(usize, usize)>) -> String {
    ranges.retain(|(start, end)| end > start);
    if ranges.is_empty() {
        return text.to_string();
    }
    ranges.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut ranges = ranges.into_iter().peekable();
    while let Some((start, mut end)) = ranges.next() {
        while let Some(&(next, next_end)) = ranges.peek() {
            if next > end {
                break;
            }
            end = end.max(next_end);
            ranges.next();
        }
        let mut start = start.max(copied).min(text.len());
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = end.min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        if end <= copied {
            continue;
        }
        out.push_str(&text[copied..start.max(copied)]);
        out.push_str(REDACTED);
        copied = end;
    }
    out.push_str(&text[copied..]);
    out
}
