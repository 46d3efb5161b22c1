//! PocketPaw Deep Work (self-hosted, FastAPI).
//!
//! - Auth: `Authorization: Bearer $DEEPWORK_TOKEN` (a master token, `pp_` API key or OAuth token).
//!   Base URL `http://localhost:8000` as in PocketPaw's docs (its own default port is 8888):
//!   `DEEPWORK_BASE_URL` sets yours.
//! - A failed agent task is `blocked`. List: `GET /api/mission-control/tasks?status=blocked&limit=100`;
//!   there is no pagination, only a `limit` and a `count` of all matches, so a listing with more
//!   matches than it returned fails the run (raise `limit`) instead of being silently truncated.
//! - Retry: `POST /api/deep-work/projects/{project_id}/tasks/{task_id}/retry`. 400 "Can only retry
//!   tasks with status 'blocked'" → `skipped`; 404 and any other 400 (the task belongs to another
//!   project: undocumented for retry, inferred from the sibling skip endpoint) → `failed`. A 429
//!   is transient and its `Retry-After` honoured.
//! - Tasks with no `project_id` are not Deep Work tasks and cannot be retried through this endpoint:
//!   such an item fails with that reason and nothing is sent.
//! - Task and project ids are percent-encoded as one path segment each; an id `.`, `..` or empty
//!   is refused for that item.

use serde_json::{Map, Value};

use super::{EnvVar, Provider, require};
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
    ) -> Result<(), String> {
        require(env, self.name(), &["DEEPWORK_TOKEN"])
    }

    fn defaults_yaml(&self, _options: &Map<String, Value>) -> Result<String, String> {
        Ok(r#"
connection:
  base_url: "{{ env('DEEPWORK_BASE_URL', 'http://localhost:8000') }}"
  headers:
    Authorization: "Bearer {{ secret('DEEPWORK_TOKEN') }}"
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
  outcome:
    message: $.detail
    status: { 404: failed }
    body:
      - status: [400]
        when: "search(@.detail, 'Can only retry tasks with status')"
        outcome: skipped
"#
        .to_string())
    }
}
