//! The harness around the system under test: supervised instances of a service behind a
//! built-in reverse proxy or nginx ([`cluster`], [`nginx`]), a deployment scaled by the user's own
//! command ([`deployment`]), and CPU/memory sampling of processes and cgroups
//! ([`sample`]) folded into a run's result ([`observe`]).
//!
//! Everything here owns operating-system resources (child processes, sockets, threads); every
//! one of them has an owner that releases it on drop, so a failing caller leaves nothing behind.

pub mod cluster;
pub mod deployment;
pub mod nginx;
pub mod observe;
pub mod process;
pub mod proxy;
pub mod sample;

use std::path::PathBuf;
use std::time::Duration;

pub use cluster::{Balancer, Balancing, Cluster, ClusterConfig};
pub use sample::{Sampler, Target, Watch};

/// What can go wrong while setting up instances or observation. Problems during a run
/// (an instance that dies, a backend that refuses) are logged and counted instead.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("no process with PID {0}")]
    NoSuchPid(u32),
    #[error("cgroup {} not found (no cpu.stat, cpuacct.usage, memory.current or memory.usage_in_bytes under any mounted hierarchy)", .0.display())]
    CgroupNotFound(PathBuf),
    #[error("nginx is not installed (not found on PATH)")]
    NginxNotFound,
    #[error("command not found: {0}")]
    CommandNotFound(String),
    #[error("cannot start `{command}`: {source}")]
    Spawn { command: String, source: std::io::Error },
    #[error("port {0} is already in use")]
    PortInUse(u16),
    #[error("cannot listen on port {port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    /// `instance` names it as its log lines do: `instance 2`, `nginx`.
    #[error("{instance} exited during start-up ({status}){}", tail(.output))]
    ExitedAtStart { instance: String, status: String, output: Vec<String> },
    #[error("{instance} was not ready after {}{}", humantime::format_duration(*.timeout), tail(.output))]
    NeverReady { instance: String, timeout: Duration, output: Vec<String> },
    #[error("the scale command `{command}` failed ({status}){}", tail(.output))]
    ScaleCommandFailed { command: String, status: String, output: Vec<String> },
    #[error("the scale command `{command}` did not finish within {} (hint: raise --ready-timeout){}", humantime::format_duration(*.timeout), tail(.output))]
    ScaleCommandTimeout { command: String, timeout: Duration, output: Vec<String> },
    #[error("`{pattern}` is not a usable pattern: {message}")]
    BadGlob { pattern: String, message: String },
    #[error("stopped")]
    Stopped,
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

fn tail(lines: &[String]) -> String {
    if lines.is_empty() {
        "; it printed nothing".to_string()
    } else {
        let mut s = String::from("; its last output:");
        for l in lines {
            s.push_str("\n    ");
            s.push_str(l);
        }
        s
    }
}
