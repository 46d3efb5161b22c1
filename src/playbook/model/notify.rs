//! The `notify:` block of a report step, as written: one templated HTTP request (a Slack or Teams
//! webhook, any URL) sent at the end of the run with its summary. Compiled into
//! [`crate::playbook::compile::NotifyPlan`]; sending is `crate::notify`'s job.
//!
//! Invariants: the URL, headers and body are templates over `vars`, `run` and `summary` (plus
//! `env()` and `secret()`), checked at load like every template; the method is one of the usual
//! five; the timeout is a duration, 10 s unless given.

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use super::Spanned;

/// How long a notification may take unless `timeout:` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A request sent once at the end of the run, also when it aborted, e.g.
/// `{url: "{{ secret('SLACK_WEBHOOK') }}", body: {text: "{{ summary.headline }}"}}`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// The whole URL (template; `secret('…')` keeps a webhook's token out of every output).
    #[schemars(with = "String")]
    pub url: Spanned<String>,
    /// HTTP method (default POST).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub method: Option<Spanned<String>>,
    /// Headers (templates).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub headers: BTreeMap<String, Spanned<String>>,
    /// JSON body; its strings are templates over `vars`, `run` and `summary` (counts by outcome,
    /// `aborted`, `exit_code`, `headline`, `playbook`, `provider`, `run_id`, `duration_seconds`),
    /// and a string that is one `{{ expression }}` becomes the expression's value.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub body: Option<Spanned<serde_json::Value>>,
    /// When to send: `always` (default) or `failure` (the run's exit code is not 0).
    #[serde(default)]
    pub when: NotifyWhen,
    /// Time allowed for the whole request (default 10s).
    #[serde(default)]
    #[schemars(with = "Option<super::DurationText>")]
    pub timeout: Option<Spanned<String>>,
}

/// When a notification is sent.
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NotifyWhen {
    /// After every run.
    #[default]
    Always,
    /// After a run whose exit code is not 0 (some failed, aborted, invalid mid-run).
    Failure,
}
