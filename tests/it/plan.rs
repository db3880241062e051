//! Plans through the binary: `volley validate` on every shipped example, every plan error at
//! once with its position and exit code 2, the override flags, and short `volley run`s of a
//! plan against the demo service (checks, thresholds, exit codes 0 and 99).

use std::path::Path;
use std::time::Duration;

use crate::support::*;

const VALIDATE_TIMEOUT: Duration = Duration::from_secs(30);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `volley ARGS...` in `dir` (so that messages name the plan as the test wrote it).
fn volley_in(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = volley_command(args);
    cmd.current_dir(dir);
    Spawned::start(cmd).wait(VALIDATE_TIMEOUT)
}

#[test]
fn every_example_validates() {
    let mut n = 0;
    for entry in std::fs::read_dir(repo().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let out = volley(&["validate", path.to_str().unwrap()], VALIDATE_TIMEOUT);
        out.expect_code(0);
        assert!(out.stdout.contains(": valid"), "{}", out.streams());
        assert_eq!(out.stderr, "", "validate sends nothing and warns about nothing");
        n += 1;
    }
    assert!(n >= 5, "only {n} examples");
}

#[test]
fn validate_describes_the_seed_002_plan() {
    let plan = repo().join("examples/locust-seed-002.yaml");
    let out = volley(&["validate", plan.to_str().unwrap()], VALIDATE_TIMEOUT);
    out.expect_code(0);
    for needle in [
        "Up to 200 looping VUs for 1m20s over 2 stages",
        "think time 1s..5s",
        "flow index (weight 20, 20%): GET /",
        "flow predict (weight 80, 80%): POST /predict",
        "http_req_failed: rate<0.05",
    ] {
        assert!(out.stdout.contains(needle), "missing `{needle}`:\n{}", out.stdout);
    }
}

const BROKEN: &str = "\
base_url: http://127.0.0.1:3000
variables:
  user: alice
data:
  users: { file: missing.csv }
defaults:
  timeout: 3x
  thinktime: 2s
scenarios:
  shoppers:
    executor: ramping-vu
    stages: [ { duration: 30s, target: 200 } ]
    steps: [ { get: / } ]
  buyers:
    executor: constant-vus
    vus: 10
    duration: 30s
    flows:
      - name: a
        weight: 0
        steps:
          - get: /item/{{ item_id }}?u={{ usr }}
            check: { status: 200, body_containz: ok }
          - post: /x
            json: { n: \"{{ randint(1, 5) }}\" }
      - name: b
        weight: 0
        steps: [ { get: / } ]
thresholds:
  http_req_duration: [\"p95<500\"]
  http_req_failed: [\"avg<0.01\"]
";

#[test]
fn every_plan_error_at_once_with_positions() {
    let dir = temp_dir();
    std::fs::write(dir.path().join("broken.yaml"), BROKEN).unwrap();
    let out = volley_in(dir.path(), &["validate", "broken.yaml"]);
    out.expect_code(2);
    assert_eq!(out.stdout, "");
    for bad in ["panicked", "RUST_BACKTRACE"] {
        assert!(!out.stderr.contains(bad), "{}", out.stderr);
    }
    insta::assert_snapshot!(out.stderr);
}

#[test]
fn run_rejects_a_broken_plan_the_same_way() {
    let dir = temp_dir();
    std::fs::write(dir.path().join("broken.yaml"), BROKEN).unwrap();
    let out = volley_in(dir.path(), &["run", "broken.yaml"]);
    out.expect_code(2);
    for needle in [
        "broken.yaml:7:12: error: bad duration",
        "broken.yaml:8:3: error: unknown key `thinktime` in defaults",
        "did you mean `think_time`?",
        "broken.yaml:19:7: error: the weights of the flows sum to zero",
        "undefined variable `usr`",
        "broken.yaml:5:18: error: data `users`",
    ] {
        assert!(out.stderr.contains(needle), "missing `{needle}`:\n{}", out.streams());
    }
}

#[test]
fn missing_plan_and_bad_yaml() {
    let dir = temp_dir();
    let out = volley_in(dir.path(), &["validate", "nope.yaml"]);
    out.expect_code(2);
    assert!(out.stderr.contains("nope.yaml:1:1: error: cannot read the plan"), "{}", out.stderr);
    std::fs::write(dir.path().join("bad.yaml"), "steps:\n  - get: /\n   post: /x\n").unwrap();
    let out = volley_in(dir.path(), &["validate", "bad.yaml"]);
    out.expect_code(2);
    assert!(out.stderr.contains("bad.yaml:3:4: error: YAML syntax"), "{}", out.stderr);
}

#[test]
fn override_flags() {
    let dir = temp_dir();
    let plan = "base_url: ${TARGET}\nscenarios:\n  s:\n    executor: constant-vus\n    vus: 2\n    duration: 1m\n    steps: [ { get: / } ]\n";
    std::fs::write(dir.path().join("p.yaml"), plan).unwrap();
    // Without the variable: an error naming it.
    let out = volley_in(dir.path(), &["validate", "p.yaml"]);
    out.expect_code(2);
    assert!(out.stderr.contains("p.yaml:1:11: error: environment variable `TARGET` is not set"));
    let out = volley_in(
        dir.path(),
        &[
            "validate",
            "p.yaml",
            "--env",
            "TARGET=http://127.0.0.1:9",
            "--vus",
            "64",
            "--duration",
            "5s",
        ],
    );
    out.expect_code(0);
    assert!(out.stdout.contains("s: 64 looping VUs for 5s"), "{}", out.stdout);
    assert!(out.stdout.contains("base_url: http://127.0.0.1:9/"), "{}", out.stdout);
    let out = volley_in(
        dir.path(),
        &[
            "validate",
            "p.yaml",
            "--env",
            "TARGET=http://h",
            "--set",
            "scenarios.s.vus=16",
            "--set",
            "scenarios.s.think_time=1s..2s",
        ],
    );
    out.expect_code(0);
    assert!(out.stdout.contains("16 looping VUs for 1m0s"), "{}", out.stdout);
    assert!(out.stdout.contains("think time 1s..2s"), "{}", out.stdout);
    let out = volley_in(
        dir.path(),
        &["validate", "p.yaml", "--env", "TARGET=http://h", "--set", "scenarios.s.vus=lots"],
    );
    out.expect_code(2);
    assert!(
        out.stderr.contains("--set scenarios.s.vus=lots:1:1: error: vus must be a whole number"),
        "{}",
        out.stderr
    );
    let out = volley_in(dir.path(), &["validate", "p.yaml", "--set", "novalue"]);
    out.expect_code(2);
    assert!(out.stderr.contains("NAME=VALUE"), "{}", out.stderr);
}

/// The demo plan, shortened, against the real demo service: every check passes, every
/// threshold holds, exit 0; the check and threshold names of the plan are in the result.
#[test]
fn run_demo_plan_passes() {
    let demo = demo();
    let plan = repo().join("examples/demo.yaml");
    let env = format!("BASE_URL={}", demo.url());
    let (r, out) = volley_json(
        &["run", plan.to_str().unwrap(), "--env", &env, "--vus", "2", "--duration", "1s"],
        0,
    );
    assert_accounting(&r);
    assert!(r.totals.requests > 0, "{}", out.streams());
    let names: Vec<&str> = r.checks.iter().map(|c| c.name.as_str()).collect();
    for c in ["predict 200", "json $.label exists", "status 200", "body contains \"hello\""] {
        assert!(names.contains(&c), "check `{c}` missing from {names:?}");
    }
    assert!(r.checks.iter().all(|c| c.fails == 0), "{:?}", r.checks);
    assert_eq!(r.thresholds.len(), 4, "{:?}", r.thresholds);
    assert!(r.thresholds.iter().all(|t| t.ok), "{:?}", r.thresholds);
}

/// A threshold that cannot hold: exit code 99, the threshold marked crossed with its value.
#[test]
fn run_crossed_threshold_exits_99() {
    let demo = demo();
    let dir = temp_dir();
    let plan = format!(
        "base_url: {}\nvus: 2\niterations: 6\nsteps:\n  - get: /status/503\n    name: broken\n    check: {{ status: 200 }}\nthresholds:\n  http_req_failed: [\"rate<0.01\"]\n  \"http_reqs{{name:broken}}\": [\"count==6\"]\n",
        demo.url()
    );
    std::fs::write(dir.path().join("t.yaml"), plan).unwrap();
    let (r, out) = volley_json(&["run", dir.path().join("t.yaml").to_str().unwrap()], 99);
    assert_eq!(r.totals.requests, 6, "{}", out.streams());
    let failed = r.thresholds.iter().find(|t| t.metric == "http_req_failed").unwrap();
    assert!(!failed.ok);
    assert_eq!(failed.observed, Some(1.0));
    let count = r.thresholds.iter().find(|t| t.metric == "http_reqs{name:broken}").unwrap();
    assert!(count.ok, "{count:?}");
    assert_eq!(r.checks.iter().map(|c| c.fails).sum::<u64>(), 6);
}

/// A tiny keep-alive HTTP/1.1 server for the login chain: `POST /login` answers a JSON token
/// and sets a session cookie; `GET /me` answers 200 only with `Authorization: Bearer <token>`
/// (and reports in `X-Cookie` whether the session cookie came back). Stops when dropped.
struct LoginServer {
    addr: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl LoginServer {
    fn start() -> LoginServer {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let Ok((sock, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                sock.set_nonblocking(false).unwrap();
                sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                std::thread::spawn(move || {
                    let mut w = sock.try_clone().unwrap();
                    let mut r = BufReader::new(sock);
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let mut parts = line.split_whitespace();
                        let (method, path) =
                            (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                        let (mut len, mut auth, mut cookie) =
                            (0usize, String::new(), String::new());
                        loop {
                            let mut h = String::new();
                            if r.read_line(&mut h).unwrap_or(0) == 0 {
                                return;
                            }
                            let h = h.trim_end();
                            if h.is_empty() {
                                break;
                            }
                            let (k, v) = h.split_once(':').unwrap_or((h, ""));
                            match k.to_ascii_lowercase().as_str() {
                                "content-length" => len = v.trim().parse().unwrap_or(0),
                                "authorization" => auth = v.trim().to_string(),
                                "cookie" => cookie = v.trim().to_string(),
                                _ => {}
                            }
                        }
                        let mut body = vec![0; len];
                        if r.read_exact(&mut body).is_err() {
                            return;
                        }
                        let body = String::from_utf8_lossy(&body).to_string();
                        let (status, extra, out) = match (method, path) {
                            ("POST", "/login") => {
                                let user = body.strip_prefix("user=").unwrap_or("nobody");
                                (
                                    200,
                                    "Set-Cookie: sid=s3cr3t; Path=/\r\n".to_string(),
                                    format!("{{\"token\":\"t-{user}\"}}"),
                                )
                            }
                            ("GET", "/me") if auth == "Bearer t-alice" => (
                                200,
                                format!("X-Cookie: {}\r\n", cookie.contains("sid=s3cr3t")),
                                "{\"name\":\"alice\"}".to_string(),
                            ),
                            _ => (401, String::new(), "{}".to_string()),
                        };
                        let resp = format!(
                            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n{out}",
                            out.len()
                        );
                        if w.write_all(resp.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        LoginServer { addr, stop }
    }
}

impl Drop for LoginServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Log in, extract the token from the JSON answer, call an authorized endpoint with it: every
/// check passes only if the extracted value reached the later step.
#[test]
fn login_token_chain_against_a_real_server() {
    let server = LoginServer::start();
    let dir = temp_dir();
    let plan = format!(
        "base_url: http://{}\nvus: 2\niterations: 4\nsteps:\n  - post: /login\n    name: login\n    form: {{ user: alice }}\n    extract: {{ token: $.token }}\n    check: {{ name: login 200, status: 200 }}\n  - get: /me\n    name: me\n    headers: {{ Authorization: \"Bearer {{{{ token }}}}\" }}\n    check:\n      - {{ name: me 200, status: 200 }}\n      - {{ name: me is alice, json: {{ $.name: alice }} }}\n",
        server.addr
    );
    std::fs::write(dir.path().join("login.yaml"), plan).unwrap();
    let (r, out) = volley_json(&["run", dir.path().join("login.yaml").to_str().unwrap()], 0);
    assert_eq!(r.totals.requests, 8, "{}", out.streams());
    for name in ["login 200", "me 200", "me is alice"] {
        let c = r
            .checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{name}: {:?}", r.checks));
        assert_eq!((c.passes, c.fails), (4, 0), "{name}");
    }
}
/// Each VU keeps the cookies it is given: the session cookie set by `/login` comes back on
/// `/me` (the server echoes whether it did in `X-Cookie`).
#[test]
fn cookies_come_back_per_vu() {
    let server = LoginServer::start();
    let dir = temp_dir();
    let plan = format!(
        "base_url: http://{}\nvus: 1\niterations: 2\nsteps:\n  - post: /login\n    form: {{ user: alice }}\n    extract: {{ token: $.token }}\n  - get: /me\n    headers: {{ Authorization: \"Bearer {{{{ token }}}}\" }}\n    check: {{ name: cookie came back, header: {{ X-Cookie: \"true\" }} }}\n",
        server.addr
    );
    std::fs::write(dir.path().join("cookies.yaml"), plan).unwrap();
    let (r, out) = volley_json(&["run", dir.path().join("cookies.yaml").to_str().unwrap()], 0);
    let c = r.checks.iter().find(|c| c.name == "cookie came back").expect("the check");
    assert_eq!((c.passes, c.fails), (2, 0), "{}", out.streams());
}
