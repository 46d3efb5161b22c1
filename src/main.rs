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
    huge_pages_off();
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

/// Transparent huge pages off for this process. mimalloc asks for them on its arenas, and the
/// kernel then zeroes 2 MiB at each first touch; memory mimalloc frees and takes again is zeroed
/// again, a huge page at a time. A 20,000-retry play took 128 huge-page faults (256 MiB zeroed,
/// `clear_page_erms` 9.6% of its samples); without them its median wall time fell 5-14% in
/// three batches of alternating runs (bench/notes.md, "Huge pages"). Best effort: a kernel
/// without the call leaves things as they were.
fn huge_pages_off() {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}
