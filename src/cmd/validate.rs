//! `volley validate PLAN`: checks a plan without sending anything, and the plan override flags
//! (`--set`, `--env`, `--vus`, `--duration`) that `volley run` shares.

use std::path::PathBuf;

use crate::outcome::{Outcome, usage};

/// Flags that change a plan without editing it; `volley run` flattens the same struct.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct PlanOverrideArgs {
    /// Override a plan value: `--set scenarios.shoppers.vus=50` (repeatable; the value is YAML).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// Set `${NAME}` for the plan, over the process environment (repeatable).
    #[arg(long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    /// VUs of every VU-based scenario (max VUs of arrival-rate ones).
    #[arg(long = "vus", value_name = "N")]
    pub vus: Option<u32>,
    /// Duration of every duration-based scenario (`30s`, `2m`).
    #[arg(long = "duration", value_name = "DURATION")]
    pub duration: Option<String>,
}

impl PlanOverrideArgs {
    /// Checks the flags' syntax; a malformed flag is a usage error (exit 2).
    pub fn to_overrides(&self) -> anyhow::Result<volley_plan::Overrides> {
        let pair = |flag: &str, s: &str| -> anyhow::Result<(String, String)> {
            match s.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
                _ => Err(usage(format!(
                    "`{flag} {s}` is not of the form NAME=VALUE\n  hint: for example `{flag} {}`",
                    if flag == "--set" { "scenarios.default.vus=50" } else { "TOKEN=abc" }
                ))),
            }
        };
        let set = self.set.iter().map(|s| pair("--set", s)).collect::<anyhow::Result<_>>()?;
        let env = self.env.iter().map(|s| pair("--env", s)).collect::<anyhow::Result<_>>()?;
        if self.vus == Some(0) {
            return Err(usage("`--vus 0`: at least one VU is needed"));
        }
        let duration = match &self.duration {
            None => None,
            Some(d) => {
                Some(volley_plan::quick::flag_duration("--duration", d).map_err(|e| usage(e.0))?)
            }
        };
        Ok(volley_plan::Overrides { set, vus: self.vus, duration, env })
    }
}

#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// The plan file (YAML).
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,
    #[command(flatten)]
    pub overrides: PlanOverrideArgs,
}

pub fn main(args: ValidateArgs) -> anyhow::Result<Outcome> {
    let overrides = args.overrides.to_overrides()?;
    let spec = volley_plan::load(&args.plan, &overrides).map_err(plan_error)?;
    print!("{}", describe(&spec));
    Ok(Outcome::Success)
}

/// Turns plan errors into a usage error (exit 2) listing every one of them.
pub fn plan_error(e: volley_plan::PlanErrors) -> anyhow::Error {
    let n = e.len();
    usage(format!("the plan has {n} error{}:\n{e}", if n == 1 { "" } else { "s" }))
}

/// What the plan will do, in a few lines: scenarios, executors, flows and weights, thresholds.
pub fn describe(spec: &volley_plan::Spec) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let source = spec.source.as_deref().unwrap_or("plan");
    let _ = writeln!(out, "{source}: valid");
    if let Some(b) = &spec.base_url {
        let _ = writeln!(out, "  base_url: {b}");
    }
    let n = spec.scenarios.len();
    let _ = writeln!(
        out,
        "  scenarios: {n}, at most {} VUs",
        spec.scenarios.iter().map(|s| s.executor.max_vus()).sum::<u32>()
    );
    for s in &spec.scenarios {
        let _ = write!(out, "    * {}: {} ({})", s.name, s.executor.describe(), s.executor.name());
        if !s.start_time.is_zero() {
            let _ = write!(out, ", starts at {}", volley_plan::format_duration(s.start_time));
        }
        if let Some(t) = &s.think_time {
            let _ = write!(out, ", think time {}", t.describe());
        }
        out.push('\n');
        let total: u64 = s.flows.iter().map(|f| u64::from(f.weight)).sum();
        for f in &s.flows {
            let pct = if total == 0 { 0.0 } else { f64::from(f.weight) * 100.0 / total as f64 };
            let steps: Vec<String> =
                f.steps.iter().map(|st| format!("{} {}", st.method, st.name)).collect();
            let _ = writeln!(
                out,
                "        flow {} (weight {}, {pct:.0}%): {}",
                f.name,
                f.weight,
                steps.join(" → ")
            );
        }
        for &fi in &s.feeders {
            if let Some(fd) = spec.feeders.get(fi) {
                let _ = writeln!(
                    out,
                    "        data {}: {} rows, columns {}",
                    fd.name,
                    fd.rows.len(),
                    fd.columns.join(", ")
                );
            }
        }
    }
    let checks: usize = spec
        .scenarios
        .iter()
        .flat_map(|s| &s.flows)
        .flat_map(|f| &f.steps)
        .map(|s| s.checks.len())
        .sum();
    if checks > 0 {
        let _ = writeln!(out, "  checks: {checks}");
    }
    if !spec.thresholds.is_empty() {
        let _ = writeln!(out, "  thresholds:");
        for t in &spec.thresholds {
            let exprs: Vec<String> = t
                .exprs
                .iter()
                .map(|e| {
                    if e.abort_on_fail {
                        format!("{} (abortOnFail)", e.source)
                    } else {
                        e.source.clone()
                    }
                })
                .collect();
            let _ = writeln!(out, "    {}: {}", t.metric(), exprs.join(", "));
        }
    }
    out
}
