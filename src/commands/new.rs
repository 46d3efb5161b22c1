//! `runbook new PROVIDER [FILE]`: write a starter playbook (see `scaffold`), or print it for `-`.

use super::print_stdout;
use crate::exit;
use crate::scaffold::{Destination, NewError, schema_to_write, starter, write_new};

/// `runbook new PROVIDER [FILE]`: write (or print, for `-`) a starter playbook. Exit 2 for an
/// unknown provider or an existing file, 1 when it cannot be written. With no committed schema
/// near, the schema its modeline names is written beside it (never over a file).
pub fn new(provider: &str, destination: &Destination) -> i32 {
    let schema_file = schema_to_write(destination);
    let written =
        starter(provider, destination).and_then(|text| match destination {
            Destination::Stdout => Ok(print_stdout(&text)
                .unwrap_or_else(|e| e.render(&crate::secrets::Redactor::default()))),
            Destination::File(path) => write_new(path, &text).and_then(|()| {
                if let Some(schema_file) = &schema_file {
                    match write_new(schema_file, &super::schema::schema()) {
                        Ok(()) => eprintln!(
                            "wrote {} for the editor (runbook schema > {0} refreshes it)",
                            schema_file.display()
                        ),
                        // Written meanwhile by someone else: the modeline names it all the same.
                        Err(NewError::Exists { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
                eprintln!(
                    "wrote {0}; try it: runbook play {0} --sandbox --dry-run",
                    path.display()
                );
                Ok(exit::OK)
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
