//! runbook: declarative recovery playbooks for failed work at SaaS providers.
//!
//! Data flows one way: CLI → config → playbook → engine → steps → provider → client → report.

pub mod client;
pub mod commands;
pub mod diagnostic;
pub mod engine;
pub mod exit;
pub mod files;
pub mod jsonpath;
mod jsonpath_functions;
pub mod ledger;
pub mod lock;
pub mod notify;
pub mod playbook;
pub mod progress;
#[cfg(test)]
mod property_tests;
pub mod providers;
pub mod report;
pub mod sandbox;
pub mod scaffold;
pub mod secrets;
pub mod style;
pub mod template;
pub mod time;
pub mod units;
