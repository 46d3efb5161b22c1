//! `runbook retry PROVIDER ID...`: write the one-off playbook (see `oneoff`) where an error can
//! point at it, and play it like any playbook.

use std::path::{Path, PathBuf};

use crate::exit;
use crate::oneoff::{self, DIR, RetryConfig};

/// Write the one-off playbook where errors can point at it.
fn write_playbook(provider: &str, text: &str) -> std::io::Result<PathBuf> {
    let path = Path::new(DIR).join(format!("retry-{provider}.yaml"));
    crate::report::write_atomically(&path, text)?;
    Ok(path)
}

/// `runbook retry`: build the one-off playbook and play it. Exit codes as `play`.
pub async fn retry(config: RetryConfig) -> i32 {
    let text = match oneoff::playbook(&config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
    };
    let path = match write_playbook(&config.provider, &text) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: cannot write the one-off playbook under {DIR}/: {e}");
            return exit::ABORTED;
        }
    };
    let mut play = config.play;
    play.playbook = path;
    super::play(play).await
}
