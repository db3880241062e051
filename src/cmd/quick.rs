//! `volley URL`: quick mode, like loadtest, ab, oha.
//!
//! Thin: the clap flags become a [`QuickInput`] and `volley_plan::quick::build` checks them and
//! builds the one-scenario, one-flow, one-step [`Spec`] (with plans' duration grammar and URL
//! parser), so that quick mode and plans run through the same engine loop.

use anyhow::Context as _;
use volley_metrics::RunConfig;
use volley_plan::quick::QuickInput;
use volley_plan::{Executor, Spec, Target};

use crate::outcome::{Outcome, usage};

/// Flags of quick mode. `LoadArgs` is shared with `volley scale` (which supplies the URL).
#[derive(clap::Args, Debug, Clone)]
pub struct QuickArgs {
    /// Target URL (http or https).
    #[arg(value_name = "URL", required = true)]
    pub url: Option<String>,
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// How much load, and what each request looks like.
#[derive(clap::Args, Debug, Clone)]
pub struct LoadArgs {
    /// Concurrent connections (closed model; default 50), or the cap on requests in flight
    /// with --rps (VUs allocated as needed up to it; default the rate, within 100..=1000).
    #[arg(short = 'c', long = "concurrency")]
    pub concurrency: Option<u64>,
    /// Number of requests (default 200 when neither -n nor -d is given). Closed model: exactly
    /// N requests. With --rps (open model): N arrivals are scheduled at the rate, and those
    /// that find all -c connections busy are dropped and counted, not sent later.
    #[arg(short = 'n', long = "requests", conflicts_with = "duration")]
    pub requests: Option<u64>,
    /// How long to run (`30s`, `2m`, `1m30s`; a unit is required, as in plans).
    #[arg(short = 'd', long = "duration")]
    pub duration: Option<String>,
    /// Open model: start requests at this fixed rate per second, whatever the responses.
    #[arg(long = "rps")]
    pub rps: Option<f64>,
    /// HTTP method.
    #[arg(short = 'm', long = "method", default_value = "GET")]
    pub method: String,
    /// Request header `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Request body.
    #[arg(short = 'b', long = "body", conflicts_with = "body_file")]
    pub body: Option<String>,
    /// Request body read from a file.
    #[arg(long = "body-file", value_name = "FILE")]
    pub body_file: Option<std::path::PathBuf>,
    /// Per-request timeout.
    #[arg(long = "timeout", default_value = "60s")]
    pub timeout: String,
    /// Open a new connection for every request.
    #[arg(long = "no-keepalive")]
    pub no_keepalive: bool,
    /// Accept any TLS certificate.
    #[arg(long = "insecure", short = 'k')]
    pub insecure: bool,
    /// Tally requests by the value of this response header (e.g. X-Served-By).
    #[arg(long = "backend-header", value_name = "NAME")]
    pub backend_header: Option<String>,
}

/// The flags' defaults, for callers that build a load themselves (`scale`, `demo`, tests).
impl Default for LoadArgs {
    fn default() -> Self {
        LoadArgs {
            concurrency: None,
            requests: None,
            duration: None,
            rps: None,
            method: "GET".into(),
            headers: Vec::new(),
            body: None,
            body_file: None,
            timeout: "60s".into(),
            no_keepalive: false,
            insecure: false,
            backend_header: None,
        }
    }
}

/// Where the result goes.
#[derive(clap::Args, Debug, Clone)]
pub struct OutputArgs {
    /// Save the result file (JSON) here.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
    /// Print the result JSON to stdout instead of the summary.
    #[arg(long = "json")]
    pub json: bool,
    /// No summary, no progress line.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Also render a report; the format comes from the extension (.md, .html, .csv, .xml, .json).
    #[arg(long = "report", value_name = "FILE")]
    pub report: Option<std::path::PathBuf>,
    /// Watch the CPU and memory of this process (repeatable).
    #[arg(long = "watch-pid", value_name = "PID")]
    pub watch_pid: Vec<u32>,
    /// Watch processes whose name or command line matches (children included).
    #[arg(long = "watch-name", value_name = "PATTERN")]
    pub watch_name: Vec<String>,
    /// Watch a cgroup (v2 or v1) directory.
    #[arg(long = "watch-cgroup", value_name = "PATH")]
    pub watch_cgroup: Vec<std::path::PathBuf>,
}

pub use volley_plan::quick::DEFAULT_CONCURRENCY;

pub fn main(args: QuickArgs) -> anyhow::Result<Outcome> {
    let url = args.url.as_deref().context("a URL is required")?;
    let (spec, config) = build_spec(url, &args.load)?;
    super::run::execute(&spec, config, &args.output)
}

impl LoadArgs {
    /// The flags as the plan crate's input; it checks them and builds the spec.
    pub fn to_input(&self, url: &str) -> QuickInput {
        QuickInput {
            url: url.to_string(),
            concurrency: self.concurrency,
            requests: self.requests,
            duration: self.duration.clone(),
            rps: self.rps,
            method: self.method.clone(),
            headers: self.headers.clone(),
            body: self.body.clone(),
            body_file: self.body_file.clone(),
            timeout: self.timeout.clone(),
            keepalive: !self.no_keepalive,
            insecure: self.insecure,
            backend_header: self.backend_header.clone(),
        }
    }
}

/// Builds the spec quick mode runs (also used by `volley scale`) and the result's config.
/// Every bad value is a usage error naming the value, with a hint.
pub fn build_spec(url: &str, load: &LoadArgs) -> anyhow::Result<(Spec, RunConfig)> {
    let spec = volley_plan::quick::build(&load.to_input(url)).map_err(|e| usage(e.0))?;
    let sc = &spec.scenarios[0];
    let executor = &sc.executor;
    let step = &sc.flows[0].steps[0];
    let config = RunConfig {
        mode: "quick".into(),
        // Without `user:pass@`: the result file is shared, the password is not.
        target: Target::parse(url).ok().map(|t| t.url.to_string()),
        method: Some(step.method.to_string()),
        concurrency: executor.max_vus() as u64,
        requests: match executor {
            Executor::SharedIterations { iterations, .. } => Some(*iterations),
            Executor::ConstantArrivalRate { max_iterations, .. } => *max_iterations,
            _ => None,
        },
        duration_s: match executor {
            Executor::ConstantVus { duration, .. } => Some(duration.as_secs_f64()),
            Executor::ConstantArrivalRate { duration, .. } if load.duration.is_some() => {
                Some(duration.as_secs_f64())
            }
            _ => None,
        },
        timeout_s: spec.http.timeout.as_secs_f64(),
        keepalive: spec.http.keepalive,
        command_line: std::env::args().collect(),
        ..RunConfig::default()
    };
    Ok((spec, config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_reflects_the_flags_and_hides_passwords() {
        let load = LoadArgs { requests: Some(1000), ..LoadArgs::default() };
        let (s, c) = build_spec("http://u:secret@127.0.0.1:1/x?y=1", &load).unwrap();
        assert_eq!(c.requests, Some(1000));
        assert_eq!(c.concurrency, 50);
        assert_eq!(c.target.as_deref(), Some("http://127.0.0.1:1/x?y=1"));
        assert_eq!(s.scenarios[0].executor.max_vus(), 50);
        let load = LoadArgs { rps: Some(500.0), ..LoadArgs::default() };
        let (s, c) = build_spec("http://h/", &load).unwrap();
        assert_eq!(volley_engine::schedule::total_arrivals(&s.scenarios[0].executor), 200);
        assert_eq!((c.requests, c.duration_s), (Some(200), None));
        let load = LoadArgs { duration: Some("2s".into()), ..LoadArgs::default() };
        assert_eq!(build_spec("http://h/", &load).unwrap().1.duration_s, Some(2.0));
    }

    #[test]
    fn bad_values_are_usage_errors() {
        let load = LoadArgs { requests: Some(0), ..LoadArgs::default() };
        let e = build_spec("http://x/", &load).unwrap_err();
        assert!(e.chain().any(|c| c.is::<crate::outcome::Usage>()));
        assert!(format!("{e:#}").contains("-n 0"));
    }
}
