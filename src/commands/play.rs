//! `runbook play`: load and check the playbook, take the lock and the ledger, run the engine, print
//! and write the reports, and turn the result into an exit code.

use std::path::PathBuf;
use std::sync::Arc;

use super::signals::watch_signals;
use super::{prepare, print_diagnostics, print_warnings};
use crate::engine::{self, RunOptions};
use crate::exit;
use crate::progress::{Bars, Plain, Progress, Quiet};
use crate::report;
use crate::sandbox::{Sandbox, SandboxConfig};
use crate::secrets::{EnvSource, Redactor};

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
        eprintln!("error: {}", redactor.redact(&e.to_string()));
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
