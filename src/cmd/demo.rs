//! `volley demo`: the first thing to run. Scales the built-in demo service (one thread, like
//! one Node process) from 1 to 2 instances behind the balancer, hammering its CPU-bound
//! `/heavy` route, prints the comparison and findings, and writes an HTML report. Nothing to
//! install, about half a minute, no process left behind.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use volley_plan::quick::QuickInput;
use volley_runner::sweep::{Deployment, SweepPlan, Workload};
use volley_runner::{Live, Stop};

use super::cluster::{LaunchArgs, parse_duration};
use super::run::run_error;
use super::scale::{finish, progress, sweep_error, write_sweep};
use crate::outcome::Outcome;

/// The report's file name, in `--out-dir`.
pub const REPORT_NAME: &str = "volley-demo-report.html";
/// Steps of `/heavy`'s loop per request: a few milliseconds of CPU, like seed 004's route.
const HEAVY_N: u64 = 5_000_000;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Folder for the report (created if missing).
    #[arg(long = "out-dir", value_name = "DIR", default_value = ".")]
    pub out_dir: PathBuf,
    /// Measured load per instance count.
    #[arg(long = "duration", hide = true, default_value = "8s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Warm-up per instance count.
    #[arg(long = "warmup", hide = true, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// `/heavy?n=` of each request.
    #[arg(long = "heavy-n", hide = true, default_value_t = HEAVY_N)]
    pub heavy_n: u64,
    /// No progress lines.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

pub fn main(args: DemoArgs) -> anyhow::Result<Outcome> {
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("cannot create {}", args.out_dir.display()))?;
    let exe = std::env::current_exe().context("cannot find volley's own executable")?;
    let launch = LaunchArgs {
        balancer: volley_harness::Balancer::default(),
        ready_path: Some("/health".into()),
        ready_timeout: Duration::from_secs(15),
        // One balancer thread and one generator thread leave the two cores of a small machine
        // to the instances as far as possible.
        balancer_threads: Some(1),
        command: vec![
            exe.display().to_string(),
            "serve-demo".into(),
            "--threads".into(),
            "1".into(),
            "--port".into(),
            "{port}".into(),
        ],
    };
    let load = QuickInput {
        // Enough requests in flight to keep two single-threaded instances busy.
        concurrency: Some(8),
        duration: Some(humantime::format_duration(args.duration).to_string()),
        ..QuickInput::default()
    };
    let plan = SweepPlan {
        instances: vec![1, 2],
        repeat: 1,
        warmup: args.warmup,
        workload: Workload::quick(&format!("/heavy?n={}", args.heavy_n), load)
            .map_err(run_error)?,
        deployment: Deployment::Local(launch.config(1, 0, false)),
        capacity: None,
        // One generator thread leaves the cores to the instances as far as possible.
        generator_threads: 1,
    };
    if !args.quiet {
        eprintln!(
            "volley demo: the demo service (one thread, like one Node process) as 1 then 2 \
             instances behind volley's balancer, {} of load on /heavy each",
            humantime::format_duration(args.duration)
        );
    }
    let stop = Stop::on_signals();
    let (sweep, error) = plan.run(&stop, &Live::new(), &mut progress(args.quiet));
    finish(&sweep, None, None)?;
    if let Some(e) = error {
        return Err(sweep_error(e));
    }
    if stop.is_stopped() {
        return Ok(Outcome::Interrupted);
    }
    let path = args.out_dir.join(REPORT_NAME);
    write_sweep(&path, &sweep)?;
    let shown = std::fs::canonicalize(&path).unwrap_or(path);
    println!("report: {}", shown.display());
    if !args.quiet {
        eprintln!(
            "next: `volley scale --instances 1,2,4 --path /YOUR/ROUTE -- YOUR COMMAND --port {{port}}` \
             does the same for your service"
        );
    }
    Ok(Outcome::Success)
}
