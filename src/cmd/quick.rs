//! `volley URL`: quick mode, like loadtest, ab, oha.
//!
//! Parse, then resolve: the flags are checked once here and turned into a one-scenario,
//! one-flow, one-step [`Spec`], so that quick mode and plans run through the same engine loop.
//! `-n N` is k6's shared-iterations (exactly N requests), `-d` constant-vus, `--rps` a
//! constant arrival rate (open model) whose VU cap is `-c`.

use std::time::Duration;

use anyhow::Context as _;
use volley_metrics::RunConfig;
use volley_plan::{Body, Executor, Flow, HttpOptions, Scenario, Spec, StatusSet, Step, Template};

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
    /// with --rps (default max(100, rps)).
    #[arg(short = 'c', long = "concurrency")]
    pub concurrency: Option<u64>,
    /// Total number of requests to send, exactly (default 200 when neither -n nor -d is given).
    #[arg(short = 'n', long = "requests", conflicts_with = "duration")]
    pub requests: Option<u64>,
    /// How long to run (`30s`, `2m`).
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

/// oha's default when neither `-n` nor `-d` is given.
pub const DEFAULT_REQUESTS: u64 = 200;
/// Concurrency of the closed model when `-c` is not given (oha's default).
pub const DEFAULT_CONCURRENCY: u64 = 50;
/// `-n` runs have no deadline of their own; this bounds them anyway.
const NO_DEADLINE: Duration = Duration::from_secs(100 * 24 * 3600);

pub fn main(args: QuickArgs) -> anyhow::Result<Outcome> {
    let url = args.url.as_deref().context("a URL is required")?;
    let (spec, config) = build_spec(url, &args.load)?;
    super::run::execute(&spec, config, &args.output)
}

/// Validates the load flags and builds the spec quick mode runs (also used by `volley scale`).
/// Every bad value is a usage error naming the value, with a hint.
pub fn build_spec(url: &str, load: &LoadArgs) -> anyhow::Result<(Spec, RunConfig)> {
    volley_engine::transport::check_url(url).map_err(|reason| {
        let hint = if !url.contains("://") {
            format!(" (hint: include the scheme, e.g. http://{url})")
        } else {
            String::new()
        };
        usage(format!("invalid URL `{url}`: {reason}{hint}"))
    })?;
    let method: http::Method = load.method.to_ascii_uppercase().parse().map_err(|_| {
        usage(format!("invalid method `{}` (hint: GET, POST, PUT ...)", load.method))
    })?;
    let timeout = parse_duration("--timeout", &load.timeout)?;
    let duration = load.duration.as_deref().map(|d| parse_duration("--duration", d)).transpose()?;
    if load.requests == Some(0) {
        return Err(usage("`-n 0` sends nothing (hint: give a positive number of requests)"));
    }
    if load.concurrency == Some(0) {
        return Err(usage("`-c 0`: concurrency must be at least 1"));
    }
    if let Some(r) = load.rps
        && !(r.is_finite() && r > 0.0)
    {
        return Err(usage(format!(
            "`--rps {r}`: the rate must be a positive number of requests per second"
        )));
    }
    let mut headers = Vec::new();
    for h in &load.headers {
        let Some((name, value)) = h.split_once(':') else {
            return Err(usage(format!("bad header `{h}` (hint: -H 'Name: value')")));
        };
        let name = name.trim();
        if name.is_empty() || http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(usage(format!("bad header name in `{h}` (hint: -H 'Name: value')")));
        }
        let value = value.trim();
        if http::HeaderValue::from_str(value).is_err() {
            return Err(usage(format!("bad header value in `{h}`")));
        }
        headers.push((name.to_string(), Template::literal(value)));
    }
    let body = match (&load.body, &load.body_file) {
        (Some(b), _) => Body::Bytes(b.as_bytes().into()),
        (None, Some(path)) => {
            let bytes = std::fs::read(path)
                .map_err(|e| usage(format!("cannot read --body-file `{}`: {e}", path.display())))?;
            Body::Bytes(bytes.into())
        }
        (None, None) => Body::None,
    };

    let executor = match (load.rps, load.requests, duration) {
        (Some(rate), n, d) => {
            let cap = load.concurrency.unwrap_or((rate.ceil() as u64).max(100));
            let cap = u32::try_from(cap).unwrap_or(u32::MAX);
            let n = if d.is_none() { Some(n.unwrap_or(DEFAULT_REQUESTS)) } else { n };
            // Arrival k falls at k / rate: n arrivals need just under n / rate seconds.
            let duration = d.unwrap_or_else(|| {
                Duration::from_secs_f64((n.unwrap_or(DEFAULT_REQUESTS) as f64 - 0.5) / rate)
            });
            Executor::ConstantArrivalRate {
                rate,
                duration,
                pre_allocated_vus: cap.min(100),
                max_vus: cap,
                max_iterations: n,
            }
        }
        (None, n, None) => Executor::SharedIterations {
            vus: concurrency(load)?,
            iterations: n.unwrap_or(DEFAULT_REQUESTS),
            max_duration: NO_DEADLINE,
        },
        (None, _, Some(d)) => Executor::ConstantVus { vus: concurrency(load)?, duration: d },
    };
    // Requests still in flight at the deadline may finish (up to their timeout) and are
    // counted, so that every request the server saw is in the result: the accounting
    // invariant holds for duration runs too, and a stall at the end still shows.
    let graceful_stop = timeout;
    let name = path_of(url);
    let step = Step {
        name,
        method: method.clone(),
        url: Template::literal(url),
        query: Vec::new(),
        headers: Vec::new(),
        body,
        timeout: None,
        checks: Vec::new(),
        extract: Vec::new(),
        think_time: None,
    };
    let config = RunConfig {
        mode: "quick".into(),
        target: Some(url.to_string()),
        method: Some(method.to_string()),
        concurrency: executor.max_vus() as u64,
        requests: match &executor {
            Executor::SharedIterations { iterations, .. } => Some(*iterations),
            Executor::ConstantArrivalRate { max_iterations, .. } => *max_iterations,
            _ => None,
        },
        duration_s: duration.map(|d| d.as_secs_f64()),
        timeout_s: timeout.as_secs_f64(),
        keepalive: !load.no_keepalive,
        command_line: std::env::args().collect(),
        ..RunConfig::default()
    };
    let spec = Spec {
        base_url: None,
        scenarios: vec![Scenario {
            name: "default".into(),
            executor,
            start_time: Duration::ZERO,
            graceful_stop,
            flows: vec![Flow { name: "default".into(), weight: 1, steps: vec![step] }],
            think_time: None,
            feeders: Vec::new(),
        }],
        thresholds: Vec::new(),
        http: HttpOptions {
            keepalive: !load.no_keepalive,
            insecure: load.insecure,
            timeout,
            headers,
            backend_header: load.backend_header.clone(),
            expected_statuses: StatusSet::default(),
        },
        variables: Vec::new(),
        feeders: Vec::new(),
        source: None,
    };
    Ok((spec, config))
}

fn concurrency(load: &LoadArgs) -> anyhow::Result<u32> {
    let c = load.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    u32::try_from(c).map_err(|_| usage(format!("`-c {c}` is too large")))
}

/// `30s`, `2m`, `1h30m`, `500ms`; a bare number means seconds.
pub fn parse_duration(flag: &str, s: &str) -> anyhow::Result<Duration> {
    let d = match s.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => Ok(Duration::from_secs_f64(secs)),
        _ => humantime::parse_duration(s.trim()),
    };
    match d {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(usage(format!("`{flag} {s}`: the duration must be longer than zero"))),
        Err(_) => Err(usage(format!("bad duration `{s}` for {flag} (hint: 30s, 2m, 1h, 500ms)"))),
    }
}

/// The endpoint name of quick mode: the URL's path (with its query).
fn path_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    match rest.find('/') {
        Some(i) => rest[i..].to_string(),
        None => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(f: impl FnOnce(&mut LoadArgs)) -> LoadArgs {
        let mut l = LoadArgs::default();
        f(&mut l);
        l
    }

    fn err(url: &str, l: LoadArgs) -> String {
        format!("{:#}", build_spec(url, &l).unwrap_err())
    }

    #[test]
    fn flags_map_to_executors() {
        let (s, c) =
            build_spec("http://127.0.0.1:1/x?y=1", &load(|l| l.requests = Some(1000))).unwrap();
        assert_eq!(
            s.scenarios[0].executor,
            Executor::SharedIterations { vus: 50, iterations: 1000, max_duration: NO_DEADLINE }
        );
        assert_eq!(s.scenarios[0].flows[0].steps[0].name, "/x?y=1");
        assert_eq!(c.requests, Some(1000));
        let (s, _) = build_spec("http://h/", &load(|l| l.duration = Some("2s".into()))).unwrap();
        assert_eq!(
            s.scenarios[0].executor,
            Executor::ConstantVus { vus: 50, duration: Duration::from_secs(2) }
        );
        let (s, _) = build_spec("http://h/", &load(|l| l.rps = Some(500.0))).unwrap();
        match &s.scenarios[0].executor {
            Executor::ConstantArrivalRate { max_vus, max_iterations, .. } => {
                assert_eq!(*max_vus, 500);
                assert_eq!(*max_iterations, Some(DEFAULT_REQUESTS));
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(volley_engine::schedule::total_arrivals(&s.scenarios[0].executor), 200);
    }

    #[test]
    fn bad_values_are_usage_errors_with_hints() {
        assert!(err("localhost:8080", load(|_| {})).contains("hint: include the scheme"));
        assert!(err("ftp://x/", load(|_| {})).contains("ftp"));
        assert!(err("http://x/", load(|l| l.requests = Some(0))).contains("-n 0"));
        assert!(err("http://x/", load(|l| l.rps = Some(0.0))).contains("--rps 0"));
        assert!(err("http://x/", load(|l| l.rps = Some(-3.0))).contains("positive"));
        assert!(err("http://x/", load(|l| l.headers = vec!["foo".into()])).contains("Name: value"));
        assert!(
            err("http://x/", load(|l| l.duration = Some("soon".into()))).contains("bad duration")
        );
        let e = err("http://x/", load(|l| l.body_file = Some("/nonexistent/body".into())));
        assert!(e.contains("/nonexistent/body"), "{e}");
        let e = build_spec("http://x/", &load(|l| l.requests = Some(0))).unwrap_err();
        assert!(e.chain().any(|c| c.is::<crate::outcome::Usage>()));
    }
}
