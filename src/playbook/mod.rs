//! The playbook language: the serde model, loading with located errors, the adapter's defaults
//! overlaid once (`layer`), and compilation into a [`compile::Plan`] in which every template,
//! JSONPath, duration and rate is already checked.

pub mod compile;
pub(crate) mod layer;
pub mod load;
pub mod model;
