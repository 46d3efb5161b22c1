//! The `runbook` binary: parse arguments, call the library, exit with a named code.

mod cli;

use clap::Parser;
use runbook::{app, exit};

#[tokio::main]
async fn main() {
    let args = match cli::Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            std::process::exit(if e.use_stderr() {
                exit::INVALID
            } else {
                exit::OK
            });
        }
    };
    let code = match args.into_config() {
        cli::Config::Play(config) => app::play(config).await,
        cli::Config::Retry(config) => runbook::oneoff::run(config).await,
        cli::Config::Validate(paths, vars) => app::validate(&paths, &vars),
        cli::Config::Schema => app::print_stdout(&app::schema()),
        cli::Config::New(provider, destination) => runbook::scaffold::run(&provider, &destination),
        cli::Config::Providers => app::print_stdout(&app::providers_text()),
        cli::Config::Sandbox(config) => app::sandbox(config).await,
        cli::Config::History {
            ledger,
            playbook,
            limit,
        } => app::history(&ledger, playbook.as_deref(), limit),
        cli::Config::Show {
            ledger,
            run_id,
            outputs,
        } => app::show(&ledger, &run_id, &outputs),
    };
    std::process::exit(code);
}
