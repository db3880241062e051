//! N supervised instances of a command behind a balancer (the built-in one, or nginx): what
//! `volley cluster` runs until interrupted and what `volley scale` starts once per instance
//! count.
//!
//! The built-in balancer runs on a tokio runtime of its own whose threads are named
//! `volley-balancer`, so its CPU can be told apart from the load generator's when both share
//! volley's process; nginx is a supervised child whose processes are watched instead.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::HarnessError;
use crate::process::{Instance, Launch, Supervisor, free_ports};
use crate::proxy::Proxy;
use crate::sample::{PidSource, Target, Watch};

use crate::nginx::Nginx;
pub use crate::proxy::Balancing;

/// What sits in front of the instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balancer {
    /// volley's own proxy, with its balancing rule.
    Builtin(Balancing),
    /// nginx from `PATH`, round-robin (its default upstream), configured by volley.
    Nginx,
}

impl Default for Balancer {
    fn default() -> Self {
        Balancer::Builtin(Balancing::RoundRobin)
    }
}

impl Balancer {
    /// The balancer's name as flags and reports spell it.
    pub fn name(self) -> &'static str {
        match self {
            Balancer::Builtin(Balancing::RoundRobin) => "round-robin",
            Balancer::Builtin(Balancing::LeastConn) => "least-conn",
            Balancer::Nginx => "nginx",
        }
    }

    /// `builtin` (round-robin), `round-robin`, `least-conn` or `nginx`.
    pub fn parse(s: &str) -> Option<Balancer> {
        Some(match s {
            "builtin" | "round-robin" | "rr" => Balancer::Builtin(Balancing::RoundRobin),
            "least-conn" | "least-connections" => Balancer::Builtin(Balancing::LeastConn),
            "nginx" => Balancer::Nginx,
            _ => return None,
        })
    }
}

/// Thread-name prefix of the balancer's runtime (at most 15 bytes: Linux truncates).
pub const BALANCER_THREADS: &str = "volley-balancer";

/// What to start.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub instances: usize,
    /// Balancer port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    pub balancer: Balancer,
    pub launch: Launch,
    /// Worker threads of the built-in balancer, or nginx's worker processes.
    pub balancer_threads: usize,
}

/// Running instances and their balancer. Dropping it stops everything.
pub struct Cluster {
    addr: SocketAddr,
    supervisors: Vec<Supervisor>,
    runtime: Option<tokio::runtime::Runtime>,
    nginx: Option<Nginx>,
    started: Instant,
}

impl Cluster {
    /// Binds the balancer's port, starts every instance and waits until each is ready. On any
    /// failure, what was started is stopped before the error is returned.
    pub fn start(config: ClusterConfig) -> Result<Cluster, HarnessError> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", config.port)).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                HarnessError::PortInUse(config.port)
            } else {
                HarnessError::Bind { port: config.port, source: e }
            }
        })?;
        let addr = listener.local_addr()?;
        let started = Instant::now();
        let ports = free_ports(config.instances)?;
        // Instances start one after the other so that a failing command fails once, with its
        // own message, instead of N times at once.
        let mut supervisors = Vec::with_capacity(config.instances);
        for (k, port) in ports.into_iter().enumerate() {
            supervisors.push(Supervisor::start(k + 1, port, config.launch.clone(), started)?);
        }
        let balancing = match config.balancer {
            Balancer::Builtin(b) => b,
            Balancer::Nginx => {
                // nginx binds the port itself: release ours just before it starts.
                drop(listener);
                let upstreams: Vec<SocketAddr> =
                    supervisors.iter().map(|s| s.instance.addr).collect();
                let nginx = Nginx::start(
                    addr.port(),
                    &upstreams,
                    config.balancer_threads,
                    config.launch.ready_timeout,
                    started,
                )?;
                return Ok(Cluster {
                    addr,
                    supervisors,
                    runtime: None,
                    nginx: Some(nginx),
                    started,
                });
            }
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.balancer_threads.max(1))
            .thread_name(BALANCER_THREADS)
            .enable_all()
            .build()?;
        let proxy = Arc::new(Proxy::new(
            supervisors.iter().map(|s| s.instance.clone()).collect(),
            balancing,
        ));
        listener.set_nonblocking(true)?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        runtime.spawn(proxy.serve(listener));
        Ok(Cluster { addr, supervisors, runtime: Some(runtime), nginx: None, started })
    }

    /// The balancer's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn instances(&self) -> impl Iterator<Item = &Arc<Instance>> {
        self.supervisors.iter().map(|s| &s.instance)
    }

    /// Restarts so far, over all instances.
    pub fn restarts(&self) -> u64 {
        self.instances().map(|i| i.restarts.load(Ordering::Relaxed)).sum()
    }

    /// Seconds since the cluster started (the time base of instance events).
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// One watch per instance (its current process and descendants, followed across restarts)
    /// and one for the balancer's threads.
    pub fn watches(&self) -> (Vec<Watch>, Watch) {
        let instances = self
            .instances()
            .map(|inst| {
                let i = inst.clone();
                let source: PidSource = Arc::new(move || {
                    let pid = i.pid.load(Ordering::Relaxed);
                    if pid == 0 { Vec::new() } else { vec![pid] }
                });
                Watch {
                    label: format!("instance {}", inst.number),
                    target: Target::Dynamic(source),
                    restarts: Some(inst.restarts.clone()),
                }
            })
            .collect();
        let balancer = match &self.nginx {
            Some(n) => n.watch("balancer"),
            None => Watch::new("balancer", Target::OwnThreads(BALANCER_THREADS.into())),
        };
        (instances, balancer)
    }

    /// The `X-Served-By` value each instance's responses carry, instance 1 first: its number
    /// behind the built-in balancer, its address (`$upstream_addr`) behind nginx.
    pub fn backend_names(&self) -> Vec<String> {
        self.instances()
            .map(|i| if self.nginx.is_some() { i.addr.to_string() } else { i.number.to_string() })
            .collect()
    }

    /// Stops the balancer and every instance (SIGTERM to each group, SIGKILL after a grace).
    pub fn stop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_millis(200));
        }
        if let Some(mut n) = self.nginx.take() {
            n.stop();
        }
        // Signal all first so they shut down in parallel, then wait for each.
        for s in &self.supervisors {
            s.begin_stop();
        }
        for s in &mut self.supervisors {
            s.stop();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}
