//! Hostile input, absurd flags and signals, through the binary (issue 9): each case ends in
//! one clear message or a counted failure, with the right exit code, bounded in time and (where
//! the case is about memory) under `RLIMIT_AS`.

use std::os::unix::process::CommandExt as _;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

/// Address-space cap for the cases about memory: far below what the bugs took (gigabytes),
/// well above what a debug volley needs to say no.
const MEMORY_CAP: u64 = 1 << 30;

/// `cmd` runs under `RLIMIT_AS = MEMORY_CAP`.
fn capped(mut cmd: Command) -> Command {
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit { rlim_cur: MEMORY_CAP, rlim_max: MEMORY_CAP };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

/// Expects exit `code`, `needle` on stderr, no panic, nothing on stdout.
#[track_caller]
fn fails(out: &Output, code: i32, needle: &str) {
    out.expect_code(code);
    assert!(out.stderr.contains(needle), "stderr should say `{needle}`:\n{}", out.streams());
    assert!(!out.stderr.contains("panicked"), "{}", out.streams());
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

/// "Billion laughs": each level repeats the previous one nine times.
fn laughs(levels: usize) -> String {
    let mut s = String::from("a0: &a0 [lol]\n");
    for i in 1..=levels {
        let refs = vec![format!("*a{}", i - 1); 9].join(", ");
        s.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    s
}

// Item 2 and 23: quick mode's durations are plans' durations.
#[test]
fn quick_mode_durations_are_validated_as_in_plans() {
    let server = TestServer::start(Behavior::ok());
    let url = server.url("/");
    for (flag, value) in [("-d", "18446744073709551615s"), ("--timeout", "9300000000000000000s")] {
        let out = volley(&[&url, flag, value], RUN_TIMEOUT);
        fails(&out, 2, "is too long");
    }
    // `-d 10` is refused as `duration: 10` is in a plan, with the same hint.
    fails(&volley(&[&url, "-d", "10"], RUN_TIMEOUT), 2, "write `10s` or `10ms`");
    let dir = temp_dir();
    let plan = write(
        &dir,
        "p.yaml",
        &format!("base_url: {url}\nvus: 1\nduration: 10\nsteps: [ {{ get: / }} ]\n"),
    );
    fails(&volley(&["validate", &plan], RUN_TIMEOUT), 2, "write `10s` or `10ms`");
    assert_eq!(server.requests(), 0);
}

// Item 3.
#[test]
fn billion_laughs_fails_fast_in_bounded_memory() {
    let dir = temp_dir();
    let plan = write(&dir, "laughs.yaml", &laughs(9));
    assert!(std::fs::metadata(&plan).unwrap().len() < 1000);
    let out = Spawned::start(capped(volley_command(&["validate", &plan]))).wait(RUN_TIMEOUT);
    fails(&out, 2, "aliases expand too much");
    assert!(out.stderr.contains("laughs.yaml:"), "positioned: {}", out.stderr);
    assert!(out.elapsed < Duration::from_secs(10), "{:?}", out.elapsed);
}

// Item 4.
#[test]
fn csv_feeders_on_devices_and_huge_files_are_refused() {
    let dir = temp_dir();
    let big = dir.path().join("big.csv");
    // Sparse: 65 MiB on paper, nothing on disk.
    std::fs::File::create(&big).unwrap().set_len(65 << 20).unwrap();
    for (file, needle) in
        [("/dev/zero", "is a character device"), (big.to_str().unwrap(), "over the limit")]
    {
        let plan = write(
            &dir,
            "p.yaml",
            &format!(
                "base_url: http://127.0.0.1:9\ndata:\n  users: {file}\nvus: 1\nduration: 1s\nsteps: [ {{ get: / }} ]\n"
            ),
        );
        let out = Spawned::start(capped(volley_command(&["validate", &plan]))).wait(RUN_TIMEOUT);
        fails(&out, 2, needle);
        assert!(out.stderr.contains("p.yaml:3:10"), "positioned: {}", out.stderr);
    }
    let out = volley(&["http://127.0.0.1:9/", "--body-file", "/dev/zero"], RUN_TIMEOUT);
    fails(&out, 2, "is a character device");
}

// Item 6.
#[test]
fn ports_above_65535_are_rejected_or_counted() {
    fails(&volley(&["http://127.0.0.1:108279/"], RUN_TIMEOUT), 2, "invalid port");
    // A plan URL that renders to a bad port is a counted failure, not port 80.
    let server = TestServer::start(Behavior::ok());
    let dir = temp_dir();
    let port = server.addr().port();
    write(&dir, "ports.csv", &format!("port\n{port}\n108279\n"));
    let plan = write(
        &dir,
        "p.yaml",
        "scenarios:\n  s: { executor: shared-iterations, vus: 1, iterations: 4, steps: [ { get: \"http://127.0.0.1:{{ port }}/\" } ] }\ndata:\n  ports: ports.csv\n",
    );
    let (r, out) = volley_json(&["run", &plan], 0);
    assert!(out.stderr.contains("invalid port"), "the reason is given: {}", out.stderr);
    assert_eq!(out.stderr.matches("warning: step").count(), 1, "once: {}", out.stderr);
    assert_accounting(&r);
    assert_eq!(r.totals.requests, 4);
    assert_eq!(r.totals.responses, 2);
    assert_eq!(r.failures.get("other"), Some(&2), "{:?}", r.failures);
    assert_eq!(server.requests(), 2);
}

// Item 7.
#[test]
fn a_run_that_sends_nothing_exits_1_and_validate_refuses_zero_plans() {
    let server = TestServer::start(Behavior::ok());
    let dir = temp_dir();
    // A run too short for any VU to start a request.
    let out_path = dir.path().join("r.json");
    let out = volley(
        &[&server.url("/"), "-d", "1ns", "-q", "-o", out_path.to_str().unwrap()],
        RUN_TIMEOUT,
    );
    fails(&out, 1, "sent no request");
    assert_eq!(read_result(&out_path).totals.requests, 0, "the result is still saved");
    let zero = write(
        &dir,
        "zero.yaml",
        &format!(
            "base_url: {}\nstages: [ {{ duration: 0s, target: 5 }} ]\nsteps: [ {{ get: / }} ]\n",
            server.url("")
        ),
    );
    fails(&volley(&["validate", &zero], RUN_TIMEOUT), 2, "every stage lasts 0s");
    fails(&volley(&["run", &zero], RUN_TIMEOUT), 2, "every stage lasts 0s");
    assert_eq!(server.requests(), 0);
}

/// Starts a 30 s quick run against a server that answers after 5 s (so that requests are in
/// flight when the signals come), waits until it runs.
fn long_run(server: &TestServer, out: &std::path::Path) -> Spawned {
    let child = Spawned::start(volley_command(&[
        &server.url("/"),
        "-d",
        "30s",
        "-c",
        "2",
        "-q",
        "-o",
        out.to_str().unwrap(),
    ]));
    let start = Instant::now();
    while server.connections() < 2 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(server.connections() >= 2, "the run started");
    child
}

// Item 9.
#[test]
fn two_ctrl_c_still_save_the_result() {
    let server = TestServer::start(Behavior::ok().delay(Duration::from_secs(5)));
    let dir = temp_dir();
    let path = dir.path().join("r.json");
    let child = long_run(&server, &path);
    child.signal(libc::SIGINT);
    std::thread::sleep(Duration::from_millis(500));
    child.signal(libc::SIGINT);
    let out = child.wait(RUN_TIMEOUT);
    out.expect_code(130);
    assert!(out.elapsed < Duration::from_secs(20), "stopped promptly: {:?}", out.elapsed);
    let r = read_result(&path);
    assert!(r.interrupted);
    assert_accounting(&r);
}

#[test]
fn sighup_and_sigterm_save_the_result() {
    for sig in [libc::SIGHUP, libc::SIGTERM] {
        let server = TestServer::start(Behavior::ok().delay(Duration::from_millis(200)));
        let dir = temp_dir();
        let path = dir.path().join("r.json");
        let child = long_run(&server, &path);
        child.signal(sig);
        child.wait(RUN_TIMEOUT).expect_code(130);
        let r = read_result(&path);
        assert!(r.interrupted, "signal {sig}");
        assert!(r.totals.requests >= 1, "signal {sig}: {}", r.totals.requests);
        assert_accounting(&r);
    }
}

// Item 10.
#[test]
fn output_paths_are_checked_before_any_load() {
    let server = TestServer::start(Behavior::ok());
    let url = server.url("/");
    let dir = temp_dir();
    let d = dir.path().to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["-o", "/nonexistent/dir/x.json"], "does not exist"),
        (&["--report", "x.docx"], "report format"),
        (&["-o", d], "is a folder"),
        (&["--report", "/nonexistent/dir/r.html"], "does not exist"),
    ];
    for (flags, needle) in cases {
        let mut args = vec![url.as_str(), "-n", "5"];
        args.extend(flags);
        let out = volley(&args, RUN_TIMEOUT);
        fails(&out, 2, needle);
        assert!(out.elapsed < Duration::from_secs(10));
    }
    let plan = write(
        &dir,
        "p.yaml",
        &format!("base_url: {url}\nvus: 1\niterations: 3\nsteps: [ {{ get: / }} ]\n"),
    );
    fails(&volley(&["run", &plan, "--report", "r.docx"], RUN_TIMEOUT), 2, "report format");
    assert_eq!(server.requests(), 0, "nothing was sent");
}

// Item 11.
#[test]
fn cluster_exit_codes_follow_the_signal() {
    for (sig, code) in [(libc::SIGTERM, 143), (libc::SIGINT, 130)] {
        let cmd = volley_command(&[
            "cluster",
            "--instances",
            "1",
            "--",
            VOLLEY,
            "serve-demo",
            "--threads",
            "1",
            "--port",
            "{port}",
        ]);
        let (child, _url) = Spawned::start_listening(cmd, RUN_TIMEOUT);
        child.signal(sig);
        child.wait(RUN_TIMEOUT).expect_code(code);
    }
}

// Item 12.
#[test]
fn framing_header_conflicts_are_refused_and_host_is_kept() {
    let server = TestServer::start(Behavior::ok());
    let url = server.url("/");
    let out = volley(&[&url, "-n", "1", "-H", "Content-Length: 99", "-b", "hello"], RUN_TIMEOUT);
    fails(&out, 2, "the body is 5 bytes");
    let out =
        volley(&[&url, "-n", "1", "-H", "Transfer-Encoding: chunked", "-b", "x"], RUN_TIMEOUT);
    fails(&out, 2, "Transfer-Encoding");
    assert_eq!(server.requests(), 0);
    // A matching length is harmless; a Host header is virtual hosting, sent as given.
    let (r, _) = volley_json(
        &[
            &url,
            "-n",
            "1",
            "-m",
            "POST",
            "-H",
            "Content-Length: 5",
            "-b",
            "hello",
            "-H",
            "Host: example.test",
        ],
        0,
    );
    assert_eq!(r.totals.succeeded, 1);
    let req = server.last_request().to_ascii_lowercase();
    assert!(req.contains("host: example.test\r\n"), "{req}");
    assert_eq!(req.matches("content-length").count(), 1, "{req}");
    assert!(req.ends_with("hello"), "{req}");
}

// Item 22.
#[test]
fn help_explains_n_in_the_open_model() {
    let out = volley(&["--help"], RUN_TIMEOUT);
    out.expect_code(0);
    assert!(out.stdout.contains("arrivals"), "{}", out.stdout);
    assert!(out.stdout.contains("dropped"), "{}", out.stdout);
}

// Item 23.
#[test]
fn bom_and_second_documents() {
    let dir = temp_dir();
    let ok = write(
        &dir,
        "bom.yaml",
        "\u{feff}base_url: http://127.0.0.1:9\nvus: 1\nduration: 1s\nsteps: [ { get: / } ]\n",
    );
    volley(&["validate", &ok], RUN_TIMEOUT).expect_code(0);
    let two = write(
        &dir,
        "two.yaml",
        "base_url: http://127.0.0.1:9\nvus: 1\nduration: 1s\nsteps: [ { get: / } ]\n---\nvus: 50\n",
    );
    fails(
        &volley(&["validate", &two], RUN_TIMEOUT),
        2,
        "two.yaml:5:1: error: a second YAML document",
    );
}

#[test]
fn user_info_is_sent_as_basic_auth_and_urls_are_encoded() {
    let server = TestServer::start(Behavior::ok());
    let addr = server.addr();
    let url = format!("http://alice:p%40ss@{addr}/a b/é?q=<x>");
    let (r, _) = volley_json(&[&url, "-n", "1"], 0);
    assert_eq!(r.totals.succeeded, 1);
    let req = server.last_request();
    assert!(req.starts_with("GET /a%20b/%C3%A9?q=%3Cx%3E HTTP/1.1\r\n"), "{req}");
    // base64("alice:p@ss")
    assert!(req.to_ascii_lowercase().contains("authorization: basic ywxpy2u6cebzcw=="), "{req}");
    let target = r.config.target.unwrap();
    assert!(
        !target.contains("p%40ss") && !target.contains("alice"),
        "no password in the result: {target}"
    );
    // The user's own Authorization header wins, as in curl.
    volley_json(&[&url, "-n", "1", "-H", "Authorization: Bearer t"], 0);
    let req = server.last_request().to_ascii_lowercase();
    assert!(req.contains("authorization: bearer t\r\n") && !req.contains("basic"), "{req}");
}
