//! Provider adapters: what is specific to one API.
//!
//! An adapter supplies defaults written in the playbook language itself (base URL, headers, task
//! fields, the list and retry requests, outcome rules), parsed from YAML embedded in the adapter,
//! so that a playbook overrides any of them with the same keys. What cannot be said declaratively
//! is a hook: signing each attempt of a request, and reading a response envelope.
//!
//! The generic `http` adapter has no defaults: the playbook says everything.
//!
//! Ids come from the provider, so they are hostile input: every id an adapter puts into a path is
//! written `{{ … | urlencode }}`, which keeps it exactly one path segment (`../../admin/x` is sent as
//! `..%2F..%2Fadmin%2Fx`), and the request builder refuses an id that is `.`, `..` or empty (see
//! `engine::request`). The tests in `tests.rs` render each adapter's paths with such ids.

pub mod beam;
pub mod deepwork;
pub mod geelark;
pub mod herodotus;
pub mod http;
pub mod skyvern;

use std::sync::Arc;

use crate::secrets::EnvSource;

/// An environment variable an adapter reads.
#[derive(Clone, Copy, Debug)]
pub struct EnvVar {
    pub name: &'static str,
    pub help: &'static str,
    /// Needed for every run (else only in some modes).
    pub required: bool,
}

/// A request about to be sent, as the adapter may change it.
#[derive(Clone, Debug)]
pub struct OutgoingRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<serde_json::Value>,
}

/// What an adapter reads in a response beyond its HTTP status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing special: classify by status and the playbook's rules.
    AsIs,
    /// The provider did nothing and asks to try again later (e.g. an envelope's rate-limit code).
    Transient { reason: String },
    /// The whole request failed, whatever its HTTP status says.
    Failed { reason: String },
    /// The credentials were refused: abort the run.
    AuthFailed { reason: String },
}

pub trait Provider: Send + Sync + std::fmt::Debug {
    /// The name used in `provider:`.
    fn name(&self) -> &'static str;

    /// One line on what this adapter is for.
    fn summary(&self) -> &'static str;

    /// The environment variables it reads.
    fn env_vars(&self) -> &'static [EnvVar] {
        &[]
    }

    /// Statuses retried when a playbook's filter names none.
    fn default_retryable(&self) -> &'static [&'static str] {
        &[]
    }

    /// Defaults in the playbook language (YAML of [`crate::playbook::defaults::Defaults`]), given
    /// the playbook's `connection.options`.
    fn defaults_yaml(
        &self,
        _options: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<String, ProviderError> {
        Ok(String::new())
    }

    /// Whether the provider's retry accepts items in any status, so that runbook itself must keep
    /// retries to the selected statuses (Skyvern retries even completed runs).
    fn guards_status(&self) -> bool {
        false
    }

    /// The sandbox API that emulates this provider, given the playbook's options.
    fn sandbox_api(&self, _options: &serde_json::Map<String, serde_json::Value>) -> &'static str {
        self.name()
    }

    /// Check credentials before any request; name the missing variable.
    fn check_credentials(
        &self,
        _env: &EnvSource,
        _options: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), ProviderError> {
        Ok(())
    }

    /// Change a request before each attempt is sent (signatures, trace ids).
    fn prepare(
        &self,
        _request: &mut OutgoingRequest,
        _env: &EnvSource,
    ) -> Result<(), ProviderError> {
        Ok(())
    }

    /// Read a response's body (an envelope) for what its HTTP status does not say.
    fn inspect(&self, _status: u16, _body: Option<&serde_json::Value>) -> Verdict {
        Verdict::AsIs
    }

    /// The provider's own sign that requests come too fast, beyond a 429 or a 503 with
    /// `Retry-After` (which mean it from every provider), named for a person (`GeeLark 40007`):
    /// the adaptive pace (`rate: auto`) slows down on it.
    fn throttle_sign(&self, _status: u16, _body: Option<&serde_json::Value>) -> Option<String> {
        None
    }
}

/// Every built-in adapter.
pub fn all() -> Vec<Arc<dyn Provider>> {
    vec![
        Arc::new(beam::Beam),
        Arc::new(deepwork::DeepWork),
        Arc::new(herodotus::Herodotus),
        Arc::new(geelark::GeeLark),
        Arc::new(skyvern::Skyvern),
        Arc::new(http::Http),
    ]
}

/// The adapter called `name`.
pub fn find(name: &str) -> Option<Arc<dyn Provider>> {
    all().into_iter().find(|p| p.name() == name)
}

/// The help for an unknown provider name: the closest one (`did you mean `beam`?`), or the list.
pub fn unknown_help(name: &str) -> String {
    let names: Vec<&str> = all().iter().map(|p| p.name()).collect();
    match crate::diagnostic::did_you_mean(name, names.iter().copied()) {
        Some(best) => format!("did you mean `{best}`?"),
        None => format!("the providers are: {}", names.join(", ")),
    }
}

/// Fail, naming the first of `names` that is not set.
pub fn require(
    env: &EnvSource,
    provider: &'static str,
    names: &[&'static str],
) -> Result<(), ProviderError> {
    match names.iter().find(|n| env.get(n).is_none()) {
        Some(missing) => Err(ProviderError::MissingVariable {
            provider,
            variable: missing,
        }),
        None => Ok(()),
    }
}

/// Why an adapter refused its options, its credentials or a request; one variant per mistake.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// A credential the adapter needs is not in the environment nor in `.env`.
    #[error(
        "{provider}: the environment variable {variable} is not set: export {variable}=… or add it to .env (runbook providers lists what each provider reads)"
    )]
    MissingVariable {
        provider: &'static str,
        variable: &'static str,
    },
    /// GeeLark in token mode without its token: either mode would do.
    #[error("{missing} (or set GEELARK_APP_ID and GEELARK_API_KEY for key mode)")]
    MissingTokenOrKeyPair { missing: Box<ProviderError> },
    /// A `connection.options` value the adapter does not know.
    #[error("{provider}: unknown {option} `{value}` in connection.options.{option}: use {choices}")]
    UnknownOption {
        provider: &'static str,
        option: &'static str,
        value: String,
        choices: &'static str,
    },
    /// A request to sign in token mode when the token is not set.
    #[error("geelark: GEELARK_TOKEN is not set")]
    TokenNotSet,
}

/// Callers that report errors as text (the loader's diagnostics, the run's first error).
impl From<ProviderError> for String {
    fn from(e: ProviderError) -> String {
        e.to_string()
    }
}

#[cfg(test)]
mod tests;
