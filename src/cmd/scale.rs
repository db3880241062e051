//! `volley scale --instances 1,2,4 [load flags | --plan PLAN] -- COMMAND ARGS`: for each
//! instance count, start the service as a cluster behind the built-in balancer, warm up, run
//! the same load through it while sampling every instance, the balancer and volley itself,
//! stop it; then print and save the comparison (seed 003's empty table) and its analysis.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use volley_engine::{CancellationToken, RunOptions};
use volley_harness::cluster::BALANCER_THREADS;
use volley_harness::observe::{BALANCER, GENERATOR, MACHINE, attach, machine_usage};
use volley_harness::{Balancing, Cluster, Sampler, Target, Watch};
use volley_metrics::sweep::{SWEEP_SCHEMA_VERSION, Sweep, SweepRun, analyze};
use volley_metrics::{Machine, RunConfig};
use volley_plan::Spec;

use super::cluster::{LaunchArgs, parse_duration, start_error};
use super::quick::LoadArgs;
use crate::outcome::{Outcome, usage};

/// The header the balancer adds and the tally is keyed on.
pub const SERVED_BY: &str = "X-Served-By";
/// Per-N duration when neither `-n` nor `-d` is given.
const DEFAULT_DURATION: &str = "10s";

#[derive(clap::Args, Debug)]
pub struct ScaleArgs {
    /// Instance counts to try, in order (`1,2,4`).
    #[arg(long = "instances", short = 'i', value_delimiter = ',', required = true)]
    pub instances: Vec<usize>,
    /// Path requested in quick mode, relative to the balancer.
    #[arg(long = "path", default_value = "/")]
    pub path: String,
    /// Run this plan instead of quick mode; its base URL is pointed at the balancer.
    #[arg(long = "plan", value_name = "PLAN")]
    pub plan: Option<PathBuf>,
    /// Load sent (and discarded) before each measured run.
    #[arg(long = "warmup", default_value = "3s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Runs per instance count; the table shows their spread.
    #[arg(long = "repeat", default_value_t = 1)]
    pub repeat: usize,
    /// Save the sweep (every run's full result and the analysis) as JSON.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also render the sweep: `.md` or `.html`.
    #[arg(long = "report", value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// No progress lines.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Load-generator threads (default: one per core).
    #[arg(long = "generator-threads", hide = true, default_value_t = 0)]
    pub generator_threads: usize,
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub launch: LaunchArgs,
}

/// What each measured run sends.
enum Workload {
    Quick { path: String, load: LoadArgs },
    Plan { file: PathBuf, spec: Spec },
}

impl Workload {
    fn describe(&self) -> String {
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
                        load.concurrency.unwrap_or(super::quick::DEFAULT_CONCURRENCY)
                    ),
                };
                format!("{} {path}, {model}, {amount} per run", load.method.to_ascii_uppercase())
            }
            Workload::Plan { file, .. } => format!("plan {}", file.display()),
        }
    }

    /// The spec to run against the balancer at `base`.
    fn spec(&self, base: &str) -> anyhow::Result<(Spec, RunConfig)> {
        match self {
            Workload::Quick { path, load } => {
                let (mut spec, config) = super::quick::build_spec(&format!("{base}{path}"), load)?;
                spec.http.backend_header.get_or_insert_with(|| SERVED_BY.into());
                Ok((spec, config))
            }
            Workload::Plan { file, spec } => {
                let mut spec = spec.clone();
                spec.base_url = Some(base.parse().context("balancer URL")?);
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
                Ok((spec, config))
            }
        }
    }

    /// Warm-up load: quick mode against the path for `d`. A plan warms up on the path of its
    /// first GET step written as a plain relative path (templated or absolute URLs are not
    /// guessed at), or on `/`.
    fn warmup_spec(&self, base: &str, d: Duration) -> anyhow::Result<Spec> {
        let (path, mut load) = match self {
            Workload::Quick { path, load } => (path.clone(), load.clone()),
            Workload::Plan { spec, .. } => {
                let first = spec
                    .scenarios
                    .iter()
                    .flat_map(|s| s.flows.iter().flat_map(|f| f.steps.iter()))
                    .filter(|st| st.method == http::Method::GET)
                    .find_map(|st| st.url.as_literal().filter(|u| u.starts_with('/')));
                (first.unwrap_or("/").to_string(), LoadArgs::default())
            }
        };
        load.requests = None;
        load.duration = Some(format!("{}ms", d.as_millis()));
        Ok(super::quick::build_spec(&format!("{base}{path}"), &load)?.0)
    }
}

/// Everything a sweep needs, whoever asks for it (`scale` or `demo`).
pub struct SweepPlan {
    pub instances: Vec<usize>,
    pub repeat: usize,
    pub warmup: Duration,
    workload: Workload,
    pub launch: LaunchArgs,
    pub quiet: bool,
    pub generator_threads: usize,
}

impl SweepPlan {
    pub fn quick(path: &str, load: LoadArgs, launch: LaunchArgs) -> SweepPlan {
        SweepPlan {
            instances: vec![1, 2],
            repeat: 1,
            warmup: Duration::from_secs(2),
            workload: Workload::Quick { path: path.to_string(), load },
            launch,
            quiet: false,
            generator_threads: 0,
        }
    }
}

/// Stops a sweep from a signal handler thread.
#[derive(Clone, Default)]
pub struct Interrupt {
    pub token: CancellationToken,
    pub flag: Arc<AtomicBool>,
}

impl Interrupt {
    /// Cancels the current run and the rest of the sweep on SIGINT or SIGTERM.
    pub fn on_signals() -> Interrupt {
        let i = Interrupt::default();
        let me = i.clone();
        let _ = std::thread::Builder::new().name("volley-signals".into()).spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async {
                use tokio::signal::unix::{SignalKind, signal};
                let (Ok(mut term), Ok(mut int)) =
                    (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
                else {
                    return;
                };
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
                me.flag.store(true, Ordering::SeqCst);
                me.token.cancel();
            });
        });
        i
    }

    fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

fn progress(quiet: bool, msg: impl std::fmt::Display) {
    if !quiet {
        eprintln!("volley scale: {msg}");
    }
}

/// Runs the whole sweep. Returns what was measured even when a later instance count failed
/// to start (then with the error) or the user interrupted.
pub fn run_sweep(plan: &SweepPlan, interrupt: &Interrupt) -> (Sweep, Option<anyhow::Error>) {
    let started_at = now_rfc3339();
    let mut runs = Vec::new();
    let mut error = None;
    'outer: for &n in &plan.instances {
        for repeat in 1..=plan.repeat {
            if interrupt.is_set() {
                break 'outer;
            }
            match measure(plan, n, repeat, interrupt) {
                Ok(run) => {
                    progress(
                        plan.quiet,
                        format_args!(
                            "{n} instance(s), run {repeat}: {:.1} req/s, p95 {:.1} ms, {} failed",
                            run.rps, run.p95_ms, run.failures
                        ),
                    );
                    runs.push(run);
                }
                Err(e) => {
                    error = Some(e.context(format!("with {n} instance(s)")));
                    break 'outer;
                }
            }
        }
    }
    let machine = machine();
    let (rows, analysis) = analyze(&runs);
    let mut sweep = Sweep {
        schema_version: SWEEP_SCHEMA_VERSION,
        volley_version: env!("CARGO_PKG_VERSION").into(),
        command: plan.launch.command.clone(),
        workload: plan.workload.describe(),
        balancer: match plan.launch.balancer {
            Balancing::RoundRobin => "round-robin".into(),
            Balancing::LeastConn => "least-conn".into(),
        },
        machine,
        started_at,
        sweep: runs,
        rows,
        analysis,
    };
    sweep.analysis.findings = volley_report::sweep_findings::sweep(&sweep);
    (sweep, error)
}

/// One measured run at `n` instances.
fn measure(
    plan: &SweepPlan,
    n: usize,
    repeat: usize,
    interrupt: &Interrupt,
) -> anyhow::Result<SweepRun> {
    progress(
        plan.quiet,
        format_args!("starting {n} instance(s) of `{}`", plan.launch.command.join(" ")),
    );
    let cluster = Cluster::start(plan.launch.config(n, 0, false)).map_err(start_error)?;
    let base = format!("http://{}", cluster.addr());
    let options = |config: RunConfig| RunOptions {
        threads: plan.generator_threads,
        stop: interrupt.token.clone(),
        config,
        ..RunOptions::default()
    };
    if !plan.warmup.is_zero() {
        progress(
            plan.quiet,
            format_args!("warming up for {}", humantime::format_duration(plan.warmup)),
        );
        let spec = plan.workload.warmup_spec(&base, plan.warmup)?;
        volley_engine::run(&spec, options(RunConfig::default()))?;
    }
    if interrupt.is_set() {
        anyhow::bail!("interrupted");
    }
    let (spec, mut config) = plan.workload.spec(&base)?;
    config.label = Some(format!("{n} instance(s)"));
    let (mut watches, balancer) = cluster.watches();
    watches.push(Watch { label: BALANCER.into(), ..balancer });
    watches.push(Watch::new(GENERATOR, Target::OwnProcessExcept(Some(BALANCER_THREADS.into()))));
    watches.push(Watch::new(MACHINE, Target::System));
    progress(plan.quiet, format_args!("measuring {n} instance(s) through {base}"));
    let t0 = cluster.uptime().as_secs_f64();
    let sampler = Sampler::start(watches);
    let result = volley_engine::run(&spec, options(config));
    let observed = sampler.finish();
    let mut events: Vec<(f64, String)> = cluster
        .instances()
        .flat_map(|i| i.events.lock().map(|e| e.clone()).unwrap_or_default())
        .filter(|(t, _)| *t >= t0)
        .collect();
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    let events: Vec<String> =
        events.into_iter().map(|(t, msg)| format!("{:.1} s: {msg}", t - t0)).collect();
    drop(cluster);
    let mut result = result?;
    let machine = machine_usage(&result, &observed);
    attach(&mut result, observed);
    let mut run = SweepRun::from_result(n, repeat, result);
    run.events = events;
    run.other_cpu_pct = machine.filter(|m| !m.samples.is_empty()).map(|m| {
        let ours = run.cpu_pct.iter().sum::<f64>()
            + run.balancer_cpu_pct.unwrap_or(0.0)
            + run.generator_cpu_pct.unwrap_or(0.0);
        (m.cpu_pct_avg - ours).max(0.0)
    });
    Ok(run)
}

fn machine() -> Machine {
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

/// Writes the sweep as JSON, Markdown or HTML, by extension.
pub fn write_sweep(path: &Path, sweep: &Sweep) -> anyhow::Result<()> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let text = match ext.as_str() {
        "json" => serde_json::to_string_pretty(sweep)?,
        "md" | "markdown" => volley_report::scale::markdown(sweep),
        "html" | "htm" => volley_report::scale::html(sweep)?,
        _ => {
            return Err(usage(format!(
                "cannot tell the format of `{}` (hint: use .json, .md or .html)",
                path.display()
            )));
        }
    };
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

pub fn main(args: ScaleArgs) -> anyhow::Result<Outcome> {
    if args.instances.contains(&0) {
        return Err(usage("--instances: every count must be at least 1 (e.g. --instances 1,2,4)"));
    }
    if args.repeat == 0 {
        return Err(usage("--repeat must be at least 1"));
    }
    for p in [&args.out, &args.report].into_iter().flatten() {
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !matches!(ext, "json" | "md" | "markdown" | "html" | "htm") {
            return Err(usage(format!(
                "cannot tell the format of `{}` (hint: use .json, .md or .html)",
                p.display()
            )));
        }
    }
    let workload = match &args.plan {
        Some(file) => {
            let spec = volley_plan::load(file, &volley_plan::Overrides::default())
                .map_err(|e| usage(format!("{e}")))?;
            Workload::Plan { file: file.clone(), spec }
        }
        None => {
            if !args.path.starts_with('/') {
                return Err(usage(format!(
                    "--path `{}` must start with / (e.g. --path /heavy)",
                    args.path
                )));
            }
            let mut load = args.load.clone();
            if load.requests.is_none() && load.duration.is_none() {
                load.duration = Some(DEFAULT_DURATION.into());
            }
            // Bad load flags are reported now, not after the first cluster started.
            super::quick::build_spec(&format!("http://127.0.0.1:1{}", args.path), &load)?;
            Workload::Quick { path: args.path.clone(), load }
        }
    };
    let plan = SweepPlan {
        instances: args.instances.clone(),
        repeat: args.repeat,
        warmup: args.warmup,
        workload,
        launch: args.launch.clone(),
        quiet: args.quiet,
        generator_threads: args.generator_threads,
    };
    let interrupt = Interrupt::on_signals();
    let (sweep, error) = run_sweep(&plan, &interrupt);
    finish(&sweep, args.out.as_deref(), args.report.as_deref())?;
    if interrupt.is_set() {
        return Ok(Outcome::Interrupted);
    }
    match error {
        Some(e) => Err(e),
        None => Ok(Outcome::Success),
    }
}

/// Prints the comparison and writes the requested files (also for a partial sweep).
pub fn finish(sweep: &Sweep, out: Option<&Path>, report: Option<&Path>) -> anyhow::Result<()> {
    if !sweep.sweep.is_empty() {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "\n{}", volley_report::scale::text(sweep))?;
        stdout.flush()?;
    }
    for path in [out, report].into_iter().flatten() {
        write_sweep(path, sweep)?;
        eprintln!("volley scale: wrote {}", path.display());
    }
    Ok(())
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
}
