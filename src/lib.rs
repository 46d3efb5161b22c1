//! runbook: declarative recovery playbooks for failed work at SaaS providers.
//!
//! Data flows one way: CLI → config → playbook → engine → steps → provider → http → report.

pub mod sandbox;
