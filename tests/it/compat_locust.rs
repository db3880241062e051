//! Compatibility with Locust's `--csv` output, against the real Locust: the same scenario (two
//! users, one task that succeeds with a 100-byte body, one that gets a 500, a constant 50 ms
//! wait) runs in Locust (headless, `--csv`) and in volley (`run --report PREFIX.csv`) against the
//! same demo service on 127.0.0.1, for a few seconds each (Locust 8 s: it needs time to start, volley 5 s). The files must have the same
//! names and byte-for-byte the same headers, and their columns must mean the same: rows,
//! order, counts (with tolerances where they depend on timing), content sizes, failure texts.
//!
//! Locust is required: when `locust` is not on the PATH the test fails and says how to install
//! it (`pip install locust`; `.ci/run` does).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

const LOCUSTFILE: &str = r#"from locust import HttpUser, constant, task


class Shopper(HttpUser):
    wait_time = constant(0.05)

    @task
    def ok(self):
        self.client.get("/bytes/100")

    @task
    def fail(self):
        self.client.get("/status/500")
"#;

fn plan(base: &str) -> String {
    format!(
        "base_url: {base}
scenarios:
  shoppers:
    executor: constant-vus
    vus: 2
    duration: 5s
    think_time: 50ms
    flows:
      - name: ok
        steps:
          - get: /bytes/100
      - name: fail
        steps:
          - get: /status/500
"
    )
}

/// Runs the real Locust for 8 s with 2 users (both started at once), writing `locust_*.csv` into `dir`.
fn run_locust(dir: &Path, host: &str) {
    let locustfile = dir.join("locustfile.py");
    std::fs::write(&locustfile, LOCUSTFILE).unwrap();
    let mut child = match Command::new("locust")
        .args(["-f", locustfile.to_str().unwrap(), "--headless", "-u", "2", "-r", "10"])
        .args(["-t", "8s", "--host", host, "--csv"])
        .arg(dir.join("locust"))
        .args(["--only-summary", "--loglevel", "WARNING", "--stop-timeout", "1"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!(
            "this test runs the real Locust, which is not installed ({e}): \
             install it with `pip install locust` (`.ci/run` does)"
        ),
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("locust still running after 90 s: killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).ok();
    // Locust exits 1 when any request failed (`--exit-code-on-error`), as here on purpose.
    assert!(matches!(status.code(), Some(0 | 1)), "locust failed: {status:?}\n{err}");
}

fn csv_files(dir: &Path, prefix: &str) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| Some(n.strip_prefix(prefix)?.strip_suffix(".csv")?.to_string()))
        .collect()
}

/// A CSV file as rows of cells (header included).
fn read(dir: &Path, name: &str) -> (String, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    let header = text.split("\r\n").next().unwrap().to_string();
    let mut rdr = ::csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
    let rows = rdr.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect();
    (header, rows)
}

fn col(header: &[String], name: &str) -> usize {
    header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"))
}

fn f(s: &str) -> f64 {
    s.parse().unwrap_or_else(|_| panic!("`{s}` is not a number"))
}

#[test]
fn csv_files_headers_and_columns_match_real_locust() {
    let demo = demo();
    let host = demo.url().trim_end_matches('/').to_string();
    let dir = temp_dir();
    let d = dir.path();

    run_locust(d, &host);
    let plan_path = d.join("plan.yaml");
    std::fs::write(&plan_path, plan(&host)).unwrap();
    let report = d.join("volley.csv");
    volley(
        &["run", plan_path.to_str().unwrap(), "-q", "--report", report.to_str().unwrap()],
        RUN_TIMEOUT,
    )
    .expect_code(0);

    // The same files.
    let locust_files = csv_files(d, "locust");
    let volley_files = csv_files(d, "volley");
    assert_eq!(volley_files, locust_files);
    assert_eq!(
        locust_files,
        BTreeSet::from(["_stats", "_stats_history", "_failures", "_exceptions"].map(String::from))
    );

    // The same headers, byte for byte (line ending included).
    for suffix in &locust_files {
        let l = std::fs::read(d.join(format!("locust{suffix}.csv"))).unwrap();
        let v = std::fs::read(d.join(format!("volley{suffix}.csv"))).unwrap();
        let first = |b: &[u8]| b[..b.windows(2).position(|w| w == b"\r\n").unwrap() + 2].to_vec();
        assert_eq!(
            String::from_utf8(first(&v)).unwrap(),
            String::from_utf8(first(&l)).unwrap(),
            "header of {suffix}.csv"
        );
    }

    // _stats.csv: the same rows in the same order (sorted by name, Aggregated last).
    let (_, ls) = read(d, "locust_stats.csv");
    let (_, vs) = read(d, "volley_stats.csv");
    let keys = |rows: &[Vec<String>]| -> Vec<(String, String)> {
        rows[1..].iter().map(|r| (r[0].clone(), r[1].clone())).collect()
    };
    assert_eq!(keys(&vs), keys(&ls));
    assert_eq!(
        keys(&ls),
        [("GET", "/bytes/100"), ("GET", "/status/500"), ("", "Aggregated")]
            .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let h = &ls[0];
    let (reqs, fails, size) =
        (col(h, "Request Count"), col(h, "Failure Count"), col(h, "Average Content Size"));
    for (l, v) in ls[1..].iter().zip(&vs[1..]) {
        let name = &l[1];
        // Counts: each tool picks tasks at random with equal weights; both loop with a 50 ms
        // wait for 5 s. Locust's files are as of its last once-a-second write, and a busy
        // machine slows Python far more than volley: same order of magnitude only.
        let (ln, vn) = (f(&l[reqs]), f(&v[reqs]));
        assert!(ln >= 1.0 && vn >= 5.0, "{name}: locust {ln}, volley {vn} requests");
        assert!(vn / ln < 50.0 && ln / vn < 5.0, "{name}: locust {ln}, volley {vn} requests");
        // Failures: the 500s fail in both, the 200s in neither.
        if name != "Aggregated" {
            assert_eq!(f(&l[fails]) / ln, f(&v[fails]) / vn, "{name}: failure share");
        }
        // Content size: the body, byte-exact per endpoint (the service answers the same).
        if name != "Aggregated" {
            assert_eq!(f(&v[size]), f(&l[size]), "{name}: Average Content Size");
        }
        // Percentiles: all filled, increasing, and Locust's whole milliseconds within 1 ms
        // of volley's exact values plus the tools' own speed difference.
        let p = col(h, "50%");
        let vp: Vec<f64> = v[p..p + 11].iter().map(|c| f(c)).collect();
        assert!(vp.windows(2).all(|w| w[0] <= w[1]), "{name}: {vp:?}");
        assert!(l[p..p + 11].iter().all(|c| c != "N/A"), "{name}: {l:?}");
        assert_eq!(f(&v[col(h, "Median Response Time")]), vp[0], "{name}");
        assert_eq!(f(&v[col(h, "Max Response Time")]), vp[10], "{name}");
    }
    let body_row = &vs[1];
    assert_eq!(f(&body_row[size]), 100.0, "a 100-byte body: {body_row:?}");

    // _stats_history.csv: Aggregated rows, one per second, every percentile filled once a
    // request completed, running totals that end at the Aggregated row of _stats.csv.
    let (_, lh) = read(d, "locust_stats_history.csv");
    let (_, vh) = read(d, "volley_stats_history.csv");
    let hh = &lh[0];
    assert!(lh.len() >= 3 && vh.len() >= 3, "locust {} rows, volley {}", lh.len(), vh.len());
    assert!(
        (lh.len() as i64 - vh.len() as i64).abs() <= 3,
        "history rows: locust {}, volley {}",
        lh.len() - 1,
        vh.len() - 1
    );
    for rows in [&lh, &vh] {
        assert!(rows[1..].iter().all(|r| r[col(hh, "Name")] == "Aggregated" && r[2].is_empty()));
    }
    let total = col(hh, "Total Request Count");
    let p50 = col(hh, "50%");
    for r in &vh[1..] {
        if f(&r[total]) > 0.0 {
            assert!(r[p50..p50 + 11].iter().all(|c| c != "N/A"), "{r:?}");
            assert_eq!(r[p50], r[col(hh, "Total Median Response Time")], "{r:?}");
        }
    }
    let vagg = vs.last().unwrap();
    let vlast = vh.last().unwrap();
    assert_eq!(vlast[total], vagg[reqs]);
    assert_eq!(vlast[col(hh, "Total Failure Count")], vagg[fails]);
    assert_eq!(vlast[col(hh, "Total Average Content Size")], vagg[size]);
    let ts: Vec<u64> = vh[1..].iter().map(|r| r[0].parse().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[1] == w[0] + 1), "one row per second: {ts:?}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    assert!(ts[0] + 600 > now.as_secs() && ts[0] <= now.as_secs(), "timestamps are epoch s");

    // _failures.csv: the same rows, the same error text, the occurrences are the failures.
    let (_, lf) = read(d, "locust_failures.csv");
    let (_, vf) = read(d, "volley_failures.csv");
    assert_eq!(lf.len(), 2, "{lf:?}");
    assert_eq!(vf.len(), 2, "{vf:?}");
    assert_eq!(vf[1][..3], lf[1][..3], "method, name and error text");
    assert_eq!(
        vf[1][2],
        "HTTPError('500 Server Error: Internal Server Error for url: /status/500')"
    );
    assert_eq!(vf[1][3], vs[2][fails]);
    assert_eq!(lf[1][3], ls[2][fails]);
    // First Seen / Last Seen: UTC to the second in Locust's form, first <= last, within the
    // last ten minutes (both runs just happened).
    let recent = |t: &str| {
        assert!(t.len() == 20 && t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t:?}");
        let at = humantime::parse_rfc3339(t).unwrap();
        let age = std::time::SystemTime::now().duration_since(at).unwrap_or_default();
        assert!(age.as_secs() < 600, "{t}");
        at
    };
    for rows in [&lf, &vf] {
        let (first, last) = (recent(&rows[1][4]), recent(&rows[1][5]));
        assert!(first <= last, "{:?}", rows[1]);
    }

    // _exceptions.csv: the header alone in both.
    let (_, le) = read(d, "locust_exceptions.csv");
    let (_, ve) = read(d, "volley_exceptions.csv");
    assert_eq!((le.len(), ve.len()), (1, 1));
}
