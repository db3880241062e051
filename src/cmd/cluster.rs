//! `volley cluster --instances N [--port P] -- COMMAND ARGS`: N supervised copies of a service
//! behind the built-in balancer, until Ctrl-C or SIGTERM (like Node's cluster module or pm2).

use std::io::Write;
use std::time::Duration;

use volley_harness::process::Launch;
use volley_harness::{Balancer, Cluster, ClusterConfig, HarnessError};

use crate::outcome::{Outcome, usage};

#[derive(clap::Args, Debug)]
pub struct ClusterArgs {
    /// How many copies of the command to run.
    #[arg(long = "instances", short = 'i', default_value_t = 2)]
    pub instances: usize,
    /// Port of the balancer on 127.0.0.1 (0 picks a free one).
    #[arg(long = "port", short = 'p', default_value_t = 0)]
    pub port: u16,
    #[command(flatten)]
    pub launch: LaunchArgs,
}

/// How instances are started and balanced; shared with `volley scale`.
#[derive(clap::Args, Debug, Clone)]
pub struct LaunchArgs {
    /// `builtin` (volley's own, round-robin like nginx's default; also `round-robin`,
    /// `least-conn`) or `nginx` (from PATH, configured and supervised by volley).
    #[arg(long = "balancer", default_value = "builtin", value_parser = parse_balancer)]
    pub balancer: Balancer,
    /// Wait until `GET PATH` answers 2xx instead of until the port accepts connections.
    #[arg(long = "ready-path", value_name = "PATH")]
    pub ready_path: Option<String>,
    /// How long an instance may take to become ready.
    #[arg(long = "ready-timeout", default_value = "30s", value_parser = parse_duration)]
    pub ready_timeout: Duration,
    /// Worker threads of the balancer (default: one per core).
    #[arg(long = "balancer-threads", hide = true)]
    pub balancer_threads: Option<usize>,
    /// The service's command; `{port}` in it becomes each instance's port (also in `PORT`).
    /// (Required by `cluster`; `scale --scale-cmd` takes none.)
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

fn parse_balancer(s: &str) -> Result<Balancer, String> {
    Balancer::parse(s).ok_or_else(|| {
        format!("`{s}` is not a balancer; use builtin, nginx, round-robin or least-conn")
    })
}

/// Durations of flags, in the grammar of plans and quick mode (`30s`, `2m`, `1m30s`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    volley_plan::parse_duration(s).map_err(|e| format!("{e} (hint: 30s, 2m, 500ms)"))
}

impl LaunchArgs {
    pub fn config(&self, instances: usize, port: u16, echo_output: bool) -> ClusterConfig {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        ClusterConfig {
            instances,
            port,
            balancer: self.balancer,
            launch: Launch {
                command: self.command.clone(),
                ready_path: self.ready_path.clone(),
                ready_timeout: self.ready_timeout,
                echo_output,
            },
            balancer_threads: self.balancer_threads.unwrap_or(cores),
        }
    }
}

/// Turns a start-up failure into the message the user sees (usage errors for bad input).
pub fn start_error(e: HarnessError) -> anyhow::Error {
    match e {
        HarnessError::CommandNotFound(c) if c.is_empty() => usage("no command given after `--`"),
        HarnessError::CommandNotFound(c) => {
            usage(format!("command not found: `{c}` (hint: give a path or check $PATH)"))
        }
        HarnessError::PortInUse(p) => {
            usage(format!("port {p} is already in use (hint: choose another with --port, or 0)"))
        }
        HarnessError::NginxNotFound => usage(
            "--balancer nginx: nginx is not on PATH (hint: apt-get install nginx-light, or use \
             --balancer builtin)",
        ),
        e @ HarnessError::NeverReady { .. } => anyhow::anyhow!(
            "{e}\nhint: does the command listen on {{port}} / $PORT? raise --ready-timeout for slow starts"
        ),
        e @ HarnessError::BadGlob { .. } => usage(e.to_string()),
        e => anyhow::Error::new(e),
    }
}

pub fn main(args: ClusterArgs) -> anyhow::Result<Outcome> {
    if args.instances == 0 {
        return Err(usage("--instances must be at least 1"));
    }
    let mut cluster =
        Cluster::start(args.launch.config(args.instances, args.port, true)).map_err(start_error)?;
    // Listen for signals before saying "listening": a supervisor may stop us right after.
    let signals = Signals::install()?;
    let ports: Vec<String> = cluster.instances().map(|i| i.port.to_string()).collect();
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{}", cluster.addr())?;
        out.flush()?;
    }
    eprintln!(
        "volley cluster: balancer on http://{} ({}) in front of {} instance(s) on ports {}; \
         Ctrl-C to stop",
        cluster.addr(),
        args.launch.balancer.name(),
        args.instances,
        ports.join(", ")
    );
    let signal = signals.wait();
    eprintln!("volley cluster: stopping ({signal})");
    let restarts = cluster.restarts();
    cluster.stop();
    eprintln!(
        "volley cluster: stopped; {restarts} restart(s) in {:.0} s",
        cluster.uptime().as_secs_f64()
    );
    Ok(if signal == "SIGTERM" { Outcome::Terminated } else { Outcome::Interrupted })
}

/// SIGINT, SIGTERM and SIGHUP, caught from [`Signals::install`] on (a closed terminal stops
/// the cluster like Ctrl-C).
struct Signals {
    rt: tokio::runtime::Runtime,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (term, int, hup) = rt.block_on(async {
            Ok::<_, std::io::Error>((
                signal(SignalKind::terminate())?,
                signal(SignalKind::interrupt())?,
                signal(SignalKind::hangup())?,
            ))
        })?;
        Ok(Signals { rt, term, int, hup })
    }

    /// Blocks until one of the signals arrives; returns its name.
    fn wait(mut self) -> &'static str {
        self.rt.block_on(async {
            tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "SIGINT",
                _ = self.hup.recv() => "SIGHUP",
            }
        })
    }
}
