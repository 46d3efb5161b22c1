//! The command line as data (clap). It becomes the library's configuration before anything runs;
//! the library never sees clap.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use runbook::commands::{Config, PlayConfig, ProgressMode};
use runbook::sandbox::SandboxConfig;

#[derive(Debug, Parser)]
#[command(
    name = "runbook",
    version,
    about = "Run declarative recovery playbooks: find failed work at a provider, retry it safely, report."
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a playbook.
    Play {
        /// The playbook file.
        playbook: PathBuf,
        /// Set a playbook variable (repeatable): --var days=7
        #[arg(long = "var", value_name = "K=V", value_parser = parse_var)]
        vars: Vec<(String, String)>,
        /// Perform the reads, send nothing that changes anything; report each request as `planned`.
        #[arg(long)]
        dry_run: bool,
        /// Retry at most N items.
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
        /// Write a report; the format follows the extension (.json, .md, .xml for JUnit, .prom for
        /// Prometheus). Repeatable.
        #[arg(short = 'o', long = "output", value_name = "PATH")]
        outputs: Vec<PathBuf>,
        /// Do not append the Markdown report to $GITHUB_STEP_SUMMARY.
        #[arg(long)]
        no_step_summary: bool,
        /// Requests in flight at once for retry steps (overrides the playbook).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
        concurrency: Option<u64>,
        /// Print nothing but errors.
        #[arg(short, long)]
        quiet: bool,
        /// Print every request and backoff.
        #[arg(short, long)]
        verbose: bool,
        /// Start the sandbox in-process and point the playbook at it, with sandbox credentials.
        #[arg(long)]
        sandbox: bool,
        /// The run ledger (default .runbook/ledger.db; .runbook/sandbox-ledger.db with --sandbox).
        #[arg(long, value_name = "PATH")]
        ledger: Option<PathBuf>,
        /// Continue the last unfinished run of this playbook: nothing it retried is sent again.
        #[arg(long)]
        resume: bool,
        /// Send again the retries that cannot be checked: in flight when the resumed run stopped
        /// (with --resume), or retries into new work that got no answer in an earlier run.
        #[arg(long)]
        retry_unknown: bool,
        /// Go past the blast-radius guards (max_selected, max_selected_ratio).
        #[arg(long)]
        yes: bool,
    },
    /// List past runs from the ledger, newest first.
    History {
        /// Only the runs of this playbook (a file or a playbook name).
        playbook: Option<String>,
        #[arg(long, value_name = "PATH", default_value = runbook::ledger::DEFAULT_PATH)]
        ledger: PathBuf,
        /// Show at most N runs.
        #[arg(long, value_name = "N", default_value_t = 20)]
        limit: usize,
    },
    /// Print a past run's report from the ledger, or write it again with -o.
    Show {
        run_id: String,
        #[arg(long, value_name = "PATH", default_value = runbook::ledger::DEFAULT_PATH)]
        ledger: PathBuf,
        /// Write the report; the format follows the extension (.json, .md, .xml, .prom). Repeatable.
        #[arg(short = 'o', long = "output", value_name = "PATH")]
        outputs: Vec<PathBuf>,
    },
    /// Check playbooks: parse, compile templates and JSONPaths. No network.
    Validate {
        #[arg(required = true)]
        playbooks: Vec<PathBuf>,
        /// Check with these variable values (repeatable).
        #[arg(long = "var", value_name = "K=V", value_parser = parse_var)]
        vars: Vec<(String, String)>,
    },
    /// Print the JSON Schema of playbooks.
    Schema,
    /// List the provider adapters, their environment variables and default retryable statuses.
    Providers,
    /// Serve the emulated provider APIs on 127.0.0.1 until interrupted.
    Sandbox {
        /// Port to listen on (0: any free port).
        #[arg(long, default_value_t = 8085)]
        port: u16,
        /// Seed of the generated tasks and of the fault sequence.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Probability (0 to 1) that a request gets an injected transient fault (503, 429).
        #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
        faults: f64,
        /// Share (0 to 1) of Deep Work retries answered 500 after the reset was saved.
        #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
        deepwork_dispatch_failures: f64,
    },
}

fn parse_var(text: &str) -> Result<(String, String), String> {
    let (k, v) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not K=V"))?;
    if k.trim().is_empty() {
        return Err(format!("`{text}` has no variable name"));
    }
    Ok((k.trim().to_string(), v.to_string()))
}

fn parse_rate(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err("the fault rate is between 0 and 1".into())
    }
}

impl Args {
    pub fn into_config(self) -> Config {
        match self.command {
            Command::Play {
                playbook,
                vars,
                dry_run,
                limit,
                outputs,
                no_step_summary,
                concurrency,
                quiet,
                verbose,
                sandbox,
                ledger,
                resume,
                retry_unknown,
                yes,
            } => {
                let progress = if quiet {
                    ProgressMode::Quiet
                } else if std::io::stderr().is_terminal() {
                    ProgressMode::Bars
                } else {
                    ProgressMode::Plain
                };
                Config::Play(PlayConfig {
                    playbook,
                    vars,
                    dry_run,
                    limit,
                    outputs,
                    step_summary: !no_step_summary,
                    concurrency: concurrency.map(|c| c as usize),
                    progress,
                    verbose,
                    sandbox,
                    ledger,
                    resume,
                    retry_unknown,
                    yes,
                })
            }
            Command::Validate { playbooks, vars } => Config::Validate(playbooks, vars),
            Command::Schema => Config::Schema,
            Command::History {
                playbook,
                ledger,
                limit,
            } => Config::History {
                ledger,
                playbook,
                limit,
            },
            Command::Show {
                run_id,
                ledger,
                outputs,
            } => Config::Show {
                ledger,
                run_id,
                outputs,
            },
            Command::Providers => Config::Providers,
            Command::Sandbox {
                port,
                seed,
                faults,
                deepwork_dispatch_failures,
            } => Config::Sandbox(SandboxConfig {
                port,
                seed,
                faults,
                deepwork_dispatch_failures,
                ..SandboxConfig::default()
            }),
        }
    }
}
