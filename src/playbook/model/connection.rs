//! Where and how to reach the provider (`connection:`), how to read an item (`task:`), and the
//! templated request every step sends.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{Scalar, Spanned};

/// Connection settings shared by every request.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    /// Base URL (template). Built-in providers have a default.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub base_url: Option<Spanned<String>>,
    /// Headers sent with every request (templates), e.g. `Authorization: "Bearer {{ secret('TOKEN') }}"`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub headers: BTreeMap<String, Spanned<String>>,
    /// A rate limit over every request of the run, e.g. `10/s`; or `auto`, a pace that adapts
    /// to the provider's answers (bounds: `{auto: true, max: 50/s, start: 5/s}`).
    #[serde(default)]
    #[schemars(with = "Option<super::RateSchema>")]
    pub rate: Option<Spanned<super::RateSetting>>,
    /// Time allowed for one whole request (default `30s`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<String>>,
    /// Time allowed to connect (default `10s`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub connect_timeout: Option<Spanned<String>>,
    /// How transient failures are retried, for every request.
    #[serde(default)]
    pub backoff: Option<Backoff>,
    /// Which redirects a read (a listing, an item read, a check, a verify poll) follows:
    /// `same_origin` (the default) follows those to the API's own scheme, host and port; `any`
    /// also follows those to another origin, sending none of the connection's or the adapter's
    /// headers there (no credential leaves for another host); `none` follows none. A retry, or any
    /// request that changes something, never follows a redirect: its item fails naming the
    /// `Location` (after a 303, which says it was carried out, it is `unknown`), and it is not
    /// sent again.
    #[serde(default)]
    pub redirects: Option<RedirectRule>,
    /// Provider-specific options (see the provider's documentation).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub options: serde_json::Map<String, serde_json::Value>,
}

/// Which redirects a connection's reads follow (see [`Connection::redirects`]).
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RedirectRule {
    /// Only to the API's own scheme, host and port (the default).
    SameOrigin,
    /// To any origin; to another one without any of the connection's headers.
    Any,
    /// None: a redirect is an error naming its `Location`.
    None,
}

/// Transient-failure handling: which answers are transient and how long to wait between attempts.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    /// Most attempts of one request, the first included (default 5).
    #[serde(default)]
    pub attempts: Option<u32>,
    /// First wait (default `500ms`); each later wait doubles, with full jitter.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub initial: Option<Spanned<String>>,
    /// Longest wait between attempts (default `30s`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub max: Option<Spanned<String>>,
    /// HTTP statuses that are transient (default 429, 502, 503, 504).
    #[serde(default)]
    pub on_status: Option<Vec<u16>>,
    /// Longest `Retry-After` honoured (default `5m`); a provider asking for more fails the request.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub max_retry_after: Option<Spanned<String>>,
}

/// JSONPaths into an item (relative to the item, `$` is the item itself).
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskFields {
    /// The item's id (default `$.id`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub id: Option<Spanned<String>>,
    /// A human label (e.g. `$.name`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub label: Option<Spanned<String>>,
    /// The item's status (default `$.status`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub status: Option<Spanned<String>>,
    /// When the item was created (default `$.created_at`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub created_at: Option<Spanned<String>>,
    /// The failure message (e.g. `$.error`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub message: Option<Spanned<String>>,
}

/// A templated HTTP request.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// HTTP method (default GET for reads, POST for retries).
    #[serde(default)]
    pub method: Option<String>,
    /// Path under the base URL (template).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub path: Option<Spanned<String>>,
    /// A full URL instead of a path (template).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub url: Option<Spanned<String>>,
    /// Query parameters (templates); a list repeats the parameter.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, QueryValue>")]
    pub query: BTreeMap<String, Spanned<QueryValue>>,
    /// Extra headers (templates).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub headers: BTreeMap<String, Spanned<String>>,
    /// JSON body; its strings are templates, and a string that is one `{{ expression }}` becomes
    /// the expression's value.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub body: Option<Spanned<serde_json::Value>>,
}

impl Request {
    /// This request with what it leaves out taken from `default` (query and headers merged by name).
    pub fn over(&self, default: &Request) -> Request {
        let mut query = default.query.clone();
        query.extend(self.query.clone());
        let mut headers = default.headers.clone();
        headers.extend(self.headers.clone());
        let (path, url) = if self.path.is_some() || self.url.is_some() {
            (self.path.clone(), self.url.clone())
        } else {
            (default.path.clone(), default.url.clone())
        };
        Request {
            method: self.method.clone().or_else(|| default.method.clone()),
            path,
            url,
            query,
            headers,
            body: self.body.clone().or_else(|| default.body.clone()),
        }
    }
}

/// A query parameter's value: one or several (repeated) values.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum QueryValue {
    One(Scalar),
    Many(Vec<Scalar>),
}
