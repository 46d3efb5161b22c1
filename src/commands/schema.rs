//! `runbook schema`: the JSON Schema of playbooks, from the serde model.

use crate::playbook::model::Playbook;

/// `runbook schema`: the JSON Schema of playbooks.
pub fn schema() -> String {
    let schema = schemars::schema_for!(Playbook);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
