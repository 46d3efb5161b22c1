//! The recipes under `recipes/` (and the README's "Running on a schedule"), each checked as far as
//! this machine allows: the pre-commit hook runs its entry; the crontab's command runs against the
//! sandbox; the systemd units pass `systemd-analyze verify` (or, without it, have the INI shape);
//! the Kubernetes and GitHub Actions manifests are parsed and their key fields checked; the
//! Dockerfile is built where a Docker engine answers (else its two stages are checked).

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

use crate::new_playbooks::run_in;
use crate::repo_path;

fn read(relative: &str) -> String {
    std::fs::read_to_string(repo_path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn yaml(relative: &str) -> Value {
    serde_saphyr::from_str(&read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// Whether `program` can be run here (found on PATH and answering `args`).
fn available(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_pre_commit_hook_validates_changed_playbooks() {
    let hooks = yaml(".pre-commit-hooks.yaml");
    let hooks = hooks.as_array().expect("a list of hooks");
    assert_eq!(hooks.len(), 1);
    let hook = &hooks[0];
    assert_eq!(hook["id"], "runbook-validate");
    assert_eq!(hook["pass_filenames"], true);
    let files = regex::Regex::new(hook["files"].as_str().expect("files")).expect("a regex");
    for (path, matched) in [
        ("playbooks/beam-nightly.yaml", true),
        ("playbooks/team/nightly.yml", true),
        ("src/scaffold/beam.yaml", false),
        ("playbooks/herodotus-sandbox-ids.json", false),
    ] {
        assert_eq!(files.is_match(path), matched, "{path}");
    }
    // pre-commit runs the entry with the changed files appended.
    let entry: Vec<&str> = hook["entry"]
        .as_str()
        .expect("entry")
        .split_whitespace()
        .collect();
    assert_eq!(entry[0], "runbook");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let good = repo_path("playbooks/skyvern-failed.yaml");
    let good = good.to_str().expect("a UTF-8 path");
    let mut args = entry[1..].to_vec();
    args.push(good);
    let ran = run_in(dir.path(), &args);
    ran.expect_code(0);
    assert_eq!(
        ran.stdout,
        format!("{good}: ok (3 steps, provider skyvern)\n")
    );
    std::fs::write(
        dir.path().join("bad.yaml"),
        "name: bad\nprovider: bema\nsteps: []\n",
    )
    .expect("write");
    let mut args = entry[1..].to_vec();
    args.push("bad.yaml");
    let ran = run_in(dir.path(), &args);
    ran.expect_code(2);
    assert!(ran.stderr.contains("did you mean `beam`?"), "{ran:#?}");
}

/// Regression (issue 11, point 4): `--quiet` printed nothing, so the cron line logged nothing.
/// The line runs here as cron runs it (`sh -c`, its `%` escaped, the binary under test in place of
/// `/usr/local/bin/runbook`, `--sandbox` added): a clean night appends one timestamped summary line
/// to the log and prints nothing, so cron mails nothing.
#[test]
fn the_crontab_line_logs_one_summary_line_on_a_clean_night_and_mails_nothing() {
    let text = read("recipes/crontab");
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    let fields: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(&fields[..5], ["15", "3", "*", "*", "*"]);
    let command = fields[5..].join(" ");
    let (cd, runbook) = command.split_once(" && ").expect("cd DIR && runbook …");
    assert!(cd.starts_with("cd /"), "{cd}");
    assert!(
        runbook.starts_with("/usr/local/bin/runbook "),
        "cron's PATH is /usr/bin:/bin: the binary needs its full path: {runbook}"
    );
    let (play, logging) = runbook.split_once(" >> ").expect("runbook … >> LOG");
    assert_eq!(
        logging, "logs/beam.log 2>&1 || tail -n 20 logs/beam.log",
        "the log holds every night; a night that did not exit 0 is mailed"
    );
    let args: Vec<&str> = play.split_whitespace().skip(1).collect();
    assert_eq!(args[..2], ["play", "playbooks/beam-nightly.yaml"]);
    assert!(args.contains(&"--quiet") && args.contains(&"--resume"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let playbooks = dir.path().join("playbooks");
    std::fs::create_dir(&playbooks).expect("a folder");
    std::fs::create_dir(dir.path().join("logs")).expect("a folder");
    std::fs::copy(
        repo_path("playbooks/beam-nightly.yaml"),
        playbooks.join("beam-nightly.yaml"),
    )
    .expect("copy the playbook");
    // Cron hands the line to sh with `\%` as `%`.
    let as_cron_runs_it = format!(
        "{} --sandbox >> {logging}",
        play.replace("/usr/local/bin/runbook", env!("CARGO_BIN_EXE_runbook"))
            .replace("\\%", "%")
    );
    let output = Command::new("sh")
        .args(["-c", &as_cron_runs_it])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .expect("sh runs");
    assert_eq!(
        (
            output.status.code(),
            output.stdout.as_slice(),
            output.stderr.as_slice()
        ),
        (Some(0), &b""[..], &b""[..]),
        "a clean night prints nothing for cron to mail: {output:?}"
    );
    let log = std::fs::read_to_string(dir.path().join("logs/beam.log")).expect("the log");
    let summary = regex::Regex::new(
        r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z beam-nightly: run \S+: retried \d+ of \d+ selected \(fetched \d+, skipped \d+, failed 0[^)]*\); exit 0\n$",
    )
    .expect("a pattern");
    assert!(summary.is_match(&log), "one summary line: {log:?}");
    let today = Command::new("date").arg("+%F").output().expect("date runs");
    let today = String::from_utf8_lossy(&today.stdout).trim().to_string();
    assert!(
        dir.path()
            .join(format!("reports/beam-{today}.json"))
            .is_file()
    );
    assert!(
        dir.path()
            .join(format!("reports/beam-{today}.md"))
            .is_file()
    );
}

/// `[Section]` → key → value of a systemd unit file.
fn ini(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut sections: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.to_string());
            sections.entry(name.to_string()).or_default();
            continue;
        }
        let section = current
            .clone()
            .unwrap_or_else(|| panic!("a key outside a section: {line}"));
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not KEY=VALUE: {line}"));
        sections
            .entry(section)
            .or_default()
            .insert(k.to_string(), v.to_string());
    }
    sections
}

#[test]
fn the_systemd_units_verify() {
    let service = read("recipes/systemd/runbook.service");
    let timer = read("recipes/systemd/runbook.timer");
    let s = ini(&service);
    assert_eq!(s["Service"]["Type"], "oneshot");
    assert!(s["Service"]["ExecStart"].starts_with("/usr/local/bin/runbook play "));
    assert!(s["Service"]["ExecStart"].contains(" --resume --quiet "));
    let t = ini(&timer);
    assert_eq!(t["Timer"]["OnCalendar"], "*-*-* 03:15:00");
    assert_eq!(t["Timer"]["Persistent"], "true");
    assert_eq!(t["Install"]["WantedBy"], "timers.target");
    if !available("systemd-analyze", &["--version"]) {
        eprintln!("no systemd-analyze here: the units' shape is checked, not verified");
        return;
    }
    // Verified as installed, with the binary this test built in /usr/local/bin's place.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let service = service.replace("/usr/local/bin/runbook", env!("CARGO_BIN_EXE_runbook"));
    std::fs::write(dir.path().join("runbook.service"), service).expect("write");
    std::fs::write(dir.path().join("runbook.timer"), timer).expect("write");
    let out = Command::new("systemd-analyze")
        .args(["verify", "runbook.service", "runbook.timer"])
        .current_dir(dir.path())
        .output()
        .expect("systemd-analyze runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr, "", "systemd-analyze verify has something to say");
}

#[test]
fn the_kubernetes_cronjob_runs_one_at_a_time_with_its_ledger_on_a_volume() {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(&read("recipes/kubernetes/cronjob.yaml")).expect("YAML");
    let kind = |k: &str| {
        docs.iter()
            .find(|d| d["kind"] == k)
            .unwrap_or_else(|| panic!("no {k}"))
    };
    let claim = kind("PersistentVolumeClaim");
    let job = kind("CronJob");
    assert_eq!(job["apiVersion"], "batch/v1");
    assert_eq!(job["spec"]["concurrencyPolicy"], "Forbid");
    let pod = &job["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    let ledger_volume = pod["volumes"]
        .as_array()
        .and_then(|v| {
            v.iter()
                .find(|v| v["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"])
        })
        .expect("a volume from the claim");
    let container = &pod["containers"][0];
    let mount = container["volumeMounts"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["name"] == ledger_volume["name"]))
        .expect("the claim is mounted");
    let mount_path = mount["mountPath"].as_str().expect("a mount path");
    let args: Vec<&str> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let ledger = args
        .windows(2)
        .find(|w| w[0] == "--ledger")
        .map(|w| w[1])
        .expect("--ledger");
    assert!(
        ledger.starts_with(&format!("{mount_path}/")),
        "the ledger is on the volume: {ledger}"
    );
    assert_eq!(args[0], "play");
    assert!(args.contains(&"--resume"));
}

#[test]
fn the_github_workflows_cache_the_ledger_upload_reports_and_validate_playbooks() {
    let nightly = yaml("recipes/github/runbook-nightly.yml");
    assert_eq!(nightly["on"]["schedule"][0]["cron"], "15 3 * * *");
    let steps = nightly["jobs"]["recover"]["steps"]
        .as_array()
        .expect("steps");
    let uses = |prefix: &str| -> Vec<&Value> {
        steps
            .iter()
            .filter(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(prefix)))
            .collect()
    };
    let restore = uses("actions/cache/restore@");
    let save = uses("actions/cache/save@");
    assert_eq!((restore.len(), save.len()), (1, 1));
    assert_eq!(restore[0]["with"]["path"], ".runbook");
    assert_eq!(save[0]["with"]["path"], ".runbook");
    assert_eq!(
        save[0]["if"], "always()",
        "the ledger is kept also after a failed run"
    );
    let upload = uses("actions/upload-artifact@");
    assert_eq!(upload.len(), 1);
    assert_eq!(upload[0]["with"]["path"], "reports/");
    assert_eq!(upload[0]["if"], "always()");
    let play = steps
        .iter()
        .filter_map(|s| s["run"].as_str())
        .find(|r| r.starts_with("runbook play "))
        .expect("a play step");
    assert!(
        play.contains("--resume") && play.contains("-o reports/"),
        "{play}"
    );
    // Each step comes after the one it needs.
    let at = |v: &Value| steps.iter().position(|s| s == v).expect("a step");
    let play_at = steps
        .iter()
        .position(|s| s["run"].as_str() == Some(play))
        .expect("play");
    assert!(at(restore[0]) < play_at && play_at < at(save[0]) && play_at < at(upload[0]));

    let review = yaml("recipes/github/validate-playbooks.yml");
    assert!(
        review["on"]["pull_request"]["paths"][0]
            .as_str()
            .is_some_and(|p| p.starts_with("playbooks/"))
    );
    let runs: Vec<&str> = review["jobs"]["validate"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect();
    assert!(
        runs.contains(&"runbook validate playbooks/*.yaml"),
        "{runs:?}"
    );
}

#[test]
fn the_dockerfile_builds_a_slim_image_in_two_stages() {
    let text = read("recipes/Dockerfile");
    let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "a build stage and a runtime stage");
    assert!(froms[0].starts_with("FROM rust:") && froms[0].ends_with(" AS build"));
    assert!(froms[1].contains("-slim"), "{}", froms[1]);
    assert!(text.contains("COPY --from=build /src/target/release/runbook /usr/local/bin/runbook"));
    assert!(
        text.contains("\nUSER runbook\n"),
        "the image does not run as root"
    );
    if !available("docker", &["info"]) {
        eprintln!("no Docker engine here: the Dockerfile's stages are checked, not built");
        return;
    }
    let built = Command::new("docker")
        .args([
            "build",
            "-f",
            "recipes/Dockerfile",
            "-t",
            "runbook-recipe-test",
            ".",
        ])
        .current_dir(repo_path(""))
        .output()
        .expect("docker runs");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let help = Command::new("docker")
        .args(["run", "--rm", "runbook-recipe-test", "--version"])
        .output()
        .expect("docker runs");
    assert!(String::from_utf8_lossy(&help.stdout).starts_with("runbook "));
}
