//! `runbook new PROVIDER [FILE]`: write a starter playbook (see `scaffold`), or print it for `-`.

use super::print_stdout;
use crate::exit;
use crate::scaffold::{Destination, NewError, starter, write_new};

/// `runbook new PROVIDER [FILE]`: write (or print, for `-`) a starter playbook. Exit 2 for an
/// unknown provider or an existing file, 1 when it cannot be written.
pub fn new(provider: &str, destination: &Destination) -> i32 {
    let written =
        starter(provider, destination).and_then(|text| match destination {
            Destination::Stdout => Ok(print_stdout(&text)
                .unwrap_or_else(|e| e.render(&crate::secrets::Redactor::default()))),
            Destination::File(path) => write_new(path, &text).map(|()| {
                eprintln!(
                    "wrote {0}; try it: runbook play {0} --sandbox --dry-run",
                    path.display()
                );
                exit::OK
            }),
        });
    match written {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                NewError::Io { .. } => exit::SOME_FAILED,
                NewError::UnknownProvider { .. } | NewError::Exists { .. } => exit::INVALID,
            }
        }
    }
}
