//! Sweeps: one command run over many parameter values (a grid, or random draws from ranges),
//! each point a trial job with `{NAME}` placeholders filled in, and the median rule that prunes
//! a trial clearly worse than the finished ones.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::job::{EnvVar, JobSpec, is_identifier};
use crate::Error;

/// One trial's parameter values, by name.
pub type Params = BTreeMap<String, String>;

/// More points than this is a typo, not a sweep.
pub(crate) const MAX_TRIALS: usize = 100_000;

/// Whether lower or higher values of the sweep's metric are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Goal {
    Minimize,
    Maximize,
}

impl Goal {
    /// True when `a` is strictly better than `b`.
    pub fn better(self, a: f64, b: f64) -> bool {
        match self {
            Goal::Minimize => a < b,
            Goal::Maximize => a > b,
        }
    }

    /// The best of `values`, if any.
    pub(crate) fn best(self, values: impl IntoIterator<Item = f64>) -> Option<f64> {
        values
            .into_iter()
            .filter(|v| v.is_finite())
            .reduce(|a, b| if self.better(b, a) { b } else { a })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Goal::Minimize => "minimize",
            Goal::Maximize => "maximize",
        }
    }
}

/// A parameter's values in a grid: `NAME=V1,V2`, `NAME=A..B` (integers, inclusive) or
/// `NAME=A..B:STEP` (numbers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridAxis {
    pub name: String,
    pub values: Vec<String>,
}

fn split_named<'a>(text: &'a str, flag: &str, form: &str) -> Result<(&'a str, &'a str), Error> {
    let (name, rest) = text
        .split_once('=')
        .ok_or_else(|| Error::Invalid(format!("{flag} {text:?} is not {form}")))?;
    if !is_identifier(name) {
        return Err(Error::Invalid(format!(
            "parameter name {name:?} in {flag} is not valid: use letters, digits and '_'"
        )));
    }
    Ok((name, rest.trim()))
}

fn number(text: &str, what: &str) -> Result<f64, Error> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| Error::Invalid(format!("{what} {text:?} is not a number")))
}

/// A number as a parameter value: integers without a fraction, others as short as they read.
fn format_value(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        let short = format!("{value:.6}");
        short.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

impl FromStr for GridAxis {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let (name, rest) = split_named(text, "--grid", "NAME=V1,V2,... or NAME=A..B[:STEP]")?;
        let values = match rest.split_once("..") {
            Some((low, high)) => range_values(name, low, high)?,
            None => rest
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .collect(),
        };
        if values.is_empty() {
            return Err(Error::Invalid(format!(
                "--grid {name} has no values: give them as {name}=V1,V2 or {name}=A..B"
            )));
        }
        Ok(GridAxis {
            name: name.to_string(),
            values,
        })
    }
}

fn range_values(name: &str, low: &str, high: &str) -> Result<Vec<String>, Error> {
    let (high, step) = match high.split_once(':') {
        Some((high, step)) => (high, Some(number(step, &format!("the step of --grid {name}"))?)),
        None => (high, None),
    };
    let (low, high) = (
        number(low, &format!("the start of --grid {name}"))?,
        number(high, &format!("the end of --grid {name}"))?,
    );
    let step = match step {
        Some(step) if step <= 0.0 => {
            return Err(Error::Invalid(format!(
                "the step of --grid {name} must be above zero"
            )));
        }
        Some(step) => step,
        None if low.fract() != 0.0 || high.fract() != 0.0 => {
            return Err(Error::Invalid(format!(
                "--grid {name}={low}..{high} needs integers, or a step: {name}=A..B:STEP"
            )));
        }
        None => 1.0,
    };
    if low > high {
        return Err(Error::Invalid(format!(
            "--grid {name}: the range {low}..{high} yields nothing: its start is above its end"
        )));
    }
    // Counted in floating point first: a tiny step would overflow an integer count.
    let steps = ((high - low) / step + 1e-9).floor();
    if steps >= MAX_TRIALS as f64 {
        return Err(Error::Invalid(format!(
            "--grid {name} yields {} values, more than {MAX_TRIALS}: use a larger step",
            crate::numfmt::compact(steps + 1.0)
        )));
    }
    let count = steps as usize + 1;
    Ok((0..count).map(|i| format_value(low + step * i as f64)).collect())
}

/// A parameter drawn at random: `NAME=LO..HI`, or `NAME=LO..HI:log` (uniform in log space).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomAxis {
    pub(crate) name: String,
    pub(crate) low: f64,
    pub(crate) high: f64,
    pub(crate) log: bool,
}

impl FromStr for RandomAxis {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let (name, rest) = split_named(text, "--space", "NAME=LO..HI[:log]")?;
        let (range, log) = match rest.strip_suffix(":log") {
            Some(range) => (range, true),
            None => (rest, false),
        };
        let (low, high) = range
            .split_once("..")
            .ok_or_else(|| Error::Invalid(format!("--space {text:?} is not NAME=LO..HI[:log]")))?;
        let low = number(low, &format!("the low end of --space {name}"))?;
        let high = number(high, &format!("the high end of --space {name}"))?;
        if low >= high {
            return Err(Error::Invalid(format!(
                "--space {name}: the range {low}..{high} yields nothing: its low end must be below its high end"
            )));
        }
        if !(high - low).is_finite() {
            return Err(Error::Invalid(format!(
                "--space {name}: the range {}..{} is too wide to draw from: narrow it",
                crate::numfmt::compact(low),
                crate::numfmt::compact(high)
            )));
        }
        if log && low <= 0.0 {
            return Err(Error::Invalid(format!(
                "--space {name}: a log range needs a low end above zero"
            )));
        }
        Ok(RandomAxis {
            name: name.to_string(),
            low,
            high,
            log,
        })
    }
}

/// The points a sweep runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Space {
    /// The cross product of the axes, the first axis varying slowest.
    Grid { axes: Vec<GridAxis> },
    /// `trials` points drawn from the axes' ranges; the same seed draws the same points.
    Random {
        trials: usize,
        seed: u64,
        axes: Vec<RandomAxis>,
    },
}

impl Space {
    pub fn names(&self) -> Vec<&str> {
        match self {
            Space::Grid { axes } => axes.iter().map(|a| a.name.as_str()).collect(),
            Space::Random { axes, .. } => axes.iter().map(|a| a.name.as_str()).collect(),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Space::Grid { axes } => axes
                .iter()
                .try_fold(1usize, |n, a| n.checked_mul(a.values.len()))
                .unwrap_or(usize::MAX),
            Space::Random { trials, .. } => *trials,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every point, in order; the caller checked [`Space::len`] first.
    pub(crate) fn points(&self) -> Vec<Params> {
        match self {
            Space::Grid { axes } => {
                let mut points = vec![Params::new()];
                for axis in axes {
                    points = points
                        .into_iter()
                        .flat_map(|p| {
                            axis.values.iter().map(move |v| {
                                let mut next = p.clone();
                                next.insert(axis.name.clone(), v.clone());
                                next
                            })
                        })
                        .collect();
                }
                points
            }
            Space::Random { trials, seed, axes } => {
                let mut draw = SplitMix64(*seed);
                (0..*trials)
                    .map(|_| {
                        axes.iter()
                            .map(|a| {
                                let u = draw.unit();
                                let value = if a.log {
                                    (a.low.ln() + u * (a.high.ln() - a.low.ln())).exp()
                                } else {
                                    a.low + u * (a.high - a.low)
                                };
                                (a.name.clone(), format_value(value))
                            })
                            .collect()
                    })
                    .collect()
            }
        }
    }
}

/// A small, seedable generator (SplitMix64): the points of a random sweep must be the same on
/// every machine and version, so no library's generator decides them.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `--early-stop median[:warmup=W,startup=S]`: prune a running trial whose best value so far
/// is worse than the median of the finished trials' values at the same step, once it has
/// `warmup` steps and `startup` trials have finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarlyStop {
    pub(crate) warmup: i64,
    pub(crate) startup: usize,
}

impl Default for EarlyStop {
    fn default() -> Self {
        EarlyStop {
            warmup: 0,
            startup: 3,
        }
    }
}

impl FromStr for EarlyStop {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let form = "--early-stop takes median or median:warmup=W,startup=S";
        let (rule, options) = text.split_once(':').unwrap_or((text, ""));
        if rule != "median" {
            return Err(Error::Invalid(format!("{form}, not {text:?}")));
        }
        let mut stop = EarlyStop::default();
        for option in options.split(',').filter(|o| !o.is_empty()) {
            let bad = || Error::Invalid(format!("{form}: {option:?} is not a whole number option"));
            match option.split_once('=') {
                Some(("warmup", v)) => stop.warmup = v.parse().ok().filter(|v| *v >= 0).ok_or_else(bad)?,
                Some(("startup", v)) => stop.startup = v.parse().map_err(|_| bad())?,
                _ => return Err(bad()),
            }
        }
        Ok(stop)
    }
}

impl fmt::Display for EarlyStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "median:warmup={},startup={}", self.warmup, self.startup)
    }
}

impl EarlyStop {
    /// Whether the trial with series `own` ((step, value), in step order) is to be pruned,
    /// given the series of the trials that finished.
    pub fn prunes(&self, goal: Goal, own: &[(i64, f64)], finished: &[Vec<(i64, f64)>]) -> bool {
        let Some(&(step, _)) = own.last() else {
            return false;
        };
        if step < self.warmup || finished.len() < self.startup.max(1) {
            return false;
        }
        let Some(best) = goal.best(own.iter().map(|(_, v)| *v)) else {
            return false;
        };
        let mut at_step: Vec<f64> = finished
            .iter()
            .filter_map(|series| series.iter().find(|(s, _)| *s == step).map(|(_, v)| *v))
            .filter(|v| v.is_finite())
            .collect();
        if at_step.is_empty() {
            return false;
        }
        at_step.sort_by(f64::total_cmp);
        let mid = at_step.len() / 2;
        let median = if at_step.len().is_multiple_of(2) {
            (at_step[mid - 1] + at_step[mid]) / 2.0
        } else {
            at_step[mid]
        };
        goal.better(median, best)
    }
}

/// What a sweep runs: a job spec whose command and env values hold `{NAME}` placeholders, the
/// points, and how trials are judged and scheduled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepSpec {
    pub base: JobSpec,
    pub space: Space,
    pub metric: String,
    pub goal: Goal,
    /// Trials at once; `None`: as many as the machine type fits on the host.
    pub parallel: Option<usize>,
    pub early_stop: Option<EarlyStop>,
}

/// Where each `{NAME}` placeholder of `text` stands (from its `{` to just past its `}`), and
/// its name; `${NAME}` is the shell's, not ours.
fn placeholder_spans(text: &str) -> Vec<(std::ops::Range<usize>, &str)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find('{') {
        let at = from + open;
        if let Some(close) = text[at + 1..].find('}') {
            let name = &text[at + 1..at + 1 + close];
            let shell = at > 0 && text.as_bytes()[at - 1] == b'$';
            if is_identifier(name) && !shell {
                found.push((at..at + close + 2, name));
            }
        }
        from = at + 1;
    }
    found
}

/// The `{NAME}` placeholders in `text`.
fn placeholders(text: &str) -> Vec<&str> {
    placeholder_spans(text)
        .into_iter()
        .map(|(_, name)| name)
        .collect()
}

/// `text` with each `{NAME}` of `params` replaced by its value, where it stands: a `${NAME}`
/// of the shell elsewhere in the text is left alone.
pub(crate) fn substitute(text: &str, params: &Params) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (span, name) in placeholder_spans(text) {
        if let Some(value) = params.get(name) {
            out.push_str(&text[copied..span.start]);
            out.push_str(value);
            copied = span.end;
        }
    }
    out.push_str(&text[copied..]);
    out
}

impl SweepSpec {
    /// Checks what the user gave and returns the points; nothing is stored on an error.
    pub fn validate(&self) -> Result<Vec<Params>, Error> {
        if self.metric.trim().is_empty() {
            return Err(Error::Invalid(
                "a sweep needs the metric it optimizes: --metric NAME with --minimize or --maximize".into(),
            ));
        }
        let names = self.space.names();
        if names.is_empty() {
            return Err(Error::Invalid(
                "a sweep needs parameters: --grid NAME=V1,V2 or --random N --space NAME=LO..HI".into(),
            ));
        }
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(Error::Invalid(format!("parameter {name} is given twice")));
            }
        }
        let count = self.space.len();
        if count == 0 {
            return Err(Error::Invalid(
                "the sweep has no points: --random needs at least 1".into(),
            ));
        }
        if count > MAX_TRIALS {
            return Err(Error::Invalid(format!(
                "the sweep has {count} points, more than {MAX_TRIALS}: narrow the grid"
            )));
        }
        let texts: Vec<&str> = self
            .base
            .command
            .iter()
            .map(String::as_str)
            .chain(self.base.env.iter().map(|e| e.value.as_str()))
            .collect();
        for text in &texts {
            if let Some(unknown) = placeholders(text).into_iter().find(|p| !names.contains(p)) {
                return Err(Error::Invalid(format!(
                    "placeholder {{{unknown}}} has no parameter: add --grid {unknown}=... or remove it"
                )));
            }
        }
        for name in &names {
            let used = texts.iter().any(|t| {
                placeholders(t).contains(name)
                    || t.contains(&format!("MLBENCH_PARAM_{name}"))
                    || t.contains("MLBENCH_PARAMS")
            });
            if !used {
                return Err(Error::Invalid(format!(
                    "parameter {name} is used nowhere: put {{{name}}} in the command, or pass it to code that reads the environment with --env NAME={{{name}}}"
                )));
            }
        }
        Ok(self.space.points())
    }

    /// The job spec of one trial: placeholders filled in, and the parameters in the
    /// environment as `MLBENCH_PARAM_<NAME>` and `MLBENCH_PARAMS` (a JSON object).
    pub fn trial_spec(&self, params: &Params) -> JobSpec {
        let mut spec = self.base.clone();
        spec.command = spec.command.iter().map(|a| substitute(a, params)).collect();
        for var in &mut spec.env {
            var.value = substitute(&var.value, params);
        }
        for (name, value) in params {
            spec.env.push(EnvVar {
                name: format!("MLBENCH_PARAM_{name}"),
                value: value.clone(),
            });
        }
        spec.env.push(EnvVar {
            name: "MLBENCH_PARAMS".into(),
            value: serde_json::to_string(params).unwrap_or_default(),
        });
        spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{JobKind, Source};

    fn spec(command: &[&str], space: Space) -> SweepSpec {
        SweepSpec {
            base: JobSpec {
                kind: JobKind::Training,
                deployment: None,
                storage_read_only: false,
                project: "iris".into(),
                machine: "C4".into(),
                image: "img".into(),
                build_dockerfile: None,
                source: Source::Folder { path: ".".into() },
                command: command.iter().map(ToString::to_string).collect(),
                env: vec!["MODE={criterion}".parse().unwrap()],
                ports: vec![],
                placement: Vec::new(),
                engine: crate::LOCAL_ENGINE.into(),
            },
            space,
            metric: "Accuracy".into(),
            goal: Goal::Maximize,
            parallel: None,
            early_stop: None,
        }
    }

    fn grid(axes: &[&str]) -> Space {
        Space::Grid {
            axes: axes.iter().map(|a| a.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn grids_expand_to_their_cross_product() {
        let space = grid(&["max_depth=1..3", "criterion=gini, entropy"]);
        let points = space.points();
        assert_eq!(points.len(), 6);
        assert_eq!(points[0]["max_depth"], "1");
        assert_eq!(points[1]["criterion"], "entropy");
        assert_eq!(points[5]["max_depth"], "3");
        let axis: GridAxis = "lr=0.1..0.3:0.1".parse().unwrap();
        assert_eq!(axis.values, ["0.1", "0.2", "0.3"]);
    }

    #[test]
    fn bad_grids_say_what_is_wrong() {
        let err = |text: &str| text.parse::<GridAxis>().unwrap_err().to_string();
        assert!(err("depth=").contains("has no values"));
        // A step so small its count would overflow is counted, not wrapped to nothing.
        assert!(err("x=0..1:1e-20").contains("yields 1.000e20 values, more than 100000"));
        assert!(err("depth=5..1").contains("yields nothing"));
        assert!(err("depth=1.5..3").contains("needs integers"));
        assert!(err("depth=1..3:0").contains("above zero"));
        assert!(err("1x=1,2").contains("not valid"));
        assert!(err("depth").contains("is not NAME="));
        assert!("lr=0..1".parse::<RandomAxis>().is_ok());
        assert!(
            "lr=0..1:log"
                .parse::<RandomAxis>()
                .unwrap_err()
                .to_string()
                .contains("above zero")
        );
    }

    #[test]
    fn random_points_are_in_range_and_the_same_for_a_seed() {
        let space = |seed| Space::Random {
            trials: 50,
            seed,
            axes: vec!["lr=0.0001..0.1:log".parse().unwrap(), "d=1..6".parse().unwrap()],
        };
        let points = space(7).points();
        assert_eq!(points, space(7).points());
        assert_ne!(points, space(8).points());
        for p in &points {
            let lr: f64 = p["lr"].parse().unwrap();
            assert!((0.0001..=0.1).contains(&lr), "{lr}");
        }
    }

    #[test]
    fn placeholders_are_filled_and_parameters_reach_the_environment() {
        let sweep = spec(
            &[
                "mlbench",
                "train",
                "--max-depth",
                "{max_depth}",
                "sh",
                "-c",
                "echo ${HOME}",
            ],
            grid(&["max_depth=1..2", "criterion=gini"]),
        );
        let points = sweep.validate().unwrap();
        let job = sweep.trial_spec(&points[1]);
        assert_eq!(job.command[3], "2");
        assert_eq!(job.command[6], "echo ${HOME}");
        // The shell's `${NAME}` stays, even beside our `{NAME}` of the same name.
        let values = Params::from([("n".to_string(), "3".to_string())]);
        assert_eq!(substitute("n=${n} {n} {{n}} {m}", &values), "n=${n} 3 {3} {m}");
        let env: BTreeMap<_, _> = job
            .env
            .iter()
            .map(|e| (e.name.as_str(), e.value.as_str()))
            .collect();
        assert_eq!(env["MODE"], "gini");
        assert_eq!(env["MLBENCH_PARAM_max_depth"], "2");
        assert_eq!(env["MLBENCH_PARAMS"], r#"{"criterion":"gini","max_depth":"2"}"#);
    }

    #[test]
    fn a_sweep_refuses_unknown_placeholders_unused_parameters_and_no_metric() {
        let err = |s: SweepSpec| s.validate().unwrap_err().to_string();
        let both = grid(&["max_depth=1..2", "criterion=gini"]);
        assert!(
            err(spec(&["run", "{depth}"], both.clone())).contains("placeholder {depth} has no parameter")
        );
        assert!(err(spec(&["run"], both.clone())).contains("parameter max_depth is used nowhere"));
        let mut no_metric = spec(&["run", "{max_depth}"], both);
        no_metric.metric = String::new();
        assert!(err(no_metric).contains("--metric"));
        assert!(err(spec(&["run"], grid(&[]))).contains("needs parameters"));
        let twice = grid(&["criterion=1", "criterion=2"]);
        assert!(err(spec(&["run", "{criterion}"], twice)).contains("given twice"));
    }

    #[test]
    fn the_median_rule_prunes_only_a_clearly_worse_trial() {
        let rule: EarlyStop = "median:warmup=2,startup=2".parse().unwrap();
        let series = |values: &[f64]| -> Vec<(i64, f64)> {
            values.iter().enumerate().map(|(i, v)| (i as i64, *v)).collect()
        };
        let finished = vec![
            series(&[1.0, 0.5, 0.3]),
            series(&[1.0, 0.6, 0.4]),
            series(&[0.9, 0.4, 0.2]),
        ];
        // Loss: worse than the median at step 2 once warmed up.
        assert!(rule.prunes(Goal::Minimize, &series(&[3.0, 2.0, 1.5]), &finished));
        // Before the warmup ends, never.
        assert!(!rule.prunes(Goal::Minimize, &series(&[3.0, 2.0]), &finished));
        // A good trial is kept; its best so far counts, not its last value.
        assert!(!rule.prunes(Goal::Minimize, &series(&[0.2, 0.25, 0.35]), &finished));
        // Too few finished trials to judge.
        assert!(!rule.prunes(Goal::Minimize, &series(&[3.0, 2.0, 1.5]), &finished[..1]));
        // Maximizing flips the comparison.
        assert!(!rule.prunes(Goal::Maximize, &series(&[3.0, 2.0, 1.5]), &finished));
        assert!("median:warmup=-1".parse::<EarlyStop>().is_err());
        assert!("mean".parse::<EarlyStop>().is_err());
    }
}
