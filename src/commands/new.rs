//! `runbook new PROVIDER [FILE]`: write a starter playbook (see `scaffold`), or print it for `-`.

use std::path::Path;

use super::{CommandError, print_stdout};
use crate::exit;
use crate::scaffold::{Destination, NewError, schema_to_write, starter, write_new};

/// `runbook new PROVIDER [FILE]`: write (or print, for `-`) a starter playbook. Exit 2 for an
/// unknown provider or an existing file, 1 when it cannot be written. With no committed schema
/// near, the schema its modeline names is written beside it (never over a file).
pub(crate) fn new(provider: &str, destination: &Destination) -> Result<i32, CommandError> {
    let schema_file = schema_to_write(destination);
    let text = starter(provider, destination).map_err(refused)?;
    let path = match destination {
        Destination::Stdout => return print_stdout(&text),
        Destination::File(path) => path,
    };
    write_new(path, &text).map_err(refused)?;
    if let Some(schema_file) = schema_file {
        write_schema(&schema_file)?;
    }
    eprintln!(
        "wrote {0}; try it: runbook play {0} --sandbox --dry-run",
        path.display()
    );
    Ok(exit::OK)
}

/// The schema a new playbook's modeline names, written beside it for the editor.
fn write_schema(schema_file: &Path) -> Result<(), CommandError> {
    match write_new(schema_file, &super::schema::schema()) {
        Ok(()) => eprintln!(
            "wrote {} for the editor (runbook schema > {0} refreshes it)",
            schema_file.display()
        ),
        // Written meanwhile by someone else: the modeline names it all the same.
        Err(NewError::Exists { .. }) => {}
        Err(e) => return Err(refused(e)),
    }
    Ok(())
}

/// A mistake on the command line (exit 2), or a file that cannot be written (exit 1).
fn refused(e: NewError) -> CommandError {
    match e {
        NewError::Io { .. } => CommandError::Unwritten(std::io::Error::other(e.to_string())),
        NewError::UnknownProvider { .. } | NewError::Exists { .. } => {
            CommandError::Invalid(e.to_string())
        }
    }
}
