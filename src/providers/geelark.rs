//! GeeLark open API (cloud phones' automation tasks).
//!
//! - Every call is a POST under `/open/v1/`, answered with HTTP 200 and an envelope
//!   `{traceId, code, msg, data}`; `code` 0 is success.
//! - Auth, fresh for every request and every attempt: key mode (`GEELARK_APP_ID` +
//!   `GEELARK_API_KEY`): headers `appId`, `traceId` (a UUID v4), `ts` (milliseconds), `nonce` (the
//!   first six characters of the trace id) and `sign`, the upper-case hex SHA-256 of
//!   appId + traceId + ts + nonce + apiKey; or token mode (`GEELARK_TOKEN`): `Authorization: Bearer`
//!   and `traceId`. Key mode is used when both keys are set; `connection.options.auth: token` or
//!   `key` chooses.
//! - Envelope codes: 40007 (too many requests, lifted the next minute) is transient, like a 429,
//!   and the adaptive pace's sign to slow down;
//!   40002, 40003 and 40012 mean the credentials were refused (the run aborts); 40006 (partial
//!   success) and 40009 (all failed) carry per-id results and are read item by item; any other code
//!   fails the request with GeeLark's message.
//! - List: `task/historyRecords` (tasks of the past 7 days; `size` ≤ 100, `lastId` cursor).
//!   Its ordering is undocumented; the cursor is the last item's id, as documented.
//! - Retry: `task/restart` in batches of up to 100 ids. Per-id `failDetails` (codes as numbers or
//!   strings): 48001 (status does not allow) → `skipped`; 48000 (retry limit of 5 reached), 48002
//!   (no such task), 48003 (resource expired), 40005 (environment deleted) → `failed` with the reason;
//!   ids not in `failDetails` were restarted. Ids travel only in JSON bodies, never in a path.
//! - Retryable by default: status 4 (failed). 7 (cancelled, usually by a person) only when a playbook
//!   lists it. Documented limit 200 requests/min per API: the default rate is 3/s.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{EnvVar, OutgoingRequest, Provider, ProviderError, Verdict, require};
use crate::secrets::EnvSource;

#[derive(Debug)]
pub struct GeeLark;

/// Envelope codes that mean the credentials or the signature were refused.
const AUTH_CODES: &[i64] = &[40002, 40003, 40012];
/// The envelope's rate-limit code.
const RATE_LIMITED: i64 = 40007;
/// Codes whose `data` holds per-id results (partial and total batch failure).
const BATCH_CODES: &[i64] = &[40006, 40009];

/// `sign` = upper-case hex SHA-256 of appId + traceId + ts + nonce + apiKey.
pub fn sign(app_id: &str, trace_id: &str, ts: &str, nonce: &str, api_key: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [app_id, trace_id, ts, nonce, api_key] {
        hasher.update(part.as_bytes());
    }
    hex::encode_upper(hasher.finalize())
}

fn use_token(env: &EnvSource, options: &Map<String, Value>) -> bool {
    match options.get("auth").and_then(Value::as_str) {
        Some("token") => true,
        Some(_) => false,
        None => env.get("GEELARK_APP_ID").is_none() || env.get("GEELARK_API_KEY").is_none(),
    }
}

impl Provider for GeeLark {
    fn name(&self) -> &'static str {
        "geelark"
    }

    fn summary(&self) -> &'static str {
        "GeeLark cloud-phone tasks (signed requests, batch restart)"
    }

    fn env_vars(&self) -> &'static [EnvVar] {
        &[
            EnvVar {
                name: "GEELARK_APP_ID",
                help: "app id (key mode)",
                required: false,
            },
            EnvVar {
                name: "GEELARK_API_KEY",
                help: "API key (key mode; signs every request)",
                required: false,
            },
            EnvVar {
                name: "GEELARK_TOKEN",
                help: "bearer token (token mode, instead of the two above)",
                required: false,
            },
            EnvVar {
                name: "GEELARK_BASE_URL",
                help: "API host (default https://openapi.geelark.com)",
                required: false,
            },
        ]
    }

    fn default_retryable(&self) -> &'static [&'static str] {
        &["4"]
    }

    fn check_credentials(
        &self,
        env: &EnvSource,
        options: &Map<String, Value>,
    ) -> Result<(), ProviderError> {
        let half_key = env.get("GEELARK_APP_ID").is_some() != env.get("GEELARK_API_KEY").is_some();
        if use_token(env, options) && !(half_key && env.get("GEELARK_TOKEN").is_none()) {
            require(env, self.name(), &["GEELARK_TOKEN"]).map_err(|e| {
                ProviderError::MissingTokenOrKeyPair {
                    missing: Box::new(e),
                }
            })
        } else {
            // Key mode, or half of it given: name the half that is missing.
            require(env, self.name(), &["GEELARK_APP_ID", "GEELARK_API_KEY"])
        }
    }

    fn prepare(&self, request: &mut OutgoingRequest, env: &EnvSource) -> Result<(), ProviderError> {
        let trace_id = uuid::Uuid::new_v4().to_string();
        request.headers.retain(|(name, _)| {
            !["traceid", "appid", "ts", "nonce", "sign"]
                .contains(&name.to_ascii_lowercase().as_str())
        });
        request.headers.push(("traceId".into(), trace_id.clone()));
        let token_mode =
            env.get("GEELARK_APP_ID").is_none() || env.get("GEELARK_API_KEY").is_none();
        let token_mode = token_mode
            || request
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("authorization"));
        if token_mode {
            let token = env.get("GEELARK_TOKEN").ok_or(ProviderError::TokenNotSet)?;
            if !request
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("authorization"))
            {
                request
                    .headers
                    .push(("Authorization".into(), format!("Bearer {token}")));
            }
            return Ok(());
        }
        let app_id = env.get("GEELARK_APP_ID").unwrap_or_default();
        let api_key = env.get("GEELARK_API_KEY").unwrap_or_default();
        let ts = jiff::Timestamp::now().as_millisecond().to_string();
        let nonce: String = trace_id.chars().take(6).collect();
        let signature = sign(app_id, &trace_id, &ts, &nonce, api_key);
        request.headers.push(("appId".into(), app_id.to_string()));
        request.headers.push(("ts".into(), ts));
        request.headers.push(("nonce".into(), nonce));
        request.headers.push(("sign".into(), signature));
        Ok(())
    }

    fn throttle_sign(&self, status: u16, body: Option<&Value>) -> Option<String> {
        let code = match body?.get("code")? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        };
        ((200..300).contains(&status) && code == Some(RATE_LIMITED))
            .then(|| "GeeLark 40007 too many requests".to_string())
    }

    fn inspect(&self, status: u16, body: Option<&Value>) -> Verdict {
        if !(200..300).contains(&status) {
            return Verdict::AsIs;
        }
        let Some(body) = body else {
            return Verdict::Failed {
                reason: "expected GeeLark's JSON envelope {traceId, code, msg, data}, got no JSON"
                    .into(),
            };
        };
        let code = match body.get("code") {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        };
        let msg = body.get("msg").and_then(Value::as_str).unwrap_or("");
        match code {
            Some(0) => Verdict::AsIs,
            Some(RATE_LIMITED) => Verdict::Transient {
                reason: format!("GeeLark 40007 too many requests: {msg}"),
            },
            Some(c) if AUTH_CODES.contains(&c) => Verdict::AuthFailed {
                reason: format!("GeeLark {c}: {msg}"),
            },
            Some(c)
                if BATCH_CODES.contains(&c) && body.get("data").is_some_and(|d| !d.is_null()) =>
            {
                Verdict::AsIs
            }
            Some(c) => Verdict::Failed {
                reason: format!("GeeLark {c}: {msg}"),
            },
            None => Verdict::Failed {
                reason: "expected GeeLark's JSON envelope {traceId, code, msg, data}".into(),
            },
        }
    }

    fn defaults_yaml(&self, options: &Map<String, Value>) -> Result<String, ProviderError> {
        let token = matches!(options.get("auth").and_then(Value::as_str), Some("token"));
        let auth = if token {
            "    Authorization: \"Bearer {{ secret('GEELARK_TOKEN') }}\"\n"
        } else {
            ""
        };
        let headers = if auth.is_empty() {
            String::new()
        } else {
            format!("  headers:\n{auth}")
        };
        Ok(format!(
            r#"
connection:
  base_url: "{{{{ env('GEELARK_BASE_URL', 'https://openapi.geelark.com') }}}}"
{headers}  rate: 3/s
task:
  id: $.id
  label: $.serialName
  status: $.status
  created_at: $.scheduleAt
  message: $.failDesc
fetch:
  request:
    method: POST
    path: /open/v1/task/historyRecords
    body: {{ size: 100 }}
  items: $.data.items[*]
  paginate:
    cursor: {{ param: lastId, location: body, next: "$.data.items[-1].id" }}
    max_pages: 200
get:
  request:
    method: POST
    path: /open/v1/task/query
    body: {{ ids: ["{{{{ task.id }}}}"] }}
  item: $.data.items[0]
verify:
  success: [3]
  failure: [4, 7]
retry:
  batch:
    size: 100
    request:
      method: POST
      path: /open/v1/task/restart
      body: {{ ids: "{{{{ ids }}}}" }}
  outcome:
    message: $.msg
    items:
      path: $.data.failDetails[*]
      id: $.id
      code: $.code
      message: $.msg
      codes: {{ "48001": skipped, "48000": failed, "48002": failed, "48003": failed, "40005": failed }}
      otherwise: failed
      unlisted: retried
"#
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn signature_is_upper_hex_sha256_of_the_concatenation() {
        // Computed independently: printf '%s' 'appTRACEts1nonceKEY' | sha256sum
        assert_eq!(
            sign("app", "TRACE", "ts1", "nonce", "KEY"),
            "9B8AB4F1626BBB1A77F7D9BF80D72365CCC77AE97B2A1D825C8639A7791CFF68"
        );
    }

    #[test]
    fn key_mode_signs_every_attempt_afresh() {
        let env = EnvSource::from_pairs([
            ("GEELARK_APP_ID".to_string(), "app1".to_string()),
            ("GEELARK_API_KEY".to_string(), "k".to_string()),
        ]);
        let mut a = OutgoingRequest {
            method: "POST".into(),
            url: "http://x".into(),
            headers: vec![],
            body: None,
        };
        GeeLark.prepare(&mut a, &env).unwrap();
        let get = |r: &OutgoingRequest, n: &str| {
            r.headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        let trace = get(&a, "traceId");
        assert_eq!(get(&a, "nonce"), trace[..6]);
        assert_eq!(
            get(&a, "sign"),
            sign("app1", &trace, &get(&a, "ts"), &trace[..6], "k")
        );
        let mut b = a.clone();
        GeeLark.prepare(&mut b, &env).unwrap();
        assert_ne!(get(&b, "traceId"), trace);
        assert_eq!(b.headers.iter().filter(|(k, _)| k == "sign").count(), 1);
    }

    #[test]
    fn envelope_codes_are_understood() {
        assert_eq!(
            GeeLark.inspect(200, Some(&json!({"code": 0, "data": {}}))),
            Verdict::AsIs
        );
        assert!(matches!(
            GeeLark.inspect(200, Some(&json!({"code": 40007, "msg": "too many"}))),
            Verdict::Transient { .. }
        ));
        assert!(matches!(
            GeeLark.inspect(200, Some(&json!({"code": 40003, "msg": "sign"}))),
            Verdict::AuthFailed { .. }
        ));
        assert_eq!(
            GeeLark.inspect(
                200,
                Some(&json!({"code": 40006, "data": {"failDetails": []}}))
            ),
            Verdict::AsIs
        );
        assert_eq!(
            GeeLark.inspect(
                200,
                Some(&json!({"code": 40009, "data": {"failDetails": []}}))
            ),
            Verdict::AsIs
        );
        assert!(matches!(
            GeeLark.inspect(200, Some(&json!({"code": 40000, "msg": "unknown error"}))),
            Verdict::Failed { .. }
        ));
        assert!(matches!(GeeLark.inspect(200, None), Verdict::Failed { .. }));
    }
}
