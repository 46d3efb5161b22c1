//! PocketPaw Deep Work (self-hosted, FastAPI), as the real server (0.4.18) behaves.
//!
//! - Auth: `Authorization: Bearer $DEEPWORK_TOKEN` (a master token, `pp_` API key or OAuth token).
//!   Base URL `http://localhost:8000` as in PocketPaw's docs (its own default port is 8888):
//!   `DEEPWORK_BASE_URL` sets yours. PocketPaw lets any token through from localhost unless its
//!   `localhost_auth_bypass` setting is off (`POCKETPAW_LOCALHOST_AUTH_BYPASS=false`).
//! - A failed agent task is `blocked`. List: `GET /api/mission-control/tasks?status=blocked&limit=100`.
//!   There is no pagination, and the store hands the route at most 100 tasks before `count` is
//!   taken, so `count` cannot reveal more: the adapter declares `cap: 100`, and an answer of 100
//!   tasks is reported as possibly truncated. `playbooks/deepwork-blocked.yaml` narrows instead:
//!   the projects list (capped at 100 too), then each project's tasks
//!   (`GET /api/mission-control/projects/{id}`, not capped).
//! - Retry: `POST /api/deep-work/projects/{project_id}/tasks/{task_id}/retry`. 400 "Can only retry
//!   tasks with status 'blocked'" → `skipped`; 404 "Task not found" and any other 400 ("Task does
//!   not belong to this project") → `failed`. A 429 (10 requests/s per client, burst 30) is
//!   transient and its `Retry-After` honoured; the adapter paces itself at 8/s.
//! - The server saves the reset (`assigned`, `retry_count + 1`) before it dispatches the task: a
//!   failed dispatch answers `500 "Retry dispatch failed: …"` although the retry happened. So 500 is
//!   `ambiguous`: the task is read again and counts as retried when its `retry_count` grew.
//! - A server without the retry route (0.4.4 and older) answers FastAPI's own
//!   `404 {"detail": "Not Found"}`: that is a missing route, and the run stops (exit 3) instead of
//!   reporting every task failed.
//! - Tasks with no `project_id` are not Deep Work tasks and cannot be retried through this endpoint:
//!   such an item fails with that reason and nothing is sent.
//! - Task and project ids are percent-encoded as one path segment each; an id `.`, `..` or empty
//!   is refused for that item.

use serde_json::{Map, Value};

use super::{EnvVar, Provider, ProviderError, require};
use crate::secrets::EnvSource;

#[derive(Debug)]
pub struct DeepWork;

impl Provider for DeepWork {
    fn name(&self) -> &'static str {
        "deepwork"
    }

    fn summary(&self) -> &'static str {
        "PocketPaw Deep Work project tasks"
    }

    fn env_vars(&self) -> &'static [EnvVar] {
        &[
            EnvVar {
                name: "DEEPWORK_TOKEN",
                help: "bearer token (master token, pp_ API key or OAuth token)",
                required: true,
            },
            EnvVar {
                name: "DEEPWORK_BASE_URL",
                help: "where PocketPaw serves (default http://localhost:8000)",
                required: false,
            },
        ]
    }

    fn default_retryable(&self) -> &'static [&'static str] {
        &["blocked"]
    }

    fn check_credentials(
        &self,
        env: &EnvSource,
        _options: &Map<String, Value>,
    ) -> Result<(), ProviderError> {
        require(env, self.name(), &["DEEPWORK_TOKEN"])
    }

    fn defaults_yaml(&self, _options: &Map<String, Value>) -> Result<String, ProviderError> {
        Ok(r#"
connection:
  base_url: "{{ env('DEEPWORK_BASE_URL', 'http://localhost:8000') }}"
  headers:
    Authorization: "Bearer {{ secret('DEEPWORK_TOKEN') }}"
  rate: 8/s
task:
  id: $.id
  label: $.title
  status: $.status
  created_at: $.created_at
  message: $.error_message
fetch:
  request:
    path: /api/mission-control/tasks
    query: { status: blocked, limit: 100 }
  items: $.tasks[*]
  total: $.count
  cap: 100
get:
  request:
    path: "/api/mission-control/tasks/{{ task.id | urlencode }}"
  item: $.task
verify:
  success: [done]
  failure: [blocked, skipped]
retry:
  request:
    method: POST
    path: "/api/deep-work/projects/{{ required(item.project_id, 'the task has no project_id: only Deep Work project tasks can be retried') | urlencode }}/tasks/{{ task.id | urlencode }}/retry"
  counter: $.retry_count
  outcome:
    message: $.detail
    status: { 404: failed }
    body:
      - status: [400]
        when: "search(@.detail, 'Can only retry tasks with status')"
        outcome: skipped
    ambiguous: [500]
    missing_route:
      - status: [404]
        when: "@.detail == 'Not Found'"
        hint: "PocketPaw has the Deep Work retry route from the release after 0.4.4 on (0.4.18 is known to work): upgrade the server, or check DEEPWORK_BASE_URL."
"#
        .to_string())
    }
}
