//! `runbook retry PROVIDER ID...`: write the one-off playbook (see `oneoff`) where an error can
//! point at it, and play it like any playbook.

mod oneoff;

use std::path::{Path, PathBuf};

use super::CommandError;
use crate::secrets::Redactor;
use oneoff::DIR;
pub use oneoff::{HttpTarget, RetryConfig};

/// Write the one-off playbook where errors can point at it.
fn write_playbook(provider: &str, text: &str) -> std::io::Result<PathBuf> {
    let path = Path::new(DIR).join(format!("retry-{provider}.yaml"));
    crate::report::write_atomically(&path, text)?;
    Ok(path)
}

/// `runbook retry`: build the one-off playbook and play it. Exit codes as `play`.
pub(crate) async fn retry(config: RetryConfig, redactor: &Redactor) -> Result<i32, CommandError> {
    let text = oneoff::playbook(&config).map_err(|e| CommandError::Invalid(e.to_string()))?;
    let path = write_playbook(&config.provider, &text).map_err(|e| {
        CommandError::Aborted(format!(
            "cannot write the one-off playbook under {DIR}/: {e}"
        ))
    })?;
    let mut play = config.play;
    play.playbook = path;
    super::play(play, redactor).await
}
