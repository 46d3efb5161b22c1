//! The commands, as the library carries them out: each takes a validated configuration, prints what
//! a person should see, and returns an exit code. The binary only parses arguments and calls these.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::engine::{self, RunOptions};
use crate::exit;
use crate::playbook::compile::{Plan, compile};
use crate::playbook::load::{check_name, parse, position_of, read_source};
use crate::playbook::model::Playbook;
use crate::progress::{Bars, Plain, Progress, Quiet};
use crate::providers;
use crate::report::{self, RunReport};
use crate::sandbox::{Sandbox, SandboxConfig};
use crate::secrets::{EnvSource, Redactor};
use crate::template::Templates;

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    Bars,
    Plain,
    Quiet,
}

#[derive(Clone, Debug)]
pub struct PlayConfig {
    pub playbook: PathBuf,
    pub vars: Vec<(String, String)>,
    pub dry_run: bool,
    pub limit: Option<u64>,
    pub outputs: Vec<PathBuf>,
    /// Append the Markdown report to `$GITHUB_STEP_SUMMARY` when it is set.
    pub step_summary: bool,
    pub concurrency: Option<usize>,
    pub progress: ProgressMode,
    pub verbose: bool,
    pub sandbox: bool,
    /// The ledger; default `.runbook/ledger.db` (`.runbook/sandbox-ledger.db` with `--sandbox`).
    pub ledger: Option<PathBuf>,
    /// Continue the last unfinished run of this playbook.
    pub resume: bool,
    pub retry_unknown: bool,
    /// Go past the blast-radius guards.
    pub yes: bool,
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
    let Some(provider) = providers::find(&playbook.provider.value) else {
        let names: Vec<&str> = providers::all().iter().map(|p| p.name()).collect();
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

/// The names in `secret('NAME')` calls written in a playbook, so that a missing one stops the run
/// before any request rather than failing item after item.
fn secret_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("secret(") {
        rest = &rest[i + "secret(".len()..];
        let trimmed = rest.trim_start();
        let Some(quote) = trimmed.chars().next().filter(|c| *c == '\'' || *c == '"') else {
            continue;
        };
        if let Some(end) = trimmed[1..].find(quote) {
            names.push(trimmed[1..1 + end].to_string());
        }
    }
    names
}

fn print_diagnostics(diags: &[Diagnostic], redactor: &Redactor) {
    for d in diags {
        eprint!("{}", redactor.redact(&d.to_string()));
    }
    if diags.len() > 1 {
        eprintln!("{} errors", diags.len());
    }
}

/// Warnings of a playbook that still runs, on stderr.
fn print_warnings(warnings: &[Diagnostic], redactor: &Redactor) {
    for w in warnings {
        eprint!("{}", redactor.redact(&w.to_string()));
    }
}

/// `runbook validate`: check playbooks without any network.
pub fn validate(paths: &[PathBuf], vars: &[(String, String)]) -> i32 {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let env = match EnvSource::load(&cwd) {
        Ok(e) => Arc::new(e),
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
    };
    let mut code = exit::OK;
    for path in paths {
        let redactor = Redactor::default();
        match prepare(path, vars, Arc::clone(&env), redactor.clone()) {
            Ok(plan) => {
                print_warnings(&plan.warnings, &redactor);
                println!(
                    "{}: ok ({} steps, provider {})",
                    path.display(),
                    plan.steps.len(),
                    plan.provider.name()
                )
            }
            Err(diags) => {
                print_diagnostics(&diags, &redactor);
                code = exit::INVALID;
            }
        }
    }
    code
}

/// `runbook schema`: the JSON Schema of playbooks.
pub fn schema() -> String {
    let schema = schemars::schema_for!(Playbook);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// `runbook play`.
pub async fn play(config: PlayConfig) -> i32 {
    let redactor = Redactor::default();
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut env = match EnvSource::load(&cwd) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
    };
    for output in &config.outputs {
        let ext = output.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !report::is_known_extension(ext) {
            eprintln!(
                "error: -o {}: cannot tell the report format: end the file name with one of {}",
                output.display(),
                report::EXTENSIONS.join(", ")
            );
            return exit::INVALID;
        }
    }
    let sandbox = if config.sandbox {
        match Sandbox::start(SandboxConfig::default()).await {
            Ok(s) => {
                env = env.with_overlay(s.credentials());
                Some(s)
            }
            Err(e) => {
                eprintln!("error: cannot start the sandbox: {e}");
                return exit::ABORTED;
            }
        }
    } else {
        None
    };
    let env = Arc::new(env);
    let plan = match prepare(
        &config.playbook,
        &config.vars,
        Arc::clone(&env),
        redactor.clone(),
    ) {
        Ok(p) => p,
        Err(diags) => {
            print_diagnostics(&diags, &redactor);
            return exit::INVALID;
        }
    };
    print_warnings(&plan.warnings, &redactor);
    if let Err(e) = plan.provider.check_credentials(&env, &plan.options) {
        eprintln!("error: {}", redactor.redact(&e));
        return exit::INVALID;
    }
    if let Some(missing) = secret_names(&plan.file.text)
        .into_iter()
        .find(|n| env.get(n).is_none())
    {
        eprintln!(
            "error: {}: secret {missing} is not set (the playbook uses secret('{missing}')): export {missing}=… or add it to .env",
            plan.file.path.display()
        );
        return exit::INVALID;
    }
    let base_url = sandbox
        .as_ref()
        .and_then(|s| s.base_url(plan.provider.sandbox_api(&plan.options)));
    if let Some(url) = base_url
        .as_ref()
        .filter(|_| config.progress != ProgressMode::Quiet)
    {
        eprintln!("sandbox: serving {} at {url}", plan.provider.name());
    }
    let ledger_path = config.ledger.clone().unwrap_or_else(|| {
        PathBuf::from(if config.sandbox {
            ".runbook/sandbox-ledger.db"
        } else {
            crate::ledger::DEFAULT_PATH
        })
    });
    // The lock before the ledger: a second run of the same playbook is told that another run holds
    // the lock, whatever state the ledger is in.
    let _lock = if config.dry_run {
        None
    } else {
        match crate::lock::RunLock::acquire(&ledger_path, &plan.name) {
            Ok((lock, warning)) => {
                if let Some(w) = warning {
                    eprintln!("warning: {w}");
                }
                Some(lock)
            }
            Err(e) => {
                eprintln!("error: {e}");
                return exit::ABORTED;
            }
        }
    };
    // A ledger that cannot be used aborts the run before its first step (exit 3, like a guard):
    // without it neither `--resume` nor the retry budget can keep their promises. The reports
    // still say why.
    let (ledger, resume, stop_before_start) = match crate::ledger::Ledger::open(&ledger_path) {
        Ok(ledger) => match resume_point(&ledger, &plan.name, &config) {
            Ok(resume) => (Some(Arc::new(ledger)), resume, None),
            Err(e) => (None, None, Some(e)),
        },
        Err(e) => (None, None, Some(e)),
    };
    if let Some(e) = &stop_before_start {
        eprintln!("error: {e}");
    }
    let interrupted = tokio_util::sync::CancellationToken::new();
    let watcher = tokio::spawn(watch_signals(interrupted.clone()));
    let progress: Arc<dyn Progress> = match config.progress {
        ProgressMode::Bars => Arc::new(Bars::new(config.verbose, redactor.clone())),
        ProgressMode::Plain => Arc::new(Plain::new(config.verbose, redactor.clone())),
        ProgressMode::Quiet => Arc::new(Quiet),
    };
    let options = RunOptions {
        dry_run: config.dry_run,
        limit: config.limit,
        concurrency: config.concurrency,
        base_url,
        ledger,
        resume,
        stop_before_start,
        retry_unknown: config.retry_unknown,
        yes: config.yes,
        interrupted,
    };
    let run = match engine::run(
        &plan,
        env,
        redactor.clone(),
        progress,
        options,
        jiff::Timestamp::now(),
    )
    .await
    {
        Ok(run) => run,
        Err(e) => {
            eprintln!("error: {}", redactor.redact(&e));
            return exit::INVALID;
        }
    };
    let mut files = run.files.clone();
    let summary_title = plan.steps.iter().find_map(|s| match &s.kind {
        crate::playbook::compile::StepKind::Report(r) => r.title.clone(),
        _ => None,
    });
    files.extend(config.outputs.iter().map(|p| (p.clone(), None)));
    let report = run.report;
    if config.progress != ProgressMode::Quiet {
        print!(
            "{}",
            redactor.redact(&report::table::render(&report, &redactor))
        );
    }
    let mut code = report.exit_code();
    // A template that turned out broken mid-run (out of fuel, recursion too deep on some item's
    // data) makes the playbook invalid, even if requests were sent before it was met.
    if let Some(why) = plan.templates.broken() {
        eprintln!(
            "error: the playbook is invalid: a template cannot be rendered: {}",
            redactor.redact(&why)
        );
        code = exit::INVALID;
    }
    for (path, title) in files {
        let written = report::render_for(&path, &report, title.as_deref()).and_then(|text| {
            report::write_atomically(&path, &redactor.redact(&text)).map_err(|e| e.to_string())
        });
        match written {
            Ok(()) if config.progress != ProgressMode::Quiet => {
                eprintln!("wrote {}", path.display())
            }
            Ok(()) => {}
            Err(e) => {
                eprintln!(
                    "error: cannot write report {}: {}",
                    path.display(),
                    redactor.redact(&e)
                );
                if code == exit::OK {
                    code = exit::SOME_FAILED;
                }
            }
        }
    }
    crate::report::github::publish(
        &report,
        summary_title.as_deref(),
        &redactor,
        config.step_summary,
    );
    watcher.abort();
    if let Some(s) = sandbox {
        s.shutdown().await;
    }
    code
}

/// The unfinished run a `--resume` continues, and what it did, by item.
type ResumePoint = Option<(
    String,
    std::collections::HashMap<String, crate::ledger::Past>,
)>;

/// With `--resume`, the unfinished run to continue and what it did, by item.
fn resume_point(
    ledger: &crate::ledger::Ledger,
    playbook: &str,
    config: &PlayConfig,
) -> Result<ResumePoint, String> {
    if !config.resume {
        return Ok(None);
    }
    let Some(id) = ledger.last_unfinished(playbook)? else {
        if config.progress != ProgressMode::Quiet {
            eprintln!("nothing to resume: the last run of {playbook} finished; starting a new run");
        }
        return Ok(None);
    };
    let past = ledger.past(&id)?;
    if config.progress != ProgressMode::Quiet {
        eprintln!("resuming run {id} ({} items already recorded)", past.len());
    }
    Ok(Some((id, past)))
}

/// The first SIGINT or SIGTERM cancels `interrupted`: every wait ends at once, nothing new is sent,
/// reads in flight are dropped, retries in flight get a short grace (then stay in the ledger as in
/// flight, for `--resume` to check), and the ledger and the reports are written. A second SIGINT
/// exits at once with 130; the ledger stays consistent, since each of its writes is one
/// transaction.
async fn watch_signals(interrupted: tokio_util::sync::CancellationToken) {
    first_signal().await;
    interrupted.cancel();
    // Listen for the second Ctrl-C before inviting it: a SIGINT that comes while nobody listens is
    // lost (the handler is installed, so it does not end the process either).
    let second = second_interrupt();
    eprintln!(
        "interrupted: finishing the requests in flight (at most {}ms more) and writing the reports (Ctrl-C again to quit now)",
        crate::http::IN_FLIGHT_GRACE.as_millis()
    );
    second.await;
    eprintln!("interrupted twice: quitting now");
    std::process::exit(130);
}

/// A SIGINT listener, registered when this is called (not when the future is first polled).
#[cfg(unix)]
fn second_interrupt() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let listener = signal(SignalKind::interrupt());
    async move {
        match listener {
            Ok(mut sigint) => {
                sigint.recv().await;
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

#[cfg(not(unix))]
fn second_interrupt() -> impl Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(unix)]
async fn first_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn first_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

/// `history` and `show` read a ledger that runs made: none there is a mistake on the command line
/// (exit 2), not an empty history.
fn ledger_exists(ledger: &Path) -> Result<(), i32> {
    if ledger.exists() {
        return Ok(());
    }
    eprintln!(
        "error: no ledger at {} (runs record themselves there; --ledger PATH points elsewhere)",
        ledger.display()
    );
    Err(exit::INVALID)
}

/// `runbook history`: the runs in the ledger, newest first.
pub fn history(ledger: &Path, playbook: Option<&str>, limit: usize) -> i32 {
    if let Err(code) = ledger_exists(ledger) {
        return code;
    }
    let name = playbook.map(playbook_name);
    let opened = crate::ledger::Ledger::open_to_read(ledger);
    let runs = match opened
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|l| l.runs(name.as_deref(), limit))
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::ABORTED;
        }
    };
    let mut out = String::new();
    out.push_str(&format!(
        "{:<24} {:<20} {:<21} {:<9} {:>7} {:>8} {:>7} {:>7} {:>6}\n",
        "run",
        "playbook",
        "started",
        "state",
        "fetched",
        "selected",
        "retried",
        "skipped",
        "failed"
    ));
    for r in runs {
        let state = if r.dry_run {
            format!("{} (dry)", r.state)
        } else {
            r.state.clone()
        };
        out.push_str(&format!(
            "{:<24} {:<20} {:<21} {:<9} {:>7} {:>8} {:>7} {:>7} {:>6}{}{}\n",
            r.id,
            r.playbook,
            r.started_at,
            state,
            r.fetched,
            r.selected,
            r.retried,
            r.skipped,
            r.failed,
            r.resumed_from
                .as_ref()
                .map(|f| format!("  (resumed {f})"))
                .unwrap_or_default(),
            new_work(opened.as_ref().ok(), &r.id),
        ));
    }
    print_stdout(&out)
}

/// `history`'s note on the retries of run `id` that created new work (chains it extended).
fn new_work(ledger: Option<&crate::ledger::Ledger>, id: &str) -> String {
    match ledger.map(|l| l.links_of_run(id)) {
        Some(Ok(links)) if links.len() == 1 => "  (1 retry created new work)".to_string(),
        Some(Ok(links)) if !links.is_empty() => {
            format!("  ({} retries created new work)", links.len())
        }
        _ => String::new(),
    }
}

/// A playbook's name from a file (its `name:`) or as given.
fn playbook_name(given: &str) -> String {
    let path = Path::new(given);
    let from_file = path.is_file().then(|| read_source(path).ok()).flatten();
    from_file
        .and_then(|file| parse::<Playbook>(&file).ok())
        .map_or_else(|| given.to_string(), |p| p.name.value)
}

/// `runbook show`: a past run's report from the ledger, printed or written again.
pub fn show(ledger: &Path, run_id: &str, outputs: &[PathBuf]) -> i32 {
    if let Err(code) = ledger_exists(ledger) {
        return code;
    }
    let stored = match crate::ledger::Ledger::open_to_read(ledger).and_then(|l| l.report(run_id)) {
        Ok(Some(r)) => r,
        Ok(None) => {
            eprintln!(
                "error: the ledger {} has no finished report for run {run_id} (runbook history lists the runs)",
                ledger.display()
            );
            return exit::INVALID;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit::ABORTED;
        }
    };
    let report: RunReport = match serde_json::from_str(&stored) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: the stored report of {run_id} cannot be read: {e}");
            return exit::ABORTED;
        }
    };
    if outputs.is_empty() {
        // The stored report was redacted when it was written; no secret is known here.
        return print_stdout(&report::table::render(
            &report,
            &crate::secrets::Redactor::default(),
        ));
    }
    let mut code = exit::OK;
    for path in outputs {
        let written = report::render_for(path, &report, None)
            .and_then(|text| report::write_atomically(path, &text).map_err(|e| e.to_string()));
        match written {
            Ok(()) => eprintln!("wrote {}", path.display()),
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", path.display());
                code = exit::SOME_FAILED;
            }
        }
    }
    code
}

/// `runbook sandbox`: serve the emulated APIs until interrupted.
pub async fn sandbox(config: SandboxConfig) -> i32 {
    match crate::sandbox::serve_forever(config).await {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: sandbox: {e}");
            exit::ABORTED
        }
    }
}

/// `runbook providers`: the adapters, their variables and default retryable statuses.
pub fn providers_text() -> String {
    let mut out = String::new();
    for p in providers::all() {
        out.push_str(&format!("{:<10} {}\n", p.name(), p.summary()));
        for v in p.env_vars() {
            let req = if v.required { "required" } else { "optional" };
            out.push_str(&format!("    {:<26} {req}: {}\n", v.name, v.help));
        }
        if !p.default_retryable().is_empty() {
            out.push_str(&format!(
                "    retries by default: {}\n",
                p.default_retryable().join(", ")
            ));
        }
    }
    out
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
