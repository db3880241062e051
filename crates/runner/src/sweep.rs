//! Sweep measurement (`volley scale`, `volley demo`): for each instance count, bring the
//! service to that many instances (a cluster volley starts behind its balancer or nginx, or a
//! deployment the user's `--scale-cmd` scales), warm up, run the same load through it while
//! sampling every instance, the balancer and volley itself (or, with `--capacity`, run a
//! capacity search there, each step sampled alike), and fold the measured runs into a
//! [`Sweep`] with its analysis and findings.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use volley_harness::cluster::BALANCER_THREADS;
use volley_harness::deployment::{InstanceSelector, ScaleCommand};
use volley_harness::observe::{BALANCER, GENERATOR, MACHINE, attach, machine_usage};
use volley_harness::{Cluster, ClusterConfig, HarnessError, Sampler, Target, Watch};
use volley_metrics::capacity::Settings;
use volley_metrics::sweep::{
    NO_BACKEND, SWEEP_SCHEMA_VERSION, Sweep, SweepMode, SweepRun, analyze,
};
use volley_metrics::{InstanceUsage, Machine, RunConfig, RunResult};
use volley_plan::quick::QuickInput;
use volley_plan::{Spec, Threshold};

use crate::capacity::{CapacityEvent, CapacityPlan};
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

    /// The backend header the workload itself names (`--backend-header`, or the plan's
    /// `http.backend_header`), before the balancer's default is put in.
    fn own_backend_header(&self) -> Option<String> {
        match self {
            Workload::Quick { load, .. } => load.backend_header.clone(),
            Workload::Plan { spec, .. } => spec.http.backend_header.clone(),
        }
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

    /// The workload of a capacity sweep, whose rate and length each step sets.
    pub fn describe_search(&self) -> String {
        match self {
            Workload::Quick { path, load } => {
                format!("{} {path}, a capacity search per count", load.method.to_ascii_uppercase())
            }
            Workload::Plan { file, .. } => {
                format!("plan {}, a capacity search per count", file.display())
            }
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

/// Everything a sweep needs, whoever asks for it (`scale`, `demo`).
#[derive(Debug, Clone)]
pub struct SweepPlan {
    pub instances: Vec<usize>,
    pub repeat: usize,
    /// Load sent (and discarded) before each measured run; not used by capacity sweeps, whose
    /// every step settles first.
    pub warmup: Duration,
    pub workload: Workload,
    /// Where the instances come from.
    pub deployment: Deployment,
    /// `--capacity`: a capacity search at each count instead of one run at the workload's load.
    pub capacity: Option<SweepSearch>,
    /// Load-generator threads (0: one per core).
    pub generator_threads: usize,
}

/// Where a sweep's instances come from.
#[derive(Debug, Clone)]
pub enum Deployment {
    /// volley starts N instances of a command behind its balancer (built-in or nginx);
    /// `instances` and `port` of the config are set per count.
    Local(ClusterConfig),
    /// A deployment volley did not start, scaled by the user's own command.
    Scaled(ScaledDeployment),
}

/// `volley scale --scale-cmd CMD --url URL`: what is already deployed, and how to scale it.
#[derive(Debug, Clone)]
pub struct ScaledDeployment {
    /// Run for each count, `{n}` replaced by it.
    pub command: ScaleCommand,
    /// Where the deployment answers: scheme, host and port (`http://127.0.0.1:8080`).
    pub url: String,
    /// Polled until it answers 2xx (default `/`).
    pub ready_path: Option<String>,
    /// How long the deployment may take to be ready after the command finished.
    pub ready_timeout: Duration,
    /// The response header naming the backend that answered: readiness then also waits until
    /// N distinct backends answer, and the sweep tallies requests per backend.
    pub backend_header: Option<String>,
    /// The processes or cgroups sampled as instances.
    pub instances: InstanceSelector,
}

/// What `--capacity` searches at each count: the SLOs and the search's settings, the same as
/// `volley capacity`'s.
#[derive(Debug, Clone)]
pub struct SweepSearch {
    pub slos: Vec<Threshold>,
    pub slo_texts: Vec<String>,
    pub settings: Settings,
    /// VU cap of each step (`-c`); `None`: `volley capacity`'s rule.
    pub max_vus: Option<u32>,
}

/// What a sweep is doing, as it goes (the binary prints it, the dashboard shows it).
#[derive(Debug, Clone, Copy)]
pub enum SweepEvent<'a> {
    Starting {
        instances: usize,
        command: &'a [String],
    },
    /// A `--scale-cmd` deployment: the user's command runs for this count.
    Scaling {
        instances: usize,
        command: &'a str,
    },
    /// The deployment answers, with this many distinct backends (when a header names them).
    Ready {
        instances: usize,
        backends: Option<usize>,
    },
    WarmingUp(Duration),
    Measuring {
        instances: usize,
        base: &'a str,
    },
    /// A capacity sweep's search at this count, step by step.
    Search {
        instances: usize,
        event: CapacityEvent<'a>,
    },
    Measured(&'a SweepRun),
}

impl std::fmt::Display for SweepEvent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SweepEvent::Starting { instances, command } => {
                write!(f, "starting {instances} instance(s) of `{}`", command.join(" "))
            }
            SweepEvent::Scaling { instances, command } => {
                write!(f, "scaling the deployment to {instances} instance(s): `{command}`")
            }
            SweepEvent::Ready { instances, backends: Some(b) } => {
                write!(f, "{instances} instance(s) ready: {b} distinct backend(s) answer")
            }
            SweepEvent::Ready { instances, backends: None } => {
                write!(f, "{instances} instance(s) ready")
            }
            SweepEvent::Search { instances, event } => {
                write!(f, "{instances} instance(s), {event}")
            }
            SweepEvent::WarmingUp(d) => {
                write!(f, "warming up for {}", humantime::format_duration(*d))
            }
            SweepEvent::Measuring { instances, base } => {
                write!(f, "measuring {instances} instance(s) through {base}")
            }
            SweepEvent::Measured(run) if run.capacity.is_some() => match run.capacity_rps {
                Some(c) => write!(
                    f,
                    "{} instance(s), run {}: capacity {c:.1} req/s (p95 {:.1} ms there)",
                    run.instances, run.repeat, run.p95_ms
                ),
                None => write!(
                    f,
                    "{} instance(s), run {}: no rate within the SLOs (even the start rate broke them)",
                    run.instances, run.repeat
                ),
            },
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
    /// The header that tells a scaled deployment's instances apart: `--backend-header`, else
    /// the workload's own (a plan's `http.backend_header`); no balancer of volley's adds one.
    fn backend_header_of(&self, d: &ScaledDeployment) -> Option<String> {
        d.backend_header.clone().or_else(|| self.workload.own_backend_header())
    }

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
        let mode = self.mode();
        let (rows, analysis) = analyze(&runs, mode);
        let (command, balancer) = match &self.deployment {
            Deployment::Local(c) => (c.launch.command.clone(), c.balancer.name().to_string()),
            Deployment::Scaled(d) => (vec![d.command.template.clone()], DEPLOYMENT.to_string()),
        };
        let mut sweep = Sweep {
            schema_version: SWEEP_SCHEMA_VERSION,
            volley_version: env!("CARGO_PKG_VERSION").into(),
            command,
            workload: match &self.capacity {
                None => self.workload.describe(),
                Some(_) => self.workload.describe_search(),
            },
            balancer,
            mode,
            slos: self.capacity.as_ref().map(|c| c.slo_texts.clone()).unwrap_or_default(),
            machine: machine(),
            started_at,
            sweep: runs,
            rows,
            analysis,
        };
        sweep.analysis.findings = volley_report::sweep_findings::sweep(&sweep);
        sweep
    }

    pub fn mode(&self) -> SweepMode {
        if self.capacity.is_some() { SweepMode::Capacity } else { SweepMode::Throughput }
    }

    /// Checks what can be checked before any instance starts: the capacity search's settings
    /// and the deployment's patterns.
    pub fn check(&self) -> Result<(), RunError> {
        if let Some(c) = &self.capacity {
            c.settings.check().map_err(|e| RunError::Usage(e.to_string()))?;
        }
        if let Deployment::Scaled(d) = &self.deployment {
            d.instances.check()?;
            if !d.command.template.contains("{n}") {
                return Err(RunError::Usage(format!(
                    "--scale-cmd `{}` has no {{n}}: every count would run the same command \
                     (hint: e.g. --scale-cmd 'docker compose up -d --scale web={{n}}')",
                    d.command.template
                )));
            }
        }
        Ok(())
    }

    /// One measured run at `n` instances (or, for a capacity sweep, one search): bring the
    /// service to `n` instances, warm up, measure while sampling, stop what volley started.
    pub fn measure(
        &self,
        n: usize,
        repeat: usize,
        stop: &Stop,
        live: &Live,
        on_event: &mut dyn FnMut(SweepEvent<'_>),
    ) -> Result<SweepRun, RunError> {
        let up = self.bring_up(n, stop, on_event)?;
        let base = up.base.clone();
        if !self.warmup.is_zero() && self.capacity.is_none() {
            on_event(SweepEvent::WarmingUp(self.warmup));
            let mut warm = self.workload.warmup(&base, self.warmup)?;
            warm.threads = self.generator_threads;
            warm.engine(stop, &Live::new())?;
        }
        if stop.is_stopped() {
            return Err(RunError::Interrupted);
        }
        let mut run = self.workload.run(&base)?;
        if let Deployment::Scaled(d) = &self.deployment {
            run.spec.http.backend_header = self.backend_header_of(d);
        }
        run.threads = self.generator_threads;
        run.config.label = Some(format!("{n} instance(s)"));
        let mut watches = up.watches.clone();
        watches
            .push(Watch::new(GENERATOR, Target::OwnProcessExcept(Some(BALANCER_THREADS.into()))));
        watches.push(Watch::new(MACHINE, Target::System));
        on_event(SweepEvent::Measuring { instances: n, base: &base });
        let t0 = up.uptime();
        let measured = match &self.capacity {
            None => {
                let (result, machine) = sampled(&run, &watches, stop, live)?;
                let mut r = SweepRun::with_backends(n, repeat, result, up.names.as_deref());
                r.other_cpu_pct = other_cpu(&r, machine.as_ref());
                r
            }
            Some(search) => {
                let plan = CapacityPlan {
                    base: run,
                    slos: search.slos.clone(),
                    slo_texts: search.slo_texts.clone(),
                    settings: search.settings,
                    max_vus: search.max_vus,
                    workload: self.workload.describe_search(),
                };
                plan.check()?;
                // The machine's usage of each measured step, in step order.
                let mut machines: Vec<Option<InstanceUsage>> = Vec::new();
                let (found, error) = plan.run_with(
                    stop,
                    live,
                    &mut |e| on_event(SweepEvent::Search { instances: n, event: e }),
                    &mut |run, stop, live| {
                        let (result, machine) = sampled(run, &watches, stop, live)?;
                        machines.push(machine);
                        Ok(result)
                    },
                );
                if let Some(e) = error {
                    return Err(e);
                }
                if stop.is_stopped() {
                    return Err(RunError::Interrupted);
                }
                // Steps are 1-based and kept in the order they were measured.
                let at = found.capacity_step().map_or(0, |s| s.index - 1);
                let machine = machines.get(at).cloned().flatten();
                let mut r = SweepRun::from_capacity(n, repeat, found, up.names.as_deref())
                    .ok_or(RunError::Interrupted)?;
                r.other_cpu_pct = other_cpu(&r, machine.as_ref());
                r
            }
        };
        let mut run = measured;
        run.events = up.events_since(t0);
        Ok(run)
    }

    /// `n` instances up and ready: a cluster started, or the deployment scaled.
    fn bring_up(
        &self,
        n: usize,
        stop: &Stop,
        on_event: &mut dyn FnMut(SweepEvent<'_>),
    ) -> Result<Up, RunError> {
        match &self.deployment {
            Deployment::Local(config) => {
                on_event(SweepEvent::Starting { instances: n, command: &config.launch.command });
                let cluster =
                    Cluster::start(ClusterConfig { instances: n, port: 0, ..config.clone() })?;
                let (mut watches, balancer) = cluster.watches();
                watches.push(Watch { label: BALANCER.into(), ..balancer });
                Ok(Up {
                    base: format!("http://{}", cluster.addr()),
                    watches,
                    names: Some(cluster.backend_names()),
                    cluster: Some(cluster),
                })
            }
            Deployment::Scaled(d) => {
                let command = d.command.for_count(n);
                on_event(SweepEvent::Scaling { instances: n, command: &command });
                d.command.run(n, &|| stop.is_stopped()).map_err(|e| match e {
                    HarnessError::Stopped => RunError::Interrupted,
                    e => RunError::Cluster(e),
                })?;
                let backends = wait_ready(d, self.backend_header_of(d).as_deref(), n, stop)?;
                on_event(SweepEvent::Ready { instances: n, backends });
                Ok(Up {
                    base: d.url.trim_end_matches('/').to_string(),
                    watches: d.instances.watches()?,
                    names: None,
                    cluster: None,
                })
            }
        }
    }
}

/// The name a `--scale-cmd` sweep gives its balancer: the user's own, not measured.
pub const DEPLOYMENT: &str = "deployment";

/// The service at one count, while it is measured.
struct Up {
    /// Scheme, host and port the load goes to.
    base: String,
    /// One watch per instance (and the balancer's, when volley runs it).
    watches: Vec<Watch>,
    /// Backend header values of the instances, instance 1 first, when volley knows them.
    names: Option<Vec<String>>,
    /// The cluster volley started (stopped when this is dropped).
    cluster: Option<Cluster>,
}

impl Up {
    fn uptime(&self) -> f64 {
        self.cluster.as_ref().map_or(0.0, |c| c.uptime().as_secs_f64())
    }

    /// What happened to the instances since `t0` (exits, restarts), seconds after it.
    fn events_since(&self, t0: f64) -> Vec<String> {
        let Some(cluster) = &self.cluster else { return Vec::new() };
        let mut events: Vec<(f64, String)> = cluster
            .instances()
            .flat_map(|i| i.events.lock().map(|e| e.clone()).unwrap_or_default())
            .filter(|(t, _)| *t >= t0)
            .collect();
        events.sort_by(|a, b| a.0.total_cmp(&b.0));
        events.into_iter().map(|(t, msg)| format!("{:.1} s: {msg}", t - t0)).collect()
    }
}

/// One engine run while `watches` are sampled: the result with its server samples, and the
/// machine's usage over it.
fn sampled(
    run: &Run,
    watches: &[Watch],
    stop: &Stop,
    live: &Live,
) -> Result<(RunResult, Option<InstanceUsage>), RunError> {
    let sampler = Sampler::start(watches.to_vec());
    let result = run.engine(stop, live);
    let observed = sampler.finish();
    let mut result = result?;
    let machine = machine_usage(&result, &observed);
    attach(&mut result, observed);
    Ok((result, machine))
}

/// CPU of everything on the machine but the instances, the balancer and volley.
fn other_cpu(run: &SweepRun, machine: Option<&InstanceUsage>) -> Option<f64> {
    machine.filter(|m| !m.samples.is_empty()).map(|m| {
        let ours = run.cpu_pct.iter().sum::<f64>()
            + run.balancer_cpu_pct.unwrap_or(0.0)
            + run.generator_cpu_pct.unwrap_or(0.0);
        (m.cpu_pct_avg - ours).max(0.0)
    })
}

/// Polls the deployment until every probe request answers 2xx and, with a backend header,
/// until `n` distinct backends answered; each probe is a short quick-mode run without
/// keep-alive (so a balancer that spreads connections, not requests, is seen too). Returns
/// how many backends answered.
fn wait_ready(
    d: &ScaledDeployment,
    header: Option<&str>,
    n: usize,
    stop: &Stop,
) -> Result<Option<usize>, RunError> {
    let path = d.ready_path.as_deref().unwrap_or("/");
    let url = format!("{}{path}", d.url.trim_end_matches('/'));
    let deadline = Instant::now() + d.ready_timeout;
    let probes = (4 * n).max(8) as u64;
    loop {
        let input = QuickInput {
            url: url.clone(),
            concurrency: Some(1),
            requests: Some(probes),
            timeout: "2s".into(),
            keepalive: false,
            backend_header: header.map(str::to_string),
            ..QuickInput::default()
        };
        let mut probe = Run::quick(&input)?;
        probe.threads = 1;
        probe.config = RunConfig::default();
        let r = probe.engine(&stop.child(), &Live::new())?;
        if stop.is_stopped() {
            return Err(RunError::Interrupted);
        }
        let answered_2xx: u64 =
            r.status_codes.iter().filter(|(c, _)| c.starts_with('2')).map(|(_, k)| *k).sum();
        let ok = r.totals.requests > 0 && answered_2xx == r.totals.requests;
        let mut seen: Vec<&str> = r
            .backends
            .iter()
            .map(|b| b.backend.as_str())
            .filter(|b| !b.is_empty() && *b != NO_BACKEND)
            .collect();
        seen.sort_unstable();
        seen.dedup();
        let enough = header.is_none() || seen.len() >= n;
        if ok && enough {
            return Ok(header.map(|_| seen.len()));
        }
        if Instant::now() >= deadline {
            let mut said = vec![format!(
                "last probe of {url}: {answered_2xx} of {} requests answered 2xx",
                r.totals.requests
            )];
            if let Some(h) = header {
                said.push(format!(
                    "{} distinct {h} value(s) of the {n} expected: {}",
                    seen.len(),
                    if seen.is_empty() { "none".to_string() } else { seen.join(", ") }
                ));
            }
            return Err(RunError::Cluster(HarnessError::NeverReady {
                instance: format!("the deployment at {} with {n} instance(s)", d.url),
                timeout: d.ready_timeout,
                output: said,
            }));
        }
        std::thread::sleep(Duration::from_millis(250));
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
