//! `volley capacity URL [load flags] | --plan PLAN --slo 'METRIC: EXPR' ...`: the highest
//! arrival rate the service sustains within the SLOs.
//!
//! Thin: the flags become a [`CapacityPlan`]; the search is `volley_runner::capacity`'s (its
//! logic `volley_metrics::capacity`'s). Exit codes: 0 a capacity was found (or `--max` was
//! sustained), 99 even `--start` broke the SLOs (as a crossed threshold), 130 interrupted,
//! 1 a step could not run, 2 a usage error.

use std::path::{Path, PathBuf};

use anyhow::Context;
use volley_metrics::capacity::{CapacityResult, Conclusion, Settings};
use volley_plan::Threshold;
use volley_runner::capacity::{CapacityEvent, CapacityPlan};
use volley_runner::{Live, Run, Stop};

use super::cluster::parse_duration;
use super::quick::LoadArgs;
use super::run::run_error;
use crate::outcome::{Outcome, usage};

#[derive(clap::Args, Debug)]
pub struct CapacityArgs {
    /// Target URL (quick mode); or give --plan.
    #[arg(value_name = "URL", required_unless_present = "plan")]
    pub url: Option<String>,
    /// A plan with one scenario: its executor is replaced by each step's arrival rate.
    #[arg(long = "plan", value_name = "PLAN", conflicts_with = "url")]
    pub plan: Option<PathBuf>,
    #[command(flatten)]
    pub search: SearchArgs,
    /// Save the search (capacity_rps, and every step's full result) as JSON.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also render the search: `.md` or `.html`.
    #[arg(long = "report", value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// No progress lines.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub dashboard: super::dashboard::DashboardArgs,
}

/// How a capacity search goes (`volley capacity`, `volley scale --capacity`).
#[derive(clap::Args, Debug, Clone)]
pub struct SearchArgs {
    /// An SLO in k6 threshold syntax, `METRIC: EXPR` (repeatable), e.g.
    /// `http_req_duration: p(95)<200`, `http_req_failed: rate<0.01`.
    #[arg(long = "slo", value_name = "METRIC: EXPR")]
    pub slo: Vec<String>,
    /// First rate offered, requests per second.
    #[arg(long = "start", default_value_t = 10.0)]
    pub start: f64,
    /// Highest rate offered.
    #[arg(long = "max")]
    pub max: Option<f64>,
    /// Measured length of each step.
    #[arg(long = "step", default_value = "10s", value_parser = parse_duration)]
    pub step: std::time::Duration,
    /// Load sent (and discarded) before each step at its rate.
    #[arg(long = "settle", default_value = "2s", value_parser = parse_duration)]
    pub settle: std::time::Duration,
    /// Stop bisecting when the bad rate is within this of the good one (`5%` or `0.05`).
    #[arg(long = "precision", default_value = "5%", value_parser = parse_fraction)]
    pub precision: f64,
    /// The ramp multiplies the rate by this after each good step.
    #[arg(long = "factor", default_value_t = 2.0)]
    pub factor: f64,
    /// At most this many steps.
    #[arg(long = "max-steps", default_value_t = 30)]
    pub max_steps: usize,
}

impl SearchArgs {
    pub fn settings(&self) -> Settings {
        Settings {
            start_rps: self.start,
            max_rps: self.max,
            factor: self.factor,
            precision: self.precision,
            max_steps: self.max_steps,
            step_s: self.step.as_secs_f64(),
            settle_s: self.settle.as_secs_f64(),
        }
    }

    /// The SLOs parsed into the one threshold type; a bad one is a usage error naming it.
    pub fn slos(&self) -> anyhow::Result<Vec<Threshold>> {
        let mut slos = Vec::new();
        for text in &self.slo {
            let t = volley_plan::threshold::parse_slo(text).map_err(|es| {
                let e = &es[0];
                usage(match &e.hint {
                    Some(h) => format!("--slo '{text}': {} (hint: {h})", e.message),
                    None => format!("--slo '{text}': {}", e.message),
                })
            })?;
            slos.push(t);
        }
        Ok(slos)
    }
}

/// The VU cap of each step from `-c`, if given.
pub fn max_vus(load: &LoadArgs) -> anyhow::Result<Option<u32>> {
    match load.concurrency {
        Some(c) => Ok(Some(u32::try_from(c).map_err(|_| usage(format!("`-c {c}` is too large")))?)),
        None => Ok(None),
    }
}

/// `5%` or `0.05`.
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    };
    v.map_err(|_| format!("`{s}` is not a fraction (hint: 5% or 0.05)"))
}

/// The search's plan from the flags: every mistake is a usage error before any load.
pub fn plan(args: &CapacityArgs) -> anyhow::Result<CapacityPlan> {
    if args.load.rps.is_some() || args.load.requests.is_some() || args.load.duration.is_some() {
        return Err(usage(
            "capacity chooses the rate and the length of each step: drop --rps, -n and -d \
             (hint: --start, --max and --step shape the search)",
        ));
    }
    let slos = args.search.slos()?;
    let (base, workload) = match (&args.plan, &args.url) {
        (Some(file), _) => {
            // -c caps the VUs of every step; the backend header tallies instances.
            args.load.refuse_with_plan(&["-c", "--backend-header"])?;
            let mut spec = volley_plan::load(file, &volley_plan::Overrides::default())
                .map_err(super::validate::plan_error)?;
            if let Some(h) = &args.load.backend_header {
                spec.http.backend_header = Some(h.clone());
            }
            (Run::plan(file, spec), format!("plan {}", file.display()))
        }
        (None, Some(url)) => {
            let mut input = args.load.to_input(url);
            // A placeholder the steps replace; it makes quick mode build an open-model spec.
            input.rps = Some(args.search.start.max(1.0));
            input.duration = Some("1s".into());
            let run = Run::quick(&input).map_err(run_error)?;
            let target = run.config.target.clone().unwrap_or_else(|| url.clone());
            (run, format!("{} {target}", args.load.method.to_ascii_uppercase()))
        }
        (None, None) => return Err(usage("give a URL or --plan PLAN")),
    };
    let max_vus = max_vus(&args.load)?;
    let plan = CapacityPlan {
        base,
        slos,
        slo_texts: args.search.slo.clone(),
        settings: args.search.settings(),
        max_vus,
        workload,
    };
    plan.check().map_err(run_error)?;
    Ok(plan)
}

/// Writes the search as JSON, Markdown or HTML, by extension.
pub fn write_capacity(path: &Path, c: &CapacityResult) -> anyhow::Result<()> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let text = match ext.as_str() {
        "json" => serde_json::to_string_pretty(c)? + "\n",
        "md" | "markdown" => volley_report::capacity::markdown(c),
        "html" | "htm" => volley_report::capacity::html(c)?,
        _ => return Err(bad_format(path)),
    };
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn bad_format(path: &Path) -> anyhow::Error {
    usage(format!("cannot tell the format of `{}` (hint: use .json, .md or .html)", path.display()))
}

/// The exit outcome of a finished search.
pub fn outcome_of(c: &CapacityResult) -> Outcome {
    match c.conclusion {
        Conclusion::Found | Conclusion::AtLeastMax | Conclusion::StepLimit => Outcome::Success,
        Conclusion::BelowStart => Outcome::ThresholdsCrossed,
        Conclusion::Interrupted => Outcome::Interrupted,
    }
}

pub fn main(args: CapacityArgs) -> anyhow::Result<Outcome> {
    for p in [&args.out, &args.report].into_iter().flatten() {
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !matches!(ext, "json" | "md" | "markdown" | "html" | "htm") {
            return Err(bad_format(p));
        }
    }
    let plan = plan(&args)?;
    let stop = Stop::on_signals();
    let live = Live::new();
    let dashboard = args.dashboard.start(&stop, &live)?;
    let quiet = args.quiet;
    let (result, error) = plan.run(&stop, &live, &mut |e: CapacityEvent<'_>| {
        if let Some(d) = &dashboard {
            d.capacity_event(&e);
        }
        if !quiet {
            eprintln!("volley capacity: {e}");
        }
    });
    if let Some(d) = dashboard {
        d.finish_capacity(&result);
    }
    if !result.steps.is_empty() {
        print!("\n{}", volley_report::capacity::text(&result));
    }
    for path in [&args.out, &args.report].into_iter().flatten() {
        write_capacity(path, &result)?;
        eprintln!("volley capacity: wrote {}", path.display());
    }
    if let Some(e) = error {
        return Err(run_error(e));
    }
    if stop.is_stopped() {
        return Ok(Outcome::Interrupted);
    }
    Ok(outcome_of(&result))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions() {
        assert_eq!(parse_fraction("5%").unwrap(), 0.05);
        assert_eq!(parse_fraction("0.1").unwrap(), 0.1);
        assert!(parse_fraction("five").is_err());
    }
}
