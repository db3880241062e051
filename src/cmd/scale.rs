//! `volley scale --instances 1,2,4 [load flags | --plan PLAN] -- COMMAND ARGS`: for each
//! instance count, start the service as a cluster behind the built-in balancer, warm up, run
//! the same load through it while sampling every instance, the balancer and volley itself,
//! stop it; then print and save the comparison (seed 003's empty table) and its analysis.
//!
//! Thin: the flags become a [`SweepPlan`]; the sweep itself is `volley_runner::sweep`'s.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use volley_metrics::sweep::Sweep;
use volley_runner::sweep::{SweepError, SweepEvent, SweepPlan, Workload};
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
    let workload = match &args.plan {
        Some(file) => {
            let spec = volley_plan::load(file, &volley_plan::Overrides::default())
                .map_err(|e| usage(format!("{e}")))?;
            Workload::Plan { file: file.clone(), spec }
        }
        // Bad load flags are reported now, not after the first cluster started.
        None => Workload::quick(&args.path, args.load.to_input("")).map_err(run_error)?,
    };
    let plan = SweepPlan {
        instances: args.instances.clone(),
        repeat: args.repeat,
        warmup: args.warmup,
        workload,
        cluster: args.launch.config(1, 0, false),
        generator_threads: args.generator_threads,
    };
    let stop = Stop::on_signals();
    let live = Live::new();
    let dashboard = args.dashboard.start(&stop, &live)?;
    let mut print = progress(args.quiet);
    let (sweep, error) = plan.run(&stop, &live, &mut |e| {
        if let Some(d) = &dashboard {
            d.sweep_event(&e);
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
