//! An item: one unit of work at the provider (a task, a run), as fetched, with its common fields read
//! once through the playbook's `task:` paths.
//!
//! Invariant: an item's id never changes once read. Ids given by the playbook (`fetch: ids:` or
//! `file:`) are ids whatever the adapter's `task.id` path says (Skyvern's `$.workflow_run_id`), and
//! reading an item again (enrich, check) keeps the id it had.

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
    pub raw: Value,
    pub id: String,
    pub label: Option<String>,
    pub status: Option<String>,
    pub created_at: Option<Value>,
    pub message: Option<String>,
    /// The id of new work its retry created (Skyvern's new run).
    pub new_id: Option<String>,
}

impl Item {
    /// Read an item's fields; an item with no id cannot be worked on.
    pub fn read(raw: Value, fields: &FieldsPlan) -> Result<Item, MissingId> {
        let Some(id) = fields.id.first_text(&raw).filter(|s| !s.is_empty()) else {
            return Err(MissingId {
                path: fields.id.source().to_string(),
                raw,
            });
        };
        Ok(Item::with_id(raw, id, fields))
    }

    /// An item whose id was given (an `ids:` list, an ids file: `$.id` of `raw`), its other
    /// fields read through `fields`. The adapter's id path is not consulted: an id is an id.
    pub fn given(raw: Value, fields: &FieldsPlan) -> Result<Item, MissingId> {
        let Some(id) = raw
            .get("id")
            .and_then(scalar_text)
            .filter(|s| !s.is_empty())
        else {
            return Err(MissingId {
                path: "$.id".to_string(),
                raw,
            });
        };
        Ok(Item::with_id(raw, id, fields))
    }

    /// `raw` as the item `id`, its other fields read through `fields`.
    fn with_id(raw: Value, id: String, fields: &FieldsPlan) -> Item {
        let text =
            |p: &Option<crate::jsonpath::JsonPath>| p.as_ref().and_then(|p| p.first_text(&raw));
        Item {
            label: text(&fields.label),
            status: text(&fields.status),
            created_at: fields
                .created_at
                .as_ref()
                .and_then(|p| p.first(&raw))
                .cloned(),
            message: text(&fields.message),
            new_id: None,
            id,
            raw,
        }
    }

    /// An item made from an id alone (ids from a file or a list).
    pub fn from_id(id: &str) -> Item {
        Item {
            raw: json!({ "id": id }),
            id: id.to_string(),
            label: None,
            status: None,
            created_at: None,
            message: None,
            new_id: None,
        }
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

    /// Read the fields again after the raw item changed (enrichment, a check); the id stays.
    pub fn reread(&mut self, fields: &FieldsPlan) {
        let mut fresh = Item::with_id(self.raw.clone(), std::mem::take(&mut self.id), fields);
        fresh.new_id = self.new_id.take();
        *self = fresh;
    }
}
