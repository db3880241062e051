//! `volley run PLAN`: loads and validates a plan (with overrides), runs it, and writes the
//! outputs. Also home of [`execute`], the part every load command shares with quick mode:
//! signals, progress line, the engine run, server observation, summary and files.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use volley_engine::{CancellationToken, RunOptions};
use volley_metrics::{RunConfig, RunResult};
use volley_plan::Spec;

use super::quick::OutputArgs;
use crate::outcome::Outcome;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The plan file (YAML).
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,
    #[command(flatten)]
    pub overrides: super::validate::PlanOverrideArgs,
    /// Seed of the random choices (flows, think time, generators), for repeatable runs.
    #[arg(long = "seed", default_value_t = 0x5EED)]
    pub seed: u64,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn main(args: RunArgs) -> anyhow::Result<Outcome> {
    let overrides = args.overrides.to_overrides()?;
    let spec = volley_plan::load(&args.plan, &overrides).map_err(super::validate::plan_error)?;
    let config = RunConfig {
        mode: "plan".into(),
        target: spec.base_url.as_ref().map(|u| u.to_string()),
        concurrency: spec.scenarios.iter().map(|s| s.executor.max_vus() as u64).max().unwrap_or(0),
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
        plan: Some(args.plan.display().to_string()),
        command_line: std::env::args().collect(),
        ..RunConfig::default()
    };
    execute_seeded(&spec, config, &args.output, args.seed)
}

/// Runs `spec` with Ctrl-C handling and the live progress line, then prints and saves the
/// result as `output` asks. The outcome maps to the exit code (130 interrupted, 99 thresholds).
pub fn execute(spec: &Spec, config: RunConfig, output: &OutputArgs) -> anyhow::Result<Outcome> {
    execute_seeded(spec, config, output, RunOptions::default().seed)
}

fn execute_seeded(
    spec: &Spec,
    config: RunConfig,
    output: &OutputArgs,
    seed: u64,
) -> anyhow::Result<Outcome> {
    // Before anything is sent: VUs that cannot all hold a connection are a generator-side
    // limit the user should hear about now, not discover as `local` failures afterwards.
    if let Err(short) = volley_engine::limits::check_open_files(spec) {
        eprintln!("warning: {short}");
    }
    let observer = super::observe::start(output)?;
    let stop = CancellationToken::new();
    crate::signals::install(stop.clone());
    let (progress, line) = crate::progress::start(output.quiet || output.json);
    let opts =
        RunOptions { threads: 0, seed, stop, grace: Duration::from_secs(2), progress, config };
    let result = volley_engine::run(spec, opts);
    if let Some(l) = line {
        l.finish();
    }
    let mut result = result.map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(o) = observer {
        o.finish(&mut result);
    }
    write_outputs(&result, output)?;
    Ok(outcome_of(&result))
}

/// Prints the summary (or JSON) and writes `-o` and `--report`.
fn write_outputs(result: &RunResult, output: &OutputArgs) -> anyhow::Result<()> {
    if let Some(path) = &output.out {
        let json = serde_json::to_string_pretty(result).context("serializing the result")?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write the result to `{}`", path.display()))?;
    }
    if let Some(path) = &output.report {
        super::report::write_report(path, result)?;
    }
    if output.json {
        println!("{}", serde_json::to_string_pretty(result).context("serializing the result")?);
    } else if !output.quiet {
        let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::io::IsTerminal::is_terminal(&std::io::stdout());
        let style = volley_report::terminal::Style { color };
        print!("{}", volley_report::terminal::render(result, style));
    }
    Ok(())
}

fn outcome_of(result: &RunResult) -> Outcome {
    if result.interrupted {
        Outcome::Interrupted
    } else if result.totals.requests > 0 && result.totals.responses == 0 {
        // Every failure is counted and the summary printed, but a target that never answered
        // is a failed run ("bad target", exit 1), so scripts do not mistake it for success.
        let kinds: Vec<String> = result.failures.iter().map(|(k, n)| format!("{k}: {n}")).collect();
        eprintln!(
            "error: no response from the target: all {} requests failed ({})\n  hint: is the \
             service running and listening at {}?",
            result.totals.requests,
            kinds.join(", "),
            result.config.target.as_deref().unwrap_or("the plan's URLs"),
        );
        Outcome::RunFailed
    } else if result.thresholds.iter().any(|t| !t.ok) {
        Outcome::ThresholdsCrossed
    } else {
        Outcome::Success
    }
}
