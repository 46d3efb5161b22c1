//! What each finished step handed on, by name, and the `steps` that templates see over it.
//!
//! `steps.<name>.count` and `steps.<name>.items` are read through a minijinja object over the
//! items themselves, item by item as a template asks, rather than copied into one template value
//! after every step: that copy held every item of every step a second time, as a tree.
//!
//! Invariant: a step's `count` is how many items it found, also when a filter that reads it alone
//! already dropped some of them as they arrived (then its `items` are those the filter kept, and no
//! template reads them: the plan fuses the two steps only then).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Value as Ctx};

use super::Item;

/// What one finished step handed on.
#[derive(Clone, Default)]
pub(crate) struct StepOutput {
    /// How many items the step found (`steps.<name>.count`).
    pub(crate) count: usize,
    /// The items it handed on, shared by every reader.
    pub(crate) items: Arc<Vec<Item>>,
}

impl StepOutput {
    /// A step's items, all handed on.
    pub(crate) fn all(items: Vec<Item>) -> StepOutput {
        StepOutput {
            count: items.len(),
            items: Arc::new(items),
        }
    }
}

impl fmt::Debug for StepOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StepOutput({} of {})", self.items.len(), self.count)
    }
}

/// The outputs of the steps finished so far.
#[derive(Clone, Debug, Default)]
pub(crate) struct Outputs(BTreeMap<String, StepOutput>);

impl Outputs {
    pub(crate) fn insert(&mut self, name: &str, output: StepOutput) {
        self.0.insert(name.to_string(), output);
    }

    pub(crate) fn get(&self, name: &str) -> Option<&StepOutput> {
        self.0.get(name)
    }

    /// `steps` for templates: a view over the outputs as they are now.
    pub(crate) fn context(&self) -> Ctx {
        Ctx::from_object(self.clone())
    }
}

impl Object for Outputs {
    fn get_value(self: &Arc<Self>, key: &Ctx) -> Option<Ctx> {
        let output = self.0.get(key.as_str()?)?;
        Some(Ctx::from_object(output.clone()))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.0.keys().map(|k| Ctx::from(k.as_str())).collect())
    }
}

impl Object for StepOutput {
    fn get_value(self: &Arc<Self>, key: &Ctx) -> Option<Ctx> {
        match key.as_str()? {
            "count" => Some(Ctx::from(self.count)),
            "items" => Some(Ctx::from_object(Items(Arc::clone(&self.items)))),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["count", "items"])
    }
}

/// A step's items as a template sequence: each item's raw JSON, made when it is read.
struct Items(Arc<Vec<Item>>);

impl fmt::Debug for Items {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Items({})", self.0.len())
    }
}

impl Object for Items {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Ctx) -> Option<Ctx> {
        let item = self.0.get(key.as_usize()?)?;
        Some(item.template_value())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::playbook::compile::FieldsPlan;

    fn item(raw: serde_json::Value) -> Item {
        let fields = FieldsPlan {
            id: crate::jsonpath::JsonPath::parse("$.id").expect("a valid path"),
            label: None,
            status: None,
            created_at: None,
            message: None,
        };
        Item::read(&raw, &fields).expect("an id")
    }

    fn render(source: &str, steps: Ctx) -> String {
        let env = minijinja::Environment::new();
        env.render_str(source, minijinja::context! { steps => steps })
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn templates_read_counts_and_items_through_the_view() {
        let mut outputs = Outputs::default();
        outputs.insert(
            "failed",
            StepOutput::all(vec![
                item(json!({"id": "a", "n": 1})),
                item(json!({"id": "b", "tags": ["x"]})),
            ]),
        );
        outputs.insert(
            "kept",
            StepOutput {
                count: 10,
                items: Arc::new(vec![item(json!({"id": "c"}))]),
            },
        );
        let steps = outputs.context();
        assert_eq!(
            render(
                "{{ steps.failed.count }} {{ steps.kept.count }} {{ steps.kept.items | length }}",
                steps.clone()
            ),
            "2 10 1"
        );
        assert_eq!(
            render(
                "{% for i in steps.failed.items %}{{ i.id }}{% endfor %} {{ steps.failed.items[1].tags[0] }}",
                steps.clone()
            ),
            "ab x"
        );
        assert_eq!(
            render("{{ steps.failed.items | tojson }}", steps.clone()),
            r#"[{"id": "a", "n": 1}, {"id": "b", "tags": ["x"]}]"#
        );
        assert_eq!(
            render("{{ steps | list | join(',') }}", steps),
            "failed,kept"
        );
    }
}
