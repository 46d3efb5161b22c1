//! The `runbook` binary: parse arguments, call the library (which picks the runtime:
//! [`commands::run_blocking`]), exit with a named code.

mod cli;

use clap::Parser;
use runbook::{commands, exit};

/// mimalloc, made for many small short-lived allocations across threads: a request's strings,
/// headers and answer (bench/notes.md, "Retry throughput").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let config = match cli::Args::try_parse() {
        Ok(a) => a.into_config(),
        Err(e) => {
            let _ = e.print();
            let code = if e.use_stderr() {
                exit::INVALID
            } else {
                exit::OK
            };
            std::process::exit(code);
        }
    };
    std::process::exit(commands::run_blocking(config));
}
