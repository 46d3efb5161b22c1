//! The `runbook` binary: parse arguments, call the library, exit with a named code.

mod cli;

use clap::Parser;
use runbook::{commands, exit};

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
    std::process::exit(commands::run(args.into_config()).await);
}
