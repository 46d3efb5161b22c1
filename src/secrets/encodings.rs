//! Encodings: the forms a secret takes when an API or runbook encodes it (registered with it), and
//! the decoded views of a text (searched besides the text itself), each mapping its bytes back to
//! the original text so that the redactor replaces the encoded stretch.

/// The forms a secret takes when an API or runbook encodes it: URL-encoded (as a query, by the
/// `urlencode` filter, in a path), JSON-escaped, and base64 at each of the three byte alignments it
/// can have inside a larger blob (a Basic header, a token echoed inside an encoded payload).
/// Percent-encodings that differ from these are found by decoding the text instead.
pub(super) fn forms(value: &str) -> Vec<String> {
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
pub(super) struct View {
    pub(super) bytes: Vec<u8>,
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
    pub(super) fn origin(&self, at: usize) -> (usize, usize) {
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
pub(super) fn decoded_views(text: &str) -> Vec<View> {
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
