//! Ids the playbook gives rather than lists: a JSON file of ids or objects (`file:`), or a
//! rendered value (`ids:`), a list or text separated by commas, spaces or new lines.

use serde::de::{Error, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::Item;
use super::answer::kind;
use crate::jsonpath::scalar_text;

/// The largest ids file read.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Ids or objects from a JSON file: an array of strings, or of objects with an id field. Each
/// entry is handed to `each` as it is parsed, as an object with its id at `id`: the file's whole
/// tree is never held beside the items made of it. How many entries there were.
///
/// The errors are those of reading the whole file first: invalid JSON, then a file that is not an
/// array, then the first entry that is not an id or has none.
pub(super) fn read_ids_file(
    path: &std::path::Path,
    id_field: Option<&str>,
    each: impl FnMut(Value),
) -> Result<usize, String> {
    let text =
        crate::files::read_text(path, MAX_FILE_BYTES, "ids file").map_err(|e| e.to_string())?;
    let fields: Vec<&str> = match id_field {
        Some(f) => vec![f],
        None => vec!["id", "task_id", "taskId", "uuid"],
    };
    let mut entries = Entries {
        path,
        fields: &fields,
        each,
        count: 0,
        problem: None,
    };
    let mut json = serde_json::Deserializer::from_str(&text);
    let shape = serde::Deserializer::deserialize_any(&mut json, &mut entries)
        .and_then(|shape| json.end().map(|()| shape))
        .map_err(|e| {
            format!("{}:{}:{}: not valid JSON: {e}; expected an array of ids, or of objects with an id field", path.display(), e.line(), e.column())
        })?;
    if !shape {
        return Err(format!(
            "{}: expected a JSON array of ids, or of objects with an id field",
            path.display()
        ));
    }
    match entries.problem {
        Some(problem) => Err(problem),
        None => Ok(entries.count),
    }
}

/// The entries of an ids file as serde_json parses them, one at a time (serde_json's streaming
/// `StreamDeserializer` reads a sequence of documents, not the elements of one array).
struct Entries<'a, F> {
    path: &'a std::path::Path,
    fields: &'a [&'a str],
    each: F,
    count: usize,
    /// The first entry that is not an id or has none: no later entry is handed on.
    problem: Option<String>,
}

impl<F: FnMut(Value)> Entries<'_, F> {
    /// Entry `index` (from 0) as an object with its id at `id`.
    fn entry(&self, index: usize, entry: Value) -> Result<Value, String> {
        let path = self.path.display();
        match entry {
            Value::String(_) | Value::Number(_) => {
                Ok(serde_json::json!({ "id": scalar_text(&entry) }))
            }
            Value::Object(mut map) => {
                let id = self
                    .fields
                    .iter()
                    .find_map(|f| map.get(*f).and_then(scalar_text))
                    .ok_or_else(|| {
                        format!(
                            "{path}: entry {} has no id field ({}); set `id_field:`",
                            index + 1,
                            self.fields.join(", ")
                        )
                    })?;
                map.insert("id".into(), Value::String(id));
                Ok(Value::Object(map))
            }
            other => Err(format!(
                "{path}: entry {} is {}, not an id or an object",
                index + 1,
                kind(&other)
            )),
        }
    }
}

/// Whether the file is an array (`false`: valid JSON of another kind).
impl<'de, F: FnMut(Value)> Visitor<'de> for &mut Entries<'_, F> {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON array of ids, or of objects with an id field")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while let Some(entry) = seq.next_element::<Value>()? {
            let index = self.count;
            self.count += 1;
            if self.problem.is_some() {
                continue;
            }
            match self.entry(index, entry) {
                Ok(value) => (self.each)(value),
                Err(problem) => self.problem = Some(problem),
            }
        }
        Ok(true)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }

    fn visit_bool<E: Error>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_i64<E: Error>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_u64<E: Error>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_f64<E: Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_str<E: Error>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_unit<E: Error>(self) -> Result<bool, E> {
        Ok(false)
    }
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
    ids.into_iter().map(|id| Item::from_id(&id).raw()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Read `text` as an ids file: the entries handed on, or the error.
    fn ids_file(text: &str, id_field: Option<&str>) -> Result<Vec<Value>, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("ids.json");
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        let mut entries = Vec::new();
        let count = read_ids_file(&path, id_field, |v| entries.push(v))?;
        assert_eq!(count, entries.len());
        Ok(entries)
    }

    #[test]
    fn an_ids_file_is_read_entry_by_entry_with_each_id_at_id() {
        assert_eq!(
            ids_file(r#"["a", 2, {"task_id": "c", "n": 1}]"#, None),
            Ok(vec![
                serde_json::json!({"id": "a"}),
                serde_json::json!({"id": "2"}),
                serde_json::json!({"task_id": "c", "n": 1, "id": "c"}),
            ])
        );
        assert_eq!(
            ids_file(r#"[{"key": "k"}]"#, Some("key")),
            Ok(vec![serde_json::json!({"key": "k", "id": "k"})])
        );
    }

    #[test]
    fn an_ids_file_reports_syntax_then_shape_then_the_first_bad_entry() {
        let err = |text: &str| {
            ids_file(text, None)
                .err()
                .map(|e| e.split_once(": ").map(|(_, m)| m.to_string()).unwrap_or(e))
        };
        // Invalid JSON wins over a bad entry before it.
        assert!(
            err(r#"[{"x": 1}, "a""#)
                .is_some_and(|e| e.starts_with("not valid JSON: EOF while parsing a list"))
        );
        assert!(
            err(r#"["a"] x"#).is_some_and(|e| e.starts_with("not valid JSON: trailing characters"))
        );
        for not_array in [r#"{"ids": ["a"]}"#, "\"a\"", "3", "null", "true"] {
            assert_eq!(
                err(not_array).as_deref(),
                Some("expected a JSON array of ids, or of objects with an id field"),
                "{not_array}"
            );
        }
        assert_eq!(
            err(r#"["a", {"x": 1}, [1]]"#).as_deref(),
            Some("entry 2 has no id field (id, task_id, taskId, uuid); set `id_field:`")
        );
        assert_eq!(
            err(r#"["a", [1], {"x": 1}]"#).as_deref(),
            Some("entry 2 is an array, not an id or an object")
        );
    }

    #[test]
    fn ids_come_from_lists_and_text() {
        assert_eq!(ids_from_value(&serde_json::json!("a, b c\nd")).len(), 4);
        assert_eq!(ids_from_value(&serde_json::json!(["a", 2])).len(), 2);
    }
}
