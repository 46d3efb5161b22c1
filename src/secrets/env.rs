//! Where `env()` and `secret()` values come from: an overlay (the sandbox's credentials under
//! `--sandbox`), then the process environment, then a `.env` file in the working directory, read
//! once and never written into the process environment.

use std::collections::BTreeMap;
use std::path::Path;

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
