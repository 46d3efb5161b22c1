//! `runbook completions SHELL` and `runbook man`, made from the clap definitions: each names every
//! subcommand that `runbook --help` lists, bash's script is valid bash, and the man page holds every
//! subcommand's flags in itself.

use crate::Runbook;

/// The subcommands `runbook --help` lists (but `help`, which clap adds).
fn subcommands() -> Vec<String> {
    let help = Runbook::new(["--help"]).run();
    help.expect_code(0);
    let listed: Vec<String> = help
        .stdout
        .split("Commands:\n")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|name| name != "help")
        .collect();
    for expected in [
        "play",
        "retry",
        "new",
        "completions",
        "man",
        "history",
        "validate",
    ] {
        assert!(
            listed.iter().any(|l| l == expected),
            "{expected}: {listed:?}"
        );
    }
    listed
}

#[test]
fn every_shell_script_names_every_subcommand() {
    let names = subcommands();
    for shell in ["bash", "zsh", "fish"] {
        let ran = Runbook::new(["completions", shell]).run();
        ran.expect_code(0);
        assert_eq!(ran.stderr, "");
        for name in &names {
            assert!(
                ran.stdout.contains(name.as_str()),
                "{shell}: no `{name}` in the script"
            );
        }
    }
}

#[test]
fn the_bash_script_is_valid_bash_and_completes_subcommands() {
    let Ok(bash) = which_bash() else {
        eprintln!(
            "no bash here: only the script's text is checked (every_shell_script_names_every_subcommand)"
        );
        return;
    };
    let ran = Runbook::new(["completions", "bash"]).run();
    ran.expect_code(0);
    std::fs::write(ran.path("runbook.bash"), &ran.stdout).expect("write the script");
    let checked = std::process::Command::new(&bash)
        .args(["-n", "runbook.bash"])
        .current_dir(ran.path(""))
        .output()
        .expect("bash runs");
    assert!(
        checked.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&checked.stderr)
    );
    // Sourced, it completes `runbook re` to the subcommands starting with `re`.
    let script = "source runbook.bash; COMP_WORDS=(runbook re); COMP_CWORD=1; _runbook runbook re runbook; printf '%s\\n' \"${COMPREPLY[@]}\"";
    let completed = std::process::Command::new(&bash)
        .args(["-c", script])
        .current_dir(ran.path(""))
        .output()
        .expect("bash runs");
    let words = String::from_utf8_lossy(&completed.stdout);
    assert_eq!(
        words.lines().collect::<Vec<_>>(),
        ["retry"],
        "stderr: {}",
        String::from_utf8_lossy(&completed.stderr)
    );
}

fn which_bash() -> Result<std::path::PathBuf, ()> {
    let path = std::env::var_os("PATH").ok_or(())?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("bash"))
        .find(|p| p.is_file())
        .ok_or(())
}

/// Regression: the page listed `runbook-play(1)` and the like, pages nothing installs. Now the one
/// page holds each subcommand's own section, with every flag its `--help` lists.
#[test]
fn the_man_page_is_roff_and_holds_every_subcommand_with_its_flags() {
    let names = subcommands();
    let ran = Runbook::new(["man"]).run();
    ran.expect_code(0);
    assert!(
        ran.stdout.contains("\n.TH runbook 1 "),
        "a roff page of section 1: {}",
        ran.stdout
    );
    assert!(ran.stdout.contains("\n.SH SUBCOMMANDS\n"), "{}", ran.stdout);
    for name in &names {
        assert!(
            !ran.stdout.contains(&format!("runbook\\-{name}(1)")),
            "`{name}` points at a page that is not installed"
        );
        let heading = format!("\n.SS \"runbook {name}\"\n");
        let section = ran
            .stdout
            .split(&heading)
            .nth(1)
            .and_then(|rest| rest.split("\n.SS ").next())
            .unwrap_or_else(|| panic!("no section for `{name}`: {}", ran.stdout));
        let help = Runbook::new([name.as_str(), "--help"]).run();
        help.expect_code(0);
        let flags = help
            .stdout
            .split_whitespace()
            .filter(|w| w.starts_with("--"))
            .map(|w| w.trim_end_matches(','));
        for flag in flags {
            let in_roff = flag.replace('-', "\\-");
            assert!(
                section.contains(&in_roff),
                "`{name}`'s section lacks {flag}: {section}"
            );
        }
    }
}
