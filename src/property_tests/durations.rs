//! Property tests of `Retry-After`, spans and rates: parsing never panics, and neither does
//! any use the engine makes of a parsed value (deadlines, `now - span`, backoff).

use std::time::{Duration, Instant, SystemTime};

use proptest::prelude::*;
use serde_json::json;

use crate::client::backoff::parse_retry_after;
use crate::template::context;

use super::config;
use super::templates::engine;

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn retry_after_never_panics(value in prop_oneof![
        any::<String>(),
        "[-+]?[0-9]{0,30}(\\.[0-9]{0,30})?([eE][-+]?[0-9]{0,4})?",
        "(Mon|Tue|Sun), [0-9]{1,2} (Jan|Feb|Dec) [0-9]{1,6} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT",
        Just("inf".to_string()), Just("NaN".to_string()), Just("-0".to_string()),
        Just("-0.0".to_string()), Just("1e309".to_string()), Just("18446744073709551616".to_string()),
    ], offset in any::<u32>()) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(offset));
        let _ = parse_retry_after(&value, now);
        let _ = parse_retry_after(&value, SystemTime::now());
    }
}

/// Span-like text: number-unit pairs with numbers up to 25 digits (past u64) and real and false
/// units.
fn span_source() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "([0-9]{0,25}(ms|s|sec|m|min|h|hours|d|days|w|weeks|x|)){0,4}",
        Just("18446744073709551615s1s".to_string()),
        Just("30000000000000w".to_string()),
        Just("36500d".to_string()),
        Just("36500d1ms".to_string()),
    ]
}

/// What the engine does with a span: deadlines on both clocks, `now - span`, backoff and
/// `Retry-After` against it. None of it may panic for a span that parsed.
fn use_span(span: crate::units::Span) -> Result<(), TestCaseError> {
    let d = span.0;
    prop_assert!(d <= crate::units::Span::MAX.0);
    prop_assert!(Instant::now().checked_add(d).is_some());
    let _deadline = tokio::time::Instant::now() + d;
    let back = jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|s| jiff::Timestamp::now().checked_sub(s).ok());
    prop_assert!(back.is_some(), "now - {span}");
    prop_assert_eq!(crate::units::Span::parse(&span.to_string()), Ok(span));
    let policy = crate::client::backoff::BackoffPolicy {
        initial: d,
        max: d,
        max_retry_after: d,
        ..Default::default()
    };
    for attempt in [1, 2, 31, 32, u32::MAX] {
        prop_assert!(policy.delay(attempt, 0.999_999) <= d);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn spans_never_panic_in_parsing_nor_in_use(text in span_source()) {
        if let Ok(span) = crate::units::Span::parse(&text) {
            use_span(span)?;
        }
    }

    #[test]
    fn rates_never_panic_in_parsing_nor_in_use(
        count in prop_oneof![any::<u64>().prop_map(|n| n.to_string()), "[0-9]{0,12}", any::<String>()],
        per in span_source(),
    ) {
        if let Ok(rate) = crate::units::Rate::parse(&format!("{count}/{per}")) {
            use_span(crate::units::Span(rate.per))?;
            prop_assert!(rate.interval() <= rate.per);
            // The limiter moves its next slot by one interval per request.
            let mut slot = Instant::now();
            for _ in 0..1000 {
                slot = slot.checked_add(rate.interval()).ok_or_else(|| TestCaseError::fail("slot overflow"))?;
            }
            prop_assert_eq!(crate::units::Rate::parse(&rate.to_string()), Ok(rate));
        }
    }

    #[test]
    fn a_retry_after_either_fits_the_clock_or_exceeds_any_limit(value in prop_oneof![
        "[0-9]{1,30}",
        "[0-9]{1,30}\\.[0-9]{0,5}",
        "[0-9]\\.[0-9]{1,5}e[0-9]{1,3}",
    ]) {
        if let Some(wait) = parse_retry_after(&value, SystemTime::now()) {
            prop_assert!(
                wait > crate::units::Span::MAX.0 || Instant::now().checked_add(wait).is_some(),
                "{value}"
            );
        }
    }

    #[test]
    fn ago_never_panics(text in span_source(), secs in any::<i64>()) {
        let mut t = engine();
        let vars = json!({"text": text, "secs": secs});
        let ctx = context([("vars", &vars)]);
        for source in ["{{ ago(vars.text) }}", "{{ ago(vars.secs) }}"] {
            let tpl = t.compile(source).map_err(TestCaseError::fail)?;
            let _ = t.render(&tpl, &ctx);
        }
        let literal = format!("{{{{ ago('{}') }}}}", text.replace(['\'', '\\'], ""));
        if let Ok(tpl) = t.compile(&literal) {
            let _ = t.render(&tpl, &ctx);
        }
    }
}
