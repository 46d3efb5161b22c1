//! The commands, as the library carries them out: each takes a validated configuration, prints what
//! a person should see, and returns an exit code. The binary only parses arguments and calls these.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::engine::{self, RunOptions};
use crate::exit;
use crate::playbook::compile::{Plan, compile};
use crate::playbook::load::{parse, position_of, read_source};
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
    pub concurrency: Option<usize>,
    pub progress: ProgressMode,
    pub verbose: bool,
    pub sandbox: bool,
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

fn print_diagnostics(diags: &[Diagnostic], redactor: &Redactor) {
    for d in diags {
        eprint!("{}", redactor.redact(&d.to_string()));
    }
    if diags.len() > 1 {
        eprintln!("{} errors", diags.len());
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
            Ok(plan) => println!(
                "{}: ok ({} steps, provider {})",
                path.display(),
                plan.steps.len(),
                plan.provider.name()
            ),
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
        if let Err(e) = report::render_for(output, &empty_report(), None) {
            eprintln!("error: -o {}: {e}", output.display());
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
    if let Err(e) = plan.provider.check_credentials(&env, &plan.options) {
        eprintln!("error: {}", redactor.redact(&e));
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
        print!("{}", redactor.redact(&report::table::render(&report)));
    }
    let mut code = report.exit_code();
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
    if let Some(s) = sandbox {
        s.shutdown().await;
    }
    code
}

fn empty_report() -> RunReport {
    RunReport {
        playbook: String::new(),
        run_id: String::new(),
        dry_run: false,
        started_at: String::new(),
        finished_at: String::new(),
        totals: Default::default(),
        items: Vec::new(),
        aborted: None,
        errors: Vec::new(),
    }
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
