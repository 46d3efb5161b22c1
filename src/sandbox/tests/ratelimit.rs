//! The request limit (`--rate-limit`): N requests in any sliding second per API, the rest refused
//! in each API's own dialect, announced in headers when asked, and changed at set times.
//!
//! Every test runs on tokio's paused clock: time moves only when a test advances it, so "within
//! one second" is exact however slow the machine, and no test sleeps.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::{Instant, advance};

use super::{APIS, client};
use crate::sandbox::{
    LimitChange, LimitHeaders, LimitTally, RecordedRequest, RequestLimit, Sandbox, SandboxConfig,
};

/// A sandbox whose APIs admit `limit` requests in any sliding second.
async fn limited(limit: RequestLimit) -> Sandbox {
    Sandbox::start(SandboxConfig {
        request_limit: Some(limit),
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox starts")
}

/// A sandbox admitting `per_second` requests per API, announced in `form`.
async fn announcing(form: LimitHeaders, per_second: u32) -> Sandbox {
    limited(RequestLimit {
        headers: form,
        ..RequestLimit::new(per_second)
    })
    .await
}

/// One answer, as the limit tests look at it.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
    headers: reqwest::header::HeaderMap,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The values of the headers `names`, in that order.
    fn headers_named(&self, names: &[&str]) -> Vec<Option<String>> {
        (names.iter())
            .map(|name| self.header(name).map(str::to_owned))
            .collect()
    }

    /// Whether this is the API's throttle: GeeLark's envelope code 40007, a 429 elsewhere.
    fn throttled(&self) -> bool {
        self.status == 429 || self.body["code"] == json!(40007)
    }
}

/// Sends one request to `api` (any path: the limit counts every request, answered or not), on
/// one client per test (building one reads the system's certificates: slow in a debug build).
async fn send(sandbox: &Sandbox, api: &str) -> Answer {
    thread_local! {
        static CLIENT: reqwest::Client = client();
    }
    let url = format!("{}/tasks", sandbox.base_url(api).expect("api served"));
    let response = CLIENT
        .with(reqwest::Client::clone)
        .get(url)
        .header("traceId", "trace-limit")
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body reads");
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        headers,
    }
}

/// What `GET /_sandbox/rate-limit` answers.
async fn control_report(sandbox: &Sandbox) -> Value {
    let control = format!("http://{}/_sandbox/rate-limit", sandbox.addr());
    let answer = client().get(control).send().await.expect("sent");
    answer.json().await.expect("JSON")
}

/// Fails when the paused clock moved on its own (it must only move when a test advances it).
fn assert_clock_held(started: Instant, advanced: Duration) {
    assert_eq!(
        started.elapsed(),
        advanced,
        "the paused clock moved by itself"
    );
}

#[tokio::test(start_paused = true)]
async fn every_api_refuses_exactly_the_request_past_the_limit_in_its_own_dialect() {
    let started = Instant::now();
    let sandbox = limited(RequestLimit::new(3)).await;
    for api in APIS {
        let mut answers = Vec::new();
        for _ in 0..4 {
            answers.push(send(&sandbox, api).await);
        }
        let refused: Vec<bool> = answers.iter().map(Answer::throttled).collect();
        assert_eq!(refused, [false, false, false, true], "{api}: {answers:#?}");
        let throttle = &answers[3];
        match api {
            "geelark" => {
                assert_eq!(throttle.status, 200, "GeeLark answers its envelope");
                assert_eq!(throttle.body["msg"], json!("too many requests"));
                assert_eq!(throttle.body["traceId"], json!("trace-limit"));
                assert_eq!(throttle.header("retry-after"), None);
            }
            "skyvern" => assert_eq!(throttle.header("retry-after"), None, "as the real server"),
            _ => assert_eq!(throttle.header("retry-after"), Some("1"), "{api}"),
        }
    }
    let tally: Vec<(String, u64, u64)> = (sandbox.rate_limit_tally().into_iter())
        .map(|second| (second.api, second.admitted, second.throttled))
        .collect();
    let mut expected: Vec<(String, u64, u64)> =
        APIS.iter().map(|api| ((*api).to_owned(), 3, 1)).collect();
    expected.sort();
    assert_eq!(tally, expected);
    assert_clock_held(started, Duration::ZERO);
    sandbox.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_window_slides_a_slot_frees_when_the_oldest_leaves() {
    let started = Instant::now();
    let sandbox = limited(RequestLimit::new(2)).await;
    let mut refused = Vec::new();
    let mut at = |answer: Answer| refused.push(answer.throttled());
    at(send(&sandbox, "http").await); // 0 ms
    advance(Duration::from_millis(600)).await;
    at(send(&sandbox, "http").await); // 600 ms
    at(send(&sandbox, "http").await); // 600 ms: two in the last second
    advance(Duration::from_millis(399)).await;
    at(send(&sandbox, "http").await); // 999 ms: the first still counts
    advance(Duration::from_millis(1)).await;
    at(send(&sandbox, "http").await); // 1000 ms: the first has left
    at(send(&sandbox, "http").await); // full again
    advance(Duration::from_millis(600)).await;
    at(send(&sandbox, "http").await); // 1600 ms: the one at 600 ms has left
    assert_eq!(refused, [false, false, true, true, false, true, false]);
    assert_clock_held(started, Duration::from_millis(1600));
    sandbox.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn ietf_headers_announce_the_policy_and_what_remains() {
    let sandbox = announcing(LimitHeaders::Ietf, 2).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let answer = send(&sandbox, "http").await;
        let names = ["ratelimit-policy", "ratelimit", "retry-after"];
        seen.push((answer.status, answer.headers_named(&names)));
    }
    let announced = |remaining: u32, retry_after: Option<&str>| {
        vec![
            Some("\"default\";q=2;w=1".to_owned()),
            Some(format!("\"default\";r={remaining};t=1")),
            retry_after.map(str::to_owned),
        ]
    };
    assert_eq!(
        seen,
        [
            (401, announced(1, None)),
            (401, announced(0, None)),
            (429, announced(0, Some("1"))),
        ]
    );
    sandbox.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn x_headers_announce_limit_remaining_and_reset_seconds_on_every_api() {
    let sandbox = announcing(LimitHeaders::X, 1).await;
    for api in APIS {
        let mut seen = Vec::new();
        for _ in 0..2 {
            let answer = send(&sandbox, api).await;
            let names = [
                "x-ratelimit-limit",
                "x-ratelimit-remaining",
                "x-ratelimit-reset",
            ];
            seen.push((answer.throttled(), answer.headers_named(&names)));
        }
        let values = |remaining: &str| {
            ["1", remaining, "1"]
                .into_iter()
                .map(|value| Some(value.to_owned()))
                .collect::<Vec<_>>()
        };
        assert_eq!(seen, [(false, values("0")), (true, values("0"))], "{api}");
    }
    sandbox.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn without_headers_nothing_is_announced() {
    let sandbox = limited(RequestLimit::new(1)).await;
    for _ in 0..2 {
        let answer = send(&sandbox, "http").await;
        let announced: Vec<&str> = answer
            .headers
            .keys()
            .map(|name| name.as_str())
            .filter(|name| name.contains("ratelimit"))
            .collect();
        assert_eq!(announced, Vec::<&str>::new());
    }
    sandbox.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_limit_halves_at_its_set_time_and_the_tally_shows_it() {
    let started = Instant::now();
    let sandbox = limited(RequestLimit {
        headers: LimitHeaders::X,
        changes: vec![LimitChange {
            after: Duration::from_secs(2),
            per_second: 2,
        }],
        ..RequestLimit::new(4)
    })
    .await;
    let mut admitted_each_second = Vec::new();
    for second in 0..4 {
        let mut admitted = 0;
        for _ in 0..5 {
            if !send(&sandbox, "http").await.throttled() {
                admitted += 1;
            }
        }
        admitted_each_second.push(admitted);
        if second < 3 {
            advance(Duration::from_secs(1)).await;
        }
    }
    assert_eq!(admitted_each_second, [4, 4, 2, 2]);
    assert_eq!(
        send(&sandbox, "http").await.header("x-ratelimit-limit"),
        Some("2")
    );
    let second = |second, admitted, throttled| LimitTally {
        api: "http".to_owned(),
        second,
        admitted,
        throttled,
    };
    assert_eq!(
        sandbox.rate_limit_tally(),
        [
            second(0, 4, 1),
            second(1, 4, 1),
            second(2, 2, 3),
            second(3, 2, 4)
        ]
    );
    let report = control_report(&sandbox).await;
    assert_eq!(
        (
            &report["per_second"],
            &report["admitted"],
            &report["throttled"]
        ),
        (&json!(2), &json!(12), &json!(9))
    );
    assert_eq!(
        report["seconds"][2],
        json!({"api": "http", "second": 2, "admitted": 2, "throttled": 3})
    );
    assert_clock_held(started, Duration::from_secs(3));
    sandbox.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_refused_request_is_journaled_and_draws_no_fault() {
    let sandbox = Sandbox::start(SandboxConfig {
        faults: 1.0,
        request_limit: Some(RequestLimit::new(1)),
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox starts");
    let first = send(&sandbox, "http").await;
    let second = send(&sandbox, "http").await;
    assert_eq!((first.status, second.status), (503, 429));
    let journal: Vec<(u16, bool)> = (sandbox.requests().iter())
        .map(|request: &RecordedRequest| (request.status, request.fault))
        .collect();
    assert_eq!(journal, [(503, true), (429, false)]);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn without_a_limit_the_control_endpoint_says_so() {
    let sandbox = super::sandbox(7, 0.0).await;
    let report = control_report(&sandbox).await;
    assert_eq!(
        report,
        json!({"per_second": null, "throttled": 0, "admitted": 0, "seconds": []})
    );
    assert_eq!(sandbox.rate_limit_tally(), []);
    sandbox.shutdown().await;
}
