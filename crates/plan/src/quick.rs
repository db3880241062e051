//! Quick mode (`volley URL -c 50 -n 10000`) as a plan: the flags' values → a validated
//! one-scenario, one-flow, one-step [`Spec`].
//!
//! The binary converts its clap arguments into a [`QuickInput`] and nothing else; every check
//! lives here, with the same grammar as plans (durations are [`crate::parse_duration`]'s, URLs
//! [`Target::parse`]'s, user headers [`check_user_header`]'s). `-n N` is k6's
//! shared-iterations (N iterations, no deadline), `-d` constant-vus, `--rps` a constant
//! arrival rate (open model) whose VU cap is `-c`: `-n` then counts the arrivals scheduled,
//! and those that find every VU busy are dropped and counted.

use std::path::PathBuf;
use std::time::Duration;

use crate::spec::{
    Body, Executor, Flow, HttpOptions, HttpVersion, Scenario, Spec, StatusSet, Step,
};
use crate::target::{Target, check_user_header};
use crate::template::Template;

/// The values of quick mode's flags, as written (no parsing done by the caller).
#[derive(Debug, Clone)]
pub struct QuickInput {
    pub url: String,
    /// `-c`: VUs (closed model), or the VU cap with `--rps`.
    pub concurrency: Option<u64>,
    /// `-n`: iterations (closed model) or arrivals (with `--rps`).
    pub requests: Option<u64>,
    /// `-d`, as written.
    pub duration: Option<String>,
    pub rps: Option<f64>,
    pub method: String,
    /// `-H 'Name: value'`, as written.
    pub headers: Vec<String>,
    pub body: Option<String>,
    pub body_file: Option<PathBuf>,
    /// `--timeout`, as written.
    pub timeout: String,
    pub keepalive: bool,
    pub insecure: bool,
    pub backend_header: Option<String>,
    /// `--http2` / `--http2-prior-knowledge` (HTTP/1.1 by default).
    pub version: HttpVersion,
    /// `-p/--streams`: HTTP/2 streams per connection; `-c` stays the number of connections.
    pub streams: Option<u32>,
    /// `--pipeline N`: requests written at once per connection (1: no pipelining).
    pub pipeline: u32,
    /// `--retry-non-idempotent`.
    pub retry_non_idempotent: bool,
}

impl Default for QuickInput {
    /// The flags' defaults.
    fn default() -> Self {
        QuickInput {
            url: String::new(),
            concurrency: None,
            requests: None,
            duration: None,
            rps: None,
            method: DEFAULT_METHOD.into(),
            headers: Vec::new(),
            body: None,
            body_file: None,
            timeout: DEFAULT_TIMEOUT.into(),
            keepalive: true,
            insecure: false,
            backend_header: None,
            version: HttpVersion::Http1,
            streams: None,
            pipeline: 1,
            retry_non_idempotent: false,
        }
    }
}

/// A bad flag value: the message names the value and gives a hint (a usage error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QuickError(pub String);

/// `-m` when not given.
pub const DEFAULT_METHOD: &str = "GET";
/// `--timeout` when not given.
pub const DEFAULT_TIMEOUT: &str = "60s";
/// oha's default when neither `-n` nor `-d` is given.
pub const DEFAULT_REQUESTS: u64 = 200;
/// Concurrency of the closed model when `-c` is not given (oha's default).
pub const DEFAULT_CONCURRENCY: u64 = 50;
/// Most VUs (so connections) the open model allocates when `-c` is not given.
const OPEN_MAX_DEFAULT: u64 = 1000;
/// `-n` runs have no deadline of their own; this bounds them anyway.
pub const NO_DEADLINE: Duration = Duration::from_secs(100 * 24 * 3600);

fn err(msg: impl Into<String>) -> QuickError {
    QuickError(msg.into())
}

/// `-d`/`--timeout`: plans' grammar (`30s`, `1m30s`, `500ms`), longer than zero.
pub fn flag_duration(flag: &str, s: &str) -> Result<Duration, QuickError> {
    match crate::parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(err(format!("`{flag} {s}`: the duration must be longer than zero"))),
        Err(e) => {
            let t = s.trim();
            let hint = if !t.is_empty() && t.parse::<f64>().is_ok() {
                format!("write `{t}s` or `{t}ms`, as in plans")
            } else {
                "30s, 2m, 1h30m, 500ms".to_string()
            };
            Err(err(format!("bad duration `{s}` for {flag}: {e} (hint: {hint})")))
        }
    }
}

/// Validates the flags and builds the spec quick mode runs (also `volley scale`'s load).
pub fn build(q: &QuickInput) -> Result<Spec, QuickError> {
    let url = q.url.trim();
    let target = Target::parse(url).map_err(|reason| {
        let hint = if !url.contains("://") {
            format!(" (hint: include the scheme, e.g. http://{url})")
        } else {
            String::new()
        };
        err(format!("invalid URL `{url}`: {reason}{hint}"))
    })?;
    let method: http::Method =
        q.method.to_ascii_uppercase().parse().map_err(|_| {
            err(format!("invalid method `{}` (hint: GET, POST, PUT ...)", q.method))
        })?;
    let timeout = flag_duration("--timeout", &q.timeout)?;
    let duration = q.duration.as_deref().map(|d| flag_duration("--duration", d)).transpose()?;
    if q.requests == Some(0) {
        return Err(err("`-n 0` sends nothing (hint: give a positive number of requests)"));
    }
    if q.concurrency == Some(0) {
        return Err(err("`-c 0`: concurrency must be at least 1"));
    }
    if let Some(r) = q.rps
        && !(r.is_finite() && r > 0.0)
    {
        return Err(err(format!(
            "`--rps {r}`: the rate must be a positive number of requests per second"
        )));
    }
    if q.pipeline == 0 {
        return Err(err("`--pipeline 0`: give at least 1 (1 is no pipelining)"));
    }
    let body = match (&q.body, &q.body_file) {
        (Some(b), _) => Body::Bytes(b.as_bytes().into()),
        (None, Some(path)) => {
            let bytes = crate::files::read_limited(path, crate::files::MAX_BODY_BYTES)
                .map_err(|e| err(format!("cannot read --body-file `{}`: {e}", path.display())))?;
            Body::Bytes(bytes.into())
        }
        (None, None) => Body::None,
    };
    let body_len = match &body {
        Body::Bytes(b) => b.len(),
        _ => 0,
    };
    let mut headers = Vec::new();
    let mut host_seen = false;
    for h in &q.headers {
        let Some((name, value)) = h.split_once(':') else {
            return Err(err(format!("bad header `{h}` (hint: -H 'Name: value')")));
        };
        let name = name.trim();
        if name.is_empty() || http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(err(format!("bad header name in `{h}` (hint: -H 'Name: value')")));
        }
        let value = value.trim();
        if http::HeaderValue::from_str(value).is_err() {
            return Err(err(format!("bad header value in `{h}`")));
        }
        check_user_header(name, Some(value), Some(body_len), host_seen)
            .map_err(|e| err(format!("-H '{h}': {e}")))?;
        host_seen |= name.eq_ignore_ascii_case("host");
        headers.push((name.to_string(), Template::literal(value)));
    }

    let streams = match q.streams {
        Some(0) => return Err(err("`-p 0`: a connection needs at least 1 stream")),
        Some(p) if p > 1 && !q.version.is_http2() => {
            return Err(err(format!(
                "`-p {p}` multiplexes HTTP/2 streams (hint: add --http2 or --http2-prior-knowledge)"
            )));
        }
        Some(p) => p,
        None => 1,
    };
    // -c connections of -p streams each: one VU per stream, `streams` VUs to a connection.
    let vus = |default: u64| -> Result<u32, QuickError> {
        let c = q.concurrency.unwrap_or(default);
        c.checked_mul(u64::from(streams))
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| err(format!("`-c {c}` is too large")))
    };
    let executor = match (q.rps, q.requests, duration) {
        (Some(rate), n, d) => {
            // The VU pool grows as needed (100 pre-allocated) up to the cap; by default one
            // VU per arrival per second, at least 100 and at most OPEN_MAX_DEFAULT, so that a
            // high rate does not mean as many connections.
            let cap =
                q.concurrency.unwrap_or_else(|| (rate.ceil() as u64).clamp(100, OPEN_MAX_DEFAULT));
            let cap = u32::try_from(cap).unwrap_or(u32::MAX);
            let n = if d.is_none() { Some(n.unwrap_or(DEFAULT_REQUESTS)) } else { n };
            // Arrival k falls at k / rate: n arrivals need just under n / rate seconds.
            let duration = match d {
                Some(d) => d,
                None => {
                    let secs = (n.unwrap_or(DEFAULT_REQUESTS) as f64 - 0.5) / rate;
                    Duration::try_from_secs_f64(secs)
                        .ok()
                        .filter(|d| *d <= NO_DEADLINE)
                        .ok_or_else(|| err(format!("`-n` at `--rps {rate}` is too long a run")))?
                }
            };
            Executor::ConstantArrivalRate {
                rate,
                duration,
                pre_allocated_vus: cap.min(100),
                max_vus: cap,
                max_iterations: n,
            }
        }
        (None, n, None) => {
            let iterations = n.unwrap_or(DEFAULT_REQUESTS);
            // More VUs than requests would only open idle connections.
            let vus = vus(DEFAULT_CONCURRENCY)?.min(u32::try_from(iterations).unwrap_or(u32::MAX));
            Executor::SharedIterations { vus, iterations, max_duration: NO_DEADLINE }
        }
        (None, _, Some(d)) => Executor::ConstantVus { vus: vus(DEFAULT_CONCURRENCY)?, duration: d },
    };
    // Requests still in flight at the deadline may finish (up to their timeout) and are
    // counted, so that every request the server saw is in the result: the accounting
    // invariant holds for duration runs too, and a stall at the end still shows.
    let graceful_stop = timeout;
    let step = Step {
        name: target.path_and_query().to_string(),
        method,
        url: Template::literal(url),
        query: Vec::new(),
        headers: Vec::new(),
        body,
        timeout: None,
        checks: Vec::new(),
        extract: Vec::new(),
        think_time: None,
        version: None,
    };
    Ok(Spec {
        base_url: None,
        scenarios: vec![Scenario {
            name: "default".into(),
            executor,
            start_time: Duration::ZERO,
            graceful_stop,
            flows: vec![Flow { name: "default".into(), weight: 1, steps: vec![step] }],
            think_time: None,
            feeders: Vec::new(),
        }],
        thresholds: Vec::new(),
        http: HttpOptions {
            keepalive: q.keepalive,
            insecure: q.insecure,
            timeout,
            headers,
            backend_header: q.backend_header.clone(),
            expected_statuses: StatusSet::default(),
            version: q.version,
            streams,
            pipeline: q.pipeline,
            retry_non_idempotent: q.retry_non_idempotent,
        },
        variables: Vec::new(),
        feeders: Vec::new(),
        files: Vec::new(),
        source: None,
    })
    .and_then(|spec: Spec| {
        let flag = if q.rps.is_some() { "--rps" } else { "--no-keepalive" };
        spec.http.check_pipeline(&spec.scenarios).map_err(|why| {
            err(format!("`--pipeline {}`: {why} (hint: drop {flag} or --pipeline)", q.pipeline))
        })?;
        Ok(spec)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(f: impl FnOnce(&mut QuickInput)) -> QuickInput {
        let mut q = QuickInput { url: "http://127.0.0.1:1/".into(), ..QuickInput::default() };
        f(&mut q);
        q
    }

    fn error(f: impl FnOnce(&mut QuickInput)) -> String {
        build(&input(f)).unwrap_err().0
    }

    #[test]
    fn flags_map_to_executors() {
        let s = build(&input(|q| {
            q.url = "http://127.0.0.1:1/x?y=1".into();
            q.requests = Some(1000);
        }))
        .unwrap();
        assert_eq!(
            s.scenarios[0].executor,
            Executor::SharedIterations { vus: 50, iterations: 1000, max_duration: NO_DEADLINE }
        );
        assert_eq!(s.scenarios[0].flows[0].steps[0].name, "/x?y=1");
        let s = build(&input(|q| q.duration = Some("2s".into()))).unwrap();
        assert_eq!(
            s.scenarios[0].executor,
            Executor::ConstantVus { vus: 50, duration: Duration::from_secs(2) }
        );
        let s = build(&input(|q| q.rps = Some(500.0))).unwrap();
        match &s.scenarios[0].executor {
            Executor::ConstantArrivalRate { max_vus, max_iterations, .. } => {
                assert_eq!(*max_vus, 500);
                assert_eq!(*max_iterations, Some(DEFAULT_REQUESTS));
            }
            e => panic!("{e:?}"),
        }
        // Never more VUs than requests.
        let s = build(&input(|q| {
            q.concurrency = Some(1_000_000);
            q.requests = Some(10);
        }))
        .unwrap();
        assert_eq!(s.scenarios[0].executor.max_vus(), 10);
    }

    #[test]
    fn durations_share_the_plan_grammar() {
        assert!(error(|q| q.duration = Some("10".into())).contains("write `10s` or `10ms`"));
        assert!(error(|q| q.timeout = "5".into()).contains("--timeout"));
        let e = error(|q| q.duration = Some("18446744073709551615s".into()));
        assert!(e.contains("is too long"), "{e}");
        assert!(error(|q| q.timeout = "9300000000000000000s".into()).contains("is too long"));
        assert!(error(|q| q.duration = Some("0s".into())).contains("longer than zero"));
        assert!(error(|q| q.duration = Some("soon".into())).contains("bad duration"));
        assert_eq!(flag_duration("-d", "1m30s").unwrap(), Duration::from_secs(90));
    }

    #[test]
    fn bad_values_say_which() {
        assert!(error(|q| q.url = "localhost:8080".into()).contains("include the scheme"));
        assert!(error(|q| q.url = "ftp://x/".into()).contains("ftp"));
        assert!(error(|q| q.url = "http://127.0.0.1:108279/".into()).contains("invalid port"));
        assert!(error(|q| q.requests = Some(0)).contains("-n 0"));
        assert!(error(|q| q.rps = Some(0.0)).contains("--rps 0"));
        assert!(error(|q| q.rps = Some(-3.0)).contains("positive"));
        assert!(error(|q| q.headers = vec!["foo".into()]).contains("Name: value"));
        let e = error(|q| q.body_file = Some("/nonexistent/body".into()));
        assert!(e.contains("/nonexistent/body"), "{e}");
        let e = error(|q| q.body_file = Some("/dev/zero".into()));
        assert!(e.contains("not a regular file"), "{e}");
        let e = error(|q| {
            q.headers = vec!["Content-Length: 99".into()];
            q.body = Some("hello".into());
        });
        assert!(e.contains("5 bytes"), "{e}");
        assert!(error(|q| q.headers = vec!["Host: a".into(), "host: b".into()]).contains("two"));
    }

    #[test]
    fn streams_multiply_the_vus_of_http2_connections() {
        let s = build(&input(|q| {
            q.version = HttpVersion::Http2PriorKnowledge;
            q.concurrency = Some(10);
            q.streams = Some(8);
            q.requests = Some(1000);
        }))
        .unwrap();
        assert_eq!(s.scenarios[0].executor.max_vus(), 80);
        assert_eq!((s.http.streams, s.http.version), (8, HttpVersion::Http2PriorKnowledge));
        assert!(error(|q| q.streams = Some(4)).contains("--http2"));
        let e = error(|q| {
            q.version = HttpVersion::Http2;
            q.streams = Some(0);
        });
        assert!(e.contains("-p 0"), "{e}");
    }

    #[test]
    fn urls_are_encoded_as_browsers_do() {
        let s = build(&input(|q| q.url = "http://127.0.0.1:1/a b?q=<é>".into())).unwrap();
        assert_eq!(s.scenarios[0].flows[0].steps[0].name, "/a%20b?q=%3C%C3%A9%3E");
    }
}
