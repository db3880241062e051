//! `volley scale --capacity` (a capacity search per instance count, against instances of known
//! capacity) and `volley scale --scale-cmd` (a deployment volley did not start: a script that
//! brings N demo instances up behind its own nginx, the shape of a compose project without
//! Docker): N distinct backends per count, samples per instance, the seed-003 table filled.

use std::net::TcpListener;
use std::time::Duration;

use volley_metrics::sweep::{Sweep, SweepMode};

use crate::cluster::{MARK, marked_pids, unique_mark};
use crate::scale_nginx::nginx_available;
use crate::support::sweep::scale_demo;
use crate::support::{
    RUN_TIMEOUT, Spawned, VOLLEY, assert_accounting, temp_dir, volley, volley_command,
};

/// Milliseconds each request holds a single-threaded demo instance (`/work/{ms}`): an
/// instance's capacity is exactly 1000 / WORK_MS = 50 req/s, whatever the machine.
const WORK_MS: u64 = 20;

#[test]
fn capacity_per_instance_count_matches_the_instances_known_capacity() {
    let _cpu = crate::cluster::CPU_HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let path = format!("/work/{WORK_MS}");
    let done = scale_demo(
        "scale-capacity",
        &[
            "--instances",
            "1,2",
            "--capacity",
            "--slo",
            "http_req_duration: p(95)<250",
            "--slo",
            "http_req_failed: rate<0.01",
            "--start",
            "10",
            "--step",
            "2s",
            "--settle",
            "500ms",
            "--precision",
            "10%",
            "--path",
            &path,
            "--generator-threads",
            "1",
            "--balancer-threads",
            "1",
        ],
        &[],
        Duration::from_secs(240),
    );
    let s = &done.sweep;
    assert_eq!(s.mode, SweepMode::Capacity);
    assert_eq!(s.slos.len(), 2);
    let truth = 1000.0 / WORK_MS as f64;
    for run in &s.sweep {
        let search = run.capacity.as_ref().expect("the search is kept per count");
        for step in &search.steps {
            assert_accounting(&step.result);
        }
        let cap = run.capacity_rps.expect("a capacity was found");
        let expected = truth * run.instances as f64;
        assert!(
            (0.85 * expected..=1.1 * expected).contains(&cap),
            "{} instance(s): capacity {cap:.1}, expected about {expected} (steps: {:?})",
            run.instances,
            search.steps.iter().map(|s| (s.figures.offered_rps, s.good)).collect::<Vec<_>>()
        );
        assert!(run.capacity_upper_rps.is_some_and(|u| u > cap));
        assert!(!search.bound_by.is_empty(), "what bound it is named");
        // The run's figures are those of the step at the capacity, with every instance sampled.
        let target = run.result.open_model.as_ref().map_or(0.0, |o| o.target_rps);
        assert!((target - cap).abs() < 1e-6, "the step at the capacity: {target} vs {cap}");
        let server = run.result.server.as_ref().expect("server observation");
        assert_eq!(server.instances.len(), run.instances);
        assert!(server.instances.iter().all(|i| !i.samples.is_empty()), "{server:?}");
        assert_eq!(run.served.len(), run.instances);
        assert!(run.served.iter().all(|&n| n > 0), "{:?}", run.served);
    }
    let speedup = s.rows[1].speedup.expect("speedup of capacity");
    assert!((1.6..=2.4).contains(&speedup), "two instances hold about twice the load: {speedup}");
    assert_eq!(s.rows[1].capacity_rps, s.sweep[1].capacity_rps);
    let md = &done.markdown;
    assert!(md.starts_with("# Capacity per instance count of"), "{md}");
    assert!(md.contains("| speedup (of capacity) |"), "{md}");
    let cap_line =
        md.lines().find(|l| l.starts_with("| capacity (req/s within the SLOs) |")).unwrap();
    assert!(!cap_line.contains('—'), "both counts found one: {cap_line}");
    assert!(md.contains("## Capacity search per instance count"), "{md}");
    let findings = s.analysis.findings.join("\n");
    assert!(findings.contains("capacity"), "{findings}");
    assert!(done.run.stderr.contains("capacity"), "{}", done.run.streams());
}

/// Free ports on 127.0.0.1 (released before use: the script binds them).
fn free_ports(n: usize) -> Vec<u16> {
    let ls: Vec<TcpListener> = (0..n).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    ls.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

/// The "deployment": `scale.sh N` stops the instances it started before, starts N
/// single-threaded demo instances on fixed ports (named `$TAG-web`) and (re)configures its own
/// nginx in front of them on `$LB_PORT`, adding `X-Served-By: $upstream_addr`, as seed 003's
/// compose project does.
const SCRIPT: &str = r#"#!/bin/bash
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
n=$1
for f in "$dir"/inst-*.pid; do
  [ -e "$f" ] || continue
  kill "$(cat "$f")" 2>/dev/null || true
  rm -f "$f"
done
servers=""
i=0
for port in $PORTS; do
  i=$((i + 1))
  [ "$i" -le "$n" ] || break
  bash -c "exec -a $TAG-web $VOLLEY serve-demo --threads 1 --port $port" >/dev/null 2>&1 &
  echo $! > "$dir/inst-$i.pid"
  servers="$servers    server 127.0.0.1:$port;
"
done
mkdir -p "$dir/tmp"
cat > "$dir/nginx.conf" <<EOF
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/client_body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  upstream web {
$servers  }
  server {
    listen 127.0.0.1:$LB_PORT;
    location / {
      proxy_pass http://web;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      add_header X-Served-By \$upstream_addr always;
    }
  }
}
EOF
if [ -s "$dir/nginx.pid" ] && kill -0 "$(cat "$dir/nginx.pid")" 2>/dev/null; then
  nginx -p "$dir" -c "$dir/nginx.conf" -s reload >/dev/null 2>&1
else
  nginx -p "$dir" -c "$dir/nginx.conf" >/dev/null 2>&1
fi
echo "deployment at $n instance(s)"
"#;

/// The scripted deployment of one test: its folder with `scale.sh`, the balancer's port and
/// `instances` ports for instances, and the mark and tag of its processes. Dropped, it kills
/// whatever the deployment left running (its instances and nginx outlive volley by design).
struct ScriptedDeployment {
    dir: tempfile::TempDir,
    lb: u16,
    instance_ports: Vec<u16>,
    mark: String,
    tag: String,
    scale_cmd: String,
}

impl ScriptedDeployment {
    fn new(instances: usize, name: &str) -> ScriptedDeployment {
        let dir = temp_dir();
        let script = dir.path().join("scale.sh");
        std::fs::write(&script, SCRIPT).unwrap();
        let mut ports = free_ports(instances + 1);
        let lb = ports.remove(0);
        let scale_cmd = format!("bash {} {{n}}", script.display());
        ScriptedDeployment {
            dir,
            lb,
            instance_ports: ports,
            mark: unique_mark(name),
            tag: format!("volley-{name}-{}", std::process::id()),
            scale_cmd,
        }
    }

    fn path(&self, file: &str) -> std::path::PathBuf {
        self.dir.path().join(file)
    }

    /// `volley scale` with `--scale-cmd`, `--url` and `--ready-path` of this deployment, then
    /// `args`, with the environment its script reads.
    fn scale(&self, args: &[&str]) -> std::process::Command {
        let url = format!("http://127.0.0.1:{}", self.lb);
        let head =
            ["scale", "--scale-cmd", &self.scale_cmd, "--url", &url, "--ready-path", "/health"];
        let mut cmd = volley_command(&[&head[..], args].concat());
        let ports: Vec<String> = self.instance_ports.iter().map(u16::to_string).collect();
        cmd.env(MARK, &self.mark)
            .env("PORTS", ports.join(" "))
            .env("LB_PORT", self.lb.to_string())
            .env("TAG", &self.tag)
            .env("VOLLEY", VOLLEY);
        cmd
    }
}

impl Drop for ScriptedDeployment {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("nginx.pid"))
            && let Ok(pid) = pid.trim().parse::<i32>()
        {
            // SAFETY: kill has no memory preconditions.
            unsafe { libc::kill(pid, libc::SIGQUIT) };
        }
        for pid in marked_pids(&self.mark) {
            // SAFETY: as above.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    }
}

#[test]
fn a_deployment_scaled_by_its_own_command_is_swept() {
    if !nginx_available() {
        return;
    }
    let d = ScriptedDeployment::new(3, "deploy");
    let (out, md) = (d.path("sweep.json"), d.path("sweep.md"));
    let cmd = d.scale(&[
        "--instances",
        "1,2,3",
        "--backend-header",
        "X-Served-By",
        "--watch-name",
        &format!("{}-web", d.tag),
        "--path",
        "/work/2",
        "-c",
        "6",
        "-n",
        "600",
        "--warmup",
        "0s",
        "--generator-threads",
        "1",
        "-o",
        out.to_str().unwrap(),
        "--report",
        md.to_str().unwrap(),
    ]);
    let run = Spawned::start(cmd).wait(Duration::from_secs(120));
    run.expect_code(0);
    let s: Sweep = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(s.balancer, "deployment");
    assert_eq!(s.command, std::slice::from_ref(&d.scale_cmd));
    assert_eq!(s.sweep.len(), 3);
    for r in &s.sweep {
        let n = r.instances;
        assert_eq!(r.requests, 600);
        assert_eq!(r.failures, 0, "{:?}", r.result.status_codes);
        assert_accounting(&r.result);
        // N distinct backends answered, every request tallied to one of them.
        assert_eq!(r.backend_names.len(), n, "{:?}", r.backend_names);
        let expected: Vec<String> =
            d.instance_ports[..n].iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let mut names = r.backend_names.clone();
        names.sort();
        let mut want = expected.clone();
        want.sort();
        assert_eq!(names, want);
        assert_eq!(r.served.iter().sum::<u64>(), 600, "{:?}", r.served);
        assert!(r.served.iter().all(|&k| k > 100), "round-robin: {:?}", r.served);
        // One sampled row per instance process.
        let server = r.result.server.as_ref().expect("server observation");
        assert_eq!(server.instances.len(), n, "{server:?}");
        assert!(server.instances.iter().all(|i| !i.samples.is_empty() && i.mem_bytes_max > 0));
        assert_eq!(r.cpu_pct.len(), n);
        assert_eq!(r.mem_bytes.len(), n);
        assert!(r.balancer_cpu_pct.is_none(), "the deployment's balancer is not volley's");
    }
    assert!(s.analysis.usl.is_some(), "three counts are fitted");
    let stderr = &run.stderr;
    for n in 1..=3 {
        assert!(stderr.contains(&format!("scaling the deployment to {n} instance(s)")), "{stderr}");
        assert!(
            stderr.contains(&format!("{n} instance(s) ready: {n} distinct backend(s)")),
            "{stderr}"
        );
    }
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.contains("a deployment scaled by its own command"), "{md}");
    for row in ["| traffic (requests/s) |", "| CPU per instance |", "| memory per instance |"] {
        let line = md.lines().find(|l| l.starts_with(row)).unwrap_or_else(|| panic!("{row}: {md}"));
        assert!(!line.contains(" - "), "every count has a figure: {line}");
    }
}

/// A plan that names its own backend header (`defaults.backend_header`) is tallied by it under
/// `--scale-cmd`, and the readiness poll waits for that many distinct backends, without
/// `--backend-header`.
#[test]
fn a_plans_own_backend_header_tells_a_scaled_deployments_instances_apart() {
    if !nginx_available() {
        return;
    }
    let d = ScriptedDeployment::new(2, "deploy-plan");
    let plan = d.path("plan.yaml");
    std::fs::write(
        &plan,
        "base_url: http://127.0.0.1:1\ndefaults:\n  backend_header: X-Served-By\nscenarios:\n  \
         s:\n    executor: shared-iterations\n    vus: 4\n    iterations: 400\n    flows:\n      \
         - steps:\n          - get: /work/2\n",
    )
    .unwrap();
    let out = d.path("sweep.json");
    let cmd = d.scale(&[
        "--instances",
        "2",
        "--plan",
        plan.to_str().unwrap(),
        "--warmup",
        "0s",
        "--generator-threads",
        "1",
        "-o",
        out.to_str().unwrap(),
    ]);
    let run = Spawned::start(cmd).wait(Duration::from_secs(120));
    run.expect_code(0);
    assert!(run.stderr.contains("2 instance(s) ready: 2 distinct backend(s)"), "{}", run.stderr);
    let s: Sweep = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let r = &s.sweep[0];
    assert_eq!((r.requests, r.failures), (400, 0), "{:?}", r.result.status_codes);
    assert_eq!(r.backend_names.len(), 2, "{:?}", r.backend_names);
    assert_eq!(r.served.iter().sum::<u64>(), 400, "{:?}", r.served);
    assert_eq!(r.unattributed, 0);
}

#[test]
fn a_failing_scale_command_stops_the_sweep_with_its_output() {
    let out = volley(
        &[
            "scale",
            "--instances",
            "1",
            "--scale-cmd",
            "echo cannot scale to {n} >&2; exit 4",
            "--url",
            "http://127.0.0.1:1",
        ],
        RUN_TIMEOUT,
    );
    out.expect_code(1);
    assert!(
        out.stderr.contains("the scale command `echo cannot scale to 1 >&2; exit 4` failed"),
        "{}",
        out.streams()
    );
    assert!(out.stderr.contains("cannot scale to 1"), "{}", out.streams());
}

#[test]
fn scale_flag_mistakes_are_usage_errors() {
    let cases: &[(&[&str], &str)] = &[
        (&["scale", "-i", "1", "--scale-cmd", "true", "--url", "http://127.0.0.1:1"], "has no {n}"),
        (
            &[
                "scale",
                "-i",
                "1",
                "--scale-cmd",
                "x {n}",
                "--url",
                "http://127.0.0.1:1",
                "--",
                "app",
            ],
            "drop the command after `--`",
        ),
        (
            &["scale", "-i", "1", "--scale-cmd", "x {n}", "--url", "http://127.0.0.1:1/api"],
            "without a path",
        ),
        (
            &["scale", "-i", "1", "--slo", "http_req_failed: rate<0.01", "--", "app"],
            "add --capacity",
        ),
        (&["scale", "-i", "1", "--capacity", "-n", "10", "--", "app"], "drop --rps, -n and -d"),
        (&["scale", "-i", "1"], "give the service's command after `--`"),
        (
            &[
                "scale",
                "-i",
                "1",
                "--scale-cmd",
                "x {n}",
                "--url",
                "http://127.0.0.1:1",
                "--watch-cgroup-glob",
                "/sys/[",
                "--warmup",
                "0s",
            ],
            "is not a usable pattern",
        ),
    ];
    for (args, said) in cases {
        let out = volley(args, RUN_TIMEOUT);
        out.expect_code(2);
        assert!(out.stderr.contains(said), "{args:?}: {}", out.streams());
    }
}
