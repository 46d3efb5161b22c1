//! The commands, as the library carries them out: each takes a validated configuration, prints what
//! a person should see, and returns an exit code. The binary only parses arguments and calls [`run_blocking`].
//!
//! One file per command; what several share (loading a playbook, printing diagnostics, stdout that
//! may be a closed pipe, a ledger that must exist) lives here.

mod history;
mod ledger_choice;
mod new;
mod notices;
mod play;
mod providers;
mod recorded;
mod retry;
mod sandbox;
mod schema;
mod show;
mod signals;
mod validate;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::Diagnostic;
use crate::exit;
use crate::playbook::compile::{Plan, compile};
use crate::playbook::load::{check_name, parse, position_of, read_source};
use crate::playbook::model::Playbook;
use crate::providers as adapters;
use crate::sandbox::SandboxConfig;
use crate::secrets::{EnvSource, Redactor};
use crate::template::Templates;

use history::history;
pub use ledger_choice::LedgerChoice;
use new::new;
use notices::Notices;
use play::play;
pub use play::{OutputStyle, PlayConfig, ProgressMode};
use providers::providers_text;
use retry::retry;
pub use retry::{HttpTarget, RetryConfig};
use sandbox::sandbox;
use schema::schema;
use show::show;
use validate::validate;

/// A command and its validated configuration, as the command line asked for it.
pub enum Config {
    Play(PlayConfig),
    /// `runbook retry`: a one-off retry of named tasks.
    Retry(retry::RetryConfig),
    Validate(Vec<PathBuf>, Vec<(String, String)>),
    Schema,
    /// Text made at the edge from the clap definitions (`completions`, `man`), printed as it is.
    Print(String),
    /// `runbook new PROVIDER [FILE]`.
    New(String, crate::scaffold::Destination),
    Providers,
    Sandbox(SandboxConfig),
    History {
        ledger: LedgerChoice,
        playbook: Option<String>,
        limit: usize,
        /// JSON Lines instead of the table.
        json: bool,
    },
    Show {
        ledger: LedgerChoice,
        run_id: String,
        outputs: Vec<PathBuf>,
    },
}

/// [`run`] on the runtime the command needs; the process exit code.
///
/// `runbook sandbox` serves many connections at once, one worker thread per core; every other
/// command drives one engine task and its connections on one thread (no cross-thread wakes, about
/// a fifth less CPU per retry on 2 cores: bench/notes.md, "Retry throughput").
pub fn run_blocking(config: Config) -> i32 {
    let mut runtime = match config {
        Config::Sandbox(_) => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    };
    match runtime.enable_all().build() {
        Ok(runtime) => runtime.block_on(run(config)),
        Err(e) => {
            // Nothing has run: the process cannot make threads or an event loop.
            eprintln!("error: cannot start: {e}");
            exit::ABORTED
        }
    }
}

/// Carry out one command; the process exit code. A command that cannot go on returns why, and
/// this is the one place that prints it (redacted) and names its exit code.
pub async fn run(config: Config) -> i32 {
    let redactor = Redactor::default();
    let output = match &config {
        Config::Play(play) => Some(play.output),
        Config::Retry(retry) => Some(retry.play.output),
        _ => None,
    };
    let done = match config {
        Config::Play(config) => play(config, &redactor).await,
        Config::Retry(config) => retry(config, &redactor).await,
        Config::Validate(paths, vars) => validate(&paths, &vars),
        Config::Schema => print_stdout(&schema()),
        Config::New(provider, destination) => new(&provider, &destination),
        Config::Print(text) => print_stdout(&text),
        Config::Providers => print_stdout(&providers_text()),
        Config::Sandbox(config) => sandbox(config).await,
        Config::History {
            ledger,
            playbook,
            limit,
            json,
        } => history(&ledger, playbook.as_deref(), limit, json),
        Config::Show {
            ledger,
            run_id,
            outputs,
        } => show(&ledger, &run_id, &outputs),
    };
    match done {
        Ok(code) => code,
        // Other commands have no `--log-format`: plain, coloured on a terminal.
        Err(e) => e.render(&output.unwrap_or_default().notices(&redactor)),
    }
}

/// Why a command stopped before it could finish. Each layer's error becomes one of these where the
/// command meets it, and [`run`] prints it once, as `error: …`, with the exit code it names.
#[derive(Debug)]
pub(crate) enum CommandError {
    /// The playbook, its environment or the command line is wrong; nothing was sent
    /// ([`exit::INVALID`]).
    Invalid(String),
    /// The playbook's own located diagnostics; nothing was sent ([`exit::INVALID`]).
    Diagnostics(Vec<Diagnostic>),
    /// Something outside the playbook stands in the way: the sandbox, the lock, an unreadable
    /// ledger ([`exit::ABORTED`]).
    Aborted(String),
    /// What the command printed could not be written ([`exit::SOME_FAILED`]).
    Unwritten(std::io::Error),
}

/// A ledger that cannot be read or written stops the command as something outside the playbook.
impl From<crate::ledger::LedgerError> for CommandError {
    fn from(e: crate::ledger::LedgerError) -> Self {
        CommandError::Aborted(e.to_string())
    }
}

impl CommandError {
    /// The exit code this stop ends the process with.
    fn exit_code(&self) -> i32 {
        match self {
            CommandError::Invalid(_) | CommandError::Diagnostics(_) => exit::INVALID,
            CommandError::Aborted(_) => exit::ABORTED,
            CommandError::Unwritten(_) => exit::SOME_FAILED,
        }
    }

    /// Print the reason once, redacted, through `notices`, and name the exit code.
    fn render(self, notices: &Notices) -> i32 {
        let code = self.exit_code();
        let mut fields = serde_json::Map::new();
        fields.insert("exit_code".into(), code.into());
        match self {
            CommandError::Diagnostics(diags) => notices.diagnostics(&diags, Some(code)),
            CommandError::Invalid(why) | CommandError::Aborted(why) => {
                notices.error_with(&why, fields)
            }
            CommandError::Unwritten(e) => notices.error_with(&e.to_string(), fields),
        }
        code
    }
}

/// Load and compile a playbook. Touches no network.
pub(crate) fn prepare(
    path: &Path,
    vars: &[(String, String)],
    env: Arc<EnvSource>,
    redactor: Redactor,
) -> Result<Plan, Vec<Diagnostic>> {
    let file = read_source(path).map_err(|d| vec![d])?;
    let playbook: Playbook = parse(&file).map_err(|d| vec![d])?;
    check_name(&file, &playbook.name).map_err(|d| vec![d])?;
    let Some(provider) = adapters::find(&playbook.provider.value) else {
        let help = adapters::unknown_help(&playbook.provider.value);
        let d = Diagnostic::new(format!("unknown provider `{}`", playbook.provider.value))
            .at(&file, position_of(&playbook.provider))
            .help(help);
        return Err(vec![d]);
    };
    let templates = Templates::new(env, redactor, jiff::Timestamp::now());
    compile(&file, playbook, provider, vars, templates)
}

/// Print to stdout; a closed pipe (`runbook schema | head`) is not an error.
pub(crate) fn print_stdout(text: &str) -> Result<i32, CommandError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(exit::OK),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(exit::OK),
        Err(e) => Err(CommandError::Unwritten(e)),
    }
}
