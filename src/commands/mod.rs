//! The commands, as the library carries them out: each takes a validated configuration, prints what
//! a person should see, and returns an exit code. The binary only parses arguments and calls [`run`].
//!
//! One file per command; what several share (loading a playbook, printing diagnostics, stdout that
//! may be a closed pipe, a ledger that must exist) lives here.

mod history;
mod play;
mod providers;
mod sandbox;
mod schema;
mod show;
mod signals;
mod validate;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::exit;
use crate::playbook::compile::{Plan, compile};
use crate::playbook::load::{check_name, parse, position_of, read_source};
use crate::playbook::model::Playbook;
use crate::providers as adapters;
use crate::sandbox::SandboxConfig;
use crate::secrets::{EnvSource, Redactor};
use crate::template::Templates;

pub use history::history;
pub use play::{PlayConfig, ProgressMode, play};
pub use providers::providers_text;
pub use sandbox::sandbox;
pub use schema::schema;
pub use show::show;
pub use validate::validate;

/// A command and its validated configuration, as the command line asked for it.
pub enum Config {
    Play(PlayConfig),
    Validate(Vec<PathBuf>, Vec<(String, String)>),
    Schema,
    Providers,
    Sandbox(SandboxConfig),
    History {
        ledger: PathBuf,
        playbook: Option<String>,
        limit: usize,
    },
    Show {
        ledger: PathBuf,
        run_id: String,
        outputs: Vec<PathBuf>,
    },
}

/// Carry out one command; the process exit code.
pub async fn run(config: Config) -> i32 {
    match config {
        Config::Play(config) => play(config).await,
        Config::Validate(paths, vars) => validate(&paths, &vars),
        Config::Schema => print_stdout(&schema()),
        Config::Providers => print_stdout(&providers_text()),
        Config::Sandbox(config) => sandbox(config).await,
        Config::History {
            ledger,
            playbook,
            limit,
        } => history(&ledger, playbook.as_deref(), limit),
        Config::Show {
            ledger,
            run_id,
            outputs,
        } => show(&ledger, &run_id, &outputs),
    }
}

/// Load and compile a playbook. Touches no network.
pub fn prepare(
    path: &Path,
    vars: &[(String, String)],
    env: Arc<EnvSource>,
    redactor: Redactor,
) -> Result<Plan, Vec<Diagnostic>> {
    let file = read_source(path).map_err(|d| vec![d])?;
    let playbook: Playbook = parse(&file).map_err(|d| vec![d])?;
    check_name(&file, &playbook.name).map_err(|d| vec![d])?;
    let Some(provider) = adapters::find(&playbook.provider.value) else {
        let names: Vec<&str> = adapters::all().iter().map(|p| p.name()).collect();
        let help = match did_you_mean(&playbook.provider.value, names.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("the providers are: {}", names.join(", ")),
        };
        let d = Diagnostic::new(format!("unknown provider `{}`", playbook.provider.value))
            .at(&file, position_of(&playbook.provider))
            .help(help);
        return Err(vec![d]);
    };
    let templates = Templates::new(env, redactor, jiff::Timestamp::now());
    compile(&file, playbook, provider, vars, templates)
}

pub(super) fn print_diagnostics(diags: &[Diagnostic], redactor: &Redactor) {
    for d in diags {
        eprint!("{}", redactor.redact(&d.to_string()));
    }
    if diags.len() > 1 {
        eprintln!("{} errors", diags.len());
    }
}

/// Warnings of a playbook that still runs, on stderr.
pub(super) fn print_warnings(warnings: &[Diagnostic], redactor: &Redactor) {
    for w in warnings {
        eprint!("{}", redactor.redact(&w.to_string()));
    }
}

/// `history` and `show` read a ledger that runs made: none there is a mistake on the command line
/// (exit 2), not an empty history.
pub(super) fn ledger_exists(ledger: &Path) -> Result<(), i32> {
    if ledger.exists() {
        return Ok(());
    }
    eprintln!(
        "error: no ledger at {} (runs record themselves there; --ledger PATH points elsewhere)",
        ledger.display()
    );
    Err(exit::INVALID)
}

/// Print to stdout; a closed pipe (`runbook schema | head`) is not an error.
pub fn print_stdout(text: &str) -> i32 {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => exit::OK,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit::OK,
        Err(e) => {
            eprintln!("error: {e}");
            exit::SOME_FAILED
        }
    }
}
