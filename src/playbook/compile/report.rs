//! The `report` step: which files to write (their format from the extension). Each file name is
//! rendered at load with a stand-in run, so that one leaving the working directory is an error
//! before anything is sent, not a report missing afterwards.

use super::plan::NotifyPlan;
use super::plan::ReportPlan;
use super::{Compiler, broken_help};
use crate::playbook::model;
use crate::playbook::model::{DEFAULT_TIMEOUT, Notify};
use crate::template::{Trial, context};

/// Names a report file name may use: the vars and the run (`run.id`, `run.playbook`, …).
const ROOTS_REPORT: &[&str] = &["vars", "run"];
/// Names a notification may use: the vars, the run and its summary.
const ROOTS_NOTIFY: &[&str] = &["vars", "run", "summary"];

impl Compiler<'_> {
    pub(super) fn report(&mut self, r: &model::Report) -> Option<ReportPlan> {
        let mut files = Vec::new();
        for f in &r.files {
            let place = self.sources.place(f);
            let t = self.template(f, ROOTS_REPORT)?;
            let run = serde_json::json!({
                "id": "20260101T000000Z-0000",
                "playbook": self.playbook,
                "started_at": "2026-01-01T00:00:00Z",
            });
            let ctx = context([("vars", self.vars), ("run", &run)]);
            match self.templates.trial(&t, &ctx) {
                Trial::Rendered(path) => {
                    if let Err(e) = crate::report::confined_path(&path) {
                        self.error::<()>(place, e, None);
                        continue;
                    }
                }
                Trial::Broken(why) => {
                    self.error::<()>(
                        place,
                        format!("the template cannot be rendered: {why}"),
                        Some(broken_help()),
                    );
                    continue;
                }
                Trial::Unresolved => {}
            }
            let ext = std::path::Path::new(f.value.trim())
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("");
            if !crate::report::is_known_extension(ext) {
                return self.error(
                    place,
                    format!("cannot tell the report format of `{}`", f.value),
                    Some(format!(
                        "end the file name with one of: {}",
                        crate::report::EXTENSIONS.join(", ")
                    )),
                );
            }
            files.push(t);
        }
        let notify = self.optional(r.notify.as_ref(), |c, n| c.notify(n))?;
        Some(ReportPlan {
            files,
            title: r.title.clone(),
            notify,
        })
    }

    /// The `notify:` request: its method checked, its templates compiled over vars, run, summary.
    fn notify(&mut self, n: &Notify) -> Option<NotifyPlan> {
        let method = match &n.method {
            None => reqwest::Method::POST,
            Some(m) => match m.value.to_ascii_uppercase().as_str() {
                "POST" => reqwest::Method::POST,
                "PUT" => reqwest::Method::PUT,
                "PATCH" => reqwest::Method::PATCH,
                "GET" => reqwest::Method::GET,
                "DELETE" => reqwest::Method::DELETE,
                _ => {
                    return self.error(
                        self.sources.place(m),
                        format!("unknown HTTP method `{}`", m.value),
                        Some("use POST, PUT, PATCH, GET or DELETE".into()),
                    );
                }
            },
        };
        let url = self.template(&n.url, ROOTS_NOTIFY)?;
        let mut headers = Vec::new();
        for (name, value) in &n.headers {
            headers.push((name.clone(), self.template(value, ROOTS_NOTIFY)?));
        }
        let body = n
            .body
            .as_ref()
            .map(|b| self.body(&b.value, b, ROOTS_NOTIFY));
        let timeout = self.span_or(&n.timeout, DEFAULT_TIMEOUT)?;
        Some(NotifyPlan {
            method,
            url,
            headers,
            body,
            when: n.when,
            timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::StepKind;
    use super::super::tests::{compile_steps, errors};

    const IDS: &str = "  - fetch: {ids: a}\n";

    #[test]
    fn a_report_file_names_its_format_and_stays_in_the_working_directory() {
        let plan = compile_steps(
            "",
            &format!("{IDS}  - report: {{files: [\"out/{{{{ run.playbook }}}}.md\"]}}\n"),
        )
        .expect("a plan");
        let StepKind::Report(r) = &plan.steps[1].kind else {
            panic!("a report")
        };
        assert_eq!(r.files.len(), 1);
        assert!(r.title.is_none());
        assert_eq!(
            errors(compile_steps(
                "",
                &format!("{IDS}  - report: {{files: [out.txt]}}\n")
            )),
            ["cannot tell the report format of `out.txt`"]
        );
        assert_eq!(
            errors(compile_steps(
                "",
                &format!("{IDS}  - report: {{files: [../out.md]}}\n")
            ))
            .len(),
            1
        );
    }

    #[test]
    fn a_report_file_name_reads_only_vars_and_run() {
        assert_eq!(
            errors(compile_steps(
                "",
                &format!("{IDS}  - report: {{files: [\"{{{{ task.id }}}}.md\"]}}\n")
            )),
            ["unknown variable `task` in template"]
        );
    }
}
