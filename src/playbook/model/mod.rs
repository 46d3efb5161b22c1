//! The playbook language as data: what a YAML playbook may say, with a JSON Schema for editors.
//!
//! Every field that can be wrong in a way found after parsing (a template, a JSONPath, a duration,
//! a rate) is kept `Spanned`, so that its error points at the YAML line. Unknown keys are refused
//! everywhere (`deny_unknown_fields`), with a did-you-mean added by the loader.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
pub use serde_saphyr::Spanned;

mod connection;
mod notify;
mod rate;
mod retry;
mod steps;

pub use connection::*;
pub use notify::*;
pub(crate) use rate::RateSchema;
pub use rate::RateSetting;
pub use retry::*;
pub use steps::*;

/// A recovery playbook.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "runbook playbook")]
pub struct Playbook {
    /// Short name for reports, history and file names: letters, digits, `-`, `_`, `.` (up to 64).
    #[schemars(with = "String", regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"))]
    pub name: Spanned<String>,
    /// What the playbook is for.
    #[serde(default)]
    pub description: Option<String>,
    /// The provider adapter: `http` (generic, configured here), or a built-in one.
    #[schemars(with = "ProviderName")]
    pub provider: Spanned<String>,
    /// Where and how to reach the provider.
    #[serde(default)]
    pub connection: Connection,
    /// How to read the id, label, status, creation time and failure message of an item.
    #[serde(default)]
    pub task: TaskFields,
    /// Blast-radius guards and the circuit breaker.
    #[serde(default)]
    pub guards: Guards,
    /// Inputs with their defaults; override with `--var name=value`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub vars: serde_json::Map<String, serde_json::Value>,
    /// The steps, run in order.
    #[schemars(with = "Vec<Step>")]
    pub steps: Vec<Spanned<Step>>,
}

/// The provider adapters, for the schema (the loader checks the name against `providers::all`).
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum ProviderName {
    Beam,
    Deepwork,
    Herodotus,
    Geelark,
    Skyvern,
    Http,
}

/// A string, number or boolean, kept as its text.
#[derive(Clone, Debug, JsonSchema)]
#[schemars(with = "serde_json::Value")]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(Scalar(s)),
            serde_json::Value::Number(n) => Ok(Scalar(n.to_string())),
            serde_json::Value::Bool(b) => Ok(Scalar(b.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "expected a string, number or boolean, found {other}"
            ))),
        }
    }
}

/// A list of statuses, or a template over `vars` that renders one (`"{{ vars.statuses }}"`: a list,
/// or comma-separated text).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Statuses {
    List(Vec<Scalar>),
    Template(String),
}

/// One JSONPath, or several.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn all(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(list) => list.clone(),
        }
    }
}

/// A whole number, or a template that renders to one (`"{{ vars.limit }}"`).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Count {
    Number(u64),
    Template(String),
}

/// Blast-radius guards and the circuit breaker, for every retry step.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Guards {
    /// Abort (exit 3) before sending anything when a retry step would retry more items than this,
    /// unless `--yes`.
    #[serde(default)]
    pub max_selected: Option<u64>,
    /// The same as a share of the items fetched (0 to 1).
    #[serde(default)]
    pub max_selected_ratio: Option<f64>,
    /// Stop sending (exit 3) after this many failures in a row.
    #[serde(default)]
    pub max_consecutive_failures: Option<u32>,
    /// Stop sending (exit 3) when more than this share (0 to 1) of the last `window` items failed.
    #[serde(default)]
    pub max_failure_ratio: Option<f64>,
    /// Items the failure ratio looks at (default 20).
    #[serde(default)]
    pub window: Option<u32>,
}

/// What became of one item's retry.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Retried,
    Skipped,
    Failed,
}

/// The playbook's rule outcomes (`retried | skipped | failed`) are a narrower set of the report's.
impl From<Outcome> for crate::report::ItemOutcome {
    fn from(outcome: Outcome) -> crate::report::ItemOutcome {
        use crate::report::ItemOutcome;
        match outcome {
            Outcome::Retried => ItemOutcome::Retried,
            Outcome::Skipped => ItemOutcome::Skipped,
            Outcome::Failed => ItemOutcome::Failed,
        }
    }
}

/// What a provider adapter supplies, in the same language as a playbook (see `providers`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    #[serde(default)]
    pub connection: Connection,
    #[serde(default)]
    pub task: TaskFields,
    /// The list request, its items path and pagination.
    #[serde(default)]
    pub fetch: Option<Fetch>,
    /// The get-one request, used to read one item again (`enrich: default`).
    #[serde(default)]
    pub get: Option<Enrich>,
    /// The retry request (or batch) and its outcome rules.
    #[serde(default)]
    pub retry: Option<Retry>,
    /// How to verify retried work: the read request and the final statuses.
    #[serde(default)]
    pub verify: Option<Verify>,
}
