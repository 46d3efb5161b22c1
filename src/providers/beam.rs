//! Beam.ai agent tasks (beamstudio.ai).
//!
//! - Workspaces: `bid` (default; `https://api.bid.beamstudio.ai`, `BEAM_API_KEY` +
//!   `BEAM_WORKSPACE_ID`) and `prod` (`https://api.beamstudio.ai`, `BEAM_API_KEY_PROD` +
//!   `BEAM_WORKSPACE_ID_PROD`), chosen with `connection.options.workspace`. `BEAM_BASE_URL`
//!   overrides the host.
//! - Auth: `x-api-key` and `current-workspace-id`, as Beam's own API reference says. Some clients send
//!   `Authorization: Bearer` instead; `connection.options.auth: bearer` does that.
//! - List: `GET /agent-tasks` paged by `pageNum`/`pageSize`. Which of the two documented shapes the
//!   live server returns without `grouping` is unknown, so both are read: grouped
//!   (`data[].tasks[]`) and flat (`data[]`).
//! - Retry: `POST /agent-tasks/retry {"taskId"}` → 201 with an empty body (a success); 404 means an
//!   unknown task (`failed`). What Beam does with a retry of a task that is not failed is
//!   undocumented: runbook only retries the statuses the filter selects.
//! - The task id goes into the retry's body; in the get path (`/agent-tasks/{id}`, enrich and
//!   verify) it is percent-encoded as one segment, and an id `.`, `..` or empty is refused.

use serde_json::{Map, Value};

use super::{EnvVar, Provider, ProviderError, require};
use crate::secrets::EnvSource;

#[derive(Debug)]
pub struct Beam;

const BID_HOST: &str = "https://api.bid.beamstudio.ai";
const PROD_HOST: &str = "https://api.beamstudio.ai";

/// The workspace's environment variables and default host.
struct Workspace {
    key: &'static str,
    id: &'static str,
    host: &'static str,
    sandbox: &'static str,
}

fn workspace(options: &Map<String, Value>) -> Result<Workspace, ProviderError> {
    match options
        .get("workspace")
        .and_then(Value::as_str)
        .unwrap_or("bid")
    {
        "bid" => Ok(Workspace {
            key: "BEAM_API_KEY",
            id: "BEAM_WORKSPACE_ID",
            host: BID_HOST,
            sandbox: "beam",
        }),
        "prod" => Ok(Workspace {
            key: "BEAM_API_KEY_PROD",
            id: "BEAM_WORKSPACE_ID_PROD",
            host: PROD_HOST,
            sandbox: "beam-prod",
        }),
        other => Err(ProviderError::UnknownOption {
            provider: "beam",
            option: "workspace",
            value: other.to_string(),
            choices: "bid or prod",
        }),
    }
}

impl Provider for Beam {
    fn name(&self) -> &'static str {
        "beam"
    }

    fn summary(&self) -> &'static str {
        "Beam.ai agent tasks (workspaces bid and prod)"
    }

    fn env_vars(&self) -> &'static [EnvVar] {
        &[
            EnvVar {
                name: "BEAM_API_KEY",
                help: "API key of the bid workspace (the default)",
                required: true,
            },
            EnvVar {
                name: "BEAM_WORKSPACE_ID",
                help: "id of the bid workspace",
                required: true,
            },
            EnvVar {
                name: "BEAM_API_KEY_PROD",
                help: "API key of the prod workspace (options.workspace: prod)",
                required: false,
            },
            EnvVar {
                name: "BEAM_WORKSPACE_ID_PROD",
                help: "id of the prod workspace",
                required: false,
            },
            EnvVar {
                name: "BEAM_BASE_URL",
                help: "another API host",
                required: false,
            },
        ]
    }

    fn default_retryable(&self) -> &'static [&'static str] {
        &["FAILED", "ERROR", "STOPPED", "TIMEOUT"]
    }

    fn sandbox_api(&self, options: &Map<String, Value>) -> &'static str {
        workspace(options).map_or("beam", |w| w.sandbox)
    }

    fn check_credentials(
        &self,
        env: &EnvSource,
        options: &Map<String, Value>,
    ) -> Result<(), ProviderError> {
        let w = workspace(options)?;
        require(env, self.name(), &[w.key, w.id])
    }

    fn defaults_yaml(&self, options: &Map<String, Value>) -> Result<String, ProviderError> {
        let w = workspace(options)?;
        let auth = match options
            .get("auth")
            .and_then(Value::as_str)
            .unwrap_or("x-api-key")
        {
            "x-api-key" => format!("x-api-key: \"{{{{ secret('{}') }}}}\"", w.key),
            "bearer" => format!("Authorization: \"Bearer {{{{ secret('{}') }}}}\"", w.key),
            other => {
                return Err(ProviderError::UnknownOption {
                    provider: "beam",
                    option: "auth",
                    value: other.to_string(),
                    choices: "x-api-key or bearer",
                });
            }
        };
        Ok(format!(
            r#"
connection:
  base_url: "{{{{ env('BEAM_BASE_URL', '{host}') }}}}"
  headers:
    {auth}
    current-workspace-id: "{{{{ env('{id}') }}}}"
task:
  id: $.id
  label: $.customId
  status: $.status
  created_at: $.createdAt
  message: $.taskSummary
fetch:
  request:
    method: GET
    path: /agent-tasks
  items: ["$.data[?@.tasks].tasks[*]", "$.data[?!@.tasks]"]
  paginate:
    page: {{ param: pageNum, start: 1, size_param: pageSize, size: 50 }}
    max_pages: 200
get:
  request:
    path: "/agent-tasks/{{{{ task.id | urlencode }}}}"
verify:
  success: [COMPLETED]
  failure: [FAILED, ERROR, STOPPED, TIMEOUT, CANCELLED]
retry:
  request:
    method: POST
    path: /agent-tasks/retry
    body: {{ taskId: "{{{{ task.id }}}}" }}
  outcome:
    status: {{ 404: failed }}
"#,
            host = w.host,
            id = w.id,
        ))
    }
}
