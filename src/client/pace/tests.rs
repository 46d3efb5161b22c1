//! The controller pinned without HTTP: answers fed at chosen moments, and whole runs against a
//! simulated provider that allows `limit` requests in any sliding second (429 and `Retry-After: 1`
//! beyond), in virtual time.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::headers::Announced;
use super::*;

fn bounds(start: f64, max: f64) -> AutoBounds {
    AutoBounds {
        start,
        max,
        min: 0.1,
    }
}

fn clean(sent_at: Instant) -> Observation {
    Observation {
        sent_at,
        signal: Signal::Clean,
        announced: None,
    }
}

fn throttled(sent_at: Instant) -> Observation {
    Observation {
        sent_at,
        signal: Signal::Throttled {
            why: "HTTP 429".into(),
        },
        announced: None,
    }
}

/// A clean answer carrying rate-limit headers.
fn announcing(announced: Announced, sent_at: Instant) -> Observation {
    Observation {
        announced: Some(announced),
        ..clean(sent_at)
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn it_starts_at_start_and_paces_by_its_interval() {
    let t0 = Instant::now();
    let c = Controller::new(bounds(5.0, 50.0), t0);
    assert_eq!(c.rate(), 5.0);
    assert_eq!(c.interval(), ms(200));
    assert_eq!(c.reason(), &Reason::Start);
}

#[test]
fn a_throttle_slows_it_down_and_says_why() {
    let t0 = Instant::now();
    let mut c = Controller::new(bounds(8.0, 50.0), t0);
    let change = c.observe(throttled(t0), t0 + ms(10)).expect("a change");
    assert_eq!(change.from, 8.0);
    assert_eq!(change.to, 4.0);
    assert_eq!(
        change.reason.to_string(),
        "slowed down: HTTP 429",
        "the reason names the sign"
    );
    assert_eq!(c.summary().slowdowns, 1);
}

#[test]
fn a_burst_of_throttles_sent_before_the_slow_down_counts_once() {
    let t0 = Instant::now();
    let mut c = Controller::new(bounds(16.0, 50.0), t0);
    let at = t0 + ms(100);
    c.observe(throttled(t0), at);
    for late in 1..8 {
        assert_eq!(c.observe(throttled(t0 + ms(late)), at + ms(late)), None);
    }
    assert_eq!(c.rate(), 8.0);
    let summary = c.summary();
    assert_eq!((summary.slowdowns, summary.throttled), (1, 8));
    // One sent after the slow-down is news: the pace halves again.
    c.observe(throttled(at + ms(50)), at + ms(60));
    assert_eq!(c.rate(), 4.0);
}

#[test]
fn clean_answers_speed_it_up_gently_and_never_above_max() {
    let t0 = Instant::now();
    let mut c = Controller::new(bounds(5.0, 12.0), t0);
    // Answers to requests sent before a whole hold at this pace change nothing.
    assert_eq!(c.observe(clean(t0 + ms(100)), t0 + ms(120)), None);
    assert_eq!(c.rate(), 5.0);
    let change = c.observe(clean(t0 + HOLD_FAST), t0 + HOLD_FAST).unwrap();
    assert_eq!((change.from, change.to), (5.0, 10.0));
    assert_eq!(change.reason, Reason::Faster);
    let mut t = t0 + HOLD_FAST;
    for _ in 0..20 {
        t += HOLD_FAST;
        c.observe(clean(t), t);
        assert!(c.rate() <= 12.0, "{}", c.rate());
    }
    assert_eq!(c.rate(), 12.0, "it reaches max and stays there");
    assert_eq!(c.summary().highest, 12.0);
}

#[test]
fn after_a_throttle_it_searches_below_the_throttled_pace_and_holds_there() {
    let t0 = Instant::now();
    let mut c = Controller::new(bounds(16.0, 100.0), t0);
    let mut t = t0 + HOLD_FAST;
    c.observe(clean(t), t); // 16 held clean: good; now 32
    assert_eq!(c.rate(), 32.0);
    t += ms(50);
    c.observe(throttled(t), t); // 32 is too fast: back to 16, the last good pace
    assert_eq!(c.rate(), 16.0);
    let mut paces = Vec::new();
    for _ in 0..6 {
        t += HOLD;
        c.observe(clean(t), t);
        paces.push(c.rate());
    }
    // Half way up each hold, never reaching the throttled pace, then held.
    assert_eq!(paces[0], 24.0);
    assert_eq!(paces[1], 28.0);
    assert!(paces.iter().all(|p| *p < 32.0), "{paces:?}");
    let top = *paces.last().unwrap();
    assert!(top >= 32.0 * (1.0 - CLOSE), "{paces:?}");
    assert_eq!(paces[4], paces[5], "held near the limit: {paces:?}");
}

#[test]
fn a_limit_that_falls_below_the_known_good_pace_halves_it() {
    let t0 = Instant::now();
    let mut c = Controller::new(bounds(20.0, 100.0), t0);
    let mut t = t0 + HOLD_FAST;
    c.observe(clean(t), t); // 20 is good
    t += ms(10);
    c.observe(throttled(t), t); // 40 is not: back to 20
    assert_eq!(c.rate(), 20.0);
    t += ms(10);
    c.observe(throttled(t), t); // 20 is not either: the limit fell
    assert_eq!(c.rate(), 10.0);
}

#[test]
fn it_probes_above_the_top_of_the_search_after_a_while_and_waits_longer_after_a_failed_probe() {
    let t0 = Instant::now();
    let mut c = Controller::new(bounds(19.0, 100.0), t0);
    let mut t = t0 + HOLD_FAST;
    c.observe(clean(t), t);
    t += ms(10);
    c.observe(throttled(t), t); // 38 too fast; back to 19, searching towards 38
    while c.rate() < 38.0 * (1.0 - CLOSE) {
        t += HOLD;
        c.observe(clean(t), t);
    }
    let top = c.rate();
    t += PROBE_FIRST - ms(1);
    c.observe(clean(t), t);
    assert_eq!(c.rate(), top, "no probe before PROBE_FIRST");
    t += ms(1);
    let change = c.observe(clean(t), t).expect("a probe");
    assert_eq!(change.reason, Reason::Probing);
    assert!(change.to > top);
    t += ms(10);
    c.observe(throttled(t), t); // the probe failed
    assert!(c.rate() <= top);
    while c.rate() < top * (1.0 - CLOSE) {
        t += HOLD;
        c.observe(clean(t), t);
    }
    let before = c.rate();
    let probe_at = t + PROBE_FIRST * 2;
    t += PROBE_FIRST + HOLD;
    c.observe(clean(t), t);
    assert!(
        c.rate() <= before * 1.01,
        "the next probe waits twice as long"
    );
    c.observe(clean(probe_at), probe_at);
    assert!(c.rate() > before);
}

#[test]
fn headers_set_the_pace_outright_within_the_bounds() {
    let t0 = Instant::now();
    let mut c = Controller::new(bounds(5.0, 50.0), t0);
    let announced = Announced {
        limit: Some(40),
        window: Some(Duration::from_secs(1)),
        ..Announced::default()
    };
    let change = c
        .observe(announcing(announced.clone(), t0), t0 + ms(5))
        .unwrap();
    assert_eq!(change.to, 40.0 * MARGIN);
    assert_eq!(
        change.reason.to_string(),
        "the provider announces 40 requests per 1s"
    );
    assert!(c.summary().announced);
    let too_fast = Announced {
        limit: Some(400),
        ..announced
    };
    c.observe(announcing(too_fast, t0), t0 + ms(10));
    assert_eq!(c.rate(), 50.0, "never above max");
}

#[test]
fn a_quota_is_spread_over_its_reset_window() {
    let t0 = Instant::now();
    let mut c = Controller::new(bounds(5.0, 100.0), t0);
    let quota = Announced {
        limit: Some(5000),
        remaining: Some(600),
        reset: Some(Duration::from_secs(300)),
        window: None,
    };
    c.observe(announcing(quota, t0), t0);
    // 600 left for 300 s: 2/s, not 100/s and then five minutes of waiting.
    assert!((c.rate() - 2.0 * MARGIN).abs() < 1e-9, "{}", c.rate());
    assert_eq!(c.interval(), Duration::from_secs_f64(1.0 / (2.0 * MARGIN)));
}

/// Requests sent at the controller's own pace from `from` until `to` (excluded), each answered
/// cleanly a millisecond later, as the limiter and the send loop drive it; returns when each left.
fn clean_run(c: &mut Controller, from: Instant, to: Instant) -> Vec<Instant> {
    let mut sent = Vec::new();
    let mut at = from;
    while at < to {
        c.observe(clean(at), at + ms(1));
        sent.push(at);
        at += c.interval();
    }
    sent
}

#[test]
fn a_throttle_measures_a_sliding_windows_limit_and_settles_just_under_it() {
    let t0 = Instant::now();
    let mut c = Controller::new(bounds(160.0, 1000.0), t0);
    // Doubling from 160/s while answers are clean, until a request is refused at 1 s.
    let sent = clean_run(&mut c, t0, t0 + ms(1000));
    assert!(c.rate() >= 320.0, "{}", c.rate());
    let refused = t0 + ms(1000);
    let admitted = sent.iter().filter(|s| **s + ms(1000) > refused).count();
    c.observe(throttled(refused), refused + ms(1));
    // What got through in the second before the refused request is the limit: SETTLE of it.
    let settled = admitted as f64 * SETTLE;
    assert_eq!(c.rate(), settled, "{admitted} admitted in the last second");
    // It holds there, clean, without climbing back towards the pace that was refused.
    clean_run(&mut c, refused + ms(2), refused + PROBE_FIRST / 2);
    assert_eq!(c.rate(), settled);
}

/// Before: a throttle long after the last slow-down, at the pace it set, halved the pace (the
/// unannounced 20/s run fell to 9.8/s and took six seconds to climb back).
#[test]
fn a_throttle_at_the_settled_pace_costs_only_a_small_cut() {
    let t0 = Instant::now();
    let mut c = Controller::new(bounds(20.0, 20.0), t0);
    clean_run(&mut c, t0, t0 + ms(1000)); // 20 in a second: the 21st is refused
    let t = t0 + ms(999);
    c.observe(throttled(t), t);
    let settled = c.rate();
    assert_eq!(settled, 20.0 * SETTLE);
    // Ten seconds clean at the settled pace, then two arrivals bunched: throttled once.
    clean_run(&mut c, t + ms(1), t + Duration::from_secs(10));
    let t = t + Duration::from_secs(10);
    c.observe(throttled(t), t);
    let roomier = settled * (1.0 - CLOSE);
    assert_eq!(c.rate(), roomier, "a little more room, not a halving");
    // Held there while clean: no climb back into the bunching.
    clean_run(&mut c, t + ms(1), t + Duration::from_secs(10));
    assert_eq!(c.rate(), roomier);
    let t = t + Duration::from_secs(10);
    c.observe(throttled(t), t);
    assert_eq!(c.rate(), roomier * (1.0 - CLOSE));
    let settled = c.rate();
    // Throttled again before a whole hold at the same pace: that pace is too fast after all.
    let t = t + ms(1100);
    c.observe(throttled(t), t);
    assert!(c.rate() < settled, "{}", c.rate());
}

#[test]
fn whatever_the_bounds_the_pace_is_finite_and_above_zero() {
    let t0 = Instant::now();
    for b in [
        bounds(f64::NAN, f64::INFINITY),
        bounds(0.0, 0.0),
        bounds(-1.0, 5.0),
        AutoBounds {
            start: 1e300,
            max: 1e300,
            min: 1e-300,
        },
    ] {
        let mut c = Controller::new(b, t0);
        let mut t = t0;
        for i in 0..50 {
            t += HOLD;
            let seen = if i % 7 == 0 { throttled(t) } else { clean(t) };
            c.observe(seen, t);
            assert!(
                c.rate().is_finite() && c.rate() > 0.0,
                "{b:?}: {}",
                c.rate()
            );
            assert!(c.interval() > Duration::ZERO);
        }
    }
}

/// A run against a provider that allows `limit(t)` requests in any sliding second and answers a
/// request beyond it with 429 and `Retry-After: 1` (which holds every request back for a second,
/// as the client's gate does); answers take `LATENCY`. Returns (seconds taken, requests sent,
/// throttled answers, the pace at every second).
fn simulate(
    tasks: usize,
    start: f64,
    limit: impl Fn(f64) -> f64,
    announce: bool,
) -> (f64, usize, usize, Vec<f64>) {
    const LATENCY: Duration = Duration::from_millis(30);
    let t0 = Instant::now();
    let mut c = Controller::new(bounds(start, 1000.0), t0);
    let mut accepted: VecDeque<Instant> = VecDeque::new();
    let mut answers: VecDeque<(Instant, Observation)> = VecDeque::new();
    let (mut done, mut sent, mut throttles) = (0, 0, 0);
    let (mut next, mut gate) = (t0, t0);
    let mut paces = Vec::new();
    while done < tasks {
        let at = next.max(gate);
        while let Some((arrives, _)) = answers.front() {
            if *arrives > at {
                break;
            }
            let (arrives, seen) = answers.pop_front().unwrap();
            if matches!(seen.signal, Signal::Throttled { .. }) {
                gate = gate.max(arrives + Duration::from_secs(1));
            }
            c.observe(seen, arrives);
        }
        if at < gate {
            next = gate;
            continue;
        }
        let secs = (at - t0).as_secs_f64();
        while paces.len() <= secs as usize {
            paces.push(c.rate());
        }
        while accepted
            .front()
            .is_some_and(|a| at - *a >= Duration::from_secs(1))
        {
            accepted.pop_front();
        }
        let allowed = limit(secs);
        sent += 1;
        let signal = if (accepted.len() as f64) < allowed {
            accepted.push_back(at);
            done += 1;
            Signal::Clean
        } else {
            throttles += 1;
            Signal::Throttled {
                why: "HTTP 429".into(),
            }
        };
        let announced = announce.then(|| Announced {
            limit: Some(allowed as u64),
            window: Some(Duration::from_secs(1)),
            remaining: Some((allowed as u64).saturating_sub(accepted.len() as u64)),
            reset: Some(Duration::from_secs(1)),
        });
        answers.push_back((
            at + LATENCY,
            Observation {
                sent_at: at,
                signal,
                announced,
            },
        ));
        next = at + c.interval();
    }
    let taken = (next - t0).as_secs_f64();
    (taken, sent, throttles, paces)
}

/// Issue 10's targets, on the controller alone: without headers, throttled answers ≤ 2 % of
/// requests and time within 15 % of tasks ÷ limit; with headers, none and within 10 %.
#[test]
fn against_a_sliding_window_limit_it_finds_the_limit_with_few_throttles() {
    for limit in [20.0, 200.0] {
        let tasks = 5000;
        let ideal = tasks as f64 / limit;
        let (taken, sent, throttles, _) = simulate(tasks, 5.0, |_| limit, false);
        assert!(
            throttles as f64 <= 0.02 * sent as f64,
            "limit {limit}/s unannounced: {throttles} of {sent} throttled"
        );
        assert!(
            taken <= ideal * 1.15,
            "limit {limit}/s unannounced: {taken:.1}s, ideal {ideal:.1}s"
        );
        let (taken, _, throttles, _) = simulate(tasks, 5.0, |_| limit, true);
        assert_eq!(throttles, 0, "limit {limit}/s announced");
        assert!(
            taken <= ideal * 1.10,
            "limit {limit}/s announced: {taken:.1}s, ideal {ideal:.1}s"
        );
    }
}

/// Issue 10: a limit halved after 10 s is followed within 5 s (from 15 s on, the pace is at
/// most the new limit and at least 90 % of it), with throttled answers ≤ 3 %.
#[test]
fn a_limit_halved_mid_run_is_followed_within_five_seconds() {
    for (first, tasks) in [(20.0, 2000), (200.0, 5000)] {
        let halved = first / 2.0;
        let limit = |t: f64| if t < 10.0 { first } else { halved };
        let (_, sent, throttles, paces) = simulate(tasks, 5.0, limit, false);
        assert!(
            throttles as f64 <= 0.03 * sent as f64,
            "{first}/s: {throttles} of {sent} throttled"
        );
        // From 15 s, near the new limit; a probe above it now and then is allowed for.
        let after = &paces[15..];
        let mean = after.iter().sum::<f64>() / after.len() as f64;
        assert!(
            (0.9 * halved..=halved).contains(&after[0]) && (0.9 * halved..=halved).contains(&mean),
            "{first}/s: paces by second: {paces:?}"
        );
    }
}

/// The figures of the simulated runs, for the README: `cargo test --lib
/// client::pace::tests::simulated_figures -- --ignored --nocapture`.
#[test]
#[ignore = "prints figures; the targets are pinned by the tests above"]
fn simulated_figures() {
    for (limit, announce) in [(20.0, false), (200.0, false), (20.0, true), (200.0, true)] {
        let (taken, sent, throttles, _) = simulate(5000, 5.0, |_| limit, announce);
        eprintln!(
            "limit {limit}/s, announced {announce}: {taken:.1}s for 5000 tasks (ideal {:.1}s), {throttles} of {sent} requests throttled",
            5000.0 / limit
        );
    }
    let (taken, sent, throttles, paces) =
        simulate(2000, 5.0, |t| if t < 10.0 { 20.0 } else { 10.0 }, false);
    eprintln!(
        "limit 20/s halved at 10s: {taken:.1}s for 2000 tasks, {throttles} of {sent} throttled; pace at 11s..15s: {:?}",
        &paces[11..=15]
    );
}
