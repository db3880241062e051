//! Capacity search (`volley capacity`, and `scale --capacity` per instance count): runs the
//! steps that `volley_metrics::capacity::Search` asks for, each through the engine as an
//! open-model run at one arrival rate, and assembles the [`CapacityResult`].
//!
//! A step is a settle run at the step's rate (discarded: connections open, caches warm, the
//! queue reaches its level) followed by the measured run of `step_s` seconds. The SLOs are the
//! measured run's thresholds, so the engine evaluates them with the one threshold evaluation
//! and the verdicts are in the step's result. While a step runs, the overload guard
//! (`capacity::overload`) reads the live snapshots and stops the step early once the service is
//! clearly overloaded.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use volley_metrics::capacity::{
    CapacityHead, CapacityResult, CapacityStep, LiveView, Phase, Search, Settings,
    latency_bound_ms, overload,
};
use volley_metrics::{Machine, RunConfig, RunResult};
use volley_plan::{Executor, Threshold};

use crate::{Live, Run, RunError, Stop};

/// What a capacity search sends and how it judges it.
#[derive(Debug, Clone)]
pub struct CapacityPlan {
    /// The load of one step, whatever its executor: each step replaces it with a
    /// constant arrival rate (quick mode or a plan with one scenario).
    pub base: Run,
    /// The SLOs, parsed (`volley_plan::threshold::parse_slo`), and as the user wrote them.
    pub slos: Vec<Threshold>,
    pub slo_texts: Vec<String>,
    pub settings: Settings,
    /// VU cap of each step; `None`: one VU per arrival per second, at least 100 (quick
    /// mode's rule for `--rps`), at most 5000.
    pub max_vus: Option<u32>,
    /// What was loaded, for the result's header.
    pub workload: String,
}

/// What a search is doing, as it goes.
#[derive(Debug, Clone, Copy)]
pub enum CapacityEvent<'a> {
    Step { index: usize, phase: Phase, rate: f64 },
    Done(&'a CapacityStep),
}

impl std::fmt::Display for CapacityEvent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CapacityEvent::Step { index, phase, rate } => {
                write!(f, "step {index} ({}): offering {rate:.2} req/s", phase.name())
            }
            CapacityEvent::Done(s) => {
                let f2 = &s.figures;
                write!(
                    f,
                    "step {}: {:.2} req/s offered, {:.2} achieved, p95 {:.1} ms, {:.2}% failed: {}",
                    s.index,
                    f2.offered_rps,
                    f2.achieved_rps,
                    f2.p95_ms,
                    f2.error_rate * 100.0,
                    s.verdict()
                )
            }
        }
    }
}

/// Largest default VU cap of a step.
const MAX_VUS_DEFAULT: u32 = 5000;

impl CapacityPlan {
    /// Checks the plan before any load is sent: the settings, and a base with exactly one
    /// scenario.
    pub fn check(&self) -> Result<(), RunError> {
        self.settings.check().map_err(|e| RunError::Usage(e.to_string()))?;
        if self.base.spec.scenarios.len() != 1 {
            return Err(RunError::Usage(format!(
                "a capacity search offers one arrival rate to one scenario; the plan has {} \
                 (hint: keep one scenario, or split the plan)",
                self.base.spec.scenarios.len()
            )));
        }
        Ok(())
    }

    /// The run of one step: the base at `rate` per second for `d`, with the SLOs as its
    /// thresholds (after the plan's own).
    pub fn step_run(&self, rate: f64, d: Duration, with_slos: bool) -> Run {
        let mut run = self.base.clone();
        let cap = self.max_vus.unwrap_or_else(|| (rate.ceil() as u32).clamp(100, MAX_VUS_DEFAULT));
        let sc = &mut run.spec.scenarios[0];
        sc.executor = Executor::ConstantArrivalRate {
            rate,
            duration: d,
            pre_allocated_vus: cap.min(100),
            max_vus: cap,
            max_iterations: None,
        };
        sc.start_time = Duration::ZERO;
        if with_slos {
            run.spec.thresholds.extend(self.slos.iter().cloned());
        } else {
            run.spec.thresholds.clear();
        }
        run.config.concurrency = u64::from(cap);
        run.config.duration_s = Some(d.as_secs_f64());
        run.config.requests = None;
        run.config.label = Some(format!("{rate:.2} req/s"));
        run
    }

    /// Runs the whole search against the service as it is (nothing is started). Returns what
    /// was measured even when a step failed to run (then with the error) or `stop` ended it.
    pub fn run(
        &self,
        stop: &Stop,
        live: &Live,
        on_event: &mut dyn FnMut(CapacityEvent<'_>),
    ) -> (CapacityResult, Option<RunError>) {
        self.run_with(stop, live, on_event, &mut |run, stop, live| run.execute(stop, live))
    }

    /// The search with each measured step run by `measure` (a sweep samples its cluster).
    pub fn run_with(
        &self,
        stop: &Stop,
        live: &Live,
        on_event: &mut dyn FnMut(CapacityEvent<'_>),
        measure: &mut dyn FnMut(&Run, &Stop, &Live) -> Result<RunResult, RunError>,
    ) -> (CapacityResult, Option<RunError>) {
        let started_at = crate::sweep::now_rfc3339();
        let mut steps: Vec<CapacityStep> = Vec::new();
        let mut error = None;
        let head = |started_at: String| CapacityHead {
            volley_version: env!("CARGO_PKG_VERSION").into(),
            workload: self.workload.clone(),
            slos: self.slo_texts.clone(),
            machine: machine(),
            started_at,
        };
        let mut search = match Search::new(self.settings) {
            Ok(s) => s,
            Err(e) => {
                let mut s = Search::new(Settings::default()).expect("default settings are valid");
                s.interrupt();
                return (
                    CapacityResult::assemble(&s, steps, head(started_at)),
                    Some(RunError::Usage(e.to_string())),
                );
            }
        };
        let bound = latency_bound_ms(&self.slos);
        let step_d = Duration::from_secs_f64(self.settings.step_s);
        while let Some(rate) = search.next() {
            if stop.is_stopped() {
                search.interrupt();
                break;
            }
            let index = steps.len() + 1;
            let phase = search.phase();
            on_event(CapacityEvent::Step { index, phase, rate });
            match self.step(rate, step_d, bound, stop, live, measure) {
                Ok((result, aborted)) => {
                    if stop.is_stopped() {
                        // The user's stop cut the step short: it says nothing about the service.
                        search.interrupt();
                        break;
                    }
                    let window = self.settings.step_s.min(result.duration_s.max(1.0));
                    let step =
                        CapacityStep::new(index, phase, rate, window, aborted.as_deref(), result);
                    on_event(CapacityEvent::Done(&step));
                    search.record(rate, &step.reasons);
                    steps.push(step);
                }
                Err(e) => {
                    search.interrupt();
                    error = Some(e);
                    break;
                }
            }
        }
        let mut result = CapacityResult::assemble(&search, steps, head(started_at));
        result.findings = volley_report::capacity::findings(&result);
        (result, error)
    }

    /// One step: settle, then the measured run under the overload guard. Returns the result
    /// and the guard's words when it stopped the step.
    fn step(
        &self,
        rate: f64,
        d: Duration,
        bound: Option<f64>,
        stop: &Stop,
        live: &Live,
        measure: &mut dyn FnMut(&Run, &Stop, &Live) -> Result<RunResult, RunError>,
    ) -> Result<(RunResult, Option<String>), RunError> {
        if self.settings.settle_s > 0.0 {
            let settle =
                self.step_run(rate, Duration::from_secs_f64(self.settings.settle_s), false);
            let s = stop.child();
            let guard = guarded(rate, bound, &s, live);
            let mut settle = settle;
            settle.config = RunConfig::default();
            settle.engine(&s, &guard.0)?;
            if let Some(why) = guard.1.lock().unwrap_or_else(|e| e.into_inner()).take() {
                // Overloaded while settling: the step is not measured at full length.
                let short = self.step_run(rate, Duration::from_secs(1), true);
                let r = measure(&short, stop, live)?;
                return Ok((r, Some(format!("while settling: {why}"))));
            }
        }
        let run = self.step_run(rate, d, true);
        let s = stop.child();
        let (step_live, aborted) = guarded(rate, bound, &s, live);
        let result = measure(&run, &s, &step_live)?;
        let why = aborted.lock().unwrap_or_else(|e| e.into_inner()).take();
        Ok((result, why))
    }
}

/// A live stream for one step that forwards every snapshot to `parent` and stops `stop` when
/// the overload guard fires; the guard's words land in the returned slot.
fn guarded(
    rate: f64,
    bound: Option<f64>,
    stop: &Stop,
    parent: &Live,
) -> (Live, Arc<Mutex<Option<String>>>) {
    let live = parent.child();
    let slot = Arc::new(Mutex::new(None));
    let (me, s, p) = (slot.clone(), stop.clone(), parent.clone());
    live.subscribe(move |snap| {
        p.publish(snap);
        let view = LiveView {
            elapsed_s: snap.elapsed.as_secs_f64(),
            requests: snap.requests,
            failures: snap.failures,
            dropped: snap.dropped,
            p95_ms: snap.p95_ms,
        };
        if let Some(why) = overload(rate, &view, bound) {
            let mut g = me.lock().unwrap_or_else(|e| e.into_inner());
            if g.is_none() {
                *g = Some(why);
                s.stop();
            }
        }
    });
    (live, slot)
}

fn machine() -> Machine {
    crate::sweep::machine()
}

#[cfg(test)]
mod tests {
    use super::*;
    use volley_plan::quick::QuickInput;

    fn plan() -> CapacityPlan {
        let base =
            Run::quick(&QuickInput { url: "http://127.0.0.1:1/".into(), ..QuickInput::default() })
                .unwrap();
        CapacityPlan {
            base,
            slos: vec![volley_plan::threshold::parse_slo("http_req_duration: p(95)<200").unwrap()],
            slo_texts: vec!["http_req_duration: p(95)<200".into()],
            settings: Settings::default(),
            max_vus: None,
            workload: "GET /".into(),
        }
    }

    #[test]
    fn a_step_is_an_open_model_run_with_the_slos() {
        let p = plan();
        p.check().unwrap();
        let r = p.step_run(40.0, Duration::from_secs(3), true);
        match &r.spec.scenarios[0].executor {
            Executor::ConstantArrivalRate { rate, duration, max_vus, max_iterations, .. } => {
                assert_eq!((*rate, *duration, *max_vus), (40.0, Duration::from_secs(3), 100));
                assert_eq!(*max_iterations, None);
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(r.spec.thresholds.len(), 1);
        assert!(p.step_run(40.0, Duration::from_secs(1), false).spec.thresholds.is_empty());
        assert_eq!(p.step_run(700.0, Duration::from_secs(1), true).config.concurrency, 700);
        let bad = CapacityPlan {
            settings: Settings { start_rps: -1.0, ..Settings::default() },
            ..plan()
        };
        assert!(matches!(bad.check(), Err(RunError::Usage(_))));
    }
}
