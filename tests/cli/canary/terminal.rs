//! The progress bars drawn on a terminal (under `script`) hold no secret.

use axum::http::StatusCode;

use crate::Runbook;

use super::{ODD, PLAIN, PLAYBOOK, assert_clean, echoing_api};

/// On a terminal, progress is drawn as bars: run under `script` (a pseudo-terminal) where it is
/// installed, and scan what the terminal received.
#[test]
fn secrets_stay_out_of_the_progress_bars_on_a_terminal() {
    let has_script = std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_script {
        eprintln!("skipped: no `script` to give runbook a terminal");
        return;
    }
    for secret in [PLAIN, ODD] {
        let api = echoing_api(StatusCode::OK);
        let runbook = Runbook::new(["unused"]).file("playbook.yaml", PLAYBOOK);
        let line = format!(
            "'{}' play playbook.yaml -v -o report.json -o x.md",
            env!("CARGO_BIN_EXE_runbook")
        );
        let output = std::process::Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .current_dir(runbook.dir())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TERM", "xterm-256color")
            .env("API_URL", api.url())
            .env("API_TOKEN", secret)
            .env("OTHER", "OTHER-canary-2b7c")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("script runs");
        let terminal = String::from_utf8_lossy(&output.stdout).into_owned();
        assert_eq!(output.status.code(), Some(1), "{terminal}");
        assert!(terminal.contains("retried"), "{terminal}");
        assert!(
            terminal.contains("\u{1b}[")
                && terminal.contains("fetch listed: ")
                && terminal.contains("retry: "),
            "bars were drawn: {terminal:?}"
        );
        assert!(!api.with_method("POST").is_empty());
        assert_clean(
            vec![
                ("terminal".to_string(), output.stdout.clone()),
                ("stderr".to_string(), output.stderr.clone()),
            ],
            runbook.dir(),
            &[secret, "OTHER-canary-2b7c"],
            &terminal,
        );
    }
}
