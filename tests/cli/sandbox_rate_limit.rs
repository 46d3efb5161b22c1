//! `runbook sandbox --rate-limit`: the flags reach the running sandbox, and a value it cannot
//! take is refused with the form to write. (The window itself is tested in-process, on tokio's
//! paused clock, in `src/sandbox/tests/ratelimit.rs`.)

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use crate::Runbook;

/// A `runbook sandbox` process, killed when dropped (the test started it; it serves until
/// stopped).
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_change_without_its_limit_is_refused_with_the_form_to_write() {
    let ran = Runbook::new(["sandbox", "--port", "0", "--rate-limit", "20"])
        .args(["--rate-limit-change", "10s"])
        .run();
    ran.expect_code(2);
    assert_eq!(
        ran.stderr,
        "error: invalid value '10s' for '--rate-limit-change <AFTER:LIMIT>': `10s` has no `:`; \
         write it AFTER:LIMIT, e.g. `10s:10` for 10 requests a second from 10 seconds after the \
         sandbox started\n\nFor more information, try '--help'.\n"
    );
}

#[test]
fn announcing_headers_need_a_limit_to_announce() {
    let ran = Runbook::new(["sandbox", "--port", "0", "--rate-limit-headers", "ietf"]).run();
    ran.expect_code(2);
    assert!(
        ran.stderr.starts_with(
            "error: the following required arguments were not provided:\n  --rate-limit <N>\n"
        ),
        "{ran:?}"
    );
}

#[tokio::test]
async fn the_running_sandbox_limits_and_announces_as_its_flags_say() {
    let runbook = Runbook::new(["sandbox", "--port", "0", "--rate-limit", "7"]).args([
        "--rate-limit-change",
        "0s:1",
        "--rate-limit-headers",
        "x",
    ]);
    let mut child = runbook
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the runbook binary starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let _serving = Serving(child);
    // The banner is printed at once; read up to its last section, then keep draining the pipe
    // so the sandbox never writes to a closed one.
    let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
    let banner: Vec<String> = lines
        .by_ref()
        .take_while(|line| line != "credentials:")
        .collect();
    std::thread::spawn(move || lines.for_each(drop));
    assert!(
        banner.contains(
            &"rate limit: 7 requests in any sliding second per API, 1 from 0s, announced in \
              X-RateLimit-*"
                .to_owned()
        ),
        "{banner:#?}"
    );
    let origin = banner
        .iter()
        .find_map(|line| line.strip_prefix("runbook sandbox listening on "))
        .expect("the banner names the address");

    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let answer = client
        .get(format!("{origin}/http/tasks"))
        .bearer_auth("sandbox-token")
        .send()
        .await
        .expect("sent");
    let header = |name| {
        answer
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
    };
    // The limit of 1 in force from the start, announced as asked.
    assert_eq!(
        (
            answer.status().as_u16(),
            header("x-ratelimit-limit"),
            header("x-ratelimit-remaining")
        ),
        (200, Some("1"), Some("0"))
    );
}
