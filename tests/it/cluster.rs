//! `volley cluster`: balancing with per-backend tallies, restarts of instances that exit, no
//! orphan even when volley is SIGKILLed, and one clear message for each kind of bad input.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::{RUN_TIMEOUT, Spawned, VOLLEY, volley, volley_command, volley_json};

/// Held by the tests whose figures depend on having the CPU to themselves (scaling sweeps,
/// the demo), so that they at least do not compete with each other.
pub static CPU_HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Environment variable inherited by every process a test's volley starts: the process table
/// can then be searched for survivors of exactly that test.
pub const MARK: &str = "VOLLEY_TEST_MARK";

pub fn unique_mark(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{name}-{}-{nanos}", std::process::id())
}

/// Live (non-zombie) processes carrying the mark in their environment.
pub fn marked_pids(mark: &str) -> Vec<u32> {
    let needle = format!("{MARK}={mark}");
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(env) = std::fs::read(entry.path().join("environ")) else { continue };
        if !env.split(|&b| b == 0).any(|kv| kv == needle.as_bytes()) {
            continue;
        }
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
        if state != Some("Z") && state.is_some() {
            out.push(pid);
        }
    }
    out
}

/// Waits until no marked process is left; returns the survivors otherwise.
pub fn wait_no_marked(mark: &str, within: Duration) -> Vec<u32> {
    let deadline = Instant::now() + within;
    loop {
        let left = marked_pids(mark);
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `volley cluster ARGS -- serve-demo ...` with a mark; returns the child and balancer URL.
fn cluster(args: &[&str], demo_args: &[&str], mark: &str) -> (Spawned, String) {
    let mut all: Vec<&str> = vec!["cluster"];
    all.extend(args);
    all.extend(["--", VOLLEY, "serve-demo", "--threads", "1", "--port", "{port}"]);
    all.extend(demo_args);
    let mut cmd = volley_command(&all);
    cmd.env(MARK, mark);
    Spawned::start_listening(cmd, RUN_TIMEOUT)
}

/// One `GET` over a fresh connection: (status, X-Served-By).
fn get(base: &str, path: &str) -> (u16, Option<String>) {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let served = text
        .lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix("x-served-by: ").or_else(|| l.strip_prefix("X-Served-By: ")))
        .map(|v| v.trim().to_string());
    (status, served)
}

#[test]
fn round_robin_is_tallied_per_backend() {
    let mark = unique_mark("tally");
    let (_cluster, url) = cluster(&["--instances", "2"], &[], &mark);
    let target = format!("{url}/");
    let (r, _) =
        volley_json(&[&target, "-n", "100", "-c", "4", "--backend-header", "X-Served-By"], 0);
    assert_eq!(r.totals.failed, 0, "{:?}", r.status_codes);
    let mut by: Vec<(String, u64)> =
        r.backends.iter().map(|b| (b.backend.clone(), b.requests)).collect();
    by.sort();
    // Per-request round-robin over two instances: an even split.
    assert_eq!(by, vec![("1".to_string(), 50), ("2".to_string(), 50)], "{:?}", r.backends);
    assert!(r.backends.iter().all(|b| b.latency.count == b.requests));
}

#[test]
fn an_instance_that_exits_is_restarted() {
    let mark = unique_mark("restart");
    let (cluster, url) = cluster(&["--instances", "1"], &["--exit-after", "3"], &mark);
    // 3 responses, then the instance exits; the supervisor restarts it and it serves again.
    let mut ok = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while ok < 8 && Instant::now() < deadline {
        let (status, served) = get(&url, "/");
        if status == 200 {
            assert_eq!(served.as_deref(), Some("1"));
            ok += 1;
        } else {
            assert_eq!(status, 502, "only the balancer's 502 while the instance restarts");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert_eq!(ok, 8, "requests kept succeeding across restarts; {}", cluster.stderr_so_far());
    let err = cluster.stderr_so_far();
    assert!(err.contains("instance 1") && err.contains("restart #1"), "{err}");
    assert!(err.contains("restart #2"), "{err}");
    cluster.signal(libc::SIGTERM);
    let out = cluster.wait(RUN_TIMEOUT);
    out.expect_code(143);
    assert!(wait_no_marked(&mark, Duration::from_secs(5)).is_empty());
}

#[test]
fn no_child_survives_sigkill() {
    let mark = unique_mark("sigkill");
    let (cluster, url) = cluster(&["--instances", "2"], &[], &mark);
    assert_eq!(get(&url, "/").0, 200);
    let volley_pid = cluster.pid();
    let children: Vec<u32> = marked_pids(&mark).into_iter().filter(|&p| p != volley_pid).collect();
    // Two instances and the reaper.
    assert_eq!(children.len(), 3, "two instances run: {children:?}");
    cluster.signal(libc::SIGKILL);
    let _ = cluster.wait(RUN_TIMEOUT);
    let left = wait_no_marked(&mark, Duration::from_secs(5));
    assert!(left.is_empty(), "processes survived volley's SIGKILL: {left:?}");
}

#[test]
fn no_grandchild_survives_sigkill_either() {
    // The real server one level below a wrapper, as with `npm start` or a shell script.
    let mark = unique_mark("sigkill-wrapped");
    let script = format!("{VOLLEY} serve-demo --threads 1 --port {{port}} & wait");
    let mut cmd = volley_command(&["cluster", "--instances", "2", "--", "sh", "-c", &script]);
    cmd.env(MARK, &mark);
    let (cluster, url) = Spawned::start_listening(cmd, RUN_TIMEOUT);
    assert_eq!(get(&url, "/").0, 200);
    let volley_pid = cluster.pid();
    // Two shells, two servers, and the reaper.
    let before: Vec<u32> = marked_pids(&mark).into_iter().filter(|&p| p != volley_pid).collect();
    assert!(before.len() >= 4, "{before:?}");
    cluster.signal(libc::SIGKILL);
    let _ = cluster.wait(RUN_TIMEOUT);
    let left = wait_no_marked(&mark, Duration::from_secs(5));
    assert!(left.is_empty(), "processes survived volley's SIGKILL: {left:?}");
}

#[test]
fn sigterm_stops_every_instance() {
    let mark = unique_mark("sigterm");
    let (cluster, url) = cluster(&["--instances", "2", "--balancer", "least-conn"], &[], &mark);
    assert_eq!(get(&url, "/").0, 200);
    cluster.signal(libc::SIGTERM);
    // 128 + SIGTERM, as the product contract says for a long-running command.
    cluster.wait(RUN_TIMEOUT).expect_code(143);
    assert!(wait_no_marked(&mark, Duration::from_secs(5)).is_empty());
}

#[test]
fn command_not_found_is_a_usage_error() {
    let out =
        volley(&["cluster", "--instances", "2", "--", "/no/such/volley-service"], RUN_TIMEOUT);
    out.expect_code(2);
    assert!(
        out.stderr.contains("command not found: `/no/such/volley-service`"),
        "{}",
        out.streams()
    );
}

#[test]
fn crash_at_start_shows_the_instance_output() {
    let mark = unique_mark("crash");
    let mut cmd = volley_command(&[
        "cluster",
        "--instances",
        "2",
        "--",
        "sh",
        "-c",
        "echo cannot open database on port {port} >&2; exit 4",
    ]);
    cmd.env(MARK, &mark);
    let out = Spawned::start(cmd).wait(RUN_TIMEOUT);
    out.expect_code(1);
    assert!(
        out.stderr.contains("instance 1 exited during start-up (exit code 4)"),
        "{}",
        out.streams()
    );
    assert!(out.stderr.contains("cannot open database on port"), "{}", out.streams());
    assert_eq!(out.stderr.matches("error:").count(), 1, "one message: {}", out.streams());
    assert!(wait_no_marked(&mark, Duration::from_secs(5)).is_empty());
}

#[test]
fn never_ready_times_out_with_a_hint() {
    let mark = unique_mark("never");
    let mut cmd = volley_command(&["cluster", "--ready-timeout", "1s", "--", "sleep", "30"]);
    cmd.env(MARK, &mark);
    let out = Spawned::start(cmd).wait(RUN_TIMEOUT);
    out.expect_code(1);
    assert!(out.stderr.contains("was not ready after 1s"), "{}", out.streams());
    assert!(wait_no_marked(&mark, Duration::from_secs(5)).is_empty(), "the sleeper was killed");
}

#[test]
fn port_in_use_is_a_usage_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = volley(&["cluster", "--port", &port, "--", "true"], RUN_TIMEOUT);
    out.expect_code(2);
    assert!(out.stderr.contains(&format!("port {port} is already in use")), "{}", out.streams());
}

/// Kills and reaps a helper process when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// user+system CPU seconds a process has used so far, from `/proc/PID/stat`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: f64 = rest[11].parse::<f64>().unwrap() + rest[12].parse::<f64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

#[test]
fn watch_pid_reads_a_busy_core_near_100_percent() {
    let burner = KillOnDrop(
        std::process::Command::new("sh").args(["-c", "while :; do :; done"]).spawn().unwrap(),
    );
    let pid = burner.0.id();
    let demo = crate::support::demo();
    let url = format!("{}/", demo.url());
    let (cpu0, t0) = (cpu_seconds(pid), Instant::now());
    let (r, _) =
        volley_json(&[&url, "--rps", "20", "-d", "3s", "--watch-pid", &pid.to_string()], 0);
    // What the burner really got over the same span: on a machine shared with other work a
    // busy loop may get less than a whole core, and the reading must say so.
    let truth = (cpu_seconds(pid) - cpu0) / t0.elapsed().as_secs_f64() * 100.0;
    let server = r.server.expect("server observation");
    let watched = &server.instances[0];
    assert_eq!(watched.label, format!("pid {pid}"));
    assert!(watched.samples.len() >= 2, "{watched:?}");
    assert!(
        (watched.cpu_pct_avg - truth).abs() <= 15.0,
        "sampled {:.1}% vs {truth:.1}% measured independently: {watched:?}",
        watched.cpu_pct_avg
    );
    if truth >= 90.0 {
        assert!(
            (85.0..=115.0).contains(&watched.cpu_pct_avg),
            "one busy core reads ~100%: {watched:?}"
        );
    }
    // volley itself is always watched, and the samples land in the time series too.
    assert!(server.generator.is_some());
    assert!(r.timeseries.iter().any(|p| p.server.iter().any(|s| s.label == watched.label)));
}

#[test]
fn watching_a_missing_pid_or_cgroup_is_a_usage_error() {
    let out = volley(&["http://127.0.0.1:9/", "-n", "1", "--watch-pid", "4000000"], RUN_TIMEOUT);
    out.expect_code(2);
    assert!(
        out.stderr.contains("--watch-pid 4000000: no process with that PID"),
        "{}",
        out.streams()
    );
    let out = volley(
        &["http://127.0.0.1:9/", "-n", "1", "--watch-cgroup", "/sys/fs/cgroup/no-such-group"],
        RUN_TIMEOUT,
    );
    out.expect_code(2);
    assert!(
        out.stderr.contains("cgroup /sys/fs/cgroup/no-such-group not found"),
        "{}",
        out.streams()
    );
}
