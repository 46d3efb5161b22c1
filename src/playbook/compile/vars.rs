//! `--var name=value`: each override replaces a variable the playbook declares, coerced to the type
//! of its default (a number, `true`/`false`, a comma-separated list, else text).

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::diagnostic::{Diagnostic, SourceFile, did_you_mean};

/// A `--var` that cannot be used.
#[derive(Debug, PartialEq, thiserror::Error)]
pub(crate) enum VarError {
    #[error("--var {key}: the playbook has no variable `{key}`")]
    Unknown { key: String, help: String },
    #[error("--var {key}={text}: `{key}` is a number")]
    NotANumber { key: String, text: String },
    #[error("--var {key}={text}: `{key}` is true or false")]
    NotABoolean { key: String, text: String },
}

impl VarError {
    /// The error as a diagnostic about the playbook `file` (a `--var` has no line in it).
    pub(crate) fn diagnostic(&self, file: &Arc<SourceFile>) -> Diagnostic {
        let d = Diagnostic::new(self.to_string()).at(file, None);
        match self {
            VarError::Unknown { help, .. } => d.help(help.clone()),
            _ => d,
        }
    }
}

/// The playbook's `vars` with `overrides` applied, and the overrides that could not be.
pub(crate) fn resolve(
    declared: &Map<String, Value>,
    overrides: &[(String, String)],
) -> (Value, Vec<VarError>) {
    let mut vars = declared.clone();
    let mut errors = Vec::new();
    for (key, text) in overrides {
        match declared.get(key).map(|default| coerce(key, text, default)) {
            Some(Ok(value)) => {
                vars.insert(key.clone(), value);
            }
            Some(Err(e)) => errors.push(e),
            None => errors.push(unknown(declared, key)),
        }
    }
    (Value::Object(vars), errors)
}

fn unknown(declared: &Map<String, Value>, key: &str) -> VarError {
    let names: Vec<&str> = declared.keys().map(String::as_str).collect();
    let help = match did_you_mean(key, names.iter().copied()) {
        Some(best) => format!("did you mean `{best}`?"),
        None if names.is_empty() => "this playbook declares no vars".to_string(),
        None => format!("this playbook's vars are: {}", names.join(", ")),
    };
    VarError::Unknown {
        key: key.to_string(),
        help,
    }
}

/// `text` as a value of the type of `default`.
fn coerce(key: &str, text: &str, default: &Value) -> Result<Value, VarError> {
    match default {
        Value::Number(_) => text
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| text.parse::<f64>().map(Value::from))
            .map_err(|_| VarError::NotANumber {
                key: key.to_string(),
                text: text.to_string(),
            }),
        Value::Bool(_) => {
            text.parse::<bool>()
                .map(Value::from)
                .map_err(|_| VarError::NotABoolean {
                    key: key.to_string(),
                    text: text.to_string(),
                })
        }
        Value::Array(_) => Ok(Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.into()))
                .collect(),
        )),
        _ => Ok(Value::String(text.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn declared() -> Map<String, Value> {
        match json!({"limit": 5, "dry": false, "statuses": ["failed"], "since": "1d"}) {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn each_override_takes_the_type_of_its_default() {
        let (vars, errors) = resolve(
            &declared(),
            &pairs(&[
                ("limit", "7"),
                ("dry", "true"),
                ("statuses", "a, b,"),
                ("since", "2d"),
            ]),
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            vars,
            json!({"limit": 7, "dry": true, "statuses": ["a", "b"], "since": "2d"})
        );
        let (vars, _) = resolve(&declared(), &pairs(&[("limit", "0.5")]));
        assert_eq!(vars["limit"], json!(0.5));
    }

    #[test]
    fn without_overrides_the_defaults_stand() {
        let (vars, errors) = resolve(&declared(), &[]);
        assert!(errors.is_empty());
        assert_eq!(vars, Value::Object(declared()));
    }

    #[test]
    fn a_value_of_the_wrong_type_is_refused_and_the_rest_applied() {
        let (vars, errors) = resolve(
            &declared(),
            &pairs(&[("limit", "many"), ("dry", "yes"), ("since", "3d")]),
        );
        assert_eq!(
            errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "--var limit=many: `limit` is a number",
                "--var dry=yes: `dry` is true or false"
            ]
        );
        assert_eq!(vars["since"], json!("3d"));
        assert_eq!(vars["limit"], json!(5));
    }

    #[test]
    fn an_unknown_variable_is_refused_with_a_suggestion() {
        let (_, errors) = resolve(&declared(), &pairs(&[("limt", "1")]));
        assert_eq!(
            errors,
            [VarError::Unknown {
                key: "limt".into(),
                help: "did you mean `limit`?".into()
            }]
        );
        let (_, errors) = resolve(&Map::new(), &pairs(&[("x", "1")]));
        assert!(
            matches!(&errors[0], VarError::Unknown { help, .. } if help == "this playbook declares no vars")
        );
    }
}
