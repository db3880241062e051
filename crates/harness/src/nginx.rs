//! nginx as the balancer (`--balancer nginx`): the kind of front users really run (seed 003).
//!
//! volley writes the configuration itself: an upstream with round-robin over the instances
//! (nginx's default), keep-alive connections to the upstreams, and `X-Served-By
//! $upstream_addr` on every response as seed 003's config does, so requests can be tallied per
//! backend. nginx comes from `PATH` and runs in the foreground (`daemon off`) with a temporary
//! prefix directory holding its pid file, logs and temp paths, so nothing outside it is written
//! and nothing is left behind. It is supervised like an instance ([`Supervisor`]: its own
//! process group, killed with volley, restarted if it exits), and its CPU is measured from its
//! master process and workers.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::HarnessError;
use crate::process::{Launch, Supervisor};
use crate::sample::{PidSource, Target, Watch};

/// The program looked up in `PATH`.
pub const NGINX: &str = "nginx";

/// Idle keep-alive connections each nginx worker keeps to the upstreams.
const UPSTREAM_KEEPALIVE: usize = 64;

/// The configuration for nginx listening on `listen` in front of `upstreams`, with every path
/// it writes inside `prefix`.
pub fn config(
    listen: SocketAddr,
    upstreams: &[SocketAddr],
    prefix: &Path,
    workers: usize,
) -> String {
    let p = prefix.display();
    let mut servers = String::new();
    for u in upstreams {
        let _ = writeln!(servers, "        server {u};");
    }
    format!(
        "# Written by volley for one run; removed when the run ends.
daemon off;
master_process on;
worker_processes {workers};
pid {p}/nginx.pid;
error_log {p}/error.log warn;

events {{
    worker_connections 8192;
}}

http {{
    access_log off;
    client_body_temp_path {p}/tmp/client_body;
    proxy_temp_path {p}/tmp/proxy;
    fastcgi_temp_path {p}/tmp/fastcgi;
    uwsgi_temp_path {p}/tmp/uwsgi;
    scgi_temp_path {p}/tmp/scgi;

    upstream volley_backend {{
{servers}        keepalive {UPSTREAM_KEEPALIVE};
    }}

    server {{
        listen {listen};

        location / {{
            proxy_pass http://volley_backend;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            add_header X-Served-By $upstream_addr always;
        }}
    }}
}}
"
    )
}

/// A running nginx. Dropping it stops nginx and removes its prefix directory.
pub struct Nginx {
    addr: SocketAddr,
    prefix: PathBuf,
    supervisor: Option<Supervisor>,
}

impl Nginx {
    /// Writes the configuration, starts nginx on 127.0.0.1:`port` and waits until it accepts
    /// connections. Its supervisor's log lines and errors call it `nginx`.
    pub fn start(
        port: u16,
        upstreams: &[SocketAddr],
        workers: usize,
        ready_timeout: Duration,
        epoch: Instant,
    ) -> Result<Nginx, HarnessError> {
        let prefix = prefix_dir()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        // From here on, `Drop` removes the directory whatever fails.
        let mut me = Nginx { addr, prefix, supervisor: None };
        let tmp = me.prefix.join("tmp");
        std::fs::create_dir_all(&tmp)?;
        // Workers run as an unprivileged user when nginx starts as root: they must be able to
        // write their temp files.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o777))?;
        let conf = me.prefix.join("nginx.conf");
        std::fs::write(&conf, config(addr, upstreams, &me.prefix, workers.max(1)))?;
        let launch = Launch {
            command: vec![
                NGINX.into(),
                "-p".into(),
                me.prefix.display().to_string(),
                "-c".into(),
                conf.display().to_string(),
                // The error log before the configuration is read (else /var/log/nginx).
                "-e".into(),
                me.prefix.join("error.log").display().to_string(),
            ],
            ready_path: None,
            ready_timeout,
            echo_output: false,
        };
        let sup = Supervisor::start_named(NGINX, port, launch, epoch).map_err(|e| match e {
            HarnessError::CommandNotFound(_) => HarnessError::NginxNotFound,
            e => e,
        })?;
        me.supervisor = Some(sup);
        Ok(me)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The prefix directory (configuration, logs, temp files).
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// nginx's master process and its workers, followed across restarts.
    pub fn watch(&self, label: &str) -> Watch {
        let inst = self.supervisor.as_ref().map(|s| s.instance.clone());
        let source: PidSource = Arc::new(move || {
            let pid = inst.as_ref().map_or(0, |i| i.pid.load(Ordering::Relaxed));
            if pid == 0 { Vec::new() } else { vec![pid] }
        });
        Watch {
            label: label.into(),
            target: Target::Dynamic(source),
            restarts: self.supervisor.as_ref().map(|s| s.instance.restarts.clone()),
        }
    }

    /// Lines nginx last wrote to its error log (for messages).
    pub fn error_log_tail(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.prefix.join("error.log")).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines[lines.len().saturating_sub(12)..].to_vec()
    }

    /// Stops nginx (SIGTERM to its group: fast shutdown; SIGKILL after a grace period).
    pub fn stop(&mut self) {
        if let Some(mut s) = self.supervisor.take() {
            s.stop();
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.prefix);
    }
}

fn prefix_dir() -> std::io::Result<PathBuf> {
    use std::sync::atomic::AtomicU32;
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("volley-nginx-{}-{n}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Is nginx on `PATH`? (Tests skip with a message when it is not.)
pub fn available() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(NGINX).is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_the_upstreams_keepalive_and_the_header() {
        let ups: Vec<SocketAddr> =
            vec!["127.0.0.1:4001".parse().unwrap(), "127.0.0.1:4002".parse().unwrap()];
        let c = config("127.0.0.1:8080".parse().unwrap(), &ups, Path::new("/tmp/x"), 2);
        for want in [
            "daemon off;",
            "worker_processes 2;",
            "pid /tmp/x/nginx.pid;",
            "server 127.0.0.1:4001;",
            "server 127.0.0.1:4002;",
            "keepalive 64;",
            "listen 127.0.0.1:8080;",
            "proxy_http_version 1.1;",
            "proxy_set_header Connection \"\";",
            "add_header X-Served-By $upstream_addr always;",
            "proxy_temp_path /tmp/x/tmp/proxy;",
        ] {
            assert!(c.contains(want), "missing `{want}` in\n{c}");
        }
    }

    #[test]
    fn serves_through_nginx_and_cleans_up() {
        if !available() {
            eprintln!("skipped: nginx is not on PATH (apt-get install nginx-light)");
            return;
        }
        // One upstream that answers every connection with a fixed response.
        let up = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let up_addr = up.local_addr().unwrap();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            for s in up.incoming().take(4) {
                let Ok(mut s) = s else { break };
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf);
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            }
        });
        let port = crate::process::free_ports(1).unwrap()[0];
        let mut ng =
            Nginx::start(port, &[up_addr], 1, Duration::from_secs(10), Instant::now()).unwrap();
        let prefix = ng.prefix().to_path_buf();
        assert!(prefix.join("nginx.conf").is_file());
        let resp = get(ng.addr());
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}\n{:?}", ng.error_log_tail());
        assert!(resp.contains(&format!("X-Served-By: {up_addr}")), "{resp}");
        // Killed, it is restarted, and its events name it (not "instance 0").
        let inst = ng.supervisor.as_ref().unwrap().instance.clone();
        let pid = inst.pid.load(Ordering::SeqCst);
        // SAFETY: kill has no memory-safety preconditions; the group is nginx's own.
        unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
        let deadline = Instant::now() + Duration::from_secs(10);
        let back = || inst.events.lock().unwrap().iter().any(|(_, e)| e.ends_with("is back"));
        while !back() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let events: Vec<String> = inst.events.lock().unwrap().iter().map(|e| e.1.clone()).collect();
        assert!(events.len() >= 2, "{events:?}");
        assert!(
            events[0].starts_with(&format!("nginx (pid {pid}) exited (killed by signal 9)")),
            "{events:?}"
        );
        assert!(events.iter().all(|e| e.starts_with("nginx (pid ")), "{events:?}");
        ng.stop();
        drop(ng);
        assert!(!prefix.exists(), "the prefix directory is removed");
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "nginx is gone");
    }

    fn get(addr: SocketAddr) -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }
}
