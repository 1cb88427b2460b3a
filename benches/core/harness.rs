//! The measuring machinery: interleaved repetitions, medians, ratio checks.
//!
//! A [`Comparison`] is one workload run by several contenders (knotwork and
//! its peers, or knotwork in several configurations). [`Comparison::run`]
//! first runs every contender once (warm-up, discarded), then `reps` rounds;
//! each round runs every contender once, alternating the order between
//! rounds, so that slow drifts of the machine (frequency, a neighbour's
//! load) hit every contender alike. A contender reports one number per run:
//! nanoseconds per operation, or a total in milliseconds.
//!
//! A [`Check`] is a target: the ratio `numerator / faster of denominators`,
//! computed *per round* and then reduced to its median (so both sides of a
//! ratio always come from the same round), or an absolute bound on one
//! contender's median.

use std::time::Instant;

/// What the command line asked for.
pub struct Config {
    /// Rounds per comparison (after one warm-up round).
    pub reps: usize,
    /// Quick mode: smaller sizes, fewer rounds (the CI smoke run).
    pub quick: bool,
    /// Only comparisons whose name contains one of these (all if empty).
    pub only: Vec<String>,
    /// Thread counts for the scaling workloads.
    pub threads: Vec<usize>,
}

impl Config {
    /// Whether the comparison `name` was selected.
    pub fn wants(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| name.contains(o.as_str()))
    }

    /// `full` in a full run, `quick` in quick mode.
    pub fn size<T>(&self, full: T, quick: T) -> T {
        if self.quick { quick } else { full }
    }
}

/// Nanoseconds per operation since `start`, for `n` operations.
pub fn per_op(start: Instant, n: u64) -> f64 {
    start.elapsed().as_nanos() as f64 / n as f64
}

/// How a check compares.
#[derive(Clone, Copy, PartialEq)]
pub enum Bound {
    /// The value must be at most the limit.
    AtMost(f64),
    /// Reported, not judged.
    Info,
}

/// One target of a comparison.
pub struct Check {
    /// What the target says, for the tables and the chart.
    pub label: String,
    /// The contender whose figure is judged.
    pub num: String,
    /// Ratio to the faster of these contenders in the same round; empty for
    /// an absolute bound on `num`'s median.
    pub den: Vec<String>,
    /// The limit.
    pub bound: Bound,
}

impl Check {
    /// `num / faster(den) <= limit`.
    pub fn ratio(label: &str, num: &str, den: &[&str], limit: f64) -> Check {
        Check {
            label: label.into(),
            num: num.into(),
            den: den.iter().map(|s| s.to_string()).collect(),
            bound: Bound::AtMost(limit),
        }
    }

    /// `num / faster(den)`, reported only.
    pub fn info(label: &str, num: &str, den: &[&str]) -> Check {
        Check { bound: Bound::Info, ..Check::ratio(label, num, den, 0.0) }
    }

    /// `median(num) <= limit`, in the comparison's unit.
    pub fn absolute(label: &str, num: &str, limit: f64) -> Check {
        Check { label: label.into(), num: num.into(), den: Vec::new(), bound: Bound::AtMost(limit) }
    }
}

type Runner<'a> = Box<dyn FnMut() -> f64 + 'a>;

/// One workload and its contenders.
pub struct Comparison<'a> {
    name: String,
    unit: &'static str,
    contenders: Vec<(String, Runner<'a>)>,
    checks: Vec<Check>,
}

/// A contender's figures.
pub struct Figure {
    /// Contender name.
    pub name: String,
    /// Median over the rounds.
    pub median: f64,
    /// Fastest round.
    pub min: f64,
    /// Slowest round.
    pub max: f64,
}

/// A check's result.
pub struct Judged {
    /// The check.
    pub check: Check,
    /// Median of the per-round ratios (or the median value, if absolute).
    pub value: f64,
    /// `None` for an informational check.
    pub met: Option<bool>,
}

/// A comparison's results.
pub struct Outcome {
    /// Workload.
    pub name: String,
    /// Unit of the figures.
    pub unit: &'static str,
    /// One per contender, in the order they were added.
    pub figures: Vec<Figure>,
    /// One per check.
    pub judged: Vec<Judged>,
}

/// Lets every pool of the process go idle before the next run: a peer's
/// workers still spinning from its last run would otherwise take the cores
/// from the next contender (on 2 cores this halves a parallel speed-up).
fn settle() {
    std::thread::sleep(std::time::Duration::from_millis(20));
}

fn median(xs: &[f64]) -> f64 {
    let mut xs = xs.to_vec();
    xs.sort_by(|a, b| a.total_cmp(b));
    let n = xs.len();
    if n % 2 == 1 { xs[n / 2] } else { (xs[n / 2 - 1] + xs[n / 2]) / 2.0 }
}

impl<'a> Comparison<'a> {
    /// A workload whose contenders report figures in `unit`.
    pub fn new(name: impl Into<String>, unit: &'static str) -> Self {
        Comparison { name: name.into(), unit, contenders: Vec::new(), checks: Vec::new() }
    }

    /// Adds a contender; `run` does the work once and returns its figure.
    pub fn contender(mut self, name: &str, run: impl FnMut() -> f64 + 'a) -> Self {
        self.contenders.push((name.into(), Box::new(run)));
        self
    }

    /// Adds a target.
    pub fn check(mut self, check: Check) -> Self {
        self.checks.push(check);
        self
    }

    /// Runs the rounds and judges the checks; prints as it goes.
    pub fn run(mut self, cfg: &Config) -> Outcome {
        println!("\n## {}  ({})", self.name, self.unit);
        let k = self.contenders.len();
        for (_, run) in &mut self.contenders {
            settle();
            run();
        }
        let mut rounds: Vec<Vec<f64>> = vec![Vec::with_capacity(cfg.reps); k];
        for rep in 0..cfg.reps {
            let order: Vec<usize> = if rep % 2 == 0 { (0..k).collect() } else { (0..k).rev().collect() };
            for i in order {
                settle();
                let x = (self.contenders[i].1)();
                rounds[i].push(x);
            }
        }
        let figures: Vec<Figure> = self
            .contenders
            .iter()
            .zip(&rounds)
            .map(|((name, _), xs)| Figure {
                name: name.clone(),
                median: median(xs),
                min: xs.iter().cloned().fold(f64::INFINITY, f64::min),
                max: xs.iter().cloned().fold(0.0, f64::max),
            })
            .collect();
        for f in &figures {
            println!("  {:<44} {:>12.2}   (min {:.2}, max {:.2})", f.name, f.median, f.min, f.max);
        }
        let index = |name: &str| {
            self.contenders
                .iter()
                .position(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("check names an unknown contender {name:?} in {:?}", self.name))
        };
        let judged: Vec<Judged> = std::mem::take(&mut self.checks)
            .into_iter()
            .map(|check| {
                let num = &rounds[index(&check.num)];
                let value = if check.den.is_empty() {
                    median(num)
                } else {
                    let dens: Vec<&Vec<f64>> = check.den.iter().map(|d| &rounds[index(d)]).collect();
                    let per_round: Vec<f64> = (0..cfg.reps)
                        .map(|r| num[r] / dens.iter().map(|d| d[r]).fold(f64::INFINITY, f64::min))
                        .collect();
                    median(&per_round)
                };
                let met = match check.bound {
                    Bound::AtMost(limit) => Some(value <= limit),
                    Bound::Info => None,
                };
                let shown = if check.den.is_empty() {
                    format!("{value:.2} {}", self.unit)
                } else {
                    format!("{value:.2}×")
                };
                let verdict = match met {
                    Some(true) => "met",
                    Some(false) => "NOT MET",
                    None => "info",
                };
                println!("  -> {:<60} {shown:>12}  {verdict}", check.label);
                Judged { check, value, met }
            })
            .collect();
        Outcome { name: self.name, unit: self.unit, figures, judged }
    }
}
