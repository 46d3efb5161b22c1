//! Where `env()` and `secret()` values come from, and the redactor that keeps secrets out of every
//! byte runbook writes.
//!
//! Values are looked up in an overlay (the sandbox's credentials under `--sandbox`), then the process
//! environment, then a `.env` file in the working directory. The `.env` file is read once and never
//! written into the process environment.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, RwLock};

/// What is shown in place of a secret.
pub const REDACTED: &str = "<redacted>";

/// Values shorter than this are not redacted: replacing every `1` or `ab` would mangle output and
/// such short values are not credentials.
const MIN_SECRET_LEN: usize = 4;

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

/// Replaces every known secret, and its common encodings, with [`REDACTED`].
///
/// Cloning shares the set: a secret registered while rendering a template is redacted everywhere.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    secrets: Arc<RwLock<BTreeSet<String>>>,
}

impl Redactor {
    /// Remember `value` as a secret, with the forms it takes when URL-encoded (as a query, by the
    /// `urlencode` filter, in a path), JSON-escaped or base64-encoded (an API echoing a credential
    /// back, a Basic header).
    pub fn register(&self, value: &str) {
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
        if value.chars().count() < MIN_SECRET_LEN {
            return;
        }
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
        // Unpadded, so that padded text is found too (its `=` are left after the marker).
        forms.push(STANDARD_NO_PAD.encode(value));
        forms.push(URL_SAFE_NO_PAD.encode(value));
        let mut secrets = self.secrets.write().unwrap_or_else(|e| e.into_inner());
        secrets.extend(
            forms
                .into_iter()
                .filter(|f| f.chars().count() >= MIN_SECRET_LEN),
        );
    }

    /// Remember the value of a credential header (`Bearer abc`, a signature), and the token after
    /// its scheme.
    pub fn register_header(&self, value: &str) {
        use base64::Engine;
        self.register(value);
        let Some((scheme, token)) = value.split_once(' ') else {
            return;
        };
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

    /// `text` with every secret replaced.
    pub fn redact(&self, text: &str) -> String {
        let secrets = self.secrets.read().unwrap_or_else(|e| e.into_inner());
        let mut out = text.to_string();
        // Longest first, so a secret that contains another is replaced whole.
        let mut ordered: Vec<&String> = secrets.iter().collect();
        ordered.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for secret in ordered {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
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

/// Whether an environment variable a provider reads holds a credential (`GEELARK_API_KEY`,
/// `DEEPWORK_TOKEN`, `BEAM_API_KEY_PROD`), not an id or a URL.
pub fn is_credential_name(name: &str) -> bool {
    name.to_ascii_uppercase()
        .split('_')
        .any(|part| matches!(part, "KEY" | "TOKEN" | "SECRET" | "PASSWORD"))
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
}
