//! The functions templates may call: `env(name, default)`, `secret(name)` (registered with the
//! redactor), `now()`, `ago(span)` and `required(value, why)`. Each reads the run's environment or
//! its clock, never item data, so a path expression calling only these is the author's own text.

use std::sync::Arc;

use jiff::Timestamp;
use minijinja::{Environment, ErrorKind, Value};

use crate::secrets::{EnvSource, Redactor};
use crate::time::rfc3339;
use crate::units::Span;

/// Add runbook's functions to `env`: `env` and `secret` read `vars_env`, `secret` (and `env` for a
/// credential's name) registers the value with `redactor`, `now` and `ago` read `now`.
pub(super) fn register(
    env: &mut Environment<'static>,
    vars_env: Arc<EnvSource>,
    redactor: Redactor,
    now: Timestamp,
) {
    let source = Arc::clone(&vars_env);
    let registry = redactor.clone();
    env.add_function("env", move |name: String, default: Option<Value>| {
            match (source.get(&name), default) {
                // A credential read with env() rather than secret() is redacted all the same.
                (Some(v), _) if crate::secrets::is_credential_name(&name) => {
                    registry.register(v);
                    Ok(Value::from(v))
                }
                (Some(v), _) => Ok(Value::from(v)),
                (None, Some(d)) => Ok(d),
                (None, None) => Err(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    format!("environment variable {name} is not set (nor in .env); set it, or give a default: env('{name}', 'value')"),
                )),
            }
        });
    let source = vars_env;
    env.add_function("secret", move |name: String| match source.get(&name) {
        Some(v) => {
            redactor.register(v);
            Ok(Value::from(v))
        }
        None => Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("secret {name} is not set: export {name}=… or add it to .env"),
        )),
    });
    env.add_function("now", move || rfc3339(now));
    env.add_function("required", |value: Value, why: String| {
        if value.is_undefined() || value.is_none() || value.as_str() == Some("") {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, why))
        } else {
            Ok(value)
        }
    });
    env.add_function(
        "ago",
        move |span: Value| -> Result<String, minijinja::Error> {
            let span = if let Some(s) = span.as_str() {
                Span::parse(s).map_err(|e| {
                    minijinja::Error::new(ErrorKind::InvalidOperation, format!("ago(): {e}"))
                })?
            } else if let Ok(secs) = i64::try_from(span.clone()) {
                let secs = u64::try_from(secs).unwrap_or(0);
                Span::new(std::time::Duration::from_secs(secs)).map_err(|e| {
                    minijinja::Error::new(ErrorKind::InvalidOperation, format!("ago(): {e}"))
                })?
            } else {
                return Err(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    "ago() takes a duration like '7d' or a number of seconds",
                ));
            };
            let then = jiff::SignedDuration::try_from(span.0)
                .ok()
                .and_then(|d| now.checked_sub(d).ok())
                .ok_or_else(|| {
                    minijinja::Error::new(
                        ErrorKind::InvalidOperation,
                        format!(
                            "ago(): {span} before now is before the earliest date runbook can write"
                        ),
                    )
                })?;
            Ok(rfc3339(then))
        },
    );
}
