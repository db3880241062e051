//! Sweep measurement (`volley scale`, `volley demo`, and `capacity`'s steps): for each instance
//! count, start the service as a cluster behind the harness's balancer, warm up, run the same
//! load through it while sampling every instance, the balancer and volley itself, stop it,
//! and fold the measured runs into a [`Sweep`] with its analysis and findings.

use std::path::PathBuf;
use std::time::Duration;

use volley_harness::cluster::BALANCER_THREADS;
use volley_harness::observe::{BALANCER, GENERATOR, MACHINE, attach, machine_usage};
use volley_harness::{Cluster, ClusterConfig, Sampler, Target, Watch};
use volley_metrics::sweep::{SWEEP_SCHEMA_VERSION, Sweep, SweepRun, analyze};
use volley_metrics::{Machine, RunConfig};
use volley_plan::Spec;
use volley_plan::quick::QuickInput;

use crate::{Live, Run, RunError, Stop};

/// The header the balancer adds and the tally is keyed on.
pub const SERVED_BY: &str = "X-Served-By";
/// Per-N duration of quick mode when neither `-n` nor `-d` is given.
pub const DEFAULT_DURATION: &str = "10s";

/// What each measured run sends.
#[derive(Debug, Clone)]
pub enum Workload {
    /// Quick mode on `path` of the balancer (`load.url` is ignored).
    Quick {
        path: String,
        load: QuickInput,
    },
    Plan {
        file: PathBuf,
        spec: Spec,
    },
}

impl Workload {
    /// Quick mode on `path`: checks the path and the flags now, before any cluster starts,
    /// and gives a run without `-n` or `-d` the sweep's default duration.
    pub fn quick(path: &str, mut load: QuickInput) -> Result<Workload, RunError> {
        if !path.starts_with('/') {
            return Err(RunError::Usage(format!(
                "--path `{path}` must start with / (e.g. --path /heavy)"
            )));
        }
        if load.requests.is_none() && load.duration.is_none() {
            load.duration = Some(DEFAULT_DURATION.into());
        }
        Run::quick(&QuickInput { url: format!("http://127.0.0.1:1{path}"), ..load.clone() })?;
        Ok(Workload::Quick { path: path.to_string(), load })
    }

    /// The workload in a few words, for the sweep's header.
    pub fn describe(&self) -> String {
        match self {
            Workload::Quick { path, load } => {
                let amount = match (&load.requests, &load.duration) {
                    (Some(n), _) => format!("{n} requests"),
                    (None, Some(d)) => d.clone(),
                    (None, None) => DEFAULT_DURATION.into(),
                };
                let model = match load.rps {
                    Some(r) => format!("{r} req/s"),
                    None => format!(
                        "c={}",
                        load.concurrency.unwrap_or(volley_plan::quick::DEFAULT_CONCURRENCY)
                    ),
                };
                format!("{} {path}, {model}, {amount} per run", load.method.to_ascii_uppercase())
            }
            Workload::Plan { file, .. } => format!("plan {}", file.display()),
        }
    }

    /// The run against the balancer at `base`.
    pub fn run(&self, base: &str) -> Result<Run, RunError> {
        match self {
            Workload::Quick { path, load } => {
                let mut run =
                    Run::quick(&QuickInput { url: format!("{base}{path}"), ..load.clone() })?;
                run.spec.http.backend_header.get_or_insert_with(|| SERVED_BY.into());
                Ok(run)
            }
            Workload::Plan { file, spec } => {
                let mut spec = spec.clone();
                spec.base_url =
                    Some(base.parse().map_err(|e| RunError::Usage(format!("balancer URL: {e}")))?);
                spec.http.backend_header.get_or_insert_with(|| SERVED_BY.into());
                let config = RunConfig {
                    mode: "plan".into(),
                    target: Some(base.to_string()),
                    concurrency: spec.scenarios.iter().map(|s| s.executor.max_vus() as u64).sum(),
                    timeout_s: spec.http.timeout.as_secs_f64(),
                    keepalive: spec.http.keepalive,
                    plan: Some(file.display().to_string()),
                    command_line: std::env::args().collect(),
                    ..RunConfig::default()
                };
                Ok(Run::new(spec, config))
            }
        }
    }

    /// Warm-up load: quick mode against the path for `d`. A plan warms up on the path of its
    /// first GET step written as a plain relative path (templated or absolute URLs are not
    /// guessed at), or on `/`.
    fn warmup(&self, base: &str, d: Duration) -> Result<Run, RunError> {
        let (path, mut load) = match self {
            Workload::Quick { path, load } => (path.clone(), load.clone()),
            Workload::Plan { spec, .. } => {
                let first = spec
                    .scenarios
                    .iter()
                    .flat_map(|s| s.flows.iter().flat_map(|f| f.steps.iter()))
                    .filter(|st| st.method == http::Method::GET)
                    .find_map(|st| st.url.as_literal().filter(|u| u.starts_with('/')));
                (first.unwrap_or("/").to_string(), QuickInput::default())
            }
        };
        load.url = format!("{base}{path}");
        load.requests = None;
        load.duration = Some(format!("{}ms", d.as_millis()));
        let mut run = Run::quick(&load)?;
        run.config = RunConfig::default();
        Ok(run)
    }
}

/// Everything a sweep needs, whoever asks for it (`scale`, `demo`, `capacity`).
#[derive(Debug, Clone)]
pub struct SweepPlan {
    pub instances: Vec<usize>,
    pub repeat: usize,
    pub warmup: Duration,
    pub workload: Workload,
    /// How instances start and are balanced; `instances` and `port` are set per run.
    pub cluster: ClusterConfig,
    /// Load-generator threads (0: one per core).
    pub generator_threads: usize,
}

/// What a sweep is doing, as it goes (the binary prints it, the dashboard shows it).
#[derive(Debug, Clone, Copy)]
pub enum SweepEvent<'a> {
    Starting { instances: usize, command: &'a [String] },
    WarmingUp(Duration),
    Measuring { instances: usize, base: &'a str },
    Measured(&'a SweepRun),
}

impl std::fmt::Display for SweepEvent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SweepEvent::Starting { instances, command } => {
                write!(f, "starting {instances} instance(s) of `{}`", command.join(" "))
            }
            SweepEvent::WarmingUp(d) => {
                write!(f, "warming up for {}", humantime::format_duration(*d))
            }
            SweepEvent::Measuring { instances, base } => {
                write!(f, "measuring {instances} instance(s) through {base}")
            }
            SweepEvent::Measured(run) => write!(
                f,
                "{} instance(s), run {}: {:.1} req/s, p95 {:.1} ms, {} failed",
                run.instances, run.repeat, run.rps, run.p95_ms, run.failures
            ),
        }
    }
}

/// A sweep that stopped at an instance count (it could not start, or its run failed).
#[derive(Debug, thiserror::Error)]
#[error("with {instances} instance(s): {error}")]
pub struct SweepError {
    pub instances: usize,
    #[source]
    pub error: RunError,
}

impl SweepPlan {
    /// Runs the whole sweep. Returns what was measured even when a later instance count
    /// failed (then with the error) or `stop` ended it early.
    pub fn run(
        &self,
        stop: &Stop,
        live: &Live,
        on_event: &mut dyn FnMut(SweepEvent<'_>),
    ) -> (Sweep, Option<SweepError>) {
        let started_at = now_rfc3339();
        let mut runs = Vec::new();
        let mut error = None;
        'outer: for &n in &self.instances {
            for repeat in 1..=self.repeat {
                if stop.is_stopped() {
                    break 'outer;
                }
                match self.measure(n, repeat, stop, live, on_event) {
                    Ok(run) => {
                        on_event(SweepEvent::Measured(&run));
                        runs.push(run);
                    }
                    Err(e) => {
                        error = Some(SweepError { instances: n, error: e });
                        break 'outer;
                    }
                }
            }
        }
        (self.assemble(started_at, runs), error)
    }

    /// The sweep document of `runs`, with its analysis and findings.
    pub fn assemble(&self, started_at: String, runs: Vec<SweepRun>) -> Sweep {
        let (rows, analysis) = analyze(&runs);
        let mut sweep = Sweep {
            schema_version: SWEEP_SCHEMA_VERSION,
            volley_version: env!("CARGO_PKG_VERSION").into(),
            command: self.cluster.launch.command.clone(),
            workload: self.workload.describe(),
            balancer: self.cluster.balancer.name().into(),
            machine: machine(),
            started_at,
            sweep: runs,
            rows,
            analysis,
        };
        sweep.analysis.findings = volley_report::sweep_findings::sweep(&sweep);
        sweep
    }

    /// One measured run at `n` instances: start the cluster, warm up, measure while
    /// sampling, stop the cluster.
    pub fn measure(
        &self,
        n: usize,
        repeat: usize,
        stop: &Stop,
        live: &Live,
        on_event: &mut dyn FnMut(SweepEvent<'_>),
    ) -> Result<SweepRun, RunError> {
        on_event(SweepEvent::Starting { instances: n, command: &self.cluster.launch.command });
        let cluster =
            Cluster::start(ClusterConfig { instances: n, port: 0, ..self.cluster.clone() })?;
        let base = format!("http://{}", cluster.addr());
        if !self.warmup.is_zero() {
            on_event(SweepEvent::WarmingUp(self.warmup));
            let mut warm = self.workload.warmup(&base, self.warmup)?;
            warm.threads = self.generator_threads;
            warm.engine(stop, &Live::new())?;
        }
        if stop.is_stopped() {
            return Err(RunError::Interrupted);
        }
        let mut run = self.workload.run(&base)?;
        run.threads = self.generator_threads;
        run.config.label = Some(format!("{n} instance(s)"));
        let (mut watches, balancer) = cluster.watches();
        watches.push(Watch { label: BALANCER.into(), ..balancer });
        watches
            .push(Watch::new(GENERATOR, Target::OwnProcessExcept(Some(BALANCER_THREADS.into()))));
        watches.push(Watch::new(MACHINE, Target::System));
        on_event(SweepEvent::Measuring { instances: n, base: &base });
        let t0 = cluster.uptime().as_secs_f64();
        let sampler = Sampler::start(watches);
        let result = run.engine(stop, live);
        let observed = sampler.finish();
        let mut events: Vec<(f64, String)> = cluster
            .instances()
            .flat_map(|i| i.events.lock().map(|e| e.clone()).unwrap_or_default())
            .filter(|(t, _)| *t >= t0)
            .collect();
        events.sort_by(|a, b| a.0.total_cmp(&b.0));
        let names = cluster.backend_names();
        let events: Vec<String> =
            events.into_iter().map(|(t, msg)| format!("{:.1} s: {msg}", t - t0)).collect();
        drop(cluster);
        let mut result = result?;
        let machine = machine_usage(&result, &observed);
        attach(&mut result, observed);
        let mut run = SweepRun::with_backends(n, repeat, result, Some(&names));
        run.events = events;
        run.other_cpu_pct = machine.filter(|m| !m.samples.is_empty()).map(|m| {
            let ours = run.cpu_pct.iter().sum::<f64>()
                + run.balancer_cpu_pct.unwrap_or(0.0)
                + run.generator_cpu_pct.unwrap_or(0.0);
            (m.cpu_pct_avg - ours).max(0.0)
        });
        Ok(run)
    }
}

pub(crate) fn machine() -> Machine {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    Machine {
        hostname,
        os: std::env::consts::OS.into(),
        arch: std::env::consts::ARCH.into(),
        cpus,
        memory_bytes: 0,
        threads: cpus,
    }
}

/// Now in RFC 3339 UTC, seconds precision.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_now_is_well_formed() {
        let s = now_rfc3339();
        assert_eq!(s.len(), 20, "{s}");
        assert!(volley_harness::observe::parse_rfc3339(&s).is_some(), "{s}");
    }

    #[test]
    fn quick_workloads_are_checked_before_any_cluster_starts() {
        assert!(matches!(
            Workload::quick("heavy", QuickInput::default()),
            Err(RunError::Usage(m)) if m.contains("must start with /")
        ));
        let w = Workload::quick("/heavy", QuickInput::default()).unwrap();
        assert_eq!(w.describe(), "GET /heavy, c=50, 10s per run");
        let bad = QuickInput { requests: Some(0), ..QuickInput::default() };
        assert!(matches!(Workload::quick("/", bad), Err(RunError::Usage(_))));
    }
}
