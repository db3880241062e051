//! `volley k8s` through the binary: the manifests (a snapshot, and validated against
//! Kubernetes' schemas by the real `kubernetes-validate`), and `--apply` against a FAKE kubectl
//! first on PATH that records its arguments and, for `logs`, prints what real local
//! `volley run` shards of the plan printed (`-o -`, framed) against a local server whose own
//! count is the truth: the merged total equals it. Also `volley run -o -` and
//! `--no-threshold-exit`, and the errors (kubectl missing or failing, a failed Job, files
//! outside the plan's folder, more pods than the plan has work for).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::segments::start_in;
use crate::support::*;

const BEGIN: &str = "-----BEGIN VOLLEY RESULT-----";
const END: &str = "-----END VOLLEY RESULT-----";

/// A plan of 90 shared iterations over 3 VUs against `url`, with a threshold on the count.
fn plan(dir: &Path, url: &str, threshold: &str) -> PathBuf {
    std::fs::write(dir.join("users.csv"), "user\nalice\nbob\n").unwrap();
    let path = dir.join("plan.yaml");
    let text = format!(
        "base_url: {url}\ndata:\n  users: users.csv\nscenarios:\n  s:\n    executor: shared-iterations\n    \
         vus: 3\n    iterations: 90\n    flows:\n      - steps:\n          - {{ get: \"/a?u={{{{ user }}}}\", name: a }}\n\
         thresholds:\n  http_reqs: [\"{threshold}\"]\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// The text between the markers of `stdout`, parsed.
fn unframe(stdout: &str) -> RunResult {
    let start = stdout.find(BEGIN).unwrap_or_else(|| panic!("no frame in {stdout}"));
    let end = stdout.find(END).unwrap_or_else(|| panic!("no end of frame in {stdout}"));
    parse_result(&stdout[start + BEGIN.len()..end])
}

/// A fake kubectl in `dir`: appends each call's arguments to `calls`, keeps what `apply` is
/// given in `applied.yaml`, answers `get pods` with `pods` pods named `job-<i>-x` and
/// `logs pod/job-<i>-x` with `logs/<i>.txt`. `mode` makes one step fail: `apply-fails`,
/// `job-fails` (never completes; the Job's status says Failed).
fn fake_kubectl(dir: &Path, pods: usize, mode: &str) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(bin.join("logs")).unwrap();
    let items: Vec<String> = (0..pods)
        .map(|i| {
            format!(
                r#"{{"metadata":{{"name":"job-{i}-x","annotations":{{"batch.kubernetes.io/job-completion-index":"{i}"}}}}}}"#
            )
        })
        .collect();
    let script = format!(
        r#"#!/bin/sh
here=$(dirname "$0")
echo "$*" >> "$here/calls"
[ "$1" = "--namespace" ] && shift 2
case "$1" in
  apply)
    cat > "$here/applied.yaml"
    if [ "{mode}" = apply-fails ]; then echo 'Error from server (Forbidden): jobs.batch is forbidden' >&2; exit 1; fi
    echo "job.batch/x created" ;;
  wait)
    if [ "{mode}" = job-fails ]; then echo 'error: timed out waiting for the condition' >&2; exit 1; fi
    echo "job.batch/x condition met" ;;
  get)
    if [ "$2" = pods ]; then echo '{{"items":[{items}]}}'; exit 0; fi
    echo '{{"status":{{"failed":1,"conditions":[{{"type":"Failed","status":"True","reason":"BackoffLimitExceeded","message":"Job has reached the specified backoff limit"}}]}}}}' ;;
  logs)
    i=$(echo "$2" | sed 's/^pod\/job-\([0-9]*\)-x$/\1/')
    cat "$here/logs/$i.txt" ;;
  delete) echo deleted ;;
  *) echo "fake kubectl: unexpected $*" >&2; exit 3 ;;
esac
"#,
        items = items.join(",")
    );
    let path = bin.join("kubectl");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// `volley ARGS` with `bin` first on PATH.
fn volley_with_path(args: &[&str], bin: &Path) -> Output {
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut cmd = volley_command(args);
    cmd.env("PATH", path);
    Spawned::start(cmd).wait(RUN_TIMEOUT)
}

/// Runs the plan as `n` pods would (segment i of n, `-o -`, started together) and keeps each
/// one's stdout as pod i's logs.
fn shards_as_pods(plan: &Path, n: usize, bin: &Path) {
    let seq = (0..=n)
        .map(|i| match i {
            0 => "0".to_string(),
            i if i == n => "1".to_string(),
            i => format!("{i}/{n}"),
        })
        .collect::<Vec<_>>()
        .join(",");
    let at = start_in(2);
    let children: Vec<(usize, Spawned)> = (0..n)
        .map(|i| {
            let index = i.to_string();
            let args = [
                "run",
                plan.to_str().unwrap(),
                "--execution-segment-sequence",
                &seq,
                "--execution-segment-index",
                &index,
                "--start-at",
                &at,
                "-o",
                "-",
                "--no-threshold-exit",
            ];
            (i, Spawned::start(volley_command(&args)))
        })
        .collect();
    for (i, c) in children {
        let out = c.wait(RUN_TIMEOUT);
        out.expect_code(0);
        std::fs::write(bin.join("logs").join(format!("{i}.txt")), &out.stdout).unwrap();
    }
}

#[test]
fn apply_runs_collects_merges_and_cleans_up() {
    let server = TestServer::start(Behavior::ok());
    let dir = temp_dir();
    let plan = plan(dir.path(), &server.url(""), "count<1000");
    let bin = fake_kubectl(dir.path(), 3, "ok");
    shards_as_pods(&plan, 3, &bin);
    let sent = server.requests();
    assert_eq!(sent, 90, "the shards together ran the plan's 90 iterations");

    let out = dir.path().join("merged.json");
    let report = dir.path().join("merged.html");
    let manifests = dir.path().join("applied.yaml");
    let args = [
        "k8s",
        plan.to_str().unwrap(),
        "--parallelism",
        "3",
        "--namespace",
        "load",
        "--apply",
        "-o",
        out.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        "--manifests",
        manifests.to_str().unwrap(),
        "--start-delay",
        "1s",
    ];
    let o = volley_with_path(&args, &bin);
    o.expect_code(0);
    let m = read_result(&out);
    assert_accounting(&m);
    assert_eq!(m.totals.requests, sent, "the merged total is the server's count");
    assert_eq!(m.totals.iterations, 90);
    assert_eq!(m.config.merged_segments, ["0:1/3", "1/3:2/3", "2/3:1"]);
    assert_eq!(m.config.execution_segment, None, "the whole test");
    assert!(o.stdout.contains("90"), "the summary: {}", o.streams());
    assert!(std::fs::read_to_string(&report).unwrap().contains("<html"));

    // kubectl was driven in this order, in the namespace, and was given the manifests saved.
    let calls = std::fs::read_to_string(bin.join("calls")).unwrap();
    let verbs: Vec<&str> = calls.lines().map(|l| l.split(' ').nth(2).unwrap_or("")).collect();
    assert_eq!(verbs, ["apply", "wait", "get", "logs", "logs", "logs", "delete"], "{calls}");
    assert!(calls.lines().all(|l| l.starts_with("--namespace load ")), "{calls}");
    assert!(calls.contains("logs pod/job-2-x -c volley"), "{calls}");
    let name = calls.lines().last().unwrap().split(' ').nth(3).unwrap().to_string();
    assert!(name.starts_with("job/volley-plan-"), "{calls}");
    assert!(calls.contains(&format!("wait --for=condition=complete --timeout=5s {name}")));
    let applied = std::fs::read_to_string(bin.join("applied.yaml")).unwrap();
    assert_eq!(applied, std::fs::read_to_string(&manifests).unwrap());
    assert!(applied.contains("completionMode: Indexed") && applied.contains("namespace: load"));
    assert!(applied.contains("users.csv: |\n    user\n    alice\n    bob\n"), "{applied}");

    // A threshold crossed only in aggregate (each pod sent 30, together 90): exit 99.
    let plan = self::plan(dir.path(), &server.url(""), "count<50");
    shards_as_pods(&plan, 3, &bin);
    let o = volley_with_path(&args, &bin);
    o.expect_code(99);
    let m = read_result(&out);
    assert!(!m.thresholds[0].ok && m.thresholds[0].observed == Some(90.0), "{:?}", m.thresholds);
}

#[test]
fn run_prints_the_result_framed_on_stdout() {
    let server = TestServer::start(Behavior::ok());
    let dir = temp_dir();
    let plan = plan(dir.path(), &server.url(""), "count<10");
    let o = volley(&["run", plan.to_str().unwrap(), "-o", "-"], RUN_TIMEOUT);
    o.expect_code(99);
    // The summary first, then the frame: a log reader finds it among other lines.
    let at = o.stdout.find(BEGIN).unwrap();
    assert!(o.stdout[..at].contains("http_reqs"), "{}", o.streams());
    assert!(o.stdout.ends_with(&format!("{END}\n")), "{}", o.streams());
    let r = unframe(&o.stdout);
    assert_accounting(&r);
    assert_eq!(r.totals.requests, server.requests());
    assert_eq!(r.totals.requests, 90);
    // The crossed threshold is judged and kept, but does not set the exit code.
    let o = volley(
        &["run", plan.to_str().unwrap(), "-o", "-", "-q", "--no-threshold-exit"],
        RUN_TIMEOUT,
    );
    o.expect_code(0);
    assert!(o.stdout.starts_with(BEGIN), "-q: only the frame; {}", o.streams());
    assert!(!unframe(&o.stdout).thresholds[0].ok);
}

#[test]
fn kubectl_missing_failing_or_a_failed_job_exit_1_naming_it() {
    let dir = temp_dir();
    let plan = plan(dir.path(), "http://127.0.0.1:9", "count<10");
    let p = plan.to_str().unwrap();
    let args = ["k8s", p, "--parallelism", "2", "--apply", "--start-delay", "1s"];

    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let mut cmd = volley_command(&args);
    cmd.env("PATH", &empty);
    let o = Spawned::start(cmd).wait(RUN_TIMEOUT);
    o.expect_code(1);
    assert!(o.stderr.contains("kubectl was not found on PATH"), "{}", o.streams());

    let bin = fake_kubectl(&dir.path().join("apply"), 2, "apply-fails");
    let o = volley_with_path(&args, &bin);
    o.expect_code(1);
    assert!(o.stderr.contains("`kubectl apply -f -` failed (exit 1)"), "{}", o.streams());
    assert!(o.stderr.contains("jobs.batch is forbidden"), "{}", o.streams());
    let calls = std::fs::read_to_string(bin.join("calls")).unwrap();
    assert!(calls.lines().last().unwrap().starts_with("delete job/volley-plan-"), "{calls}");

    let bin = fake_kubectl(&dir.path().join("job"), 2, "job-fails");
    let o = volley_with_path(&args, &bin);
    o.expect_code(1);
    assert!(
        o.stderr
            .contains("failed: BackoffLimitExceeded: Job has reached the specified backoff limit"),
        "{}",
        o.streams()
    );
    let calls = std::fs::read_to_string(bin.join("calls")).unwrap();
    assert!(!calls.contains("logs"), "{calls}");
    assert!(calls.lines().last().unwrap().starts_with("delete "), "{calls}");

    // --keep keeps what was created.
    let bin = fake_kubectl(&dir.path().join("keep"), 2, "job-fails");
    let mut keep = args.to_vec();
    keep.push("--keep");
    let o = volley_with_path(&keep, &bin);
    o.expect_code(1);
    assert!(!std::fs::read_to_string(bin.join("calls")).unwrap().contains("delete"));
}

#[test]
fn user_mistakes_exit_2_before_anything_is_created() {
    let dir = temp_dir();
    let plan = plan(dir.path(), "http://127.0.0.1:9", "count<10");
    let p = plan.to_str().unwrap();
    let o = volley(&["k8s", p, "--parallelism", "4"], RUN_TIMEOUT);
    o.expect_code(2);
    assert!(o.stderr.contains("segment 3/4:1 would get no share"), "{}", o.streams());
    assert!(o.stderr.contains("--parallelism 3 at most"), "{}", o.streams());
    for (flag, value) in [("--memory-limit", "1GB"), ("--name", "Bad_Name"), ("--namespace", "x-")]
    {
        let o = volley(&["k8s", p, "--parallelism", "2", flag, value], RUN_TIMEOUT);
        o.expect_code(2);
        assert!(o.stderr.contains(value), "{}", o.streams());
    }
    let inner = dir.path().join("inner");
    std::fs::create_dir_all(&inner).unwrap();
    let outside = inner.join("plan.yaml");
    let text = std::fs::read_to_string(&plan).unwrap().replace("users.csv", "../users.csv");
    std::fs::write(&outside, text).unwrap();
    let o = volley(&["k8s", outside.to_str().unwrap(), "--parallelism", "2"], RUN_TIMEOUT);
    o.expect_code(2);
    assert!(o.stderr.contains("`../users.csv`: the plan reads a file outside"), "{}", o.streams());
}

/// Fixed inputs (`--start-at`, the plan's text) give fixed manifests.
fn snapshot_manifests(dir: &Path) -> String {
    let plan = plan(dir, "http://shop.default.svc:3000", "count<1000");
    std::fs::write(dir.join("body.bin"), b"\x00\xffbinary").unwrap();
    let text = std::fs::read_to_string(&plan)
        .unwrap()
        .replace("name: a }", "name: a }\n          - { post: /upload, body_file: body.bin }");
    std::fs::write(&plan, text).unwrap();
    let args = [
        "k8s",
        plan.to_str().unwrap(),
        "--parallelism",
        "3",
        "--start-at",
        &start_in(60),
        "--name",
        "volley-shop",
        "--image",
        "registry.example/volley:0.1.0",
        "--cpu-limit",
        "2",
        "--set",
        "scenarios.s.iterations=300",
        "--seed",
        "7",
    ];
    let o = volley(&args, RUN_TIMEOUT);
    o.expect_code(0);
    assert!(o.stderr.is_empty(), "{}", o.streams());
    o.stdout.clone()
}

#[test]
fn manifests_snapshot() {
    let dir = temp_dir();
    let text = snapshot_manifests(dir.path());
    // The start time is the test's own (a minute from now); the rest is fixed.
    let at = start_at_of(&text);
    insta::assert_snapshot!(text.replace(&at, "START_AT"));
}

/// The `--start-at` value in the manifests.
fn start_at_of(text: &str) -> String {
    let i = text.find("\"--start-at\"\n").expect("--start-at in the args");
    let line = text[i..].lines().nth(1).unwrap();
    line.trim().trim_start_matches("- ").trim_matches('"').to_string()
}

/// `kubernetes-validate` on PATH or in Python's scripts directory (where pip puts it).
fn kubernetes_validate() -> PathBuf {
    let works =
        |p: &PathBuf| Command::new(p).arg("--version").output().is_ok_and(|o| o.status.success());
    let on_path = PathBuf::from("kubernetes-validate");
    if works(&on_path) {
        return on_path;
    }
    if let Ok(o) = Command::new("python3")
        .args(["-c", "import sysconfig; print(sysconfig.get_path('scripts'))"])
        .output()
    {
        let p =
            PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("kubernetes-validate");
        if works(&p) {
            return p;
        }
    }
    panic!(
        "kubernetes-validate is not installed, and this test validates the manifests with it.\n  \
         install it with `pip install kubernetes-validate`; `.ci/run` does this before `cargo test`"
    );
}

#[test]
fn manifests_pass_the_kubernetes_schemas() {
    let tool = kubernetes_validate();
    let dir = temp_dir();
    let file = dir.path().join("manifests.yaml");
    std::fs::write(&file, snapshot_manifests(dir.path())).unwrap();
    // The oldest schemas the tool ships (Indexed Jobs are GA since 1.24) and the newest.
    for version in ["1.25.0", "1.37.0"] {
        let o = Command::new(&tool)
            .args(["--strict", "-k", version, file.to_str().unwrap()])
            .output()
            .unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success(), "kubernetes {version}: {text}");
        assert!(text.contains("passed for resource configmap/volley-shop"), "{text}");
        assert!(text.contains("passed for resource job/volley-shop"), "{text}");
    }
}
