//! `volley scale --instances 1,2,4 [load flags | --plan PLAN] -- COMMAND ARGS`: for each
//! instance count, start the service as a cluster behind the built-in balancer (or nginx),
//! warm up, run the same load through it while sampling every instance, the balancer and
//! volley itself, stop it; then print and save the comparison (seed 003's empty table) and
//! its analysis. `--scale-cmd 'CMD {n}' --url URL` scales a deployment volley did not start
//! instead; `--capacity --slo …` searches the capacity at each count instead of measuring
//! one load.
//!
//! Thin: the flags become a [`SweepPlan`]; the sweep itself is `volley_runner::sweep`'s.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use volley_harness::deployment::{InstanceSelector, ScaleCommand};
use volley_metrics::sweep::Sweep;
use volley_runner::sweep::{
    Deployment, ScaledDeployment, SweepError, SweepEvent, SweepPlan, SweepSearch, Workload,
};
use volley_runner::{Live, Stop};

use super::cluster::{LaunchArgs, parse_duration};
use super::quick::LoadArgs;
use super::run::run_error;
use crate::outcome::{Outcome, usage};

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
    /// At each count, search the highest arrival rate within the SLOs (`--slo`, and the
    /// search's flags as `volley capacity` takes them) instead of measuring one load.
    #[arg(long = "capacity")]
    pub capacity: bool,
    #[command(flatten)]
    pub search: super::capacity::SearchArgs,
    /// Scale a deployment volley did not start: run this command for each count, `{n}` being
    /// the count (`docker compose up -d --scale web={n}`); give its address with --url.
    #[arg(long = "scale-cmd", value_name = "CMD", requires = "url")]
    pub scale_cmd: Option<String>,
    /// Where the --scale-cmd deployment answers (`http://127.0.0.1:8080`).
    #[arg(long = "url", value_name = "URL", requires = "scale_cmd")]
    pub url: Option<String>,
    /// How long the scale command may run.
    #[arg(long = "scale-timeout", default_value = "5m", value_parser = parse_duration)]
    pub scale_timeout: Duration,
    /// --scale-cmd: each outermost process whose name or command line matches is an
    /// instance, sampled on its own (repeatable).
    #[arg(long = "watch-name", value_name = "PATTERN", requires = "scale_cmd")]
    pub watch_name: Vec<String>,
    /// --scale-cmd: each cgroup directory matching the glob is an instance
    /// (`'/sys/fs/cgroup/system.slice/docker-*.scope'`; repeatable).
    #[arg(long = "watch-cgroup-glob", value_name = "GLOB", requires = "scale_cmd")]
    pub watch_cgroup_glob: Vec<String>,
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub dashboard: super::dashboard::DashboardArgs,
    #[command(flatten)]
    pub launch: LaunchArgs,
}

/// Prints a sweep's progress on stderr (unless quiet).
pub fn progress(quiet: bool) -> impl FnMut(SweepEvent<'_>) {
    move |e| {
        if !quiet {
            eprintln!("volley scale: {e}");
        }
    }
}

/// A sweep's error as the binary reports it, naming the instance count.
pub fn sweep_error(e: SweepError) -> anyhow::Error {
    let n = e.instances;
    run_error(e.error).context(format!("with {n} instance(s)"))
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
    let capacity = search(&args)?;
    let workload = match &args.plan {
        Some(file) => {
            // The backend header is how the sweep tells instances apart, and -c caps a
            // capacity search's VUs; the rest of the load flags are the plan's to say.
            let keep: &[&str] = match capacity {
                Some(_) => &["--backend-header", "-c"],
                None => &["--backend-header"],
            };
            args.load.refuse_with_plan(keep)?;
            let mut spec = volley_plan::load(file, &volley_plan::Overrides::default())
                .map_err(|e| usage(format!("{e}")))?;
            if let Some(h) = &args.load.backend_header {
                spec.http.backend_header = Some(h.clone());
            }
            Workload::Plan { file: file.clone(), spec }
        }
        // Bad load flags are reported now, not after the first cluster started.
        None => {
            let mut input = args.load.to_input("");
            if let Some(c) = &capacity {
                // A placeholder each step replaces; it makes quick mode open-model.
                input.rps = Some(c.settings.start_rps.max(1.0));
                input.duration = Some("1s".into());
            }
            Workload::quick(&args.path, input).map_err(run_error)?
        }
    };
    let plan = SweepPlan {
        instances: args.instances.clone(),
        repeat: args.repeat,
        warmup: args.warmup,
        workload,
        deployment: deployment(&args)?,
        capacity,
        generator_threads: args.generator_threads,
    };
    plan.check().map_err(run_error)?;
    let stop = Stop::on_signals();
    let live = Live::new();
    let dashboard = args.dashboard.start(&stop, &live)?;
    let mut print = progress(args.quiet);
    let (sweep, error) = plan.run(&stop, &live, &mut |e| {
        if let Some(d) = &dashboard {
            d.sweep_event(&e);
            if let SweepEvent::Search { event, .. } = &e {
                d.capacity_event(event);
            }
        }
        print(e);
    });
    if let Some(d) = dashboard {
        d.finish_sweep(&sweep);
    }
    finish(&sweep, args.out.as_deref(), args.report.as_deref())?;
    if stop.is_stopped() {
        return Ok(Outcome::Interrupted);
    }
    match error {
        Some(e) => Err(sweep_error(e)),
        None => Ok(Outcome::Success),
    }
}

/// `--capacity` and its SLOs, checked before anything starts.
fn search(args: &ScaleArgs) -> anyhow::Result<Option<SweepSearch>> {
    if !args.capacity {
        if !args.search.slo.is_empty() {
            return Err(usage(
                "--slo judges a capacity search: add --capacity (hint: volley scale --capacity \
                 --slo 'http_req_duration: p(95)<200' …)",
            ));
        }
        return Ok(None);
    }
    if args.load.rps.is_some() || args.load.requests.is_some() || args.load.duration.is_some() {
        return Err(usage(
            "--capacity chooses the rate and the length of each step: drop --rps, -n and -d \
             (hint: --start, --max and --step shape the search)",
        ));
    }
    if args.repeat > 1 {
        return Err(usage("--capacity searches once per count: drop --repeat"));
    }
    Ok(Some(SweepSearch {
        slos: args.search.slos()?,
        slo_texts: args.search.slo.clone(),
        settings: args.search.settings(),
        max_vus: super::capacity::max_vus(&args.load)?,
    }))
}

/// A cluster volley starts from the command after `--`, or the `--scale-cmd` deployment.
fn deployment(args: &ScaleArgs) -> anyhow::Result<Deployment> {
    let Some(template) = &args.scale_cmd else {
        if args.launch.command.is_empty() {
            return Err(usage(
                "give the service's command after `--` (volley starts it), or --scale-cmd and \
                 --url for a deployment you run (hint: volley scale --instances 1,2 -- \
                 ./server --port {port})",
            ));
        }
        return Ok(Deployment::Local(args.launch.config(1, 0, false)));
    };
    if !args.launch.command.is_empty() {
        return Err(usage(format!(
            "--scale-cmd scales a deployment volley does not start: drop the command after `--` \
             (`{}`)",
            args.launch.command.join(" ")
        )));
    }
    let url = args.url.clone().unwrap_or_default();
    let parsed = volley_plan::target::Target::parse(&url).map_err(|e| {
        usage(format!("--url `{url}`: {e} (hint: e.g. --url http://127.0.0.1:8080)"))
    })?;
    if parsed.path_and_query() != "/" {
        return Err(usage(format!(
            "--url `{url}` names where the deployment answers, without a path (hint: give the \
             path with --path, or --ready-path for readiness)"
        )));
    }
    if let Some(p) = args.launch.ready_path.as_deref().filter(|p| !p.starts_with('/')) {
        return Err(usage(format!("--ready-path `{p}` must start with / (e.g. /health)")));
    }
    Ok(Deployment::Scaled(ScaledDeployment {
        command: ScaleCommand { template: template.clone(), timeout: args.scale_timeout },
        url,
        ready_path: args.launch.ready_path.clone(),
        ready_timeout: args.launch.ready_timeout,
        backend_header: args.load.backend_header.clone(),
        instances: InstanceSelector {
            names: args.watch_name.clone(),
            cgroup_globs: args.watch_cgroup_glob.clone(),
        },
    }))
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
