//! The `retry` step: its request or batch, budget and the rules that turn an answer into an
//! outcome.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{Backoff, Count, Enrich, Outcome, Request, Spanned, Statuses};

/// Call the provider's retry for every item, or for batches of items.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// The step whose items are retried (default: the previous step's).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub input: Option<Spanned<String>>,
    /// The retry request per item (built-in providers have a default).
    #[serde(default)]
    pub request: Option<Request>,
    /// Retry several items per request instead.
    #[serde(default)]
    pub batch: Option<Batch>,
    /// Requests in flight at once (default 1).
    #[serde(default)]
    #[schemars(with = "Option<Count>")]
    pub concurrency: Option<Spanned<Count>>,
    /// Rate limit shared by every worker, e.g. `5/s` or `100/min`; or `auto`, a pace that adapts
    /// to the provider's answers (bounds: `{auto: true, max: 50/s, start: 5/s}`).
    #[serde(default)]
    #[schemars(with = "Option<super::RateSchema>")]
    pub rate: Option<Spanned<super::RateSetting>>,
    /// Transient-failure handling for these requests (default: the connection's).
    #[serde(default)]
    pub backoff: Option<Backoff>,
    /// How answers become outcomes.
    #[serde(default)]
    pub outcome: Option<OutcomeRules>,
    /// Retry only items with one of these statuses; others are `skipped` without a request. Built-in
    /// providers whose retry accepts any item (Skyvern) default it to the filter's `status_in`.
    #[serde(default)]
    #[schemars(with = "Option<Statuses>")]
    pub only_status: Option<Spanned<Statuses>>,
    /// JSONPath to the id of the new work a retry creates (Skyvern's new run), recorded in the report
    /// as `new_id` and in the ledger as the next link of the item's chain: the item is not retried
    /// again, only the chain's head (the newest work) may be.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub new_id: Option<Spanned<String>>,
    /// How to read one item's current status, to tell whether a retry that may have been carried out
    /// was (default: the provider's get-one request).
    #[serde(default)]
    pub check: Option<Enrich>,
    /// What to do when a retry request may have been carried out (a timeout or a broken answer
    /// after sending, or an answer listed in `outcome.ambiguous`): `check` the item's status first
    /// (the default where a `check` exists), `resend`, or `give_up` (report it `unknown`; the
    /// default otherwise).
    #[serde(default)]
    pub on_ambiguous: Option<OnAmbiguous>,
    /// JSONPath to a number the provider raises with each retry it carries out (Deep Work's
    /// `$.retry_count`). When set, a check after an ambiguous answer counts the retry as carried
    /// out when the number grew since the item was fetched, whatever its status.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub counter: Option<Spanned<String>>,
    /// Retry one task at most `max` times in `per` across runs (from the ledger); a task over it is
    /// reported `chronic` and not sent. Where retries create new work (`new_id`), the retries of
    /// the whole chain count.
    #[serde(default)]
    pub budget: Option<Budget>,
    /// A note for the report on each retried item (template over `item`, `task`, `response`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub note: Option<Spanned<String>>,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// Most items per request.
    #[schemars(with = "Count")]
    pub size: Spanned<Count>,
    /// The request; its templates see `items`, `ids` and `tasks` (built-in providers have a default).
    #[serde(default)]
    pub request: Option<Request>,
}

/// What a retry answer means.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeRules {
    /// HTTP status → outcome, e.g. `{404: failed, 409: skipped}`. Without a rule, 2xx is
    /// `retried`, and other answers that are not transient are `failed`.
    #[serde(default)]
    pub status: BTreeMap<u16, Outcome>,
    /// JSONPath to the error message in an answer (default: `$.message`, `$.error`, `$.detail`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub message: Option<Spanned<String>>,
    /// Rules on a successful answer's body, first match wins, e.g.
    /// `- {when: "@.ok == false", outcome: skipped, message: $.reason}`.
    #[serde(default)]
    pub body: Vec<BodyRule>,
    /// For answers that report each item (batches): where the per-item results are.
    #[serde(default)]
    pub items: Option<ItemRules>,
    /// HTTP statuses that may come after the provider acted (Deep Work answers 500 when it saved
    /// the retry and then failed to dispatch it): handled as `on_ambiguous` says, never resent
    /// blindly. Default: the adapter's (none for `http`).
    #[serde(default)]
    pub ambiguous: Option<Vec<u16>>,
    /// Answers that mean the server has no such route (a web framework's own 404), not that the
    /// item is unknown: the run stops (exit 3) naming the route, instead of failing every item.
    /// Default: the adapter's.
    #[serde(default)]
    pub missing_route: Option<Vec<MissingRoute>>,
}

/// An answer that means "no such route" (`outcome.missing_route`).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MissingRoute {
    /// The HTTP statuses it applies to (default: 404).
    #[serde(default)]
    pub status: Option<Vec<u16>>,
    /// JSONPath filter expression on the answer body, e.g. `@.detail == 'Not Found'`.
    #[schemars(with = "String")]
    pub when: Spanned<String>,
    /// What to tell the user: which server versions have the route.
    #[serde(default)]
    pub hint: Option<String>,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BodyRule {
    /// The HTTP statuses the rule applies to (default: any 2xx).
    #[serde(default)]
    pub status: Option<Vec<u16>>,
    /// JSONPath filter expression on the answer body, e.g.
    /// `search(@.detail, 'Can only retry')` or `@.ok == false`.
    #[schemars(with = "String")]
    pub when: Spanned<String>,
    pub outcome: Outcome,
    /// JSONPath to the message.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub message: Option<Spanned<String>>,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemRules {
    /// JSONPath to the per-item results, e.g. `$.results[*]`.
    #[schemars(with = "String")]
    pub path: Spanned<String>,
    /// JSONPath to the id inside a result (default `$.id`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub id: Option<Spanned<String>>,
    /// JSONPath to the result's code (default `$.code`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub code: Option<Spanned<String>>,
    /// JSONPath to the result's message (default `$.message`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub message: Option<Spanned<String>>,
    /// Code → outcome, e.g. `{NOT_RETRYABLE: skipped, OK: retried}`.
    #[serde(default)]
    pub codes: BTreeMap<String, Outcome>,
    /// Outcome of a result whose code is not in `codes` (default `failed`).
    #[serde(default)]
    pub otherwise: Option<Outcome>,
    /// Outcome of an item the answer does not mention (default `retried`).
    #[serde(default)]
    pub unlisted: Option<Outcome>,
}

#[derive(Clone, Copy, Debug, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnAmbiguous {
    Check,
    Resend,
    GiveUp,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Most retries of one task within `per`.
    pub max: u32,
    /// The window, e.g. `7d`.
    #[schemars(with = "String")]
    pub per: Spanned<String>,
}
