//! `volley serve-demo`: the built-in system under test, served until Ctrl-C / SIGTERM.
//!
//! The server itself lives in `volley_demo`; this wrapper parses flags, prints the address on
//! stdout (scripts and tests read it from there), and waits for a signal.

use std::io::Write;
use std::net::IpAddr;

use anyhow::Context;

use crate::outcome::{Outcome, usage};

#[derive(clap::Args, Debug)]
pub struct ServeDemoArgs {
    /// Port to listen on; 0 picks a free one. Defaults to $PORT (set by `volley cluster`).
    #[arg(short = 'p', long = "port", env = "PORT", default_value_t = 3000)]
    pub port: u16,
    /// Worker threads; 1 behaves like one Node process. Default: one per core.
    #[arg(short = 't', long = "threads")]
    pub threads: Option<usize>,
    /// Address to bind. Loopback by default: the demo is not meant to be reachable from outside.
    #[arg(long = "host", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Exit (status 1) after serving this many responses: a crash, for supervisor tests.
    #[arg(long = "exit-after", hide = true)]
    pub exit_after: Option<u64>,
}

pub fn main(args: ServeDemoArgs) -> anyhow::Result<Outcome> {
    if args.threads == Some(0) {
        return Err(usage("--threads 0: give at least 1 (or leave it out for one per core)"));
    }
    if args.exit_after == Some(0) {
        return Err(usage("--exit-after 0: give at least 1"));
    }
    let mut server = volley_demo::serve(volley_demo::Config {
        host: args.host,
        port: args.port,
        threads: args.threads.unwrap_or(0),
        exit_after: args.exit_after,
    })?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", server.url()).context("writing to stdout")?;
        out.flush().context("writing to stdout")?;
    }
    eprintln!(
        "volley serve-demo: {} worker thread{}; routes: / /heavy?n= /predict (POST) /delay/MS \
         /status/CODE /bytes/N /flaky?p= /health; Ctrl-C to stop",
        server.threads(),
        if server.threads() == 1 { "" } else { "s" }
    );

    // Signals are waited for on a runtime of their own: the server's runtime is its business.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal runtime")?;
    let stopped = rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        tokio::select! {
            r = server.stopped() => r.map(Some).map_err(anyhow::Error::from),
            _ = tokio::signal::ctrl_c() => Ok(None),
            _ = term.recv() => Ok(None),
        }
    })?;
    match stopped {
        Some(volley_demo::Stopped::ExitAfter(n)) => {
            anyhow::bail!("served {n} responses, exiting as asked by --exit-after")
        }
        _ => {
            server.shutdown();
            Ok(Outcome::Success)
        }
    }
}
