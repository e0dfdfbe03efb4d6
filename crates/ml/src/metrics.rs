//! Metrics read from any program's output. A line may carry `key: value` or `Key : value`
//! (the tutorial prints `MSE : 1234.5`), `key=value` pairs, or be a JSON object such as
//! `{"metric": "loss", "value": 0.31, "step": 5}`. Keys must look like names, so timestamps,
//! paths, URLs and progress bars do not turn into metrics.

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub key: String,
    pub value: f64,
    /// The step the line gave, if any; otherwise the series' next step.
    pub(crate) step: Option<i64>,
}

/// Keys that number the steps of the other metrics on their line.
const STEP_KEYS: [&str; 4] = ["step", "epoch", "iteration", "iter"];

/// Lines longer than this are output, not metrics; skipping them keeps parsing cheap.
const MAX_LINE: usize = 64 * 1024;

/// Finds the metrics on one output line.
pub fn parse_line(raw: &[u8]) -> Vec<Metric> {
    if raw.len() > MAX_LINE || !raw.iter().any(|b| matches!(b, b':' | b'=' | b'{')) {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(raw);
    let clean = strip_ansi(&text);
    // A progress bar redraws its line with \r; what was shown last is what counts.
    let line = clean.rsplit('\r').next().unwrap_or("").trim();
    let found = if line.starts_with('{') {
        parse_json(line)
    } else {
        parse_pairs(line)
    };
    with_steps(found)
}

fn with_steps(found: Vec<(String, f64)>) -> Vec<Metric> {
    let step = found
        .iter()
        .find(|(k, v)| STEP_KEYS.contains(&k.to_ascii_lowercase().as_str()) && v.fract() == 0.0)
        .map(|(_, v)| *v as i64);
    let others: Vec<Metric> = found
        .iter()
        .filter(|(k, _)| step.is_none() || !STEP_KEYS.contains(&k.to_ascii_lowercase().as_str()))
        .map(|(key, value)| Metric {
            key: key.clone(),
            value: *value,
            step,
        })
        .collect();
    if others.is_empty() {
        // A line with only a step key is a metric of its own (e.g. `epoch: 3`).
        return found
            .into_iter()
            .map(|(key, value)| Metric {
                key,
                value,
                step: None,
            })
            .collect();
    }
    others
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            // CSI: parameters, then one final byte in @..~
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            chars.next();
        }
    }
    out
}

fn parse_json(line: &str) -> Vec<(String, f64)> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(line) else {
        return Vec::new();
    };
    let name = map
        .get("metric")
        .or_else(|| map.get("name"))
        .and_then(|v| v.as_str());
    if let (Some(name), Some(value)) = (name, map.get("value").and_then(serde_json::Value::as_f64)) {
        let mut found = vec![(name.to_string(), value)];
        if let Some(step) = map.get("step").and_then(serde_json::Value::as_f64) {
            found.push(("step".to_string(), step));
        }
        return found
            .into_iter()
            .filter(|(k, v)| v.is_finite() && is_key(k))
            .collect();
    }
    map.iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
        .filter(|(k, v)| v.is_finite() && is_key(k))
        .collect()
}

/// `key: value` segments (separated by `,`, `|`, `;`, tabs or ` - `) and `key=value` tokens.
fn parse_pairs(line: &str) -> Vec<(String, f64)> {
    let mut found = Vec::new();
    for segment in line.split([',', '|', ';', '\t']).flat_map(|s| s.split(" - ")) {
        if let Some(pair) = colon_pair(segment) {
            found.push(pair);
            continue;
        }
        for token in segment.split_whitespace() {
            if let Some((key, value)) = token.split_once('=')
                && is_key(key)
                && let Some(value) = number(value.trim_end_matches([')', ']', '}', '.']))
            {
                found.push((key.to_string(), value));
            }
        }
    }
    found
}

fn colon_pair(segment: &str) -> Option<(String, f64)> {
    let (left, right) = segment.rsplit_once(':')?;
    let value = number(right.trim())?;
    let left = left.trim();
    if is_key(left) {
        return Some((left.to_string(), value));
    }
    // A logger's prefix before the name: `12:00:01 INFO loss: 0.3` → loss.
    let last = left.rsplit(' ').next()?;
    (is_key(last) && last.len() < left.len()).then(|| (last.to_string(), value))
}

/// A name: starts with a letter, letters/digits/`_`/`-`/brackets/spaces (at most three words),
/// and not a word made only of digits.
fn is_key(key: &str) -> bool {
    let words: Vec<&str> = key.split(' ').filter(|w| !w.is_empty()).collect();
    !key.is_empty()
        && key.len() <= 64
        && key.starts_with(|c: char| c.is_ascii_alphabetic())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '[' | ']' | ' ' | '(' | ')'))
        && words.len() <= 3
        && !words.iter().any(|w| w.chars().all(|c| c.is_ascii_digit()))
}

fn number(text: &str) -> Option<f64> {
    let ok = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
        && text.chars().any(|c| c.is_ascii_digit());
    ok.then(|| text.parse::<f64>().ok())
        .flatten()
        .filter(|v| v.is_finite())
}

/// Numbers the points of each series: a given step wins, else one past the series' last.
#[derive(Debug, Default)]
pub struct Steps {
    last: HashMap<String, i64>,
}

/// The most metric names one job keeps: a job printing a new name per line must not grow the
/// store (and every view of it) without bound. Its log keeps every line.
pub const MAX_KEYS_PER_JOB: usize = 1_000;

impl Steps {
    pub fn resume(last: HashMap<String, i64>) -> Steps {
        Steps { last }
    }

    /// The step of `metric`; `None` when it is a new name past [`MAX_KEYS_PER_JOB`], not kept.
    pub fn assign(&mut self, metric: &Metric) -> Option<i64> {
        if !self.last.contains_key(&metric.key) && self.last.len() >= MAX_KEYS_PER_JOB {
            return None;
        }
        let step = metric
            .step
            .unwrap_or_else(|| self.last.get(&metric.key).map_or(0, |s| s + 1));
        self.last.insert(metric.key.clone(), step);
        Some(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(line: &str) -> Vec<(String, f64)> {
        parse_line(line.as_bytes())
            .into_iter()
            .map(|m| (m.key, m.value))
            .collect()
    }

    fn one(key: &str, value: f64) -> Vec<(String, f64)> {
        vec![(key.to_string(), value)]
    }

    #[test]
    fn the_tutorials_output_is_read() {
        assert_eq!(keys("Intercept : 25792.2"), one("Intercept", 25792.2));
        assert_eq!(keys("Slope : 9449.96"), one("Slope", 9449.96));
        assert_eq!(keys("Slope[x2] : -3.5"), one("Slope[x2]", -3.5));
        assert_eq!(keys("MSE : 1234.5"), one("MSE", 1234.5));
        assert_eq!(keys("R2 : 0.98"), one("R2", 0.98));
        assert_eq!(keys("Accuracy : 0.9736"), one("Accuracy", 0.9736));
    }

    #[test]
    fn common_formats_are_read() {
        assert_eq!(keys("loss: 0.31"), one("loss", 0.31));
        assert_eq!(
            keys("lr=0.001 loss=0.5"),
            vec![("lr".into(), 0.001), ("loss".into(), 0.5)]
        );
        assert_eq!(keys("\x1b[32mval_loss: 0.25\x1b[0m"), one("val_loss", 0.25));
        assert_eq!(keys("2026-11-23 12:00:01 INFO loss: 0.3"), one("loss", 0.3));
        let keras = parse_line(b"Epoch 3 - loss: 0.3012 - accuracy: 0.91");
        assert_eq!(
            keras.iter().map(|m| m.key.as_str()).collect::<Vec<_>>(),
            ["loss", "accuracy"]
        );
        let json = parse_line(br#"{"metric": "loss", "value": 0.31, "step": 5}"#);
        assert_eq!(
            json,
            vec![Metric {
                key: "loss".into(),
                value: 0.31,
                step: Some(5)
            }]
        );
        let flat = parse_line(br#"{"epoch": 2, "acc": 0.8}"#);
        assert_eq!(
            flat,
            vec![Metric {
                key: "acc".into(),
                value: 0.8,
                step: Some(2)
            }]
        );
        let stepped = parse_line(b"step=7 loss=1.5");
        assert_eq!(
            stepped,
            vec![Metric {
                key: "loss".into(),
                value: 1.5,
                step: Some(7)
            }]
        );
        // tqdm redraws; its postfix is a metric, its counters are not.
        let bar =
            "  0%|          | 0/10 [00:00<?, ?it/s]\r 50%|#####     | 5/10 [00:01<00:01, 4.50it/s, loss=0.3]";
        assert_eq!(keys(bar), one("loss", 0.3));
    }

    #[test]
    fn noise_yields_no_metrics() {
        for line in [
            "2026-11-23T12:00:01.123Z",
            "12:30:45",
            "elapsed 12:30",
            "Listening on http://0.0.0.0:8080",
            "see https://example.com:443/x",
            "saved to /storage/salary/model.json",
            "train.py:12",
            "  File \"train.py\", line 12, in <module>",
            "Epoch 1/10",
            " 30%|###       | 3/10 [00:01<00:02,  3.01it/s]",
            "Step 1/5 : FROM scratch",
            "loss: nan",
            "accuracy: 97%",
            "ratio 3:2",
            "{not json",
            "x = y",
            "",
        ] {
            assert_eq!(keys(line), vec![], "{line:?}");
        }
    }

    #[test]
    fn repeated_keys_make_series() {
        let mut steps = Steps::default();
        let m = |v: f64, step: Option<i64>| Metric {
            key: "loss".into(),
            value: v,
            step,
        };
        assert_eq!(steps.assign(&m(1.0, None)), Some(0));
        assert_eq!(steps.assign(&m(0.5, None)), Some(1));
        assert_eq!(steps.assign(&m(0.4, Some(10))), Some(10));
        assert_eq!(steps.assign(&m(0.3, None)), Some(11));
    }

    #[test]
    fn names_past_the_cap_are_not_kept_but_known_ones_go_on() {
        let mut steps = Steps::default();
        let named = |key: String| Metric {
            key,
            value: 1.0,
            step: None,
        };
        for i in 0..MAX_KEYS_PER_JOB {
            assert_eq!(steps.assign(&named(format!("k{i}"))), Some(0));
        }
        assert_eq!(steps.assign(&named("one_more".into())), None);
        assert_eq!(steps.assign(&named("k7".into())), Some(1));
    }
}
