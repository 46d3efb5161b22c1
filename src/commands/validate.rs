//! `runbook validate`: load and compile playbooks, touching no network.

use std::path::PathBuf;
use std::sync::Arc;

use super::{CommandError, Notices, prepare};
use crate::exit;
use crate::progress::LogFormat;
use crate::secrets::{EnvSource, Redactor};
use crate::style::Paint;

/// `runbook validate`: check playbooks without any network.
/// Each file's mistakes are printed as it is checked; the command goes on to the next file.
pub(crate) fn validate(paths: &[PathBuf], vars: &[(String, String)]) -> Result<i32, CommandError> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let env = Arc::new(EnvSource::load(&cwd).map_err(CommandError::Invalid)?);
    let mut code = exit::OK;
    for path in paths {
        let redactor = Redactor::default();
        let notices = Notices::new(LogFormat::Plain, &redactor, Paint::when(false));
        match prepare(path, vars, Arc::clone(&env), redactor.clone()) {
            Ok(plan) => {
                notices.diagnostics(&plan.warnings, None);
                println!(
                    "{}: ok ({} steps, provider {})",
                    path.display(),
                    plan.steps.len(),
                    plan.provider.name()
                )
            }
            Err(diags) => {
                code = exit::INVALID;
                notices.diagnostics(&diags, Some(code));
            }
        }
    }
    Ok(code)
}
