//! Capacity search (`volley capacity`): the highest arrival rate a service sustains within its
//! SLOs, and the result document that carries the search.
//!
//! The search is pure: [`Search`] is a state machine that is told how each finished step went
//! (the offered rate and why it was bad, if it was) and answers with the next rate to offer or
//! with its [`Conclusion`]. It ramps geometrically from the start rate (×[`Settings::factor`])
//! until a step is bad, then bisects between the last good rate and the first bad one until the
//! interval is within the precision. Whoever runs the steps (the binary, `scale --capacity`)
//! only sends load and feeds the outcomes back, so the same logic is tested here against
//! synthetic services without a network.
//!
//! A step is bad ([`judge`]) when an SLO is crossed (the SLOs are the step's thresholds, judged
//! by metrics' one threshold evaluation, read from the result), when the service completed
//! fewer successful responses per second than offered ([`BEHIND_TOLERANCE`]), when open-model
//! iterations were dropped (every VU was busy: the service did not keep up), when nothing was
//! answered, or when the step was stopped early because the service was clearly overloaded
//! ([`overload`], watched live once a second so a production-like service is not hammered for
//! a whole step).

use serde::{Deserialize, Serialize};

use crate::result::{Machine, RunResult, ThresholdResult};
use crate::threshold::{Aggregate, Op, Threshold};

/// 1: the first version.
pub const CAPACITY_SCHEMA_VERSION: u32 = 1;

/// A step whose successful responses per second fall more than this fraction below the offered
/// rate is behind (the service did not keep up).
pub const BEHIND_TOLERANCE: f64 = 0.05;

/// Clearly overloaded: at least this fraction of requests failed…
pub const OVERLOAD_ERROR_RATE: f64 = 0.5;
/// …or the service completed less than this fraction of the offered rate…
pub const OVERLOAD_ACHIEVED: f64 = 0.5;
/// …or the last second's p95 is this many times the SLO's latency bound.
pub const OVERLOAD_LATENCY_FACTOR: f64 = 10.0;
/// The live overload guard waits this long into a step before judging it (the first second
/// of a step is noisy).
pub const OVERLOAD_GRACE_S: f64 = 2.0;

/// How the search proceeds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Settings {
    /// The first rate offered, requests (iterations) per second.
    pub start_rps: f64,
    /// No rate above this is offered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rps: Option<f64>,
    /// The ramp multiplies the rate by this after each good step.
    pub factor: f64,
    /// Bisection stops once `bad <= good × (1 + precision)`.
    pub precision: f64,
    /// At most this many steps in all.
    pub max_steps: usize,
    /// Measured length of each step, seconds.
    pub step_s: f64,
    /// Load sent (and discarded) before each step, seconds.
    pub settle_s: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            start_rps: 10.0,
            max_rps: None,
            factor: 2.0,
            precision: 0.05,
            max_steps: 30,
            step_s: 10.0,
            settle_s: 2.0,
        }
    }
}

/// A setting the search cannot work with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingsError {
    #[error("--start must be a positive number of requests per second (got {0})")]
    Start(f64),
    #[error("--max ({max}) must be at least --start ({start})")]
    Max { start: f64, max: f64 },
    #[error("--precision must be between 0.1% and 100% (got {0})")]
    Precision(f64),
    #[error("the ramp factor must be above 1 (got {0})")]
    Factor(f64),
    #[error("--step must be at least one second (got {0} s)")]
    Step(f64),
}

impl Settings {
    pub fn check(&self) -> Result<(), SettingsError> {
        if !(self.start_rps.is_finite() && self.start_rps > 0.0) {
            return Err(SettingsError::Start(self.start_rps));
        }
        if let Some(max) = self.max_rps
            && !(max.is_finite() && max >= self.start_rps)
        {
            return Err(SettingsError::Max { start: self.start_rps, max });
        }
        if !(self.precision >= 0.001 && self.precision <= 1.0) {
            return Err(SettingsError::Precision(self.precision));
        }
        if !(self.factor.is_finite() && self.factor > 1.0) {
            return Err(SettingsError::Factor(self.factor));
        }
        if !(self.step_s >= 1.0 && self.step_s.is_finite()) {
            return Err(SettingsError::Step(self.step_s));
        }
        Ok(())
    }
}

/// Where a step sits in the search.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Ramp,
    Bisect,
}

impl Phase {
    /// As the result file spells it.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Ramp => "ramp",
            Phase::Bisect => "bisect",
        }
    }
}

/// Why a step was bad.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// An SLO (a threshold of the step) was crossed.
    Slo {
        metric: String,
        expression: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        observed: Option<f64>,
    },
    /// Fewer successful responses per second than offered.
    Behind { achieved_rps: f64, offered_rps: f64 },
    /// Open-model iterations found every VU busy and were dropped.
    Dropped { dropped: u64 },
    /// Nothing answered.
    NoResponse { requests: u64 },
    /// The step was stopped before its end because the service was clearly overloaded.
    Overloaded { why: String },
}

impl Reason {
    /// The reason in a few words, for tables (`p(95)<200 on http_req_duration: 412 ms`).
    pub fn short(&self) -> String {
        match self {
            Reason::Slo { metric, expression, observed } => match observed {
                Some(v) => format!("{metric}: {expression} (observed {})", round3(*v)),
                None => format!("{metric}: {expression} (no value)"),
            },
            Reason::Behind { achieved_rps, offered_rps } => {
                format!("achieved {:.1}/s of {:.1}/s offered", achieved_rps, offered_rps)
            }
            Reason::Dropped { dropped } => format!("{dropped} dropped iterations"),
            Reason::NoResponse { requests } => format!("no response to {requests} requests"),
            Reason::Overloaded { why } => format!("stopped early: {why}"),
        }
    }
}

fn round3(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// What a finished search found.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Conclusion {
    /// Bracketed within the precision: capacity in `[good, bad)`.
    Found,
    /// Even `--max` was sustained: the capacity is at least `--max`.
    AtLeastMax,
    /// The first step (`--start`) was already bad: no capacity within the SLOs was found.
    BelowStart,
    /// The step budget ran out before the interval was within the precision.
    StepLimit,
    /// The user stopped the search.
    Interrupted,
}

/// The search state machine. Ask [`Search::next`] for the rate to offer, run the step, tell
/// [`Search::record`] how it went; repeat until [`Search::conclusion`] is set.
#[derive(Debug, Clone)]
pub struct Search {
    settings: Settings,
    good: Option<f64>,
    bad: Option<(f64, Vec<Reason>)>,
    next: Option<f64>,
    phase: Phase,
    steps: usize,
    conclusion: Option<Conclusion>,
}

impl Search {
    pub fn new(settings: Settings) -> Result<Search, SettingsError> {
        settings.check()?;
        Ok(Search {
            settings,
            good: None,
            bad: None,
            next: Some(settings.start_rps),
            phase: Phase::Ramp,
            steps: 0,
            conclusion: None,
        })
    }

    /// The rate the next step offers; `None` once concluded.
    pub fn next(&self) -> Option<f64> {
        self.next
    }

    /// The phase of the next step.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn conclusion(&self) -> Option<Conclusion> {
        self.conclusion
    }

    /// The highest good rate so far.
    pub fn good(&self) -> Option<f64> {
        self.good
    }

    /// The lowest bad rate so far and why it was bad.
    pub fn bad(&self) -> Option<(f64, &[Reason])> {
        self.bad.as_ref().map(|(r, why)| (*r, why.as_slice()))
    }

    /// Records the step just run at `offered` (the rate [`Search::next`] gave) with the
    /// reasons it was bad (empty: good), and moves on.
    pub fn record(&mut self, offered: f64, reasons: &[Reason]) {
        if self.conclusion.is_some() {
            return;
        }
        self.steps += 1;
        if reasons.is_empty() {
            if self.good.is_none_or(|g| offered > g) {
                self.good = Some(offered);
            }
        } else if self.bad.as_ref().is_none_or(|(b, _)| offered < *b) {
            self.bad = Some((offered, reasons.to_vec()));
        }
        let s = self.settings;
        let conclude = |me: &mut Search, c| {
            me.conclusion = Some(c);
            me.next = None;
        };
        let Some(good) = self.good else {
            // The very first step was bad: nothing below it is searched (the service is
            // already in trouble at the rate the user called safe).
            return conclude(self, Conclusion::BelowStart);
        };
        match &self.bad {
            None => {
                if s.max_rps.is_some_and(|m| good >= m) {
                    return conclude(self, Conclusion::AtLeastMax);
                }
                let up = good * s.factor;
                self.next = Some(s.max_rps.map_or(up, |m| up.min(m)));
                self.phase = Phase::Ramp;
            }
            Some((bad, _)) => {
                if *bad <= good * (1.0 + s.precision) {
                    return conclude(self, Conclusion::Found);
                }
                self.next = Some(round_rate((good + bad) / 2.0));
                self.phase = Phase::Bisect;
            }
        }
        if self.steps >= s.max_steps {
            conclude(self, Conclusion::StepLimit);
        }
    }

    /// Stops the search where it is (Ctrl-C).
    pub fn interrupt(&mut self) {
        if self.conclusion.is_none() {
            self.conclusion = Some(Conclusion::Interrupted);
            self.next = None;
        }
    }
}

/// Rates are offered with at most two decimals (what a user can read back and repeat).
fn round_rate(r: f64) -> f64 {
    (r * 100.0).round() / 100.0
}

/// What one finished step measured, in the terms the search judges.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepFigures {
    pub offered_rps: f64,
    /// Successful responses per second while the step's schedule ran.
    pub achieved_rps: f64,
    pub requests: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub dropped: u64,
    pub error_rate: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

impl StepFigures {
    /// The figures of a step that offered `offered` per second for `window_s` seconds.
    ///
    /// The achieved rate is taken from the per-second series: successful completions in the
    /// whole seconds of the schedule, leaving out the first one when there are at least three
    /// (responses to the first arrivals are still on their way then), so the rate neither counts
    /// the drain after the schedule nor the ramp-up of the first second.
    pub fn of(offered: f64, window_s: f64, r: &RunResult) -> StepFigures {
        let whole = window_s.floor().max(1.0) as u64;
        let first = if whole >= 3 { 1 } else { 0 };
        let secs: Vec<_> = r.timeseries.iter().filter(|p| p.t >= first && p.t < whole).collect();
        let n = whole - first;
        let ok: u64 = secs.iter().map(|p| p.requests.saturating_sub(p.failures)).sum();
        let d = |k: &str| {
            r.metrics.get("http_req_duration").and_then(|m| m.values.get(k)).copied().unwrap_or(0.0)
        };
        let t = &r.totals;
        StepFigures {
            offered_rps: offered,
            achieved_rps: ok as f64 / n as f64,
            requests: t.requests,
            succeeded: t.succeeded,
            failed: t.failed,
            dropped: t.dropped,
            error_rate: t.error_rate(),
            p50_ms: d("med"),
            p95_ms: d("p(95)"),
            p99_ms: d("p(99)"),
        }
    }

    /// Whole seconds the achieved rate was averaged over (see [`StepFigures::of`]).
    fn measured_seconds(window_s: f64) -> f64 {
        let whole = window_s.floor().max(1.0);
        if whole >= 3.0 { whole - 1.0 } else { whole }
    }

    /// Clearly overloaded (used to word findings and to flag steps).
    pub fn overloaded(&self) -> bool {
        self.error_rate >= OVERLOAD_ERROR_RATE
            || self.achieved_rps < self.offered_rps * OVERLOAD_ACHIEVED
    }
}

/// Why a step was bad; empty when it was good. `thresholds` are the step's verdicts (the SLOs),
/// `aborted` the overload guard's words when it stopped the step early.
pub fn judge(
    f: &StepFigures,
    window_s: f64,
    thresholds: &[ThresholdResult],
    aborted: Option<&str>,
) -> Vec<Reason> {
    let mut out = Vec::new();
    if let Some(why) = aborted {
        out.push(Reason::Overloaded { why: why.to_string() });
    }
    if f.requests > 0 && f.succeeded == 0 && f.failed == f.requests {
        out.push(Reason::NoResponse { requests: f.requests });
    }
    for t in thresholds.iter().filter(|t| !t.ok) {
        out.push(Reason::Slo {
            metric: t.metric.clone(),
            expression: t.expression.clone(),
            observed: t.observed,
        });
    }
    // Whole seconds quantize the count: one request either side of a boundary is not a
    // shortfall, so the comparison allows one and a half requests over the measured seconds.
    let slack = 1.5 / StepFigures::measured_seconds(window_s);
    if f.achieved_rps < f.offered_rps * (1.0 - BEHIND_TOLERANCE) - slack {
        out.push(Reason::Behind { achieved_rps: f.achieved_rps, offered_rps: f.offered_rps });
    }
    if f.dropped > 0 {
        out.push(Reason::Dropped { dropped: f.dropped });
    }
    out
}

/// The tightest latency bound among the SLOs (`http_req_duration` below some number of ms),
/// which the overload guard multiplies by [`OVERLOAD_LATENCY_FACTOR`].
pub fn latency_bound_ms(slos: &[Threshold]) -> Option<f64> {
    slos.iter()
        .filter(|t| t.key.metric.name == "http_req_duration")
        .flat_map(|t| t.exprs.iter())
        .filter(|e| matches!(e.op, Op::Lt | Op::Le) && !matches!(e.aggregate, Aggregate::Min))
        .map(|e| e.value)
        .filter(|v| *v > 0.0)
        .reduce(f64::min)
}

/// What the guard sees once a second while a step runs (cumulative since the step began,
/// except `p95_ms`, which is the last second's).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LiveView {
    pub elapsed_s: f64,
    pub requests: u64,
    pub failures: u64,
    pub dropped: u64,
    pub p95_ms: f64,
}

/// The live overload guard: after [`OVERLOAD_GRACE_S`], a step is stopped when the error rate
/// reached [`OVERLOAD_ERROR_RATE`], when more than half the offered arrivals were dropped, or
/// when the last second's p95 is [`OVERLOAD_LATENCY_FACTOR`] times the SLO's latency bound.
/// Returns what was seen, in words.
pub fn overload(offered: f64, v: &LiveView, latency_bound_ms: Option<f64>) -> Option<String> {
    if v.elapsed_s < OVERLOAD_GRACE_S {
        return None;
    }
    let scheduled = offered * v.elapsed_s;
    if v.requests >= 20 && v.failures as f64 >= OVERLOAD_ERROR_RATE * v.requests as f64 {
        return Some(format!(
            "{} of {} requests failed in the first {:.0} s",
            v.failures, v.requests, v.elapsed_s
        ));
    }
    if scheduled >= 20.0 && v.dropped as f64 > (1.0 - OVERLOAD_ACHIEVED) * scheduled {
        return Some(format!(
            "{} of {:.0} arrivals were dropped in the first {:.0} s (every VU was busy)",
            v.dropped, scheduled, v.elapsed_s
        ));
    }
    if let Some(b) = latency_bound_ms
        && v.p95_ms >= OVERLOAD_LATENCY_FACTOR * b
    {
        return Some(format!(
            "p95 latency reached {:.0} ms, {:.0}× the SLO's {b} ms",
            v.p95_ms, OVERLOAD_LATENCY_FACTOR
        ));
    }
    None
}

/// One step of a search, with its full result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CapacityStep {
    /// 1-based, in the order the steps ran.
    pub index: usize,
    pub phase: Phase,
    #[serde(flatten)]
    pub figures: StepFigures,
    /// No reason to call it bad.
    pub good: bool,
    #[serde(default)]
    pub reasons: Vec<Reason>,
    /// Clearly overloaded (error rate or shortfall; see [`StepFigures::overloaded`]), or
    /// stopped early by the guard.
    #[serde(default)]
    pub overloaded: bool,
    /// The step's complete result (thresholds = the SLOs' verdicts).
    pub result: RunResult,
}

impl CapacityStep {
    /// The verdict in words, as every table and progress line shows it: `good`, or the
    /// reasons it was bad, `; `-separated.
    pub fn verdict(&self) -> String {
        if self.good {
            "good".into()
        } else {
            self.reasons.iter().map(Reason::short).collect::<Vec<_>>().join("; ")
        }
    }

    /// Judges a finished step: figures from the result, reasons from its thresholds.
    pub fn new(
        index: usize,
        phase: Phase,
        offered: f64,
        window_s: f64,
        aborted: Option<&str>,
        result: RunResult,
    ) -> CapacityStep {
        let figures = StepFigures::of(offered, window_s, &result);
        let reasons = judge(&figures, window_s, &result.thresholds, aborted);
        let overloaded = aborted.is_some() || figures.overloaded();
        CapacityStep {
            index,
            phase,
            good: reasons.is_empty(),
            figures,
            reasons,
            overloaded,
            result,
        }
    }
}

/// A whole search, as saved by `volley capacity -o capacity.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CapacityResult {
    pub schema_version: u32,
    pub volley_version: String,
    /// What was loaded: `GET http://127.0.0.1:8080/` or `plan shop.yaml`.
    pub workload: String,
    /// The SLOs as given (`http_req_duration: p(95)<200`).
    pub slos: Vec<String>,
    pub settings: Settings,
    pub machine: Machine,
    /// RFC 3339 UTC.
    pub started_at: String,
    pub conclusion: Conclusion,
    /// The highest rate sustained within the SLOs (the last good rate); absent when even the
    /// start rate was bad.
    pub capacity_rps: Option<f64>,
    /// The lowest rate that was bad: the capacity lies in `[capacity_rps, upper_rps)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper_rps: Option<f64>,
    /// Why the lowest bad rate was bad: what bounds the capacity.
    #[serde(default)]
    pub bound_by: Vec<Reason>,
    /// Some step was stopped early by the overload guard.
    #[serde(default)]
    pub stopped_early: bool,
    pub steps: Vec<CapacityStep>,
    /// Written findings (by the report crate, for readers of the JSON).
    #[serde(default)]
    pub findings: Vec<String>,
}

impl CapacityResult {
    /// The document for a search's steps and its state machine.
    pub fn assemble(
        search: &Search,
        steps: Vec<CapacityStep>,
        head: CapacityHead,
    ) -> CapacityResult {
        let conclusion = search.conclusion().unwrap_or(Conclusion::Interrupted);
        let bad = search.bad();
        CapacityResult {
            schema_version: CAPACITY_SCHEMA_VERSION,
            volley_version: head.volley_version,
            workload: head.workload,
            slos: head.slos,
            settings: search.settings,
            machine: head.machine,
            started_at: head.started_at,
            conclusion,
            capacity_rps: search.good(),
            upper_rps: bad.map(|(r, _)| r),
            bound_by: bad.map(|(_, why)| why.to_vec()).unwrap_or_default(),
            stopped_early: steps
                .iter()
                .any(|s| s.reasons.iter().any(|r| matches!(r, Reason::Overloaded { .. }))),
            steps,
            findings: Vec::new(),
        }
    }

    /// The step that ran at the capacity (the last good rate), when there is one.
    pub fn capacity_step(&self) -> Option<&CapacityStep> {
        let c = self.capacity_rps?;
        self.steps.iter().rev().find(|s| s.good && s.figures.offered_rps == c)
    }

    /// Each bound's words, for the answer line: which SLO (or other limit) bound the capacity.
    pub fn bound_names(&self) -> Vec<String> {
        self.bound_by.iter().map(Reason::short).collect()
    }
}

/// The parts of a [`CapacityResult`] that come from the caller.
#[derive(Debug, Clone)]
pub struct CapacityHead {
    pub volley_version: String,
    pub workload: String,
    pub slos: Vec<String>,
    pub machine: Machine,
    pub started_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic service: good up to `capacity`, then the SLO is crossed.
    fn service(capacity: f64) -> impl Fn(f64) -> Vec<Reason> {
        move |rate| {
            if rate <= capacity {
                vec![]
            } else {
                vec![Reason::Slo {
                    metric: "http_req_duration".into(),
                    expression: "p(95)<200".into(),
                    observed: Some(500.0),
                }]
            }
        }
    }

    /// Runs a search to its end; returns it and the rates offered.
    fn drive(settings: Settings, svc: impl Fn(f64) -> Vec<Reason>) -> (Search, Vec<f64>) {
        let mut s = Search::new(settings).unwrap();
        let mut rates = Vec::new();
        while let Some(r) = s.next() {
            rates.push(r);
            s.record(r, &svc(r));
            assert!(rates.len() <= settings.max_steps, "the search must end");
        }
        (s, rates)
    }

    #[test]
    fn ramps_then_bisects_to_the_precision() {
        for capacity in [10.0, 13.0, 50.0, 77.7, 160.0, 999.0, 12_345.0] {
            let (s, rates) = drive(Settings::default(), service(capacity));
            assert_eq!(s.conclusion(), Some(Conclusion::Found), "{capacity}: {rates:?}");
            let (good, bad) = (s.good().unwrap(), s.bad().unwrap().0);
            assert!(good <= capacity && capacity < bad, "{capacity}: [{good}, {bad})");
            assert!(bad <= good * 1.05 + 1e-9, "{capacity}: [{good}, {bad}) too wide");
            // Ramp: 10, 20, 40, … up to the first bad rate.
            let ramp: Vec<f64> = rates.iter().take_while(|r| **r <= capacity).copied().collect();
            for w in ramp.windows(2).take_while(|w| w[1] == w[0] * 2.0) {
                assert_eq!(w[1], w[0] * 2.0);
            }
            assert_eq!(rates[0], 10.0);
        }
    }

    #[test]
    fn fails_at_the_very_first_step() {
        let (s, rates) = drive(Settings::default(), service(5.0));
        assert_eq!(rates, vec![10.0]);
        assert_eq!(s.conclusion(), Some(Conclusion::BelowStart));
        assert_eq!(s.good(), None);
        assert!(matches!(s.bad().unwrap().1[0], Reason::Slo { .. }));
    }

    #[test]
    fn never_fails_up_to_max() {
        let settings = Settings { max_rps: Some(300.0), ..Settings::default() };
        let (s, rates) = drive(settings, service(f64::INFINITY));
        assert_eq!(rates, vec![10.0, 20.0, 40.0, 80.0, 160.0, 300.0]);
        assert_eq!(s.conclusion(), Some(Conclusion::AtLeastMax));
        assert_eq!(s.good(), Some(300.0));
        assert!(s.bad().is_none());
        // Max equal to start: one step.
        let settings = Settings { max_rps: Some(10.0), ..Settings::default() };
        let (s, rates) = drive(settings, service(f64::INFINITY));
        assert_eq!((rates.len(), s.conclusion()), (1, Some(Conclusion::AtLeastMax)));
    }

    #[test]
    fn capacity_between_the_last_ramp_step_and_max() {
        let settings = Settings { max_rps: Some(100.0), ..Settings::default() };
        let (s, rates) = drive(settings, service(90.0));
        assert_eq!(&rates[..5], &[10.0, 20.0, 40.0, 80.0, 100.0]);
        assert_eq!(s.conclusion(), Some(Conclusion::Found));
        assert!(s.good().unwrap() <= 90.0 && s.bad().unwrap().0 > 90.0);
        assert!(rates.iter().all(|r| *r <= 100.0));
    }

    #[test]
    fn step_budget_ends_the_search() {
        let settings = Settings { max_steps: 6, precision: 0.001, ..Settings::default() };
        let (s, rates) = drive(settings, service(1000.0));
        assert_eq!(rates.len(), 6);
        assert_eq!(s.conclusion(), Some(Conclusion::StepLimit));
        assert!(s.good().unwrap() <= 1000.0);
    }

    #[test]
    fn noise_keeps_the_answer_below_the_noisy_edge() {
        // A service of capacity 200 that, deterministically "randomly", also fails a few steps
        // within 10% below its capacity: the answer stays a rate that was seen good, below the
        // capacity, and the interval is within the precision.
        let noisy = |rate: f64| {
            let flaky = rate > 180.0 && (rate * 7.0).fract() < 0.4;
            if rate > 200.0 || flaky { service(0.0)(rate) } else { vec![] }
        };
        let (s, _) = drive(Settings::default(), noisy);
        let good = s.good().unwrap();
        assert!(good > 160.0 && good <= 200.0, "{good}");
        assert!(s.bad().unwrap().0 <= good * 1.05 + 1e-9);
    }

    #[test]
    fn precision_and_factor_shape_the_steps() {
        let coarse = Settings { precision: 0.5, ..Settings::default() };
        let fine = Settings { precision: 0.01, ..Settings::default() };
        let (_, a) = drive(coarse, service(100.0));
        let (_, b) = drive(fine, service(100.0));
        assert!(a.len() < b.len(), "{a:?} vs {b:?}");
        let fast = Settings { factor: 4.0, ..Settings::default() };
        let (s, r) = drive(fast, service(100.0));
        assert_eq!(&r[..3], &[10.0, 40.0, 160.0]);
        assert_eq!(s.conclusion(), Some(Conclusion::Found));
    }

    #[test]
    fn interrupt_concludes() {
        let mut s = Search::new(Settings::default()).unwrap();
        s.record(10.0, &[]);
        s.interrupt();
        assert_eq!((s.next(), s.conclusion()), (None, Some(Conclusion::Interrupted)));
        assert_eq!(s.good(), Some(10.0));
    }

    #[test]
    fn bad_settings_are_refused() {
        let bad = [
            Settings { start_rps: 0.0, ..Settings::default() },
            Settings { start_rps: f64::NAN, ..Settings::default() },
            Settings { max_rps: Some(5.0), ..Settings::default() },
            Settings { precision: 0.0, ..Settings::default() },
            Settings { factor: 1.0, ..Settings::default() },
            Settings { step_s: 0.5, ..Settings::default() },
        ];
        for s in bad {
            assert!(Search::new(s).is_err(), "{s:?}");
        }
    }

    fn figures(
        offered: f64,
        achieved: f64,
        requests: u64,
        failed: u64,
        dropped: u64,
    ) -> StepFigures {
        StepFigures {
            offered_rps: offered,
            achieved_rps: achieved,
            requests,
            succeeded: requests - failed,
            failed,
            dropped,
            error_rate: if requests == 0 { 0.0 } else { failed as f64 / requests as f64 },
            p50_ms: 1.0,
            p95_ms: 2.0,
            p99_ms: 3.0,
        }
    }

    #[test]
    fn judging_a_step() {
        assert!(judge(&figures(100.0, 99.0, 1000, 0, 0), 10.0, &[], None).is_empty());
        // One request short in a 2 s step at 10/s is quantization, not a shortfall.
        assert!(judge(&figures(10.0, 9.0, 20, 0, 0), 2.0, &[], None).is_empty());
        let r = judge(&figures(100.0, 80.0, 900, 0, 0), 10.0, &[], None);
        assert!(matches!(r[..], [Reason::Behind { .. }]), "{r:?}");
        let r = judge(&figures(100.0, 99.0, 990, 0, 10), 10.0, &[], None);
        assert_eq!(r, vec![Reason::Dropped { dropped: 10 }]);
        let r = judge(&figures(100.0, 0.0, 50, 50, 0), 10.0, &[], None);
        assert!(matches!(r[0], Reason::NoResponse { requests: 50 }), "{r:?}");
        let slo = ThresholdResult {
            metric: "http_req_failed".into(),
            expression: "rate<0.01".into(),
            ok: false,
            observed: Some(0.2),
            abort_on_fail: false,
        };
        let passed = ThresholdResult { ok: true, ..slo.clone() };
        let r = judge(&figures(100.0, 100.0, 1000, 200, 0), 10.0, &[passed, slo], Some("x"));
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(matches!(&r[0], Reason::Overloaded { why } if why == "x"));
        assert!(matches!(&r[1], Reason::Slo { expression, .. } if expression == "rate<0.01"));
        assert_eq!(r[1].short(), "http_req_failed: rate<0.01 (observed 0.2000)");
    }

    #[test]
    fn overload_guard() {
        let v = |elapsed_s, requests, failures, dropped, p95_ms| LiveView {
            elapsed_s,
            requests,
            failures,
            dropped,
            p95_ms,
        };
        assert_eq!(overload(100.0, &v(1.0, 100, 100, 0, 1.0), None), None, "grace");
        assert!(overload(100.0, &v(2.0, 200, 120, 0, 1.0), None).unwrap().contains("120 of 200"));
        assert_eq!(overload(100.0, &v(2.0, 200, 20, 0, 1.0), None), None);
        assert!(overload(100.0, &v(3.0, 100, 0, 200, 1.0), None).unwrap().contains("dropped"));
        assert_eq!(overload(100.0, &v(3.0, 250, 0, 50, 1.0), None), None);
        assert!(overload(100.0, &v(3.0, 300, 0, 0, 2500.0), Some(200.0)).is_some());
        assert_eq!(overload(100.0, &v(3.0, 300, 0, 0, 1900.0), Some(200.0)), None);
        assert_eq!(overload(100.0, &v(3.0, 300, 0, 0, 1e6), None), None);
    }

    #[test]
    fn latency_bound_of_slos() {
        use crate::selector::MetricKey;
        let t = |metric: &str, exprs: &[&str]| Threshold {
            key: MetricKey::parse(metric).unwrap(),
            exprs: exprs.iter().map(|e| crate::threshold::parse_expr(e, None).unwrap()).collect(),
        };
        let slos = [
            t("http_req_failed", &["rate<0.01"]),
            t("http_req_duration", &["p(95)<300", "p(99)<=250", "min>1"]),
        ];
        assert_eq!(latency_bound_ms(&slos), Some(250.0));
        assert_eq!(latency_bound_ms(&slos[..1]), None);
    }
}
