//! The `volley` binary: parses the command line, runs one command, maps the outcome to an exit
//! code. Library crates return typed errors; this is the only place they become messages.

mod cmd;
mod outcome;
mod progress;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A load-testing workbench for HTTP services.
///
/// Quick mode: `volley URL -c 50 -n 10000`. Plans, reports, comparisons and scaling
/// experiments are subcommands.
#[derive(Parser, Debug)]
#[command(name = "volley", version, args_conflicts_with_subcommands = true)]
#[command(subcommand_negates_reqs = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    quick: cmd::quick::QuickArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a test plan (YAML).
    Run(Box<cmd::run::RunArgs>),
    /// Check a plan without sending anything.
    Validate(cmd::validate::ValidateArgs),
    /// Render a saved result as md, html, csv, junit or json.
    Report(cmd::report::ReportArgs),
    /// Compare saved results side by side, with a written analysis.
    Compare(cmd::compare::CompareArgs),
    /// Merge the results of a test's execution segments (shards) exactly.
    Merge(cmd::merge::MergeArgs),
    /// Run a plan on Kubernetes in N segments (manifests, or --apply: run, collect, merge).
    K8s(Box<cmd::k8s::K8sArgs>),
    /// Run the service as N instances behind a balancer, for each N, and compare.
    Scale(Box<cmd::scale::ScaleArgs>),
    /// The highest arrival rate the service sustains within SLOs (ramp, then bisect).
    Capacity(Box<cmd::capacity::CapacityArgs>),
    /// Run N instances of a service behind a round-robin balancer, restarting crashed ones.
    Cluster(cmd::cluster::ClusterArgs),
    /// Serve the built-in demo service (the system under test for demos and tests).
    ServeDemo(cmd::serve_demo::ServeDemoArgs),
    /// The first thing to run: scale the demo service from 1 to 2 instances and report.
    Demo(cmd::demo::DemoArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout with exit 0, usage errors with exit 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let result = match cli.command {
        None => cmd::quick::main(cli.quick),
        Some(Command::Run(a)) => cmd::run::main(*a),
        Some(Command::Validate(a)) => cmd::validate::main(a),
        Some(Command::Report(a)) => cmd::report::main(a),
        Some(Command::Merge(a)) => cmd::merge::main(a),
        Some(Command::Compare(a)) => cmd::compare::main(a),
        Some(Command::K8s(a)) => cmd::k8s::main(*a),
        Some(Command::Scale(a)) => cmd::scale::main(*a),
        Some(Command::Capacity(a)) => cmd::capacity::main(*a),
        Some(Command::Cluster(a)) => cmd::cluster::main(a),
        Some(Command::ServeDemo(a)) => cmd::serve_demo::main(a),
        Some(Command::Demo(a)) => cmd::demo::main(a),
    };
    outcome::exit(result)
}
