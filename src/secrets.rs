//! Where `env()` and `secret()` values come from, and the redactor that keeps secrets out of every
//! byte runbook writes.
//!
//! Values are looked up in an overlay (the sandbox's credentials under `--sandbox`), then the process
//! environment, then a `.env` file in the working directory. The `.env` file is read once and never
//! written into the process environment.
//!
//! Invariants of the redactor:
//! - A registered value (a `secret()`, an `env()` of a credential name, a provider's credential, a
//!   credential header) is replaced wherever it appears: as it is, in the encodings runbook and
//!   APIs write it (percent-encoded in any flavour and letter case, form-encoded, JSON-escaped,
//!   HTML-escaped, base64 at any alignment inside a larger blob), and as any start of it of
//!   [`PREFIX_CHARS`] characters or more, which is redacted together with all of the value that
//!   follows it. (A header's `Bearer abc` counts only whole; its token by itself as any value.)
//! - Text is redacted before it is cut: every excerpt goes through [`Redactor::excerpt`], so a cut
//!   never leaves the start of a secret behind and never splits the marker.
//! - What is not promised: a stretch from the middle or the end of a secret that the API echoed
//!   without its start, and values shorter than 4 characters (not credentials; redacting them
//!   would mangle output).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::{Arc, RwLock};

use aho_corasick::AhoCorasick;

/// The largest `.env` file read: a few credentials take a few hundred bytes.
const MAX_DOTENV_BYTES: u64 = 1024 * 1024;

/// Read-only view of the environment that playbooks may use.
#[derive(Clone, Debug, Default)]
pub struct EnvSource {
    overlay: BTreeMap<String, String>,
    process: BTreeMap<String, String>,
    dotenv: BTreeMap<String, String>,
}

impl EnvSource {
    /// The process environment plus `.env` in `dir` if it exists.
    pub fn load(dir: &Path) -> Result<EnvSource, String> {
        let process = std::env::vars().collect();
        let mut dotenv = BTreeMap::new();
        let path = dir.join(".env");
        if path.exists() {
            let text = crate::files::read_text(&path, MAX_DOTENV_BYTES, ".env file")
                .map_err(|e| e.to_string())?;
            let iter = dotenvy::from_read_iter(text.as_bytes());
            for entry in iter {
                let (key, value) = entry.map_err(|e| format!("{}: {e}", path.display()))?;
                dotenv.insert(key, value);
            }
        }
        Ok(EnvSource {
            overlay: BTreeMap::new(),
            process,
            dotenv,
        })
    }

    /// An environment made of exactly these pairs (tests, and the sandbox).
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> EnvSource {
        EnvSource {
            process: pairs.into_iter().collect(),
            ..EnvSource::default()
        }
    }

    /// Values that take precedence over everything else (the sandbox's credentials).
    pub fn with_overlay(mut self, pairs: impl IntoIterator<Item = (String, String)>) -> EnvSource {
        self.overlay.extend(pairs);
        self
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.overlay
            .get(name)
            .or_else(|| self.process.get(name))
            .or_else(|| self.dotenv.get(name))
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

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
    /// Values already registered, with whether a prefix of them is enough (so that the same header
    /// registered by every request costs one lookup).
    seen: HashSet<(String, bool)>,
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
    /// Remember what of a value met at `source` is secret; every caller outside this file
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
    fn register_header(&self, value: &str) {
        use base64::Engine;
        let Some((scheme, token)) = value
            .split_once(' ')
            .filter(|(scheme, _)| AUTH_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()))
        else {
            self.register(value);
            return;
        };
        // The whole `Bearer abc` only as a whole: a prefix of it is the scheme and the token's
        // first letters, which would redact "Bearer token missing" from an error message.
        self.remember(value, false);
        self.register(token.trim());
        // Basic: base64 of `user:password`; an API may echo either in clear.
        let decoded = base64::engine::general_purpose::STANDARD.decode(token.trim());
        if let Some(pair) = decoded
            .ok()
            .filter(|_| scheme.eq_ignore_ascii_case("basic"))
            .and_then(|d| String::from_utf8(d).ok())
        {
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
    fn register_signature(&self, value: &str) {
        self.remember(value, false);
    }

    fn remember(&self, value: &str, by_prefix: bool) {
        if value.chars().count() < MIN_SECRET_LEN {
            return;
        }
        let mut registry = self.state.write().unwrap_or_else(|e| e.into_inner());
        if !registry.seen.insert((value.to_string(), by_prefix)) {
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

/// The forms a secret takes when an API or runbook encodes it: URL-encoded (as a query, by the
/// `urlencode` filter, in a path), JSON-escaped, and base64 at each of the three byte alignments it
/// can have inside a larger blob (a Basic header, a token echoed inside an encoded payload).
/// Percent-encodings that differ from these are found by decoding the text instead.
fn forms(value: &str) -> Vec<String> {
    let mut forms = vec![value.to_string()];
    let form: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
    forms.push(form.replace('+', "%20"));
    forms.push(form);
    // minijinja's `urlencode` keeps `/`, `.`, `-` and `_`; RFC 3986 keeps `-._~`.
    forms.push(percent_encode(value, b"/.-_"));
    forms.push(percent_encode(value, b"-._~"));
    if let Ok(mut url) = url::Url::parse("http://h/") {
        url.set_path(value);
        forms.push(url.path().trim_start_matches('/').to_string());
        url.set_query(Some(value));
        forms.push(url.query().unwrap_or_default().to_string());
    }
    let json = serde_json::to_string(value).unwrap_or_default();
    forms.push(json.trim_matches('"').to_string());
    forms.extend(base64_forms(value.as_bytes()));
    forms
}

/// Base64 of `bytes`, standard and URL-safe: unpadded as encoded alone (so that padded text is
/// found too, its `=` left after the marker), and at each alignment inside a larger blob, keeping
/// only the characters that depend on `bytes` alone.
fn base64_forms(bytes: &[u8]) -> Vec<String> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let mut forms = Vec::new();
    for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
        forms.push(engine.encode(bytes));
        for shift in 0..3 {
            let mut blob = vec![0u8; shift];
            blob.extend_from_slice(bytes);
            let encoded = engine.encode(&blob);
            // Bytes before the secret share its first 2 (one byte) or 3 (two bytes) characters;
            // the byte after it shares the last one unless the secret ends a 3-byte group.
            let skip = [0, 2, 3][shift];
            let trim = usize::from(!blob.len().is_multiple_of(3));
            if let Some(inner) = encoded.get(skip..encoded.len().saturating_sub(trim)) {
                forms.push(inner.to_string());
            }
        }
    }
    forms
}

/// `text` with every byte percent-encoded but ASCII letters, digits and `keep`.
fn percent_encode(text: &str, keep: &[u8]) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || keep.contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Text decoded one way, with where each decoded byte came from.
///
/// Only the escapes are recorded (a report of many megabytes has few): between two of them a
/// decoded byte is the original byte at the same distance from the previous escape's end.
struct View {
    bytes: Vec<u8>,
    escapes: Vec<Escape>,
}

/// One escape decoded: where its bytes are in the view, and the text it was decoded from.
struct Escape {
    at: usize,
    len: usize,
    from: usize,
    from_len: usize,
}

impl View {
    fn with_capacity(n: usize) -> View {
        View {
            bytes: Vec::with_capacity(n),
            escapes: Vec::new(),
        }
    }

    /// A byte copied as it is.
    fn copy(&mut self, byte: u8) {
        self.bytes.push(byte);
    }

    /// `decoded`, from the `from_len` bytes of the original text at `from`.
    fn decoded(&mut self, decoded: &[u8], from: usize, from_len: usize) {
        self.escapes.push(Escape {
            at: self.bytes.len(),
            len: decoded.len(),
            from,
            from_len,
        });
        self.bytes.extend_from_slice(decoded);
    }

    /// The byte range of the original text that the view's byte `at` came from.
    fn origin(&self, at: usize) -> (usize, usize) {
        let before = self.escapes.partition_point(|e| e.at <= at);
        match before.checked_sub(1).and_then(|i| self.escapes.get(i)) {
            None => (at, at + 1),
            Some(e) if at < e.at + e.len => (e.from, e.from + e.from_len),
            Some(e) => {
                let from = e.from + e.from_len + (at - e.at - e.len);
                (from, from + 1)
            }
        }
    }
}

/// The decodings of `text` that differ from it: percent-decoded (`+` as a space), and with its
/// JSON string escapes and HTML character references undone. Two views, not four: a text is
/// searched once as it is and once per view, and a report can be megabytes long. (A secret that
/// itself holds `\"` or `&amp;` is still found as it is and in the forms registered for it.)
/// Written by hand because each must map every decoded byte back to the original text, which no
/// decoding crate reports, and must not stop at a malformed escape.
fn decoded_views(text: &str) -> Vec<View> {
    let bytes = text.as_bytes();
    let mut views = Vec::new();
    if bytes.contains(&b'%') || bytes.contains(&b'+') {
        views.push(percent_decoded(bytes));
    }
    if bytes.contains(&b'\\') || bytes.contains(&b'&') {
        views.push(markup_unescaped(text));
    }
    views.retain(|view| !view.escapes.is_empty());
    views
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// `%XX` in either letter case, and `+` as a space (form encoding).
fn percent_decoded(bytes: &[u8]) -> View {
    let mut view = View::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| Some(hex(*bytes.get(i + 1)?)? << 4 | hex(*bytes.get(i + 2)?)?))
            .flatten();
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                view.decoded(&[b], i, 3);
                i += 3;
            }
            (None, b'+') => {
                view.decoded(b" ", i, 1);
                i += 1;
            }
            (None, b) => {
                view.copy(b);
                i += 1;
            }
        }
    }
    view
}

/// JSON string escapes (`\"`, `\/`, `\n`, `\u00e9`, surrogate pairs) and HTML character
/// references: the named ones an escaper writes (`&amp;` `&lt;` `&gt;` `&quot;` `&apos;`
/// `&nbsp;`) and numeric ones (`&#39;`, `&#x27;`).
fn markup_unescaped(text: &str) -> View {
    let bytes = text.as_bytes();
    let mut view = View::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let found = match bytes[i] {
            b'\\' => json_escape(text, i),
            b'&' => html_reference(text, i),
            _ => None,
        };
        match found {
            Some((c, len)) => {
                let mut buf = [0u8; 4];
                view.decoded(c.encode_utf8(&mut buf).as_bytes(), i, len);
                i += len;
            }
            None => {
                view.copy(bytes[i]);
                i += 1;
            }
        }
    }
    view
}

/// The character a JSON escape at `at` stands for, and the escape's length.
fn json_escape(text: &str, at: usize) -> Option<(char, usize)> {
    let unit = |at: usize| -> Option<u32> {
        let digits = text.get(at + 2..at + 6)?;
        (text.get(at..at + 2)? == "\\u" && digits.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u32::from_str_radix(digits, 16).ok())
            .flatten()
    };
    let simple = match text.as_bytes().get(at + 1)? {
        b'"' => Some('"'),
        b'\\' => Some('\\'),
        b'/' => Some('/'),
        b'n' => Some('\n'),
        b'r' => Some('\r'),
        b't' => Some('\t'),
        b'b' => Some('\u{8}'),
        b'f' => Some('\u{c}'),
        _ => None,
    };
    match (simple, unit(at)) {
        (Some(c), _) => Some((c, 2)),
        (None, Some(high @ 0xD800..=0xDBFF)) => match unit(at + 6) {
            Some(low @ 0xDC00..=0xDFFF) => {
                char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)).map(|c| (c, 12))
            }
            _ => None,
        },
        (None, Some(code)) => char::from_u32(code).map(|c| (c, 6)),
        (None, None) => None,
    }
}

/// The character an HTML character reference at `at` stands for, and the reference's length.
fn html_reference(text: &str, at: usize) -> Option<(char, usize)> {
    let len = text.get(at..)?.bytes().take(12).position(|b| b == b';')?;
    let name = text.get(at + 1..at + len)?;
    let c = match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => name
            .strip_prefix("#x")
            .or_else(|| name.strip_prefix("#X"))
            .map(|h| u32::from_str_radix(h, 16))
            .or_else(|| name.strip_prefix('#').map(str::parse::<u32>))
            .and_then(Result::ok)
            .and_then(char::from_u32),
    }?;
    Some((c, len + 1))
}

/// Whether an environment variable holds a credential, judged by its name: a provider's
/// (`GEELARK_API_KEY`, `DEEPWORK_TOKEN`, `BEAM_API_KEY_PROD`) or one a playbook reads with `env()`,
/// whose value is then redacted like a `secret()`.
///
/// The name is cut into words at `_`, `-` and `.`, in any case. It is a credential if a word is
/// `KEY`, `TOKEN`, `SECRET`, `PASSWORD`, `PASSWD`, `PASS`, `PASSPHRASE`, `CREDENTIAL`,
/// `CREDENTIALS`, `CREDS`, `AUTH`, `OAUTH`, `AUTHORIZATION` or `COOKIE`, or ends in `KEY`, `TOKEN`,
/// `SECRET` or `PASSWORD` (`APIKEY`, `ACCESSTOKEN`, `CLIENTSECRET`). `PWD` is not one (the shell's
/// working directory), nor `AUTHOR` (`GIT_AUTHOR_NAME`), nor an `ID` or a `URL`.
pub fn is_credential_name(name: &str) -> bool {
    name.to_ascii_uppercase()
        .split(['_', '-', '.'])
        .any(|word| {
            matches!(
                word,
                "PASSWD"
                    | "PASS"
                    | "PASSPHRASE"
                    | "CREDENTIAL"
                    | "CREDENTIALS"
                    | "CREDS"
                    | "AUTH"
                    | "OAUTH"
                    | "AUTHORIZATION"
                    | "COOKIE"
            ) || ["KEY", "TOKEN", "SECRET", "PASSWORD"]
                .iter()
                .any(|end| word.ends_with(end))
        })
}

/// Header names whose values are signatures made anew for every request (GeeLark's `sign`).
pub fn is_signature_header(name: &str) -> bool {
    name.eq_ignore_ascii_case("sign")
}

/// Header names whose values are credentials whatever they contain.
pub fn is_sensitive_header(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "authorization"
            | "x-api-key"
            | "api-key"
            | "apikey"
            | "sign"
            | "cookie"
            | "proxy-authorization"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_plain_url_encoded_and_json_escaped_forms() {
        let r = Redactor::default();
        r.register("s3cr\"t/+value");
        assert_eq!(r.redact("token=s3cr\"t/+value;"), "token=<redacted>;");
        assert_eq!(r.redact("q=s3cr%22t%2F%2Bvalue"), "q=<redacted>");
        assert_eq!(
            r.redact(r#"{"t":"s3cr\"t/+value"}"#),
            r#"{"t":"<redacted>"}"#
        );
    }

    #[test]
    fn redacts_percent_encoded_and_base64_forms() {
        let r = Redactor::default();
        let secret = "C4N ARY+/\"s3c&r=t?#%'<x>";
        r.register(secret);
        for form in [
            "C4N%20ARY%2B/%22s3c%26r%3Dt%3F%23%25%27%3Cx%3E",
            "C4N%20ARY%2B%2F%22s3c%26r%3Dt%3F%23%25%27%3Cx%3E",
            "C4N+ARY%2B%2F%22s3c%26r%3Dt%3F%23%25%27%3Cx%3E",
            "QzROIEFSWSsvInMzYyZyPXQ/IyUnPHg+",
            "QzROIEFSWSsvInMzYyZyPXQ_IyUnPHg-",
        ] {
            assert_eq!(r.redact(&format!("[{form}]")), "[<redacted>]", "{form}");
        }
        r.register("CANARY-s3cr3t-7f3a9");
        assert_eq!(
            r.redact("b64 Q0FOQVJZLXMzY3IzdC03ZjNhOQ== end"),
            "b64 <redacted>== end"
        );
    }

    const LONG: &str = "CANARY-s3cr3t-7f3a9-Xq2Lw8Zt";
    const ODD: &str = "C4N ARY+/\"s3c&r=t?#%'<x>";

    /// Whether `text` holds 8 consecutive characters of `secret`.
    fn holds_window(text: &str, secret: &str) -> bool {
        let chars: Vec<char> = secret.chars().collect();
        chars
            .windows(PREFIX_CHARS)
            .any(|w| text.contains(&w.iter().collect::<String>()))
    }

    #[test]
    fn a_start_of_eight_characters_is_redacted_with_all_of_the_secret_that_follows() {
        let r = Redactor::default();
        r.register(LONG);
        assert_eq!(
            r.redact("echo CANARY-s3cr3t-7f3 end"),
            "echo <redacted> end"
        );
        assert_eq!(r.redact("cut: CANARY-s3"), "cut: <redacted>");
        // Seven characters are not a credential's start but a word.
        assert_eq!(r.redact("a CANARY- b"), "a CANARY- b");
        // Form-encoded, the start is found in the decoded text.
        assert_eq!(r.redact("q=CANARY%2Ds3cr3t&x=1"), "q=<redacted>&x=1");
    }

    #[test]
    fn a_header_scheme_and_the_first_letters_of_its_token_are_not_a_secret() {
        let r = Redactor::default();
        r.register_header("Bearer tok-9f8e7d6c5b4a");
        assert_eq!(
            r.redact("Bearer token missing; got Bearer tok-9f8e7d6c5b4a"),
            "Bearer token missing; got <redacted>"
        );
        assert_eq!(r.redact("echo tok-9f8e7d"), "echo <redacted>");
        // A value with a space that is no scheme is a secret like any other.
        r.register_header("C4N ARY+/\"s3c&r");
        assert_eq!(r.redact("echo C4N ARY+/ end"), "echo <redacted> end");
    }

    #[test]
    fn an_excerpt_cut_anywhere_in_a_secret_keeps_none_of_it() {
        let r = Redactor::default();
        r.register(LONG);
        for offset in 0..80 {
            let text = format!("{}{LONG} and the rest of the page", "x".repeat(offset));
            let cut = r.excerpt(&text, 60);
            assert!(!holds_window(&cut, LONG), "offset {offset}: {cut}");
            assert!(cut.chars().count() <= 60, "offset {offset}: {cut}");
            let cut_short = r.redact(&text).chars().count() > 60;
            assert_eq!(cut.ends_with('…'), cut_short, "offset {offset}: {cut}");
            // The marker is whole or absent, never `<reda…`.
            let markers = cut.matches('<').count();
            assert_eq!(
                cut.matches(REDACTED).count(),
                markers,
                "offset {offset}: {cut}"
            );
        }
        assert_eq!(r.excerpt("short", 60), "short");
        assert_eq!(r.excerpt("abcdef", 4), "abc…");
        assert_eq!(r.excerpt(&format!("id={LONG}"), 12), "id=…");
    }

    #[test]
    fn an_excerpt_of_a_huge_text_redacts_only_its_head_and_still_finds_an_escaped_secret() {
        let r = Redactor::default();
        r.register(ODD);
        let escaped: String = ODD.bytes().map(|b| format!("&#{b};")).collect();
        let page = format!("{}{escaped}{}", "y".repeat(45), "z".repeat(4_000_000));
        let cut = r.excerpt(&page, 60);
        assert_eq!(
            cut,
            format!("{}{REDACTED}{}…", "y".repeat(45), "z".repeat(4))
        );
        // Where the cut would split the marker, it is dropped whole.
        let page = format!("{}{escaped}{}", "y".repeat(50), "z".repeat(4_000_000));
        assert_eq!(r.excerpt(&page, 60), format!("{}…", "y".repeat(50)));
    }

    #[test]
    fn every_form_encoding_and_hex_case_is_redacted() {
        let r = Redactor::default();
        r.register(ODD);
        for form in [
            // WHATWG form encoding (space as `+`), with lowercase hex.
            "C4N+ARY%2b%2f%22s3c%26r%3dt%3f%23%25%27%3cx%3e",
            // Python's quote_plus (keeps `/` when asked), mixed case.
            "C4N+ARY%2B/%22s3c%26r%3dt%3F%23%25%27%3Cx%3E",
            // JavaScript's encodeURIComponent keeps `'`.
            "C4N%20ARY%2B%2F%22s3c%26r%3Dt%3F%23%25'%3Cx%3E",
        ] {
            let out = r.redact(&format!("a={form}&b=2"));
            assert_eq!(out, "a=<redacted>&b=2", "{form}");
        }
    }

    #[test]
    fn json_and_html_escapes_of_every_flavour_are_redacted() {
        let r = Redactor::default();
        r.register(ODD);
        for form in [
            // Go's encoding/json.
            r#"C4N ARY+/\"s3c\u0026r=t?#%'\u003cx\u003e"#,
            // PHP's json_encode.
            r#"C4N ARY+\/\"s3c&r=t?#%'<x>"#,
            // Every character as \u.
            r#"\u0043\u0034\u004e\u0020\u0041\u0052\u0059\u002B/\"s3c&r=t?#%'<x>"#,
            // HTML, named and numeric references.
            "C4N ARY+/&quot;s3c&amp;r=t?#%&#39;&lt;x&gt;",
            "C4N ARY+/&#x22;s3c&#38;r=t?#%&apos;&lt;x&gt;",
        ] {
            let out = r.redact(&format!("<p>{form}</p>"));
            assert_eq!(out, "<p><redacted></p>", "{form}");
        }
    }

    #[test]
    fn base64_inside_a_larger_blob_is_redacted_at_every_alignment() {
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE};
        let r = Redactor::default();
        r.register(ODD);
        for before in ["", "a", "ab", "abc", "abcd"] {
            for after in ["", "z", "zy", "zyx"] {
                let blob = format!("{before}{ODD}{after}");
                for engine in [STANDARD, URL_SAFE] {
                    let encoded = engine.encode(&blob);
                    let out = r.redact(&encoded);
                    let left = out.replace(REDACTED, "");
                    // Left: the characters of `before` and `after` and the two they share with the
                    // secret, and the padding.
                    assert!(out.contains(REDACTED), "{before:?} {after:?}: {out}");
                    assert!(
                        left.len() <= 6 + 6 + 2,
                        "{before:?} {after:?}: {encoded} -> {out}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_thousand_registered_signatures_stay_a_few_matchers_and_are_all_redacted() {
        let r = Redactor::default();
        use sha2::Digest;
        let signs: Vec<String> = (0..1_000u32)
            .map(|i| hex::encode(sha2::Sha256::digest(i.to_le_bytes())))
            .collect();
        for sign in &signs {
            r.register_header(sign);
            r.register_header(sign);
        }
        let levels = r.state.read().map(|s| s.levels.len()).unwrap_or(usize::MAX);
        assert!(levels <= 12, "{levels} matchers");
        for sign in signs.iter().step_by(37) {
            assert_eq!(r.redact(&format!("sign={sign};")), "sign=<redacted>;");
        }
    }

    #[test]
    fn credential_names_are_recognised_by_their_words() {
        for name in [
            "API_TOKEN",
            "GEELARK_API_KEY",
            "BEAM_API_KEY_PROD",
            "CLIENT_SECRET",
            "DB_PASSWORD",
            "SMTP_PASS",
            "MYSQL_PASSWD",
            "GPG_PASSPHRASE",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "AWS_CREDS",
            "BASIC_AUTH",
            "OAUTH",
            "api-key",
            "APIKEY",
            "GITHUB_ACCESSTOKEN",
            "session.cookie",
        ] {
            assert!(is_credential_name(name), "{name}");
        }
        for name in [
            "API_URL",
            "BEAM_WORKSPACE_ID",
            "PWD",
            "GIT_AUTHOR_NAME",
            "HOME",
            "PASSAGE",
            "TOKENIZER_MODEL",
        ] {
            assert!(!is_credential_name(name), "{name}");
        }
    }

    proptest::proptest! {
        // A fixed seed unless PROPTEST_RNG_SEED says otherwise, as in fuzz_tests.
        #![proptest_config({
            use proptest::test_runner::{Config, RngSeed};
            let default = Config::default();
            Config {
                cases: 256,
                failure_persistence: None,
                rng_seed: match default.rng_seed {
                    RngSeed::Random => RngSeed::Fixed(0x5eed_2026),
                    chosen => chosen,
                },
                ..default
            }
        })]

        /// Text of escapes, broken escapes, multi-byte characters and pieces of the secret, in
        /// any order: redaction never panics, and the secret is gone.
        #[test]
        fn redaction_of_any_mix_of_escapes_never_panics(
            secret in "[ -~é€😀]{4,20}",
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    "%", "%2", "%2B", "%e9", "%C3%A9", "+", "\\", "\\u00", "\\u00e9",
                    "\\ud83d", "\\ud83d\\ude00", "\\\"", "&", "&amp", "&amp;", "&#", "&#x1F600;",
                    "&#99999999;", "é", "😀", "a", " ",
                ]),
                0..30,
            ),
            at in 0usize..30,
        ) {
            let r = Redactor::default();
            r.register(&secret);
            let mut text: String = pieces.concat();
            let at = text.char_indices().map(|(i, _)| i).nth(at).unwrap_or(text.len());
            text.insert_str(at, &secret);
            let out = r.redact(&text);
            proptest::prop_assert!(!out.contains(secret.as_str()), "{text:?} -> {out:?}");
            let _ = r.excerpt(&text, at);
        }

        /// Whatever surrounds a secret and wherever the cut falls, an excerpt holds no 8
        /// characters of it in a row.
        #[test]
        fn an_excerpt_never_holds_eight_characters_of_a_secret(
            secret in "[!-~][ -~]{6,30}[!-~]",
            before in "[a-z .<>#]{0,90}",
            after in "[a-z .<>#]{0,90}",
            echoed in 8usize..40,
            max in 1usize..140,
        ) {
            let r = Redactor::default();
            r.register(&secret);
            let start: String = secret.chars().take(echoed).collect();
            for text in [format!("{before}{secret}{after}"), format!("{before}{start}{after}")] {
                let cut = r.excerpt(&text, max);
                proptest::prop_assert!(!holds_window(&cut, &secret), "{text:?} -> {cut:?}");
                proptest::prop_assert!(cut.chars().count() <= max.max(1), "{cut:?}");
            }
        }
    }

    /// A signature is redacted whole, but an id that merely starts with the same 8 hex digits is
    /// left alone (thousands of GeeLark signs would otherwise blank out ids in a long report).
    #[test]
    fn a_signature_is_redacted_whole_not_by_its_start() {
        let r = Redactor::default();
        let sign = "3f7a9c01d2e4b6a8c0e2f4a6b8d0f2a4c6e8a0b2d4f6a8c0e2b4d6f8a0c2e4f6";
        r.register_signature(sign);
        assert_eq!(r.redact(&format!("sign={sign};")), "sign=<redacted>;");
        assert_eq!(r.redact("task 3f7a9c01d2 failed"), "task 3f7a9c01d2 failed");
        r.register("3f7a9c01-api-key-value");
        assert_eq!(r.redact("key 3f7a9c01-api"), "key <redacted>");
    }

    #[test]
    fn ignores_values_too_short_to_be_credentials() {
        let r = Redactor::default();
        r.register("ab");
        assert_eq!(r.redact("abc"), "abc");
    }

    #[test]
    fn overlay_wins_then_process_then_dotenv() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env"), "ONLY_IN_DOTENV=from-file\n").unwrap();
        let env = EnvSource::load(dir.path())
            .unwrap()
            .with_overlay([("ONLY_IN_DOTENV".to_string(), "overlay".to_string())]);
        assert_eq!(env.get("ONLY_IN_DOTENV"), Some("overlay"));
        let env = EnvSource::load(dir.path()).unwrap();
        assert_eq!(env.get("ONLY_IN_DOTENV"), Some("from-file"));
        assert!(
            std::env::var("ONLY_IN_DOTENV").is_err(),
            ".env must not leak into the process"
        );
    }

    #[test]
    fn register_from_decides_by_where_the_value_was_met() {
        let r = Redactor::default();
        r.register_from(SecretSource::Secret("plain-secret-value"));
        r.register_from(SecretSource::Variable {
            name: "TASKS_API_KEY",
            value: "key-of-the-api-0001",
        });
        r.register_from(SecretSource::Variable {
            name: "REGION",
            value: "eu-west-somewhere",
        });
        r.register_from(SecretSource::Header {
            name: "Authorization",
            value: "Bearer tok-9f8e7d6c5b4a",
        });
        r.register_from(SecretSource::Header {
            name: "sign",
            value: "0a1b2c3d4e5f60718293",
        });
        r.register_from(SecretSource::Header {
            name: "Accept",
            value: "application/json",
        });
        assert_eq!(
            r.redact(
                "plain-secret-value key-of-the-api-0001 eu-west-somewhere tok-9f8e7d6c5b4a 0a1b2c3d4e5f60718293 application/json"
            ),
            "<redacted> <redacted> eu-west-somewhere <redacted> <redacted> application/json"
        );
        // A signature is redacted only whole: its first letters may start an id.
        assert_eq!(r.redact("0a1b2c3d4e5f-id"), "0a1b2c3d4e5f-id");
    }
}
