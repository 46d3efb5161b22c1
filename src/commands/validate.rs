//! `runbook validate`: load and compile playbooks, touching no network.

use std::path::PathBuf;
use std::sync::Arc;

use super::{CommandError, prepare, print_diagnostics, print_warnings};
use crate::exit;
use crate::secrets::{EnvSource, Redactor};

/// `runbook validate`: check playbooks without any network.
/// Each file's mistakes are printed as it is checked; the command goes on to the next file.
pub(crate) fn validate(paths: &[PathBuf], vars: &[(String, String)]) -> Result<i32, CommandError> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let env = Arc::new(EnvSource::load(&cwd).map_err(CommandError::Invalid)?);
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
    Ok(code)
}
