//! Herodotus Data Processor (HDP) tasks.
//!
//! - Auth: `X-API-KEY: $HERODOTUS_API_KEY` (the status endpoints need none; it is sent anyway).
//! - Base URL: only the staging host `https://staging.hdp.api.herodotus.cloud` is documented and
//!   Herodotus warns against guessing the production one: set `HERODOTUS_BASE_URL` for yours.
//! - No list endpoint is documented, so a playbook takes task ids from a file or a variable and
//!   reads each one's status (`GET /tasks/{id}/status`, `enrich: {}`); the failed ones are the five
//!   `*Failed` statuses.
//! - Retry: `POST /tasks/{id}/retry` → 200 "accepted". 404 → `failed` (unknown task); 400 "Cannot
//!   retry decommitment" → `failed` with that reason. A retried `TaskDecommitmentFailed` re-runs only
//!   the decommitment, any other failure the whole pipeline: the report's note says which. What a
//!   retry of a task that has not failed does is undocumented: runbook retries only failed ones.
//! - Every `{id}` is percent-encoded as one path segment; an id `.`, `..` or empty is refused.

use serde_json::{Map, Value};

use super::{EnvVar, Provider, ProviderError, require};
use crate::secrets::EnvSource;

#[derive(Debug)]
pub struct Herodotus;

impl Provider for Herodotus {
    fn name(&self) -> &'static str {
        "herodotus"
    }

    fn summary(&self) -> &'static str {
        "Herodotus HDP tasks (ids from a file or a variable)"
    }

    fn env_vars(&self) -> &'static [EnvVar] {
        &[
            EnvVar {
                name: "HERODOTUS_API_KEY",
                help: "Herodotus Cloud API key (X-API-KEY)",
                required: true,
            },
            EnvVar {
                name: "HERODOTUS_BASE_URL",
                help: "API host (default: the documented staging host)",
                required: false,
            },
        ]
    }

    fn default_retryable(&self) -> &'static [&'static str] {
        &[
            "DryRunFailed",
            "ChainProofsFetchFailed",
            "TraceGenFailed",
            "AtlanticProvingFailed",
            "TaskDecommitmentFailed",
        ]
    }

    fn check_credentials(
        &self,
        env: &EnvSource,
        _options: &Map<String, Value>,
    ) -> Result<(), ProviderError> {
        require(env, self.name(), &["HERODOTUS_API_KEY"])
    }

    fn defaults_yaml(&self, _options: &Map<String, Value>) -> Result<String, ProviderError> {
        Ok(r#"
connection:
  base_url: "{{ env('HERODOTUS_BASE_URL', 'https://staging.hdp.api.herodotus.cloud') }}"
  headers:
    X-API-KEY: "{{ secret('HERODOTUS_API_KEY') }}"
task:
  id: $.id
  status: $.status
  created_at: $.updatedAt
  message: $.errorMessage
get:
  request:
    path: "/tasks/{{ task.id | urlencode }}/status"
verify:
  success: [TaskDecommitmentCompleted]
  failure: [DryRunFailed, ChainProofsFetchFailed, TraceGenFailed, AtlanticProvingFailed, TaskDecommitmentFailed]
retry:
  request:
    method: POST
    path: "/tasks/{{ task.id | urlencode }}/retry"
    headers: { Content-Type: application/json }
  outcome:
    message: $.error
    status: { 404: failed }
    body:
      - status: [400]
        when: "@.error == 'Cannot retry decommitment'"
        outcome: failed
        message: $.details
  note: "{% if task.status == 'TaskDecommitmentFailed' %}only the decommitment re-runs{% else %}the whole pipeline re-runs from Received{% endif %}"
"#
        .to_string())
    }
}
