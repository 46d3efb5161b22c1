//! An item: one unit of work at the provider (a task, a run), as fetched, with its common fields read
//! once through the playbook's `task:` paths.
//!
//! An item is held compactly: its answer as compact JSON text (shared, so handing an item from step
//! to step copies no text), its id and common fields, and nothing of the page it came from. The
//! JSON is parsed again only where a template, a filter's `where:` or a check reads the raw item:
//! about a microsecond for a 130-byte task, against ~6 KB of memory per item for a parsed tree with
//! ordered maps kept alive for the whole run. serde_json's `RawValue` would keep the text as the
//! provider wrote it, but needs its `raw_value` feature and a borrowed page; the text is made here
//! by serde_json itself from the value it parsed, so it always parses back to the same value (with
//! its keys in order).
//!
//! Invariant: an item's id never changes once read. Ids given by the playbook (`fetch: ids:` or
//! `file:`) are ids whatever the adapter's `task.id` path says (Skyvern's `$.workflow_run_id`), and
//! reading an item again (enrich, check) keeps the id it had.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::jsonpath::scalar_text;
use crate::playbook::compile::FieldsPlan;
use crate::secrets::Redactor;

/// An item without an id at the playbook's `task.id` path.
#[derive(Debug)]
pub struct MissingId {
    path: String,
    raw: Value,
}

impl MissingId {
    /// What to tell the user: the path and the start of the item, cut only after `redactor` ran
    /// over it (an item may carry a credential).
    pub fn describe(&self, redactor: &Redactor) -> String {
        let start = redactor.excerpt(&self.raw.to_string(), 80);
        format!("an item has no id at {} (item: {start})", self.path)
    }
}

#[derive(Clone, Debug)]
pub struct Item {
    /// The item's JSON as compact text: see the module's documentation.
    raw: Arc<str>,
    pub id: String,
    pub label: Option<String>,
    pub status: Option<String>,
    /// Boxed: a `Value` is 72 bytes inline, an ids file never fills it, and an item is held once
    /// per step that hands it on (a hundred thousand of them after an outage).
    pub created_at: Option<Box<Value>>,
    pub message: Option<String>,
    /// The id of new work its retry created (Skyvern's new run).
    pub new_id: Option<String>,
}

impl Item {
    /// Read an item's fields; an item with no id cannot be worked on. `raw` is only read: a page's
    /// items are picked without copying its tree.
    pub fn read(raw: &Value, fields: &FieldsPlan) -> Result<Item, MissingId> {
        let id = Item::id_in(raw, fields, false)?;
        Ok(Item::with_id(raw, id, fields))
    }

    /// An item whose id was given (an `ids:` list, an ids file: `$.id` of `raw`), its other
    /// fields read through `fields`. The adapter's id path is not consulted: an id is an id.
    pub fn given(raw: &Value, fields: &FieldsPlan) -> Result<Item, MissingId> {
        let id = Item::id_in(raw, fields, true)?;
        Ok(Item::with_id(raw, id, fields))
    }

    /// The id of the item `raw`: at the playbook's `task.id` path, or with `given` (ids from the
    /// playbook) at `$.id`.
    pub(crate) fn id_in(
        raw: &Value,
        fields: &FieldsPlan,
        given: bool,
    ) -> Result<String, MissingId> {
        let (id, path) = if given {
            (raw.get("id").and_then(scalar_text), "$.id")
        } else {
            (fields.id.first_text(raw), fields.id.source())
        };
        id.filter(|s| !s.is_empty()).ok_or_else(|| MissingId {
            path: path.to_string(),
            raw: raw.clone(),
        })
    }

    /// The status of the item `raw`, as [`Item::status`] would hold it: read alone, so that a
    /// fetch can drop an item by its status without making the rest of it.
    pub(crate) fn status_in(raw: &Value, fields: &FieldsPlan) -> Option<String> {
        fields.status.as_ref().and_then(|p| p.first_text(raw))
    }

    /// `raw` as the item `id`, its other fields read through `fields`.
    pub(crate) fn with_id(raw: &Value, id: String, fields: &FieldsPlan) -> Item {
        let text =
            |p: &Option<crate::jsonpath::JsonPath>| p.as_ref().and_then(|p| p.first_text(raw));
        Item {
            label: text(&fields.label),
            status: Item::status_in(raw, fields),
            created_at: fields
                .created_at
                .as_ref()
                .and_then(|p| p.first(raw))
                .map(|v| Box::new(v.clone())),
            message: text(&fields.message),
            new_id: None,
            id,
            raw: compact(raw),
        }
    }

    /// An item made from an id alone (ids from a file or a list).
    pub fn from_id(id: &str) -> Item {
        let raw = json!({ "id": id });
        Item {
            raw: compact(&raw),
            id: id.to_string(),
            label: None,
            status: None,
            created_at: None,
            message: None,
            new_id: None,
        }
    }

    /// The item as its answer held it (`item` in templates, `@` in a filter's `where:`), parsed
    /// again from its text.
    pub fn raw(&self) -> Value {
        // The text was written by serde_json from a `Value`: it always parses back.
        serde_json::from_str(&self.raw).unwrap_or(Value::Null)
    }

    /// `item` for templates: [`Item::raw`] as a template value.
    pub(crate) fn template_value(&self) -> minijinja::Value {
        // Parsed straight into a template value: no `serde_json::Value` tree in between.
        serde_json::from_str(&self.raw).unwrap_or(minijinja::Value::from(()))
    }

    /// The item's JSON as compact text.
    pub fn raw_text(&self) -> &str {
        &self.raw
    }

    /// The `task` of templates: the common fields by name.
    pub fn task(&self) -> Value {
        json!({
            "id": self.id,
            "label": self.label,
            "status": self.status,
            "created_at": self.created_at,
            "message": self.message,
            "new_id": self.new_id,
        })
    }

    /// The item after it was read again: `fresh` merged into its object (`merge`, when both are
    /// objects) or put in its place, and its fields read again through `fields`. The id and the new
    /// work its retry created stay.
    pub fn refreshed(&self, fresh: Value, merge: bool, fields: &FieldsPlan) -> Item {
        let raw = match (merge, self.raw(), fresh) {
            (true, Value::Object(mut own), Value::Object(fresh)) => {
                own.extend(fresh);
                Value::Object(own)
            }
            (_, _, fresh) => fresh,
        };
        let mut now = Item::with_id(&raw, self.id.clone(), fields);
        now.new_id = self.new_id.clone();
        now
    }
}

/// `value` as compact JSON text.
fn compact(value: &Value) -> Arc<str> {
    // Writing a `Value` to a `String` cannot fail: its keys are strings.
    Arc::from(serde_json::to_string(value).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonpath::JsonPath;

    fn fields() -> FieldsPlan {
        let path = |p: &str| JsonPath::parse(p).expect("a valid path");
        FieldsPlan {
            id: path("$.id"),
            label: Some(path("$.name")),
            status: Some(path("$.status")),
            created_at: Some(path("$.created_at")),
            message: Some(path("$.error")),
        }
    }

    #[test]
    fn a_compact_item_gives_back_its_whole_answer_in_order() {
        let raw = json!({"status": "failed", "id": 7, "name": "n", "deep": {"z": [1, 2.5, null], "a": "é"}});
        let item = Item::read(&raw, &fields()).expect("an id");
        assert_eq!(item.raw(), raw);
        assert_eq!(
            item.raw_text(),
            r#"{"status":"failed","id":7,"name":"n","deep":{"z":[1,2.5,null],"a":"é"}}"#
        );
        assert_eq!(item.id, "7");
        assert_eq!(item.label.as_deref(), Some("n"));
        assert_eq!(item.status.as_deref(), Some("failed"));
    }

    #[test]
    fn an_item_is_refreshed_by_merge_or_replacement_keeping_its_id() {
        let mut item =
            Item::read(&json!({"id": "a", "status": "failed", "n": 1}), &fields()).expect("an id");
        item.new_id = Some("b".into());
        let merged = item.refreshed(json!({"status": "done", "id": "x"}), true, &fields());
        assert_eq!(merged.raw(), json!({"id": "x", "status": "done", "n": 1}));
        assert_eq!(
            (merged.id.as_str(), merged.status.as_deref()),
            ("a", Some("done"))
        );
        assert_eq!(merged.new_id.as_deref(), Some("b"));
        let replaced = item.refreshed(json!({"status": "queued"}), false, &fields());
        assert_eq!(replaced.raw(), json!({"status": "queued"}));
        assert_eq!(replaced.id, "a");
    }

    #[test]
    fn an_item_without_an_id_is_refused_with_its_path() {
        let e = Item::read(&json!({"name": "x"}), &fields()).expect_err("no id");
        let redactor = Redactor::default();
        assert_eq!(
            e.describe(&redactor),
            r#"an item has no id at $.id (item: {"name":"x"})"#
        );
        assert!(Item::given(&json!({"id": ""}), &fields()).is_err());
    }
}
