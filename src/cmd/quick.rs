//! `volley URL`: quick mode, like loadtest, ab, oha.

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
    /// Concurrent connections (closed model), or the cap on requests in flight with --rps.
    #[arg(short = 'c', long = "concurrency", default_value_t = 10)]
    pub concurrency: u64,
    /// Total number of requests to send (exact).
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

pub fn main(_args: QuickArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("quick mode is not implemented yet")
}
