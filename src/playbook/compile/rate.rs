//! `rate:` on a connection or a retry step, compiled to a [`Pace`]: a fixed [`Rate`], or the
//! adaptive pace with its bounds in requests per second, checked to be in order
//! (`min ≤ start ≤ max`). Every error points at the `rate:` it is about.

use serde_json::Value;

use super::Compiler;
use crate::client::pace::{AutoBounds, Pace, per_second};
use crate::diagnostic::did_you_mean;
use crate::playbook::layer::Place;
use crate::playbook::model::{RateSetting, Spanned};
use crate::units::Rate;

/// The keys of `rate: {auto: true, …}`.
const KEYS: [&str; 4] = ["auto", "max", "start", "min"];

impl Compiler<'_> {
    /// A `rate:` of a connection or a retry step.
    pub(super) fn pace(&mut self, setting: &Spanned<RateSetting>) -> Option<Pace> {
        let place = self.sources.place(setting);
        match &setting.value {
            RateSetting::Text(text) => {
                let text = Spanned::new(text.clone(), setting.referenced, setting.defined);
                let value = self.static_text(&text)?;
                if value.trim() == "auto" {
                    return Some(Pace::Auto(AutoBounds::default()));
                }
                match Rate::parse(&value) {
                    Ok(rate) => Some(Pace::Fixed(rate)),
                    Err(e) => {
                        let help = did_you_mean(value.trim(), ["auto"])
                            .map(|_| "did you mean `auto`, the pace that adapts?".to_string());
                        self.error(place, e, help)
                    }
                }
            }
            RateSetting::Bounds(map) => self.auto_bounds(map, setting, place),
        }
    }

    fn auto_bounds(
        &mut self,
        map: &serde_json::Map<String, Value>,
        setting: &Spanned<RateSetting>,
        place: Place,
    ) -> Option<Pace> {
        if let Some(key) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
            let help = did_you_mean(key, KEYS).map(|k| format!("did you mean `{k}`?"));
            return self.error(
                place,
                format!(
                    "rate: unknown key `{key}`; the adaptive pace takes auto, max, start and min"
                ),
                help,
            );
        }
        if map.get("auto") != Some(&Value::Bool(true)) {
            return self.error(
                place,
                "rate: a rate written as a map is the adaptive pace, and needs `auto: true`",
                Some(
                    "write `rate: {auto: true, max: 50/s}`, or a fixed rate such as `rate: 5/s`"
                        .into(),
                ),
            );
        }
        let mut bound = |key: &str| -> Option<Option<f64>> {
            let Some(value) = map.get(key) else {
                return Some(None);
            };
            let Some(text) = value.as_str() else {
                return self.error(
                    place,
                    format!("rate: `{key}` is a rate like `50/s`, not {value}"),
                    None,
                );
            };
            let text = Spanned::new(text.to_string(), setting.referenced, setting.defined);
            let text = self.static_text(&text)?;
            match Rate::parse(&text) {
                Ok(rate) => Some(Some(per_second(rate))),
                Err(e) => self.error(place, format!("rate: `{key}`: {e}"), None),
            }
        };
        let (max, start, min) = (bound("max")?, bound("start")?, bound("min")?);
        let max = max.unwrap_or(AutoBounds::DEFAULT_MAX);
        let min = min.unwrap_or(AutoBounds::DEFAULT_MIN.min(max));
        let start = start.unwrap_or(AutoBounds::DEFAULT_START.clamp(min, max));
        let out_of_order = [("min", min, "start", start), ("start", start, "max", max)]
            .into_iter()
            .find(|(_, low, _, high)| low > high);
        if let Some((low, _, high, _)) = out_of_order {
            let (low_text, high_text) = (shown(map, low), shown(map, high));
            return self.error(
                place,
                format!("rate: `{low}` {low_text} is above `{high}` {high_text}"),
                Some("the adaptive pace keeps min ≤ start ≤ max".into()),
            );
        }
        Some(Pace::Auto(AutoBounds { start, max, min }))
    }
}

/// A bound as the playbook wrote it, or its default.
fn shown(map: &serde_json::Map<String, Value>, key: &str) -> String {
    match map.get(key).and_then(Value::as_str) {
        Some(text) => text.to_string(),
        None => format!("(default {})", crate::client::pace::show(default_of(key))),
    }
}

fn default_of(key: &str) -> f64 {
    match key {
        "max" => AutoBounds::DEFAULT_MAX,
        "min" => AutoBounds::DEFAULT_MIN,
        _ => AutoBounds::DEFAULT_START,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{LIST, compile_steps, errors};
    use crate::client::pace::{AutoBounds, Pace};
    use crate::playbook::compile::StepKind;

    fn retry_pace(rate: &str) -> Result<Option<Pace>, Vec<String>> {
        let steps = format!("{LIST}  - retry:\n      request: {{path: /x}}\n      rate: {rate}\n");
        let plan = compile_steps("", &steps).map_err(|e| errors(Err(e)))?;
        Ok(plan.steps.iter().find_map(|s| match &s.kind {
            StepKind::Retry(r) => r.rate,
            _ => None,
        }))
    }

    #[test]
    fn auto_and_its_bounds_compile_to_an_adaptive_pace() {
        assert_eq!(
            retry_pace("auto"),
            Ok(Some(Pace::Auto(AutoBounds::default())))
        );
        assert_eq!(
            retry_pace("{auto: true, max: 50/s, start: 5/s, min: 1/min}"),
            Ok(Some(Pace::Auto(AutoBounds {
                start: 5.0,
                max: 50.0,
                min: 1.0 / 60.0
            })))
        );
        // A start above a low max is brought down to it.
        assert_eq!(
            retry_pace("{auto: true, max: 2/s}"),
            Ok(Some(Pace::Auto(AutoBounds {
                start: 2.0,
                max: 2.0,
                min: 0.1
            })))
        );
        assert!(matches!(retry_pace("5/s"), Ok(Some(Pace::Fixed(_)))));
    }
}
