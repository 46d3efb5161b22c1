//! Skyvern workflow runs.
//!
//! - Auth: `x-api-key: $SKYVERN_API_KEY` only: a self-hosted server refuses `Authorization: Bearer`
//!   (403 "Invalid authentication method"); a refused key is 403 (the run aborts).
//!   `SKYVERN_BASE_URL` for a self-hosted server (default `https://api.skyvern.com`).
//! - List: `GET /v1/agents/runs` with a repeatable `status`, paged by `page`/`page_size`; the answer
//!   is a bare array with no total, so a short page is the last. It has **no date filter** and is
//!   sorted newest first (`created_at` descending, as the server's query orders it), so the adapter
//!   declares `order: newest_first`: paging stops at the first page older than the filter's `since`
//!   instead of reading every failed run the organisation ever had.
//! - Retry: `POST /v1/agents/runs/{id}/retry` creates a **new** run (new `wr_` id, status
//!   `created`) and leaves the original `failed`; the server does not link them. The report records
//!   it as `new_id` beside the old id, and the ledger as the next link of the run's chain: the
//!   original is never retried again, only the chain's head, and `budget` counts the whole chain.
//!   Skyvern accepts a retry of any final run, completed ones included, so runbook itself never
//!   retries a run outside the statuses the playbook selected (`only_status`, by default the
//!   filter's `status_in`). 400 "Only terminal workflow runs can be retried" → `skipped`; its other
//!   400s (a block-scoped run, a browser session without an address) → `failed` with the server's
//!   `detail`; 404 → `failed`; 429 is transient (it carries no `Retry-After`, so runbook backs off
//!   on its own schedule).
//! - Retryable by default: `failed` and `timed_out`. `terminated` (the AI judged the goal unreachable;
//!   a retry without changes repeats it) and `canceled` only when a playbook lists them.
//! - Every run id in a path (`/v1/runs/{id}`, the retry) is percent-encoded as one segment; an id
//!   `.`, `..` or empty is refused.

use serde_json::{Map, Value};

use super::{EnvVar, Provider, ProviderError, require};
use crate::secrets::EnvSource;

#[derive(Debug)]
pub struct Skyvern;

impl Provider for Skyvern {
    fn name(&self) -> &'static str {
        "skyvern"
    }

    fn summary(&self) -> &'static str {
        "Skyvern workflow runs (a retry creates a new run)"
    }

    fn env_vars(&self) -> &'static [EnvVar] {
        &[
            EnvVar {
                name: "SKYVERN_API_KEY",
                help: "API key (x-api-key)",
                required: true,
            },
            EnvVar {
                name: "SKYVERN_BASE_URL",
                help: "API host (default https://api.skyvern.com)",
                required: false,
            },
        ]
    }

    fn default_retryable(&self) -> &'static [&'static str] {
        &["failed", "timed_out"]
    }

    fn guards_status(&self) -> bool {
        true
    }

    fn check_credentials(
        &self,
        env: &EnvSource,
        _options: &Map<String, Value>,
    ) -> Result<(), ProviderError> {
        require(env, self.name(), &["SKYVERN_API_KEY"])
    }

    fn defaults_yaml(&self, _options: &Map<String, Value>) -> Result<String, ProviderError> {
        Ok(r#"
connection:
  base_url: "{{ env('SKYVERN_BASE_URL', 'https://api.skyvern.com') }}"
  headers:
    x-api-key: "{{ secret('SKYVERN_API_KEY') }}"
task:
  id: $.workflow_run_id
  label: $.workflow_title
  status: $.status
  created_at: $.created_at
  message: $.failure_reason
fetch:
  request:
    path: /v1/agents/runs
    query: { status: [failed, timed_out] }
  items: $[*]
  paginate:
    page: { param: page, start: 1, size_param: page_size, size: 50 }
    max_pages: 200
    order: newest_first
    time: $.created_at
get:
  request:
    path: "/v1/runs/{{ task.id | urlencode }}"
verify:
  request:
    path: "/v1/runs/{{ (task.new_id or task.id) | urlencode }}"
  success: [completed]
  failure: [failed, terminated, canceled, timed_out]
retry:
  request:
    method: POST
    path: "/v1/agents/runs/{{ task.id | urlencode }}/retry"
  new_id: $.run_id
  note: "new run {{ response.run_id }}"
  outcome:
    message: $.detail
    status: { 404: failed }
    body:
      - status: [400]
        when: "search(@.detail, 'Only terminal workflow runs')"
        outcome: skipped
"#
        .to_string())
    }
}
