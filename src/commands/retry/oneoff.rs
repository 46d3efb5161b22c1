//! The playbook of `runbook retry PROVIDER ID...` (the command is `commands::retry`): a one-off retry
//! of named tasks, as a playbook would do it.
//!
//! The command writes the playbook it means — fetch the ids (each read again for its status, where
//! the provider can read one task), retry those in a retryable status, report — and plays it
//! through the same `play`: the same engine, ledger, lock, guards, redaction and reports. The
//! playbook is kept at `.runbook/retry-PROVIDER.yaml`, so an error can point at its line and a
//! person can read what ran (or copy it into a real playbook).
//!
//! Invariants:
//! - everything the user typed enters the playbook as a quoted YAML string (JSON string syntax),
//!   so an id or a path can never add a key; ids are data (`vars`), never templates;
//! - an id retried in the last day by any run on this ledger (this command, a nightly playbook) is
//!   not sent again — reported `chronic` with the run that did it — unless `--again`;
//! - an id whose status is not one the provider retries by default is `skipped` with a note, not
//!   sent: a one-off never retries a task that did not fail.

use std::path::PathBuf;

use crate::commands::PlayConfig;

/// Where the one-off playbooks are written (beside the default ledger).
pub(crate) const DIR: &str = ".runbook";

/// The default retry path of the generic `http` adapter.
pub const DEFAULT_RETRY_PATH: &str = "/tasks/{{ task.id | urlencode }}/retry";

/// The header `--sandbox` sends for `http` when no `--header` is given: the sandbox's generic API
/// wants a bearer token, and the sandbox provides it as the credential `TASKS_API_TOKEN` (as the
/// starter playbook of `runbook new http` reads it).
const SANDBOX_HTTP_AUTH: &str = "Authorization: Bearer {{ secret('TASKS_API_TOKEN') }}";

/// What the generic `http` adapter needs to be told; the built-in providers know it.
#[derive(Clone, Debug, Default)]
pub struct HttpTarget {
    /// The API's base URL (a template); `None` with `--sandbox`, which sets it.
    pub base_url: Option<String>,
    /// The retry request's path (a template over `task`, `item`).
    pub retry_path: Option<String>,
    /// The retry request's method (default POST).
    pub method: Option<String>,
    /// Headers on every request, `NAME: VALUE` (templates: `secret('TOKEN')` works).
    pub headers: Vec<String>,
}

/// A one-off retry, as the command line asked for it.
#[derive(Clone, Debug)]
pub struct RetryConfig {
    pub provider: String,
    /// Ids given on the command line.
    pub ids: Vec<String>,
    /// Or a JSON file of ids (the format `fetch: {file: …}` reads).
    pub ids_file: Option<PathBuf>,
    pub target: HttpTarget,
    /// Send even ids retried in the last day.
    pub again: bool,
    /// How the playbook is played (its `playbook` is set here).
    pub play: PlayConfig,
}

/// Why no one-off playbook could be built.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OneOffError {
    #[error("unknown provider `{name}`; {help}")]
    UnknownProvider { name: String, help: String },
    #[error("no ids: give them as arguments (runbook retry {0} ID...) or with --file ids.json")]
    NoIds(String),
    #[error("an id is empty: give each id as a non-empty argument")]
    EmptyId,
    #[error(
        "a header `{0}` is not NAME: VALUE: write it --header 'Authorization: Bearer {{{{ secret(\"TOKEN\") }}}}'"
    )]
    BadHeader(String),
    #[error(
        "runbook retry http needs --base-url URL (the API's address), or --sandbox to try it against the sandbox"
    )]
    NoBaseUrl,
    #[error(
        "--{0} is for the generic http provider; {1} knows its own retry request (write a playbook to change it)"
    )]
    HttpOnly(&'static str, String),
}

/// A YAML scalar holding exactly `text` (JSON string syntax is YAML's double-quoted style).
fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// The playbook a one-off retry plays.
pub(crate) fn playbook(config: &RetryConfig) -> Result<String, OneOffError> {
    let provider =
        crate::providers::find(&config.provider).ok_or_else(|| OneOffError::UnknownProvider {
            name: config.provider.clone(),
            help: crate::providers::unknown_help(&config.provider),
        })?;
    let name = provider.name();
    let generic = name == "http";
    if config.ids.is_empty() && config.ids_file.is_none() {
        return Err(OneOffError::NoIds(name.to_string()));
    }
    if config.ids.iter().any(|id| id.trim().is_empty()) {
        return Err(OneOffError::EmptyId);
    }
    if !generic {
        let t = &config.target;
        for (flag, given) in [
            ("retry-path", t.retry_path.is_some()),
            ("method", t.method.is_some()),
        ] {
            if given {
                return Err(OneOffError::HttpOnly(flag, name.to_string()));
            }
        }
    }
    let mut out = format!(
        "# Written by `runbook retry {name}`: a one-off retry of the ids below, played like any playbook.\n\
         name: retry-{name}\n\
         description: One-off retry of named {name} tasks.\n\
         provider: {name}\n"
    );
    let base_url = match (&config.target.base_url, generic, config.play.sandbox) {
        (Some(url), _, _) => Some(url.clone()),
        // The sandbox sets the address; the generic adapter still wants one written.
        (None, true, true) => Some("http://127.0.0.1/http".to_string()),
        (None, true, false) => return Err(OneOffError::NoBaseUrl),
        (None, false, _) => None,
    };
    let sandbox_auth = [SANDBOX_HTTP_AUTH.to_string()];
    let headers = if generic && config.play.sandbox && config.target.headers.is_empty() {
        &sandbox_auth[..]
    } else {
        &config.target.headers[..]
    };
    if base_url.is_some() || !headers.is_empty() {
        out.push_str("connection:\n");
    }
    if let Some(url) = &base_url {
        out.push_str(&format!("  base_url: {}\n", quoted(url)));
    }
    if !headers.is_empty() {
        out.push_str("  headers:\n");
        for header in headers {
            let (k, v) = header
                .split_once(':')
                .filter(|(k, _)| !k.trim().is_empty())
                .ok_or_else(|| OneOffError::BadHeader(header.clone()))?;
            out.push_str(&format!("    {}: {}\n", quoted(k.trim()), quoted(v.trim())));
        }
    }
    out.push_str("vars:\n");
    let source = match &config.ids_file {
        Some(file) => {
            let path = file.display().to_string();
            out.push_str(&format!("  ids_file: {}\n", quoted(&path)));
            "file: \"{{ vars.ids_file }}\""
        }
        None => {
            let ids: Vec<String> = config.ids.iter().map(|id| quoted(id)).collect();
            out.push_str(&format!("  ids: [{}]\n", ids.join(", ")));
            "ids: \"{{ vars.ids }}\""
        }
    };
    out.push_str("steps:\n  - name: given\n    fetch:\n");
    out.push_str(&format!("      {source}\n"));
    if !generic {
        // Read each task again: its status decides whether it is retried, and some retry
        // requests need its fields (Deep Work's project).
        out.push_str("      enrich: {}\n");
    }
    out.push_str("  - name: retried\n    retry:\n");
    if generic {
        let method = config.target.method.as_deref().unwrap_or("POST");
        let path = config
            .target
            .retry_path
            .as_deref()
            .unwrap_or(DEFAULT_RETRY_PATH);
        out.push_str(&format!(
            "      request:\n        method: {}\n        path: {}\n",
            quoted(&method.to_ascii_uppercase()),
            quoted(path)
        ));
    } else {
        let statuses: Vec<String> = provider
            .default_retryable()
            .iter()
            .map(|s| quoted(s))
            .collect();
        out.push_str(&format!("      only_status: [{}]\n", statuses.join(", ")));
    }
    if !config.again {
        out.push_str("      budget: {max: 1, per: 1d}\n");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(provider: &str, ids: &[&str]) -> RetryConfig {
        RetryConfig {
            provider: provider.into(),
            ids: ids.iter().map(|s| s.to_string()).collect(),
            ids_file: None,
            target: HttpTarget::default(),
            again: false,
            play: PlayConfig {
                playbook: PathBuf::new(),
                vars: Vec::new(),
                dry_run: false,
                limit: None,
                outputs: Vec::new(),
                step_summary: false,
                concurrency: None,
                progress: crate::commands::ProgressMode::Quiet,
                output: Default::default(),
                verbose: false,
                sandbox: true,
                ledger: None,
                resume: false,
                retry_unknown: false,
                yes: false,
            },
        }
    }

    #[test]
    fn ids_are_quoted_data_that_cannot_add_keys() {
        let text = playbook(&config("beam", &["a\"\n  evil: 1", "{{ x }}"])).expect("a playbook");
        assert!(
            text.contains(r#"  ids: ["a\"\n  evil: 1", "{{ x }}"]"#),
            "{text}"
        );
        assert!(!text.contains("\n  evil"), "{text}");
    }

    #[test]
    fn built_in_providers_read_each_task_and_retry_only_their_failed_statuses() {
        let text = playbook(&config("skyvern", &["wr_1"])).expect("a playbook");
        assert!(text.contains("      enrich: {}\n"), "{text}");
        assert!(
            text.contains("      only_status: [\"failed\", \"timed_out\"]\n"),
            "{text}"
        );
        assert!(text.contains("      budget: {max: 1, per: 1d}\n"), "{text}");
    }

    #[test]
    fn again_drops_the_one_a_day_budget() {
        let mut c = config("beam", &["t"]);
        c.again = true;
        assert!(!playbook(&c).expect("a playbook").contains("budget"));
    }

    #[test]
    fn http_needs_an_address_and_takes_a_path_and_method() {
        let mut c = config("http", &["t"]);
        c.play.sandbox = false;
        assert_eq!(playbook(&c), Err(OneOffError::NoBaseUrl));
        c.target.base_url = Some("https://api.example.com".into());
        c.target.retry_path = Some("/jobs/{{ task.id | urlencode }}/rerun".into());
        c.target.method = Some("put".into());
        c.target.headers = vec!["X-Key: {{ secret('K') }}".into()];
        let text = playbook(&c).expect("a playbook");
        assert!(
            text.contains(
                "      request:\n        method: \"PUT\"\n        path: \"/jobs/{{ task.id | urlencode }}/rerun\"\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("    \"X-Key\": \"{{ secret('K') }}\"\n"),
            "{text}"
        );
        assert!(!text.contains("enrich"), "{text}");
    }

    #[test]
    fn http_flags_are_refused_for_a_built_in_provider() {
        let mut c = config("beam", &["t"]);
        c.target.retry_path = Some("/x".into());
        assert_eq!(
            playbook(&c),
            Err(OneOffError::HttpOnly("retry-path", "beam".into()))
        );
    }

    #[test]
    fn an_unknown_provider_gets_a_did_you_mean() {
        let e = playbook(&config("herodotos", &["t"])).expect_err("unknown");
        assert_eq!(
            e.to_string(),
            "unknown provider `herodotos`; did you mean `herodotus`?"
        );
    }
}
