//! What `play` and `retry` say on stderr besides progress: errors, warnings and notes (the
//! playbook's diagnostics, a ledger that cannot be used, the step that stopped the run, a report
//! that cannot be written, an interruption). As plain lines, or with `--log-format json` as one
//! JSON object per line, like the progress lines, so that a log collector parses every line a run
//! writes: `ts`, `event` (`error`, `warning` or the note's name), `text`, then what the event adds
//! (a diagnostic's `file`, `line`, `column` and `help`; the exit code of an error that ends the
//! command).
//!
//! Invariant: every text is redacted before it is written, in either form.

use serde_json::{Map, Value};

use crate::diagnostic::Diagnostic;
use crate::progress::{LogFormat, LogWriter};
use crate::secrets::Redactor;
use crate::style::Paint;

/// Where `play` and `retry` say what is not progress: see the module's documentation.
#[derive(Clone)]
pub(crate) struct Notices {
    format: LogFormat,
    redactor: Redactor,
    /// How `error:` is painted on a plain line.
    paint: Paint,
}

impl Notices {
    pub(crate) fn new(format: LogFormat, redactor: &Redactor, paint: Paint) -> Notices {
        Notices {
            format,
            redactor: redactor.clone(),
            paint,
        }
    }

    /// `error: TEXT`.
    pub(crate) fn error(&self, text: &str) {
        self.error_with(text, Map::new());
    }

    /// `error: TEXT`; in JSON with `fields` added.
    pub(crate) fn error_with(&self, text: &str, fields: Map<String, Value>) {
        match self.format {
            LogFormat::Plain => {
                eprintln!("{} {}", self.paint.error(), self.redactor.redact(text))
            }
            LogFormat::Json => self.json("error", text, fields),
        }
    }

    /// `warning: TEXT`.
    pub(crate) fn warning(&self, text: &str) {
        match self.format {
            LogFormat::Plain => eprintln!("warning: {}", self.redactor.redact(text)),
            LogFormat::Json => self.json("warning", text, Map::new()),
        }
    }

    /// A line that is neither an error nor a warning (`resuming run …`), as it is; `event` names
    /// it in JSON.
    pub(crate) fn note(&self, event: &str, text: &str) {
        match self.format {
            LogFormat::Plain => eprintln!("{}", self.redactor.redact(text)),
            LogFormat::Json => self.json(event, text, Map::new()),
        }
    }

    /// A playbook's diagnostics: with the file's line and a caret when plain, one object each in
    /// JSON. `exit_code`, when they stop the command, is added to each object.
    pub(crate) fn diagnostics(&self, diagnostics: &[Diagnostic], exit_code: Option<i32>) {
        match self.format {
            LogFormat::Plain => {
                for d in diagnostics {
                    eprint!("{}", self.redactor.redact(&d.to_string()));
                }
                if diagnostics.len() > 1 && exit_code.is_some() {
                    eprintln!("{} errors", diagnostics.len());
                }
            }
            LogFormat::Json => {
                for d in diagnostics {
                    let mut fields = Map::new();
                    if let Some(file) = &d.file {
                        fields.insert("file".into(), file.path.display().to_string().into());
                    }
                    if let Some(position) = d.position {
                        fields.insert("line".into(), position.line.into());
                        fields.insert("column".into(), position.column.into());
                    }
                    if let Some(help) = &d.help {
                        fields.insert("help".into(), help.clone().into());
                    }
                    if let Some(code) = exit_code {
                        fields.insert("exit_code".into(), code.into());
                    }
                    let event = if d.warning { "warning" } else { "error" };
                    self.json(event, &d.message, fields);
                }
            }
        }
    }

    fn json(&self, event: &str, text: &str, fields: Map<String, Value>) {
        // The writer redacts the whole object, its fields included.
        let log = LogWriter::new(LogFormat::Json, true, self.redactor.clone());
        log.write(&mut std::io::stderr().lock(), event, text, fields);
    }
}
