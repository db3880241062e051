//! [`Run`]: one run of a spec, from sampling the service before the first request to the
//! assembled result with the server samples attached.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use volley_engine::{EngineError, RunOptions};
use volley_harness::HarnessError;
use volley_harness::observe::attach;
use volley_harness::sample::Sampler;
use volley_metrics::{RunConfig, RunResult};
use volley_plan::quick::QuickInput;
use volley_plan::{Executor, Spec, Target};

use crate::{Live, Stop, Watching};

/// Why a run (or a sweep) could not be done. Failures of single requests are data.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A value the user gave is wrong (exit 2); the message names it and gives a hint.
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Engine(#[from] EngineError),
    /// The service under test could not be started (sweeps).
    #[error("{0}")]
    Cluster(#[from] HarnessError),
    /// A sweep was stopped between its runs.
    #[error("interrupted")]
    Interrupted,
}

/// One run: the spec, what the result records about how it was asked for, and what to
/// watch beside it.
#[derive(Debug, Clone)]
pub struct Run {
    pub spec: Spec,
    /// Copied into the result as is.
    pub config: RunConfig,
    /// Seed of the random choices (flows, think time, generators).
    pub seed: u64,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// How long requests in flight may take to finish after a stop.
    pub grace: Duration,
    pub watching: Watching,
    /// The share of the test this generator runs (`--execution-segment`); the whole by default.
    pub segment: volley_metrics::segment::Tuple,
    /// Wall-clock start shared by the shards of a distributed run (`--start-at`).
    pub start_at: Option<std::time::SystemTime>,
}

impl Run {
    /// A run of `spec` with the engine's defaults.
    pub fn new(spec: Spec, config: RunConfig) -> Run {
        let d = RunOptions::default();
        Run {
            spec,
            config,
            seed: d.seed,
            threads: d.threads,
            grace: d.grace,
            watching: Watching::default(),
            segment: d.segment,
            start_at: d.start_at,
        }
    }

    /// Quick mode: the flags' values become the one-step spec (every bad value is a usage
    /// error) and the result's config.
    pub fn quick(input: &QuickInput) -> Result<Run, RunError> {
        let spec = volley_plan::quick::build(input).map_err(|e| RunError::Usage(e.0))?;
        let sc = &spec.scenarios[0];
        let executor = &sc.executor;
        let step = &sc.flows[0].steps[0];
        let config = RunConfig {
            mode: "quick".into(),
            // Without `user:pass@`: the result file is shared, the password is not.
            target: Target::parse(&input.url).ok().map(|t| t.url.to_string()),
            method: Some(step.method.to_string()),
            concurrency: executor.max_vus() as u64,
            streams: Some(spec.http.streams).filter(|s| *s > 1),
            requests: match executor {
                Executor::SharedIterations { iterations, .. } => Some(*iterations),
                Executor::ConstantArrivalRate { max_iterations, .. } => *max_iterations,
                _ => None,
            },
            duration_s: match executor {
                Executor::ConstantVus { duration, .. } => Some(duration.as_secs_f64()),
                Executor::ConstantArrivalRate { duration, .. } if input.duration.is_some() => {
                    Some(duration.as_secs_f64())
                }
                _ => None,
            },
            timeout_s: spec.http.timeout.as_secs_f64(),
            keepalive: spec.http.keepalive,
            command_line: std::env::args().collect(),
            ..RunConfig::default()
        };
        Ok(Run::new(spec, config))
    }

    /// A loaded plan (`file` is recorded in the result).
    pub fn plan(file: &Path, spec: Spec) -> Run {
        let config = RunConfig {
            mode: "plan".into(),
            target: spec.base_url.as_ref().map(|u| u.to_string()),
            concurrency: spec
                .scenarios
                .iter()
                .map(|s| s.executor.max_vus() as u64)
                .max()
                .unwrap_or(0),
            duration_s: spec
                .scenarios
                .iter()
                .map(|s| {
                    (s.start_time + volley_engine::schedule::executor_duration(&s.executor))
                        .as_secs_f64()
                })
                .reduce(f64::max),
            timeout_s: spec.http.timeout.as_secs_f64(),
            keepalive: spec.http.keepalive,
            plan: Some(file.display().to_string()),
            command_line: std::env::args().collect(),
            ..RunConfig::default()
        };
        Run::new(spec, config)
    }

    /// Samples what `watching` names (and volley itself) from before the first request,
    /// runs the spec until it ends or `stop`, feeds `live` once a second, and returns the
    /// result with the server samples attached.
    pub fn execute(&self, stop: &Stop, live: &Live) -> Result<RunResult, RunError> {
        let sampler = Arc::new(Sampler::start(self.watching.watches()?));
        let s = sampler.clone();
        let result = self.engine_with(stop, live, move || s.latest());
        // The live thread (the only other owner) has ended with the run.
        let sampler = Arc::try_unwrap(sampler).ok();
        let mut result = result?;
        if let Some(sampler) = sampler {
            attach(&mut result, sampler.finish());
        }
        Ok(result)
    }

    /// The engine run alone, without server observation (sweeps sample the cluster
    /// themselves).
    pub(crate) fn engine(&self, stop: &Stop, live: &Live) -> Result<RunResult, RunError> {
        self.engine_with(stop, live, Vec::new)
    }

    fn engine_with(
        &self,
        stop: &Stop,
        live: &Live,
        server: impl Fn() -> Vec<volley_metrics::ResourceSample> + Send + 'static,
    ) -> Result<RunResult, RunError> {
        let (progress, forward) = live.feed(server).unzip();
        let opts = RunOptions {
            live_results: live.wants_results(),
            control: live.control(),
            threads: self.threads,
            seed: self.seed,
            stop: stop.token(),
            grace: self.grace,
            progress,
            config: self.config.clone(),
            segment: self.segment.clone(),
            start_at: self.start_at,
        };
        let result = volley_engine::run(&self.spec, opts);
        if let Some(h) = forward {
            let _ = h.join();
        }
        Ok(result?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_config_reflects_the_flags_and_hides_passwords() {
        let q = |f: fn(&mut QuickInput)| {
            let mut i = QuickInput { url: "http://h/".into(), ..QuickInput::default() };
            f(&mut i);
            Run::quick(&i).unwrap()
        };
        let r = q(|i| {
            i.url = "http://u:secret@127.0.0.1:1/x?y=1".into();
            i.requests = Some(1000);
        });
        assert_eq!(r.config.requests, Some(1000));
        assert_eq!(r.config.concurrency, 50);
        assert_eq!(r.config.target.as_deref(), Some("http://127.0.0.1:1/x?y=1"));
        assert_eq!(r.spec.scenarios[0].executor.max_vus(), 50);
        let r = q(|i| i.rps = Some(500.0));
        assert_eq!(volley_engine::schedule::total_arrivals(&r.spec.scenarios[0].executor), 200);
        assert_eq!((r.config.requests, r.config.duration_s), (Some(200), None));
        assert_eq!(q(|i| i.duration = Some("2s".into())).config.duration_s, Some(2.0));
    }

    #[test]
    fn bad_values_are_usage_errors() {
        let i = QuickInput { url: "http://x/".into(), requests: Some(0), ..QuickInput::default() };
        match Run::quick(&i) {
            Err(RunError::Usage(m)) => assert!(m.contains("-n 0"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
