//! The `runbook` binary: parse arguments, call the library, exit with a named code.
//!
//! The runtime: `runbook sandbox` serves many connections at once, one worker thread per core; every
//! other command drives one engine task and its connections on one thread (no cross-thread wakes,
//! about a fifth less CPU per retry on 2 cores: bench/notes.md, "Retry throughput").

mod cli;

use clap::Parser;
use runbook::commands::{self, Config};
use runbook::exit;

/// mimalloc, made for many small short-lived allocations across threads: a request's strings,
/// headers and answer (bench/notes.md, "Retry throughput").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let config = match cli::Args::try_parse() {
        Ok(a) => a.into_config(),
        Err(e) => {
            let _ = e.print();
            std::process::exit(if e.use_stderr() {
                exit::INVALID
            } else {
                exit::OK
            });
        }
    };
    let mut runtime = match config {
        Config::Sandbox(_) => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    };
    let code = match runtime.enable_all().build() {
        Ok(runtime) => runtime.block_on(commands::run(config)),
        Err(e) => {
            // Nothing has run: the process cannot make threads or an event loop.
            eprintln!("error: cannot start: {e}");
            exit::ABORTED
        }
    };
    std::process::exit(code);
}
