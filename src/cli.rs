//! The command line as data (clap). It becomes the library's configuration before anything runs;
//! the library never sees clap.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};
use clap_complete::Shell;
use runbook::commands::{Config, LedgerChoice, OutputStyle, PlayConfig, ProgressMode};
use runbook::commands::{HttpTarget, RetryConfig};
use runbook::progress::LogFormat;
use runbook::sandbox::{LimitChange, LimitHeaders, RequestLimit, SandboxConfig, TaskCounts};
use runbook::scaffold::Destination;
use runbook::style::ColorChoice;

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
        /// Retry at most N items.
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
        #[command(flatten)]
        run: RunFlags,
        /// Continue the last unfinished run of this playbook: nothing it retried is sent again.
        #[arg(long)]
        resume: bool,
        /// Send again the retries that cannot be checked: in flight when the resumed run stopped
        /// (with --resume), or retries into new work that got no answer in an earlier run.
        #[arg(long)]
        retry_unknown: bool,
    },
    /// Retry named tasks now, as a playbook would: read each, retry the failed ones, report.
    Retry {
        /// beam, deepwork, herodotus, geelark, skyvern or http.
        provider: String,
        /// The ids of the tasks to retry.
        ids: Vec<String>,
        /// A JSON file of ids instead (an array of ids, or of objects with an `id`).
        #[arg(long = "file", value_name = "PATH", conflicts_with = "ids")]
        ids_file: Option<PathBuf>,
        /// Send even the ids retried in the last day (by this command or any playbook).
        #[arg(long)]
        again: bool,
        #[command(flatten)]
        run: RunFlags,
        /// http: the API's base URL (a template: {{ env('API_URL') }} works).
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
        /// http: the retry request's path [default: /tasks/{{ task.id | urlencode }}/retry]
        #[arg(long, value_name = "PATH")]
        retry_path: Option<String>,
        /// http: the retry request's method [default: POST]
        #[arg(long, value_name = "METHOD")]
        method: Option<String>,
        /// A header on every request, NAME: VALUE (a template: {{ secret('TOKEN') }}). Repeatable.
        #[arg(long = "header", value_name = "NAME: VALUE")]
        headers: Vec<String>,
    },
    /// List past runs from the ledger, newest first.
    History {
        /// Only the runs of this playbook (a file or a playbook name).
        playbook: Option<String>,
        /// The ledger to read (default .runbook/ledger.db).
        #[arg(long, value_name = "PATH")]
        ledger: Option<PathBuf>,
        /// Read the sandbox runs' ledger (.runbook/sandbox-ledger.db), where play --sandbox records.
        #[arg(long, conflicts_with = "ledger")]
        sandbox: bool,
        /// Show at most N runs.
        #[arg(long, value_name = "N", default_value_t = 20)]
        limit: usize,
        /// One JSON object per run and line (JSON Lines): ids, times, duration, exit code, counts.
        #[arg(long)]
        json: bool,
    },
    /// Print a past run's report from the ledger, or write it again with -o.
    Show {
        /// The run's id, a prefix only it has, or `last` (the newest run).
        run_id: String,
        /// The ledger to read (default .runbook/ledger.db).
        #[arg(long, value_name = "PATH")]
        ledger: Option<PathBuf>,
        /// Read the sandbox runs' ledger (.runbook/sandbox-ledger.db), where play --sandbox records.
        #[arg(long, conflicts_with = "ledger")]
        sandbox: bool,
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
    /// Write a commented starter playbook for a provider (never over an existing file).
    New {
        /// beam, deepwork, herodotus, geelark, skyvern or http.
        provider: String,
        /// The file to write (default PROVIDER-recovery.yaml; `-` prints it).
        file: Option<PathBuf>,
    },
    /// List the provider adapters, their environment variables and default retryable statuses.
    Providers,
    /// Print a shell completion script: runbook completions bash > /etc/bash_completion.d/runbook
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: Shell,
    },
    /// Print the man page (roff): runbook man > /usr/local/share/man/man1/runbook.1
    Man,
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
        /// Each API admits N requests in any sliding second; beyond it, 429 with Retry-After
        /// (GeeLark: its code 40007 envelope; Skyvern: no Retry-After, as the real servers do).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        rate_limit: Option<u32>,
        /// Announce the limit on every answer: ietf (RateLimit-Policy and RateLimit, the IETF
        /// draft's structured fields), x (X-RateLimit-Limit, -Remaining, -Reset in seconds) or none.
        #[arg(
            long,
            value_enum,
            value_name = "FORM",
            default_value = "none",
            requires = "rate_limit"
        )]
        rate_limit_headers: LimitHeadersArg,
        /// Change the limit AFTER the sandbox started to LIMIT requests a second, e.g. 10s:10 to
        /// halve --rate-limit 20 after ten seconds (repeatable).
        #[arg(long, value_name = "AFTER:LIMIT", requires = "rate_limit")]
        rate_limit_change: Vec<LimitChange>,
        /// Tasks to seed: N for every API, API=N for one (repeatable: --tasks http=200000);
        /// default: each API's small mix. Each API pages through them its own way.
        #[arg(long = "tasks", value_name = "N|API=N", value_parser = parse_task_count)]
        tasks: Vec<(Option<String>, usize)>,
        /// Milliseconds every API answer is held back (the control endpoints never are).
        #[arg(long, value_name = "MS", default_value_t = 0)]
        latency: u64,
    },
}

/// `--rate-limit-headers`: how the sandbox announces its request limit.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LimitHeadersArg {
    None,
    Ietf,
    X,
}

impl From<LimitHeadersArg> for LimitHeaders {
    fn from(form: LimitHeadersArg) -> LimitHeaders {
        match form {
            LimitHeadersArg::None => LimitHeaders::None,
            LimitHeadersArg::Ietf => LimitHeaders::Ietf,
            LimitHeadersArg::X => LimitHeaders::X,
        }
    }
}

/// The flags of a run that `play` and `retry` share, spelled once so both say the same.
#[derive(Debug, clap::Args)]
pub struct RunFlags {
    /// Perform the reads, send nothing that changes anything; report each request as `planned`.
    #[arg(long)]
    dry_run: bool,
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
    /// Print only the one-line summary, the items that failed (or may have), and errors.
    #[arg(short, long)]
    quiet: bool,
    /// How lines for a log look (progress when stderr is not a terminal, --quiet's lines when
    /// stdout is not): plain, each after its RFC 3339 UTC timestamp, or json, one object per line.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormatArg::Plain)]
    log_format: LogFormatArg,
    /// Colour outcomes and errors: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorArg::Auto)]
    color: ColorArg,
    /// Print every request and backoff.
    #[arg(short, long)]
    verbose: bool,
    /// Start the sandbox in-process and point the run at it, with sandbox credentials.
    #[arg(long)]
    sandbox: bool,
    /// The run ledger (default .runbook/ledger.db; .runbook/sandbox-ledger.db with --sandbox).
    #[arg(long, value_name = "PATH")]
    ledger: Option<PathBuf>,
    /// Go past the blast-radius guards (max_selected, max_selected_ratio).
    #[arg(long)]
    yes: bool,
}

/// `--log-format`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum LogFormatArg {
    Plain,
    Json,
}

/// `--color`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum ColorArg {
    Auto,
    Always,
    Never,
}

/// What only `play` sets of a run; `retry` plays a one-off playbook written later, from the start.
#[derive(Default)]
struct PlayOnly {
    playbook: PathBuf,
    vars: Vec<(String, String)>,
    limit: Option<u64>,
    resume: bool,
    retry_unknown: bool,
}

impl RunFlags {
    /// The one conversion of the shared flags into a run's configuration.
    fn into_play_config(self, only: PlayOnly) -> PlayConfig {
        PlayConfig {
            playbook: only.playbook,
            vars: only.vars,
            dry_run: self.dry_run,
            limit: only.limit,
            outputs: self.outputs,
            step_summary: !self.no_step_summary,
            concurrency: self.concurrency.map(|c| c as usize),
            progress: progress_mode(self.quiet),
            output: OutputStyle {
                log_format: match self.log_format {
                    LogFormatArg::Plain => LogFormat::Plain,
                    LogFormatArg::Json => LogFormat::Json,
                },
                color: match self.color {
                    ColorArg::Auto => ColorChoice::Auto,
                    ColorArg::Always => ColorChoice::Always,
                    ColorArg::Never => ColorChoice::Never,
                },
            },
            verbose: self.verbose,
            sandbox: self.sandbox,
            ledger: self.ledger,
            resume: only.resume,
            retry_unknown: only.retry_unknown,
            yes: self.yes,
        }
    }
}

/// A command-line value clap cannot take; clap prints it after `invalid value '…' for '--…':`.
#[derive(Debug, thiserror::Error)]
enum ValueError {
    #[error("`{0}` is not K=V")]
    NotKeyValue(String),
    #[error("`{0}` has no variable name")]
    NoVariableName(String),
    #[error("`{0}` is not a number")]
    NotANumber(String),
    #[error("the fault rate is between 0 and 1")]
    RateOutOfRange,
    #[error("`{0}` is not a task count: N, or API=N such as http=100000")]
    NotATaskCount(String),
}

fn parse_var(text: &str) -> Result<(String, String), ValueError> {
    let (k, v) = text
        .split_once('=')
        .ok_or_else(|| ValueError::NotKeyValue(text.to_string()))?;
    if k.trim().is_empty() {
        return Err(ValueError::NoVariableName(text.to_string()));
    }
    Ok((k.trim().to_string(), v.to_string()))
}

fn parse_rate(text: &str) -> Result<f64, ValueError> {
    let v: f64 = text
        .parse()
        .map_err(|_| ValueError::NotANumber(text.to_string()))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(ValueError::RateOutOfRange)
    }
}

/// `N` (every API) or `API=N` (one API) of `sandbox --tasks`; the sandbox checks the API's name.
fn parse_task_count(text: &str) -> Result<(Option<String>, usize), ValueError> {
    let (api, count) = match text.split_once('=') {
        Some((api, count)) => (Some(api.trim().to_owned()), count),
        None => (None, text),
    };
    match count.trim().replace('_', "").parse() {
        Ok(count) if api.as_ref().is_none_or(|api| !api.is_empty()) => Ok((api, count)),
        _ => Err(ValueError::NotATaskCount(text.to_owned())),
    }
}

/// The task counts of `sandbox --tasks`: a bare N sets every API's, a later one winning.
fn task_counts(given: Vec<(Option<String>, usize)>) -> TaskCounts {
    let mut counts = TaskCounts::default();
    for (api, count) in given {
        match api {
            Some(api) => counts.per_api.push((api, count)),
            None => counts.all = Some(count),
        }
    }
    counts
}

/// Bars on a terminal, plain lines in a log, nothing with `--quiet`.
fn progress_mode(quiet: bool) -> ProgressMode {
    if quiet {
        ProgressMode::Quiet
    } else if std::io::stderr().is_terminal() {
        ProgressMode::Bars
    } else {
        ProgressMode::Plain
    }
}

/// The completion script of `shell`, from the clap definitions (they live here, at the edge; the
/// library never sees clap).
fn completion_script(shell: Shell) -> String {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Args::command(), "runbook", &mut script);
    String::from_utf8_lossy(&script).into_owned()
}

/// The man page (roff), from the clap definitions: one page that holds every subcommand, since no
/// `runbook-play(1)` and the like are installed for it to point at.
fn man_page() -> String {
    let mut cmd = Args::command();
    cmd.build();
    let mut page = Vec::new();
    let man = clap_mangen::Man::new(cmd.clone());
    // Rendering into memory cannot fail but for a bug in clap_mangen; an empty page says so.
    let rendered = man
        .render_title(&mut page)
        .and_then(|()| man.render_name_section(&mut page))
        .and_then(|()| man.render_synopsis_section(&mut page))
        .and_then(|()| man.render_description_section(&mut page))
        .and_then(|()| man.render_options_section(&mut page));
    if rendered.is_err() {
        return String::new();
    }
    let mut text = String::from_utf8_lossy(&page).into_owned();
    text.push_str(".SH SUBCOMMANDS\n");
    for sub in cmd.get_subcommands_mut().filter(|s| !s.is_hide_set()) {
        let name = sub.get_name().to_string();
        if name == "help" {
            continue;
        }
        text.push_str(&format!(".SS \"runbook {name}\"\n.nf\n"));
        text.push_str(&roff_literal(&sub.render_long_help().to_string()));
        text.push_str(".fi\n");
    }
    text.push_str(&format!(
        ".SH VERSION\nv{}\n",
        cmd.get_version().unwrap_or_default()
    ));
    text
}

/// `text` as roff that prints it verbatim inside `.nf`: backslashes and minus signs escaped (so a
/// flag copied from the page is still `--flag`), a leading `.` or `'` kept from being a request.
fn roff_literal(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let escaped = line.replace('\\', "\\e").replace('-', "\\-");
        if escaped.starts_with('.') || escaped.starts_with('\'') {
            out.push_str("\\&");
        }
        out.push_str(&escaped);
        out.push('\n');
    }
    out
}

impl Args {
    pub fn into_config(self) -> Config {
        match self.command {
            Command::Play {
                playbook,
                vars,
                limit,
                run,
                resume,
                retry_unknown,
            } => Config::Play(run.into_play_config(PlayOnly {
                playbook,
                vars,
                limit,
                resume,
                retry_unknown,
            })),
            Command::Retry {
                provider,
                ids,
                ids_file,
                again,
                run,
                base_url,
                retry_path,
                method,
                headers,
            } => Config::Retry(RetryConfig {
                provider,
                ids,
                ids_file,
                target: HttpTarget {
                    base_url,
                    retry_path,
                    method,
                    headers,
                },
                again,
                play: run.into_play_config(PlayOnly::default()),
            }),
            Command::Validate { playbooks, vars } => Config::Validate(playbooks, vars),
            Command::Schema => Config::Schema,
            Command::New { provider, file } => {
                let destination = match file {
                    Some(f) if f.as_os_str() == "-" => Destination::Stdout,
                    Some(f) => Destination::File(f),
                    None => Destination::File(runbook::scaffold::default_file(&provider)),
                };
                Config::New(provider, destination)
            }
            Command::History {
                playbook,
                ledger,
                sandbox,
                limit,
                json,
            } => Config::History {
                ledger: LedgerChoice::from_flags(ledger, sandbox),
                playbook,
                limit,
                json,
            },
            Command::Show {
                run_id,
                ledger,
                sandbox,
                outputs,
            } => Config::Show {
                ledger: LedgerChoice::from_flags(ledger, sandbox),
                run_id,
                outputs,
            },
            Command::Providers => Config::Providers,
            Command::Completions { shell } => Config::Print(completion_script(shell)),
            Command::Man => Config::Print(man_page()),
            Command::Sandbox {
                port,
                seed,
                faults,
                deepwork_dispatch_failures,
                rate_limit,
                rate_limit_headers,
                rate_limit_change,
                tasks,
                latency,
            } => Config::Sandbox(SandboxConfig {
                port,
                seed,
                faults,
                deepwork_dispatch_failures,
                request_limit: rate_limit.map(|per_second| RequestLimit {
                    per_second,
                    headers: rate_limit_headers.into(),
                    changes: rate_limit_change,
                }),
                tasks: task_counts(tasks),
                latency_ms: latency,
                ..SandboxConfig::default()
            }),
        }
    }
}
