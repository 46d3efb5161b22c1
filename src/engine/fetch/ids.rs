//! Ids the playbook gives rather than lists: a JSON file of ids or objects (`file:`), or a
//! rendered value (`ids:`), a list or text separated by commas, spaces or new lines.

use serde_json::Value;

use super::Item;
use super::answer::kind;
use crate::jsonpath::scalar_text;

/// The largest ids file read.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Ids or objects from a JSON file: an array of strings, or of objects with an id field.
pub(super) fn read_ids_file(
    path: &std::path::Path,
    id_field: Option<&str>,
) -> Result<Vec<Value>, String> {
    let text =
        crate::files::read_text(path, MAX_FILE_BYTES, "ids file").map_err(|e| e.to_string())?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        format!("{}:{}:{}: not valid JSON: {e}; expected an array of ids, or of objects with an id field", path.display(), e.line(), e.column())
    })?;
    let Value::Array(entries) = value else {
        return Err(format!(
            "{}: expected a JSON array of ids, or of objects with an id field",
            path.display()
        ));
    };
    let fields: Vec<&str> = match id_field {
        Some(f) => vec![f],
        None => vec!["id", "task_id", "taskId", "uuid"],
    };
    entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| match entry {
            Value::String(_) | Value::Number(_) => {
                Ok(serde_json::json!({ "id": scalar_text(&entry) }))
            }
            Value::Object(mut map) => {
                let id = fields
                    .iter()
                    .find_map(|f| map.get(*f).and_then(scalar_text))
                    .ok_or_else(|| {
                        format!(
                            "{}: entry {} has no id field ({}); set `id_field:`",
                            path.display(),
                            i + 1,
                            fields.join(", ")
                        )
                    })?;
                map.insert("id".into(), Value::String(id));
                Ok(Value::Object(map))
            }
            other => Err(format!(
                "{}: entry {} is {}, not an id or an object",
                path.display(),
                i + 1,
                kind(&other)
            )),
        })
        .collect()
}

/// Ids from a rendered value: a list, or text separated by commas, spaces or new lines.
pub(crate) fn ids_from_value(value: &Value) -> Vec<Value> {
    let ids: Vec<String> = match value {
        Value::Array(list) => list.iter().filter_map(scalar_text).collect(),
        other => scalar_text(other)
            .unwrap_or_default()
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    };
    ids.into_iter().map(|id| Item::from_id(&id).raw).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_lists_and_text() {
        assert_eq!(ids_from_value(&serde_json::json!("a, b c\nd")).len(), 4);
        assert_eq!(ids_from_value(&serde_json::json!(["a", 2])).len(), 2);
    }
}
