//! `runbook validate`: load and compile playbooks, touching no network.

use std::path::PathBuf;
use std::sync::Arc;

use super::{prepare, print_diagnostics, print_warnings};
use crate::exit;
use crate::secrets::{EnvSource, Redactor};

/// `runbook validate`: check playbooks without any network.
pub fn validate(paths: &[PathBuf], vars: &[(String, String)]) -> i32 {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let env = match EnvSource::load(&cwd) {
        Ok(e) => Arc::new(e),
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
    };
    let mut code = exit::OK;
    for path in paths {
        let redactor = Redactor::default();
        match prepare(path, vars, Arc::clone(&env), redactor.clone()) {
            Ok(plan) => {
                print_warnings(&plan.warnings, &redactor);
                println!(
                    "{}: ok ({} steps, provider {})",
                    path.display(),
                    plan.steps.len(),
                    plan.provider.name()
                )
            }
            Err(diags) => {
                print_diagnostics(&diags, &redactor);
                code = exit::INVALID;
            }
        }
    }
    code
}
