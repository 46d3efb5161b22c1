//! `runbook play`: load and check the playbook, take the lock and the ledger, run the engine, print
//! and write the reports, and turn the result into an exit code.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::ledger_choice::LedgerChoice;
use super::recorded::where_recorded;
use super::signals::watch_signals;
use super::{CommandError, Notices, prepare};
use crate::engine::{self, RunOptions};
use crate::exit;
use crate::ledger::Ledger;
use crate::lock::RunLock;
use crate::playbook::compile::Plan;
use crate::progress::{Bars, LogFormat, LogWriter, Plain, Progress, Quiet};
use crate::report::{self, RunReport};
use crate::sandbox::{Sandbox, SandboxConfig};
use crate::secrets::{EnvSource, Redactor};
use crate::style::{ColorChoice, ColorEnv, Paint};

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    Bars,
    Plain,
    Quiet,
}

/// How a run's lines look: `--log-format` for the lines written to a log (stderr when it is not a
/// terminal, and `--quiet`'s lines on stdout when it is not), `--color`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutputStyle {
    pub log_format: LogFormat,
    pub color: ColorChoice,
}

impl OutputStyle {
    /// The paint for stdout or stderr, as `--color`, the stream and the environment say.
    fn paint(self, is_terminal: bool) -> Paint {
        Paint::when(crate::style::enabled(
            self.color,
            is_terminal,
            ColorEnv::read(),
        ))
    }

    /// Where errors, warnings and notes go: stderr, in `--log-format`'s form.
    pub(crate) fn notices(self, redactor: &Redactor) -> Notices {
        let paint = self.paint(std::io::stderr().is_terminal());
        Notices::new(self.log_format, redactor, paint)
    }
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
    pub output: OutputStyle,
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

/// `runbook play`: the phases of a run, in order; the first that cannot go on says why. Every
/// secret met is registered with `redactor`, which the caller prints that reason through.
pub(crate) async fn play(config: PlayConfig, redactor: &Redactor) -> Result<i32, CommandError> {
    let config = &config;
    let (env, sandbox) = environment(config).await?;
    let notices = config.output.notices(redactor);
    let plan = load(config, &env, redactor, &notices)?;
    pre_checks(&plan, &env)?;
    let base_url = sandbox
        .as_ref()
        .and_then(|s| s.base_url(plan.provider.sandbox_api(&plan.options)));
    if let Some(url) = base_url
        .as_ref()
        .filter(|_| config.progress != ProgressMode::Quiet)
    {
        let text = format!("sandbox: serving {} at {url}", plan.provider.name());
        notices.note("sandbox", &text);
    }
    let ledger_path = ledger_path(config);
    // The lock before the ledger: a second run of the same playbook is told that another run holds
    // the lock, whatever state the ledger is in.
    let _lock = lock(config, &ledger_path, &plan.name, &notices)?;
    let mut options = open_ledger(config, &ledger_path, &plan.name, &notices);
    options.base_url = base_url;
    let watcher = tokio::spawn(watch_signals(options.interrupted.clone(), notices.clone()));
    let progress = progress(config, redactor);
    let exit_ledger = options.ledger.clone();
    let run = engine::run(
        &plan,
        env,
        redactor.clone(),
        progress,
        options,
        jiff::Timestamp::now(),
    )
    .await
    .map_err(|e| CommandError::Invalid(e.to_string()))?;
    // The step that stopped the run and its line (redacted already); a broken template is told
    // once, by `report`, as the playbook being invalid.
    if let Some(stopped) = &run.stopped
        && !matches!(stopped.kind, engine::Abort::TemplateBroken(_))
    {
        let mut fields = serde_json::Map::new();
        fields.insert("step".into(), stopped.name.clone().into());
        fields.insert("file".into(), stopped.file.clone().into());
        if let Some(position) = stopped.position {
            fields.insert("line".into(), position.line.into());
        }
        notices.error_with(&stopped.to_string(), fields);
    }
    let (code, written) = report(config, &plan, &run.report, run.files, redactor, &notices);
    // The code is final once the reports are written: `history` shows it.
    if let Some(Err(e)) = exit_ledger
        .as_ref()
        .map(|l| l.record_exit_code(&run.report.run_id, code))
    {
        notices.warning(&format!("the run's exit code is not in the ledger: {e}"));
    }
    if config.progress != ProgressMode::Quiet {
        let recorded = exit_ledger.is_some_and(|l| l.has_run(&run.report.run_id).unwrap_or(false));
        let choice = LedgerChoice::from_flags(config.ledger.clone(), config.sandbox);
        let line = where_recorded(&run.report.run_id, recorded.then_some(&choice), &written);
        if let Some(line) = line {
            if config.progress == ProgressMode::Plain {
                // Off a terminal it is one more log line: timestamped, or an object in JSON.
                let log = LogWriter::new(config.output.log_format, true, redactor.clone());
                let mut fields = serde_json::Map::new();
                fields.insert("run_id".into(), run.report.run_id.clone().into());
                log.write(&mut std::io::stderr().lock(), "recorded", &line, fields);
            } else {
                eprintln!("{line}");
            }
        }
    }
    let summary_title = plan.steps.iter().find_map(|s| match &s.kind {
        crate::playbook::compile::StepKind::Report(r) => r.title.clone(),
        _ => None,
    });
    crate::report::github::publish(
        &run.report,
        summary_title.as_deref(),
        redactor,
        config.step_summary,
    );
    let quiet = config.progress == ProgressMode::Quiet;
    crate::notify::send_all(&plan, &run.report, code, redactor, quiet).await;
    watcher.abort();
    if let Some(s) = sandbox {
        s.shutdown().await;
    }
    Ok(code)
}

/// Where `env()` and `secret()` read from, the report paths checked, and the sandbox started under
/// `--sandbox` (its credentials laid over the environment).
async fn environment(
    config: &PlayConfig,
) -> Result<(Arc<EnvSource>, Option<Sandbox>), CommandError> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut env = EnvSource::load(&cwd).map_err(CommandError::Invalid)?;
    for output in &config.outputs {
        let ext = output.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !report::is_known_extension(ext) {
            return Err(CommandError::Invalid(format!(
                "-o {}: cannot tell the report format: end the file name with one of {}",
                output.display(),
                report::EXTENSIONS.join(", ")
            )));
        }
    }
    let sandbox = if config.sandbox {
        let s = Sandbox::start(SandboxConfig::default())
            .await
            .map_err(|e| CommandError::Aborted(format!("cannot start the sandbox: {e}")))?;
        env = env.with_overlay(s.credentials());
        Some(s)
    } else {
        None
    };
    Ok((Arc::new(env), sandbox))
}

/// The compiled playbook; its warnings printed.
fn load(
    config: &PlayConfig,
    env: &Arc<EnvSource>,
    redactor: &Redactor,
    notices: &Notices,
) -> Result<Plan, CommandError> {
    let plan = prepare(
        &config.playbook,
        &config.vars,
        Arc::clone(env),
        redactor.clone(),
    )
    .map_err(CommandError::Diagnostics)?;
    notices.diagnostics(&plan.warnings, None);
    Ok(plan)
}

/// What would fail every request, found before the first: the adapter's credentials and the
/// secrets the playbook reads.
fn pre_checks(plan: &Plan, env: &EnvSource) -> Result<(), CommandError> {
    plan.provider
        .check_credentials(env, &plan.options)
        .map_err(|e| CommandError::Invalid(e.to_string()))?;
    if let Some(missing) = plan.secrets_used().iter().find(|n| env.get(n).is_none()) {
        return Err(CommandError::Invalid(format!(
            "{}: secret {missing} is not set (the playbook uses secret('{missing}')): export {missing}=… or add it to .env",
            plan.file.path.display()
        )));
    }
    Ok(())
}

/// The ledger's path: `--ledger`, or the default (a separate one for the sandbox).
fn ledger_path(config: &PlayConfig) -> PathBuf {
    LedgerChoice::from_flags(config.ledger.clone(), config.sandbox).path()
}

/// The playbook's run lock, held until `play` returns; none for a dry run, which changes nothing.
fn lock(
    config: &PlayConfig,
    ledger_path: &Path,
    playbook: &str,
    notices: &Notices,
) -> Result<Option<RunLock>, CommandError> {
    if config.dry_run {
        return Ok(None);
    }
    let (lock, warning) = RunLock::acquire(ledger_path, playbook).map_err(CommandError::Aborted)?;
    if let Some(w) = warning {
        notices.warning(&w);
    }
    Ok(Some(lock))
}

/// The run's options from the command line, with the ledger opened and the resume point found.
/// A ledger that cannot be used aborts the run before its first step (exit 3, like a guard):
/// without it neither `--resume` nor the retry budget can keep their promises. The reports still
/// say why.
fn open_ledger(
    config: &PlayConfig,
    ledger_path: &Path,
    playbook: &str,
    notices: &Notices,
) -> RunOptions {
    let (ledger, resume, stop_before_start) = match Ledger::open(ledger_path) {
        Ok(ledger) => match record_file(&ledger, config, playbook)
            .and_then(|()| resume_point(&ledger, playbook, config, notices))
        {
            Ok(resume) => (Some(Arc::new(ledger)), resume, None),
            Err(e) => (None, None, Some(e)),
        },
        Err(e) => (None, None, Some(e.into())),
    };
    if let Some(e) = &stop_before_start {
        notices.error(&e.to_string());
    }
    RunOptions {
        dry_run: config.dry_run,
        limit: config.limit,
        concurrency: config.concurrency,
        base_url: None,
        ledger,
        resume,
        stop_before_start,
        retry_unknown: config.retry_unknown,
        yes: config.yes,
        interrupted: tokio_util::sync::CancellationToken::new(),
    }
}

/// How progress is shown, as the command line asked.
fn progress(config: &PlayConfig, redactor: &Redactor) -> Arc<dyn Progress> {
    match config.progress {
        ProgressMode::Bars => Arc::new(Bars::new(
            config.verbose,
            redactor.clone(),
            config.output.paint(true),
        )),
        ProgressMode::Plain => {
            let log = LogWriter::new(config.output.log_format, true, redactor.clone());
            Arc::new(Plain::new(config.verbose, log))
        }
        ProgressMode::Quiet => Arc::new(Quiet),
    }
}

/// Print the table (with `--quiet`, the summary line and the failed items after the reports are
/// written, when the exit code is final), write every report (the playbook's and `-o`'s), and
/// decide the exit code; the files written.
fn report(
    config: &PlayConfig,
    plan: &Plan,
    report: &RunReport,
    mut files: Vec<(PathBuf, Option<String>)>,
    redactor: &Redactor,
    notices: &Notices,
) -> (i32, Vec<PathBuf>) {
    files.extend(config.outputs.iter().map(|p| (p.clone(), None)));
    if config.progress != ProgressMode::Quiet {
        let paint = config.output.paint(std::io::stdout().is_terminal());
        print!(
            "{}",
            redactor.redact(&report::table::render_painted(report, redactor, paint))
        );
    }
    let mut code = report.exit_code();
    // A template that turned out broken mid-run (out of fuel, recursion too deep on some item's
    // data) makes the playbook invalid, even if requests were sent before it was met.
    if let Some(why) = plan.templates.broken() {
        notices.error(&format!(
            "the playbook is invalid: a template cannot be rendered: {why}"
        ));
        code = exit::INVALID;
    }
    let mut written_files = Vec::new();
    for (path, title) in files {
        let written = report::render_for(&path, report, title.as_deref()).and_then(|text| {
            report::write_atomically(&path, &redactor.redact(&text)).map_err(|e| e.to_string())
        });
        match written {
            Ok(()) => written_files.push(path),
            Err(e) => {
                notices.error(&format!("cannot write report {}: {e}", path.display()));
                if code == exit::OK {
                    code = exit::SOME_FAILED;
                }
            }
        }
    }
    if config.progress == ProgressMode::Quiet {
        quiet_summary(config.output.log_format, report, code, redactor);
    }
    (code, written_files)
}

/// `--quiet`'s lines on stdout: timestamped (or JSON) unless stdout is a terminal.
fn quiet_summary(format: LogFormat, report: &RunReport, code: i32, redactor: &Redactor) {
    let stdout = std::io::stdout();
    let timestamps = !stdout.is_terminal();
    let log = LogWriter::new(format, timestamps, redactor.clone());
    let mut out = stdout.lock();
    crate::progress::summary::write_quiet(&mut out, &log, report, code);
}

/// Record which playbook the file is, so that `history FILE` lists its runs by the name recorded
/// here rather than by parsing the file again.
fn record_file(ledger: &Ledger, config: &PlayConfig, playbook: &str) -> Result<(), String> {
    let at = crate::time::rfc3339(jiff::Timestamp::now());
    Ok(ledger.record_playbook_file(&file_key(&config.playbook), playbook, &at)?)
}

/// How the ledger knows a playbook file: its canonical path (as given if it has none).
pub(super) fn file_key(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// The unfinished run a `--resume` continues, and what it did, by item.
type ResumePoint = Option<(
    String,
    std::collections::HashMap<String, crate::ledger::Past>,
)>;

/// With `--resume`, the unfinished run to continue and what it did, by item.
fn resume_point(
    ledger: &Ledger,
    playbook: &str,
    config: &PlayConfig,
    notices: &Notices,
) -> Result<ResumePoint, String> {
    if !config.resume {
        return Ok(None);
    }
    let Some(id) = ledger.last_unfinished(playbook)? else {
        if config.progress != ProgressMode::Quiet {
            let text = format!(
                "nothing to resume: the last run of {playbook} finished; starting a new run"
            );
            notices.note("resume", &text);
        }
        return Ok(None);
    };
    let past = ledger.past(&id)?;
    if config.progress != ProgressMode::Quiet {
        let text = format!("resuming run {id} ({} items already recorded)", past.len());
        notices.note("resume", &text);
    }
    Ok(Some((id, past)))
}
