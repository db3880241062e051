//! `volley URL`: quick mode, like loadtest, ab, oha.
//!
//! Thin: the clap flags become a [`QuickInput`]; `volley_runner::Run::quick` (through
//! `volley_plan::quick::build`) checks them and builds the one-scenario, one-flow, one-step
//! spec (with plans' duration grammar and URL parser), so that quick mode and plans run
//! through the same engine loop.

use anyhow::Context as _;
use volley_plan::quick::{DEFAULT_METHOD, DEFAULT_TIMEOUT, QuickInput};
use volley_runner::{Run, Watching};

use crate::outcome::Outcome;

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
    #[arg(short = 'm', long = "method", default_value = DEFAULT_METHOD)]
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
    #[arg(long = "timeout", default_value = DEFAULT_TIMEOUT)]
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
    /// HTTP/2: negotiated by ALPN over https (HTTP/1.1 if the server does not pick h2), h2c
    /// with prior knowledge over http.
    #[arg(long = "http2", conflicts_with_all = ["http2_prior_knowledge", "http1_1"])]
    pub http2: bool,
    /// HTTP/2 without negotiation: h2c over http; over https, ALPN offers h2 alone.
    #[arg(long = "http2-prior-knowledge", conflicts_with = "http1_1")]
    pub http2_prior_knowledge: bool,
    /// HTTP/1.1 (the default).
    #[arg(long = "http1.1")]
    pub http1_1: bool,
    /// HTTP/2 streams per connection (default 1): -c connections, each shared by N VUs with
    /// one request in flight each.
    #[arg(short = 'p', long = "streams", value_name = "N")]
    pub streams: Option<u32>,
    /// HTTP/1.1 pipelining: write N requests at once on each connection and read their
    /// responses as they arrive (each request timed and counted on its own).
    #[arg(long = "pipeline", value_name = "N", default_value_t = 1)]
    pub pipeline: u32,
    /// Also resend POST/PATCH requests once on a fresh connection when a reused one closed
    /// before any byte of the response (off: the server may have acted on them).
    #[arg(long = "retry-non-idempotent")]
    pub retry_non_idempotent: bool,
}

/// Where the result goes.
#[derive(clap::Args, Debug, Clone)]
pub struct OutputArgs {
    /// Save the result file (JSON) here; `-` prints it on stdout between the lines
    /// `-----BEGIN VOLLEY RESULT-----` and `-----END VOLLEY RESULT-----` (a pod's logs).
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
    /// Exit 0 even when thresholds are crossed (they are still judged and saved): for a
    /// shard, whose thresholds judge only its share (`volley merge` judges the whole).
    #[arg(long = "no-threshold-exit")]
    pub no_threshold_exit: bool,
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
    #[command(flatten)]
    pub dashboard: super::dashboard::DashboardArgs,
    /// One shard of a distributed test (`--execution-segment`, `--start-at`).
    #[command(flatten)]
    pub segment: super::segment::SegmentArgs,
}

pub fn main(args: QuickArgs) -> anyhow::Result<Outcome> {
    let url = args.url.as_deref().context("a URL is required")?;
    let run = Run::quick(&args.load.to_input(url)).map_err(super::run::run_error)?;
    super::run::execute(run, &args.output)
}

impl LoadArgs {
    /// The flags given with a value other than their default, by name: what a command that
    /// runs a plan instead must not silently drop (the plan says how its requests are made).
    pub fn given(&self) -> Vec<&'static str> {
        let (i, d) = (self.to_input(""), QuickInput::default());
        [
            ("-c", i.concurrency != d.concurrency),
            ("-n", i.requests != d.requests),
            ("-d", i.duration != d.duration),
            ("--rps", i.rps != d.rps),
            ("-m", i.method != d.method),
            ("-H", i.headers != d.headers),
            ("-b", i.body != d.body),
            ("--body-file", i.body_file != d.body_file),
            ("--timeout", i.timeout != d.timeout),
            ("--no-keepalive", i.keepalive != d.keepalive),
            ("--insecure", i.insecure != d.insecure),
            ("--backend-header", i.backend_header != d.backend_header),
            ("--http2", i.version != d.version),
            ("-p", i.streams != d.streams),
            ("--pipeline", i.pipeline != d.pipeline),
            ("--retry-non-idempotent", i.retry_non_idempotent != d.retry_non_idempotent),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect()
    }

    /// Refuses the flags given that a plan run would ignore, all but `keep`.
    pub fn refuse_with_plan(&self, keep: &[&str]) -> anyhow::Result<()> {
        let dropped: Vec<_> = self.given().into_iter().filter(|f| !keep.contains(f)).collect();
        if dropped.is_empty() {
            return Ok(());
        }
        Err(crate::outcome::usage(format!(
            "{} {} not apply with --plan: the plan says how its requests are made (hint: set \
             {} in the plan, or drop --plan)",
            dropped.join(", "),
            if dropped.len() == 1 { "does" } else { "do" },
            if dropped.len() == 1 { "it" } else { "them" },
        )))
    }

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
            version: if self.http2_prior_knowledge {
                volley_plan::HttpVersion::Http2PriorKnowledge
            } else if self.http2 {
                volley_plan::HttpVersion::Http2
            } else {
                volley_plan::HttpVersion::Http1
            },
            streams: self.streams,
            pipeline: self.pipeline,
            retry_non_idempotent: self.retry_non_idempotent,
        }
    }
}

impl OutputArgs {
    /// What `--watch-*` name.
    pub fn watching(&self) -> Watching {
        Watching {
            pids: self.watch_pid.clone(),
            names: self.watch_name.clone(),
            cgroups: self.watch_cgroup.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    /// The flags' defaults are the plan crate's: parsing no flag gives `QuickInput::default`.
    #[test]
    fn unset_flags_are_the_plan_crates_defaults() {
        #[derive(clap::Parser)]
        struct T {
            #[command(flatten)]
            load: super::LoadArgs,
        }
        let q = T::parse_from(["t"]).load.to_input("http://h/");
        let d = super::QuickInput { url: "http://h/".into(), ..super::QuickInput::default() };
        assert_eq!(format!("{q:?}"), format!("{d:?}"));
    }

    #[test]
    fn the_flags_given_are_named() {
        #[derive(clap::Parser)]
        struct T {
            #[command(flatten)]
            load: super::LoadArgs,
        }
        assert!(T::parse_from(["t"]).load.given().is_empty());
        // A default given explicitly changes nothing, so it is not reported.
        assert!(T::parse_from(["t", "-m", "GET", "--pipeline", "1"]).load.given().is_empty());
        let t = T::parse_from(["t", "-c", "7", "-H", "a: b", "--http2", "--backend-header", "x"]);
        assert_eq!(t.load.given(), ["-c", "-H", "--backend-header", "--http2"]);
        assert!(t.load.refuse_with_plan(&["-c", "-H", "--backend-header", "--http2"]).is_ok());
        let e = t.load.refuse_with_plan(&["--backend-header"]).unwrap_err().to_string();
        assert!(e.contains("-c, -H, --http2 do not apply with --plan"), "{e}");
        let e = T::parse_from(["t", "-d", "9s"]).load.refuse_with_plan(&[]).unwrap_err();
        assert!(e.to_string().starts_with("-d does not apply with --plan"), "{e}");
    }
}
