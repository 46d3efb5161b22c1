//! The limit a provider states in its answers' headers, in the three forms met in the wild:
//! - the IETF draft's structured fields (draft-ietf-httpapi-ratelimit-headers-08 and later):
//!   `RateLimit-Policy: "default";q=100;w=60` (a quota `q` per window `w` seconds) and
//!   `RateLimit: "default";r=50;t=30` (`r` left, reset in `t` seconds), each a list of policies;
//! - the draft's older fields: `RateLimit-Limit: 100` (or `100, 100;w=60`), `RateLimit-Remaining`,
//!   `RateLimit-Reset`, and the dictionary `RateLimit: limit=100, remaining=50, reset=30`;
//! - the common `X-RateLimit-Limit`, `-Remaining` and `-Reset`.
//!
//! A reset is seconds to wait, or a moment: a number from 10⁹ on is epoch seconds (2001 and
//! later; no window lasts 31 years), from 10¹² on epoch milliseconds. A reset more than a year
//! away, negative or not a number is ignored.
//!
//! Invariant: every header value is hostile; none makes this panic, and a value that cannot be
//! read is left out as if absent. Written by hand rather than with the `sfv` crate: only a few
//! integer parameters are read, and a provider's slightly malformed field (a missing quote, a
//! stray space) should still yield what can be read rather than nothing.

use std::time::{Duration, SystemTime};

use http::header::HeaderMap;

/// A window shorter than this is paced by its limit, not by spreading what is left of it: the
/// time to reset of a short sliding window says little about how fast requests may go.
const SHORT_WINDOW: Duration = Duration::from_secs(2);
/// The furthest reset believed.
const FURTHEST_RESET: Duration = Duration::from_secs(366 * 24 * 3600);

/// What an answer's headers say of the limit.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Announced {
    /// Requests allowed per window.
    pub limit: Option<u64>,
    /// The window, where a header states it.
    pub window: Option<Duration>,
    /// Requests left before the reset.
    pub remaining: Option<u64>,
    /// Time until the quota is whole again.
    pub reset: Option<Duration>,
}

impl Announced {
    /// What `headers` say, read at `now` (for an epoch reset); `None` when they say nothing.
    pub(crate) fn read(headers: &HeaderMap, now: SystemTime) -> Option<Announced> {
        let text = |name: &str| {
            headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        let found = ietf(text("ratelimit-policy"), text("ratelimit"), now)
            .or_else(|| {
                fields(
                    text("ratelimit-limit"),
                    text("ratelimit-remaining"),
                    text("ratelimit-reset"),
                    now,
                )
            })
            .or_else(|| {
                fields(
                    text("x-ratelimit-limit"),
                    text("x-ratelimit-remaining"),
                    text("x-ratelimit-reset"),
                    now,
                )
            });
        found.filter(|a| *a != Announced::default())
    }

    /// The pace this asks for (requests per second) and how to say it, given the longest time to
    /// reset seen so far (the window, where no header states it):
    /// - a long window with its quota spent: one request once it resets;
    /// - a long window with its remaining quota known: the remaining requests spread over the time
    ///   to reset;
    /// - a known limit and window: the limit spread over the window (a short window's spent
    ///   quota included: its slots free one by one, and its reset, rounded up to whole seconds,
    ///   says only when the first frees);
    /// - else what is left spread over the time to reset (at least a second).
    pub(crate) fn target(&self, window_seen: Duration) -> Option<(f64, String)> {
        let reset = self.reset.map(|r| r.max(Duration::from_secs(1)));
        let window = self
            .window
            .or((!window_seen.is_zero()).then_some(window_seen))
            .map(|w| w.max(Duration::from_secs(1)));
        let short = window.is_some_and(|w| w <= SHORT_WINDOW) && self.limit.is_some_and(|l| l > 0);
        match (self.remaining, reset) {
            (Some(0), Some(reset)) if !short => {
                return Some((
                    1.0 / reset.as_secs_f64(),
                    format!("its quota spent until it resets in {}s", reset.as_secs()),
                ));
            }
            (Some(left), Some(reset)) if reset > SHORT_WINDOW => {
                return Some((
                    left as f64 / reset.as_secs_f64(),
                    format!("{left} requests left for {}s", reset.as_secs()),
                ));
            }
            _ => {}
        }
        if let (Some(limit), Some(window)) = (self.limit.filter(|l| *l > 0), window) {
            return Some((
                limit as f64 / window.as_secs_f64(),
                format!("{limit} requests per {}s", window.as_secs()),
            ));
        }
        let (left, reset) = (self.remaining?, reset?);
        Some((
            left as f64 / reset.as_secs_f64(),
            format!("{left} requests left for {}s", reset.as_secs()),
        ))
    }
}

/// The current draft's `RateLimit-Policy` and `RateLimit` (also the older dictionary form of
/// `RateLimit`): of several policies, the one allowing the slowest pace.
fn ietf(policy: Option<String>, current: Option<String>, now: SystemTime) -> Option<Announced> {
    let policies: Vec<Member> = policy.as_deref().map(members).unwrap_or_default();
    let currents: Vec<Member> = current.as_deref().map(members).unwrap_or_default();
    if policies.is_empty() && currents.is_empty() {
        return None;
    }
    // The older dictionary form: `RateLimit: limit=100, remaining=50, reset=30`.
    let dictionary = |key: &str| currents.iter().find(|m| m.name == key);
    if let Some(limit) = dictionary("limit") {
        return Some(Announced {
            limit: limit.value.as_deref().and_then(count),
            window: None,
            remaining: dictionary("remaining")
                .and_then(|m| m.value.as_deref())
                .and_then(count),
            reset: dictionary("reset")
                .and_then(|m| m.value.as_deref())
                .and_then(|v| reset_after(v, now)),
        });
    }
    let mut names: Vec<&str> = policies.iter().map(|m| m.name.as_str()).collect();
    names.extend(currents.iter().map(|m| m.name.as_str()));
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let policy = policies.iter().find(|m| m.name == name);
            let current = currents.iter().find(|m| m.name == name);
            // A quota of bytes or of concurrent requests is not a pace of requests.
            if policy
                .and_then(|p| p.param("qu"))
                .is_some_and(|u| u != "requests")
            {
                return None;
            }
            let announced = Announced {
                limit: policy
                    .and_then(|p| p.param("q").or(Some(&p.name)))
                    .and_then(count),
                window: policy
                    .and_then(|p| p.param("w"))
                    .and_then(count)
                    .map(Duration::from_secs),
                remaining: current.and_then(|c| c.param("r")).and_then(count),
                reset: current
                    .and_then(|c| c.param("t"))
                    .and_then(|t| reset_after(t, now)),
            };
            let pace = announced.target(Duration::ZERO).map(|(p, _)| p);
            Some((announced, pace))
        })
        .min_by(|a, b| {
            let pace = |p: Option<f64>| p.unwrap_or(f64::INFINITY);
            pace(a.1).total_cmp(&pace(b.1))
        })
        .map(|(announced, _)| announced)
}

/// The older draft's `RateLimit-Limit` / `-Remaining` / `-Reset`, or the `X-RateLimit-` ones.
fn fields(
    limit: Option<String>,
    remaining: Option<String>,
    reset: Option<String>,
    now: SystemTime,
) -> Option<Announced> {
    if limit.is_none() && remaining.is_none() && reset.is_none() {
        return None;
    }
    // `RateLimit-Limit: 100, 100;w=60`: the first member is the limit, a `w` anywhere its window.
    let limit_members: Vec<Member> = limit.as_deref().map(members).unwrap_or_default();
    let first = |text: Option<String>| text.as_deref().map(members)?.into_iter().next();
    Some(Announced {
        limit: limit_members.first().and_then(|m| count(&m.name)),
        window: limit_members
            .iter()
            .find_map(|m| m.param("w"))
            .and_then(count)
            .map(Duration::from_secs),
        remaining: first(remaining).and_then(|m| count(&m.name)),
        reset: first(reset).and_then(|m| reset_after(&m.name, now)),
    })
}

/// One member of a list field: its bare item (a string unquoted, a token or a number), and its
/// `;key=value` parameters; in a dictionary member `key=value`, the key and its value.
#[derive(Debug, PartialEq)]
struct Member {
    name: String,
    value: Option<String>,
    params: Vec<(String, String)>,
}

impl Member {
    fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// The members of a list or dictionary field, read tolerantly: commas and semicolons inside
/// quotes are text; anything unreadable is an empty name that matches nothing.
fn members(text: &str) -> Vec<Member> {
    split_outside_quotes(text, ',')
        .into_iter()
        .filter(|m| !m.trim().is_empty())
        .map(|member| {
            let mut parts = split_outside_quotes(member, ';').into_iter();
            let head = parts.next().unwrap_or_default();
            let (name, value) = match head.split_once('=') {
                Some((k, v)) => (unquote(k), Some(unquote(v))),
                None => (unquote(head), None),
            };
            let params = parts
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (unquote(k), unquote(v)))
                .collect();
            Member {
                name,
                value,
                params,
            }
        })
        .collect()
}

fn split_outside_quotes(text: &str, at: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut escaped = false;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == at && !quoted => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn unquote(text: &str) -> String {
    let text = text.trim();
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text)
        .to_string()
}

/// A whole number of requests or seconds.
fn count(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// The wait until a reset: seconds, epoch seconds (from 10⁹) or epoch milliseconds (from 10¹²).
fn reset_after(text: &str, now: SystemTime) -> Option<Duration> {
    let value: f64 = text.trim().parse().ok()?;
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    let wait = if value >= 1e9 {
        let epoch = if value >= 1e12 { value / 1000.0 } else { value };
        let now = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()?
            .as_secs_f64();
        (epoch - now).max(0.0)
    } else {
        value
    };
    Duration::try_from_secs_f64(wait)
        .ok()
        .filter(|w| *w <= FURTHEST_RESET)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{HeaderName, HeaderValue};

    const NOW: u64 = 1_780_000_000;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(NOW)
    }

    fn read(pairs: &[(&str, &str)]) -> Option<Announced> {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value.as_bytes()).unwrap(),
            );
        }
        Announced::read(&headers, now())
    }

    fn secs(s: u64) -> Option<Duration> {
        Some(Duration::from_secs(s))
    }

    #[test]
    fn the_current_drafts_structured_fields_are_read() {
        let a = read(&[
            ("RateLimit-Policy", "\"default\";q=100;w=60"),
            ("RateLimit", "\"default\";r=50;t=30"),
        ])
        .unwrap();
        assert_eq!(
            a,
            Announced {
                limit: Some(100),
                window: secs(60),
                remaining: Some(50),
                reset: secs(30)
            }
        );
        // Remaining quota over a long window: spread over the time to reset.
        let (pace, what) = a.target(Duration::ZERO).unwrap();
        assert!((pace - 50.0 / 30.0).abs() < 1e-9, "{pace}");
        assert_eq!(what, "50 requests left for 30s");
    }

    #[test]
    fn of_several_policies_the_slowest_is_kept() {
        let a = read(&[
            (
                "RateLimit-Policy",
                "\"burst\";q=100;w=1, \"day\";q=1000;w=86400;qu=\"requests\", \"bytes\";q=5;w=1;qu=\"content-bytes\"",
            ),
            ("RateLimit", "\"burst\";r=99;t=1, \"day\";r=900;t=3600"),
        ])
        .unwrap();
        assert_eq!(a.limit, Some(1000));
        assert_eq!(a.remaining, Some(900));
        assert_eq!(a.target(Duration::ZERO).unwrap().0, 0.25);
    }

    #[test]
    fn a_policy_alone_paces_at_its_limit_over_its_window() {
        let a = read(&[("RateLimit-Policy", "\"default\";q=20;w=1")]).unwrap();
        assert_eq!(
            a.target(Duration::ZERO),
            Some((20.0, "20 requests per 1s".into()))
        );
        // The older draft wrote the policy as a number with a `w` parameter.
        let a = read(&[("RateLimit-Policy", "100;w=60")]).unwrap();
        assert_eq!(a.limit, Some(100));
        assert_eq!(a.window, secs(60));
    }

    #[test]
    fn the_older_drafts_fields_are_read() {
        let a = read(&[
            ("RateLimit-Limit", "10, 10;w=1, 50;w=60"),
            ("RateLimit-Remaining", "7"),
            ("RateLimit-Reset", "1"),
        ])
        .unwrap();
        assert_eq!(
            a,
            Announced {
                limit: Some(10),
                window: secs(1),
                remaining: Some(7),
                reset: secs(1)
            }
        );
        assert_eq!(a.target(Duration::ZERO).unwrap().0, 10.0);
        let a = read(&[("RateLimit", "limit=100, remaining=0, reset=30")]).unwrap();
        assert_eq!(
            a.target(Duration::ZERO),
            Some((1.0 / 30.0, "its quota spent until it resets in 30s".into()))
        );
    }

    /// The sandbox's `--rate-limit 20 --rate-limit-headers ietf|x` ran 20/s at 14 requests a
    /// second: every admitted answer that took the window's last slot said `r=0;t=1`, read as
    /// "one request once it resets", and held every worker back for a whole second.
    #[test]
    fn a_spent_quota_of_a_one_second_window_is_paced_at_its_limit_not_once_a_second() {
        let ietf = read(&[
            ("RateLimit-Policy", "\"default\";q=20;w=1"),
            ("RateLimit", "\"default\";r=0;t=1"),
        ])
        .unwrap();
        assert_eq!(
            ietf.target(Duration::ZERO),
            Some((20.0, "20 requests per 1s".into()))
        );
        // The X form states no window: the longest reset seen (1 s) stands for it.
        let x = read(&[
            ("X-RateLimit-Limit", "20"),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", "1"),
        ])
        .unwrap();
        assert_eq!(x.target(secs(1).unwrap()).unwrap().0, 20.0);
        // A long window's spent quota still waits for its reset.
        let hourly = read(&[
            ("RateLimit-Policy", "\"hour\";q=5000;w=3600"),
            ("RateLimit", "\"hour\";r=0;t=1200"),
        ])
        .unwrap();
        assert_eq!(hourly.target(Duration::ZERO).unwrap().0, 1.0 / 1200.0);
    }

    #[test]
    fn x_ratelimit_reset_is_told_apart_as_seconds_epoch_seconds_or_epoch_milliseconds() {
        let reset = |value: &str| {
            read(&[
                ("X-RateLimit-Limit", "5000"),
                ("X-RateLimit-Remaining", "4000"),
                ("X-RateLimit-Reset", value),
            ])
            .unwrap()
            .reset
        };
        assert_eq!(reset("1200"), secs(1200));
        assert_eq!(reset(&(NOW + 1200).to_string()), secs(1200));
        assert_eq!(reset(&((NOW + 1200) * 1000).to_string()), secs(1200));
        assert_eq!(reset("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(
            reset(&(NOW - 10).to_string()),
            secs(0),
            "a past reset is now"
        );
        assert_eq!(reset("999999999"), None, "31 years of seconds is no window");
        assert_eq!(reset(&(NOW + 400 * 86_400).to_string()), None);
        let a = read(&[
            ("X-RateLimit-Limit", "5000"),
            ("X-RateLimit-Remaining", "4000"),
            ("X-RateLimit-Reset", &(NOW + 1200).to_string()),
        ])
        .unwrap();
        let (pace, _) = a.target(Duration::ZERO).unwrap();
        assert!((pace - 4000.0 / 1200.0).abs() < 1e-9, "{pace}");
    }

    #[test]
    fn a_limit_without_a_window_is_paced_over_the_longest_reset_seen() {
        let a = read(&[
            ("X-RateLimit-Limit", "30"),
            ("X-RateLimit-Remaining", "12"),
            ("X-RateLimit-Reset", "2"),
        ])
        .unwrap();
        assert_eq!(a.target(secs(3).unwrap()).unwrap().0, 10.0);
        // With no window known at all, what is left over the time to reset (at least 1 s).
        assert_eq!(a.target(Duration::ZERO).unwrap().0, 6.0);
        let only_limit = read(&[("X-RateLimit-Limit", "30")]).unwrap();
        assert_eq!(only_limit.target(Duration::ZERO), None);
    }

    #[test]
    fn garbage_is_ignored_and_never_panics() {
        for value in [
            "",
            ",,,",
            ";;;",
            "\"",
            "\"unterminated;q=5",
            "q=",
            "=",
            "-5",
            "NaN",
            "inf",
            "1e400",
            "18446744073709551616",
            "\"a\";q=-1;w=0",
            "\"a\";q=10;w=0",
            "é\u{80}",
            "\\\"",
            "1;w=99999999999999999999",
        ] {
            for name in [
                "RateLimit-Policy",
                "RateLimit",
                "RateLimit-Limit",
                "RateLimit-Reset",
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "X-RateLimit-Reset",
            ] {
                if let Some(a) = read(&[(name, value)]) {
                    for seen in [Duration::ZERO, Duration::from_secs(1), Duration::MAX] {
                        if let Some((pace, _)) = a.target(seen) {
                            assert!(
                                pace.is_finite() && pace >= 0.0,
                                "{name}: {value:?} → {pace}"
                            );
                        }
                    }
                }
            }
        }
        assert_eq!(read(&[("X-RateLimit-Remaining", "lots")]), None);
        assert_eq!(read(&[("Content-Type", "application/json")]), None);
    }
}
