//! Findings: a deterministic, rule-based reading of a result, in plain sentences that each
//! carry the number they rest on.
//!
//! Rules (each tested on a result built to trigger it and on one built not to):
//! - **errors**: the error rate, the statuses and kinds behind it, and the endpoints that
//!   carry the failures;
//! - **tail**: p99 against the median, and the second in which per-second p99 spiked;
//! - **saturation**: throughput levelling off while load and latency keep rising, and the load
//!   at which it began;
//! - **generator**: volley's own CPU, schedule lag and dropped iterations; when volley was the
//!   bottleneck the figures are flagged as untrustworthy;
//! - **timeline**: first failure (and the rps before it), peak throughput, the second in which
//!   a latency threshold was first exceeded;
//! - **thresholds** and **checks**: what was crossed or failed, with the observed values;
//! - **interrupted**: the run was cut short.

use serde::Serialize;
use volley_metrics::RunResult;

use crate::facts::{self, full_seconds};
use crate::format;

/// Which rule produced a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    Interrupted,
    Generator,
    Errors,
    Thresholds,
    Checks,
    Tail,
    Saturation,
    Timeline,
}

/// How much a finding matters: `Info` states a fact, `Warning` deserves a look, `Problem`
/// means the run missed its goal or its figures cannot be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Warning,
    Problem,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub rule: Rule,
    pub level: Level,
    pub text: String,
}

fn f(rule: Rule, level: Level, text: String) -> Finding {
    Finding { rule, level, text }
}

/// Tail rule: p99 at least this many times the median ...
const TAIL_RATIO: f64 = 4.0;
/// ... and at least this far above it (ms), so sub-millisecond jitter is not called a tail.
const TAIL_MIN_GAP_MS: f64 = 5.0;
/// A second whose p99 is this many times the typical per-second p99 is a spike.
const SPIKE_RATIO: f64 = 3.0;
/// Saturation: smoothed rps within this fraction of its peak counts as "at the plateau".
const PLATEAU: f64 = 0.9;
/// Saturation: median latency at the end at least this many times that at the plateau's start.
const SATURATION_LATENCY_RISE: f64 = 1.5;
/// Generator: volley's CPU above this share of what its threads can use means saturated.
const GENERATOR_BUSY: f64 = 0.85;
/// Open model: a p99 schedule lag above this (ms) means requests did not start on time.
const LAG_MS: f64 = 10.0;

/// Every finding about `r`, most important first.
pub fn analyze(r: &RunResult) -> Vec<Finding> {
    let mut out = Vec::new();
    interrupted(r, &mut out);
    generator(r, &mut out);
    errors(r, &mut out);
    thresholds(r, &mut out);
    checks(r, &mut out);
    tail(r, &mut out);
    saturation(r, &mut out);
    timeline(r, &mut out);
    // Stable: within a level, rule order above.
    out.sort_by_key(|f| std::cmp::Reverse(f.level));
    out
}

fn interrupted(r: &RunResult, out: &mut Vec<Finding>) {
    if let Some(th) = &r.aborted_by {
        out.push(f(
            Rule::Interrupted,
            Level::Problem,
            format!(
                "The run was aborted after {} because the threshold {th} failed; the figures cover that part only.",
                format::seconds(r.duration_s)
            ),
        ));
    } else if r.interrupted {
        out.push(f(
            Rule::Interrupted,
            Level::Warning,
            format!(
                "The run was interrupted after {}; the figures cover that part only ({} requests).",
                format::seconds(r.duration_s),
                format::count(r.totals.requests)
            ),
        ));
    }
}

fn generator(r: &RunResult, out: &mut Vec<Finding>) {
    if let Some(g) = r.server.as_ref().and_then(|s| s.generator.as_ref()) {
        let threads = r.machine.threads.max(1).min(r.machine.cpus.max(1));
        let capacity = threads as f64 * 100.0;
        if g.cpu_pct_avg >= GENERATOR_BUSY * capacity {
            out.push(f(
                Rule::Generator,
                Level::Problem,
                format!(
                    "volley itself used {:.0}% CPU on average (of {:.0}% its {} threads can use): the load generator was saturated, so latency and throughput figures are untrustworthy (they measure volley as much as the server).",
                    g.cpu_pct_avg, capacity, threads
                ),
            ));
        } else {
            out.push(f(
                Rule::Generator,
                Level::Info,
                format!(
                    "volley's own CPU averaged {:.0}% (peak {:.0}%) of the {:.0}% available: the load generator was not the bottleneck.",
                    g.cpu_pct_avg, g.cpu_pct_max, capacity
                ),
            ));
        }
    }
    if let Some(om) = r.open_model.as_ref().filter(|om| om.generator_limited) {
        out.push(f(
            Rule::Generator,
            Level::Problem,
            format!(
                "This machine could not generate the {} req/s asked for: volley's worker threads were busy {} of the run, {} req/s were achieved and {} iterations dropped. The generator, not the server, set the limit; lower --rps or spread the load over more machines.",
                format::rate(om.target_rps),
                format::pct(om.generator_busy),
                format::rate(om.achieved_rps),
                format::count(om.dropped)
            ),
        ));
    }
    if let Some(om) = &r.open_model {
        // Dropped iterations are reported on their own below (too few VUs, not a slow
        // generator): only a shortfall they do not explain counts here.
        let dropped_rate = om.dropped as f64 / r.duration_s.max(1e-9);
        let short = om.target_rps > 0.0 && om.achieved_rps + dropped_rate < 0.95 * om.target_rps;
        if om.schedule_lag.p99 > LAG_MS || short {
            out.push(f(
                Rule::Generator,
                Level::Problem,
                format!(
                    "Requests did not start on schedule: the p99 schedule lag was {} and {} req/s were achieved of the {} req/s asked for, so the figures are untrustworthy as a measure of the server at that rate.",
                    format::ms(om.schedule_lag.p99),
                    format::rate(om.achieved_rps),
                    format::rate(om.target_rps)
                ),
            ));
        }
        if om.dropped > 0 {
            let planned = r.totals.requests + om.dropped;
            out.push(f(
                Rule::Generator,
                Level::Warning,
                format!(
                    "{} iterations ({} of the schedule) were dropped because all {} in-flight slots were busy: the server received less load than planned; raise -c or lower --rps.",
                    format::count(om.dropped),
                    format::pct_of(om.dropped, planned),
                    format::count(r.config.concurrency)
                ),
            ));
        }
    }
}

fn errors(r: &RunResult, out: &mut Vec<Finding>) {
    let t = &r.totals;
    if t.requests == 0 {
        out.push(f(Rule::Errors, Level::Problem, "No request was completed (0 requests).".into()));
        return;
    }
    if t.failed == 0 {
        out.push(f(
            Rule::Errors,
            Level::Info,
            format!("All {} requests succeeded (0 failures).", format::count(t.requests)),
        ));
        return;
    }
    let rate = t.error_rate();
    let causes: Vec<String> = facts::failure_breakdown(r)
        .iter()
        .take(4)
        .map(|(label, n)| {
            let kind = volley_metrics::FailureKind::ALL.iter().find(|k| k.as_str() == label);
            match kind {
                Some(k) => format!("{} × {label} ({})", format::count(*n), k.describe()),
                None => format!("{} × {label}", format::count(*n)),
            }
        })
        .collect();
    let mut text = format!(
        "{} of requests failed ({} of {})",
        format::pct(rate),
        format::count(t.failed),
        format::count(t.requests)
    );
    if !causes.is_empty() {
        text.push_str(&format!(": {}", causes.join(", ")));
    }
    text.push('.');
    let mut eps: Vec<_> = r.endpoints.iter().filter(|e| e.failures > 0).collect();
    eps.sort_by_key(|e| std::cmp::Reverse(e.failures));
    if !eps.is_empty() && r.endpoints.len() > 1 {
        let parts: Vec<String> = eps
            .iter()
            .take(3)
            .map(|e| {
                format!(
                    "{} {} has {} ({} of its requests)",
                    e.method,
                    e.name,
                    format::pct_of(e.failures, t.failed).replace(".00%", "%") + " of the failures",
                    format::pct_of(e.failures, e.requests)
                )
            })
            .collect();
        text.push_str(&format!(" {}.", capitalize(&parts.join("; "))));
    }
    let level = if rate >= 0.01 { Level::Problem } else { Level::Warning };
    out.push(f(Rule::Errors, level, text));
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn thresholds(r: &RunResult, out: &mut Vec<Finding>) {
    if r.thresholds.is_empty() {
        return;
    }
    let crossed: Vec<_> = r.thresholds.iter().filter(|t| !t.ok).collect();
    if crossed.is_empty() {
        out.push(f(
            Rule::Thresholds,
            Level::Info,
            match r.thresholds.len() {
                1 => "The one threshold passed.".to_string(),
                n => format!("All {n} thresholds passed."),
            },
        ));
        return;
    }
    let parts: Vec<String> = crossed
        .iter()
        .map(|t| match t.observed {
            Some(v) => format!(
                "{} '{}' ({})",
                t.metric,
                t.expression,
                facts::observed(&t.metric, &t.expression, v)
            ),
            None => format!("{} '{}'", t.metric, t.expression),
        })
        .collect();
    out.push(f(
        Rule::Thresholds,
        Level::Problem,
        format!(
            "{} of {} thresholds {} crossed: {}.",
            crossed.len(),
            r.thresholds.len(),
            if crossed.len() == 1 { "was" } else { "were" },
            parts.join(", ")
        ),
    ));
}

fn checks(r: &RunResult, out: &mut Vec<Finding>) {
    if r.checks.is_empty() {
        return;
    }
    let passes: u64 = r.checks.iter().map(|c| c.passes).sum();
    let fails: u64 = r.checks.iter().map(|c| c.fails).sum();
    if fails == 0 {
        out.push(f(
            Rule::Checks,
            Level::Info,
            format!("All {} check evaluations passed.", format::count(passes)),
        ));
        return;
    }
    let mut failing: Vec<_> = r.checks.iter().filter(|c| c.fails > 0).collect();
    failing.sort_by_key(|c| std::cmp::Reverse(c.fails));
    let parts: Vec<String> = failing
        .iter()
        .take(3)
        .map(|c| {
            let on = if c.step.is_empty() { String::new() } else { format!(" on {}", c.step) };
            format!(
                "'{}'{on} failed {} of {} times",
                c.name,
                format::count(c.fails),
                format::count(c.passes + c.fails)
            )
        })
        .collect();
    out.push(f(
        Rule::Checks,
        Level::Warning,
        format!(
            "{} of check evaluations passed ({} of {}); {}.",
            format::pct_of(passes, passes + fails),
            format::count(passes),
            format::count(passes + fails),
            parts.join("; ")
        ),
    ));
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

fn tail(r: &RunResult, out: &mut Vec<Finding>) {
    let Some(d) = r.metrics.get("http_req_duration") else { return };
    let (Some(&p50), Some(&p99)) = (d.values.get("med"), d.values.get("p(99)")) else { return };
    if r.totals.requests == 0 || p50 <= 0.0 {
        return;
    }
    let ratio = p99 / p50;
    if ratio >= TAIL_RATIO && p99 - p50 >= TAIL_MIN_GAP_MS {
        out.push(f(
            Rule::Tail,
            Level::Warning,
            format!(
                "The latency tail is long: p99 is {}, {:.1}× the median of {}; one request in a hundred waits that long.",
                format::ms(p99),
                ratio,
                format::ms(p50)
            ),
        ));
    } else {
        out.push(f(
            Rule::Tail,
            Level::Info,
            format!(
                "Latency is consistent: p99 is {}, {:.1}× the median of {}.",
                format::ms(p99),
                ratio,
                format::ms(p50)
            ),
        ));
    }
    // Seconds with too few requests have noisy percentiles: ignore them for spikes.
    let pts: Vec<_> = r
        .timeseries
        .iter()
        .filter(|p| p.requests >= 20)
        .filter_map(|p| p.latency.as_ref().map(|l| (p.t, l.p99)))
        .collect();
    if pts.len() < 5 {
        return;
    }
    let typical = median(pts.iter().map(|p| p.1).collect()).unwrap_or(0.0);
    let (t, worst) = pts.iter().copied().fold((0, f64::MIN), |a, b| if b.1 > a.1 { b } else { a });
    if typical > 0.0 && worst >= SPIKE_RATIO * typical && worst - typical >= TAIL_MIN_GAP_MS {
        out.push(f(
            Rule::Tail,
            Level::Warning,
            format!(
                "Latency spiked at t = {t} s: that second's p99 reached {}, {:.1}× the typical per-second p99 of {}.",
                format::ms(worst),
                worst / typical,
                format::ms(typical)
            ),
        ));
    }
}

fn saturation(r: &RunResult, out: &mut Vec<Finding>) {
    // At a fixed arrival rate the load does not rise; in-flight requests piling up there is
    // the server falling behind, which the tail and generator rules report.
    if r.open_model.is_some() {
        return;
    }
    let pts: Vec<_> = full_seconds(r).iter().filter(|p| p.latency.is_some()).collect();
    if pts.len() < 6 {
        return;
    }
    let rps: Vec<f64> = pts.iter().map(|p| p.requests as f64).collect();
    // Three-second centred moving average: one slow second is not a plateau.
    let smooth: Vec<f64> = (0..rps.len())
        .map(|i| {
            let lo = i.saturating_sub(1);
            let hi = (i + 2).min(rps.len());
            rps[lo..hi].iter().sum::<f64>() / (hi - lo) as f64
        })
        .collect();
    let peak = smooth.iter().copied().fold(0.0, f64::max);
    if peak <= 0.0 {
        return;
    }
    let Some(mut s) = smooth.iter().position(|&v| v >= PLATEAU * peak) else { return };
    // Smoothing lags by a second: step back to the first raw second already at the plateau.
    while s > 0 && rps[s - 1] >= PLATEAU * peak {
        s -= 1;
    }
    let after = &pts[s..];
    if after.len() < 4 {
        return;
    }
    let load = |p: &volley_metrics::TimePoint| p.vus.max(p.connections);
    let load_start = load(pts[s]);
    let load_end = after.iter().map(|p| load(p)).max().unwrap_or(0);
    if load_start == 0 || (load_end as f64) < 1.2 * load_start as f64 {
        return; // load did not rise: no saturation to speak of
    }
    let med = |p: &volley_metrics::TimePoint| p.latency.as_ref().map(|l| l.med).unwrap_or(0.0);
    let lat_start = pts[s.saturating_sub(1)..=s].iter().map(|p| med(p)).sum::<f64>()
        / pts[s.saturating_sub(1)..=s].len() as f64;
    let tail_n = (after.len() / 3).max(2);
    let end = &after[after.len() - tail_n..];
    let lat_end = end.iter().map(|p| med(p)).sum::<f64>() / end.len() as f64;
    let rps_end = end.iter().map(|p| p.requests as f64).sum::<f64>() / end.len() as f64;
    let flat = rps_end <= peak * 1.1;
    if flat && lat_start > 0.0 && lat_end >= SATURATION_LATENCY_RISE * lat_start {
        out.push(f(
            Rule::Saturation,
            Level::Warning,
            format!(
                "Throughput saturated at about {} req/s from t = {} s ({} VUs): load rose to {} VUs but throughput stayed at {} req/s while the median latency rose from {} to {} ({:.1}×).",
                format::rate(peak),
                pts[s].t,
                format::count(load_start),
                format::count(load_end),
                format::rate(rps_end),
                format::ms(lat_start),
                format::ms(lat_end),
                lat_end / lat_start
            ),
        ));
    } else {
        out.push(f(
            Rule::Saturation,
            Level::Info,
            format!(
                "No saturation seen: as load rose from {} to {} VUs, the median latency went from {} to {} at up to {} req/s.",
                format::count(load_start),
                format::count(load_end),
                format::ms(lat_start),
                format::ms(lat_end),
                format::rate(peak)
            ),
        ));
    }
}

fn timeline(r: &RunResult, out: &mut Vec<Finding>) {
    let tl = facts::timeline(r);
    if let Some(ff) = &tl.first_failure {
        let before = match ff.rps_before {
            Some(v) => format!(", after {} req/s on average before it", format::rate(v)),
            None => " (in the first second)".into(),
        };
        out.push(f(
            Rule::Timeline,
            Level::Info,
            format!(
                "The first failure came at t = {} s{before}; that second had {} failures.",
                ff.t,
                format::count(ff.failures)
            ),
        ));
    }
    if let Some((t, n)) = tl.peak {
        out.push(f(
            Rule::Timeline,
            Level::Info,
            format!("Throughput peaked at {} req/s at t = {t} s.", format::count(n)),
        ));
    }
    for c in &tl.crossings {
        out.push(f(
            Rule::Timeline,
            Level::Warning,
            format!(
                "{} first exceeded the threshold '{}' at t = {} s ({} that second).",
                c.stat,
                c.expression,
                c.t,
                format::ms(c.value)
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{self, Second, Spec};

    fn has(fs: &[Finding], rule: Rule, level: Level) -> bool {
        fs.iter().any(|f| f.rule == rule && f.level == level)
    }

    fn flagged(fs: &[Finding], rule: Rule) -> bool {
        fs.iter().any(|f| f.rule == rule && f.level != Level::Info)
    }

    /// Every sentence carries a number.
    fn numbered(fs: &[Finding]) {
        for f in fs {
            assert!(f.text.chars().any(|c| c.is_ascii_digit()), "no number in: {}", f.text);
        }
    }

    #[test]
    fn errors_rule() {
        let clean = analyze(&Spec::default().build());
        assert!(!flagged(&clean, Rule::Errors));
        assert!(has(&clean, Rule::Errors, Level::Info));
        let r = fixture::plan_run();
        let fs = analyze(&r);
        numbered(&fs);
        let e = fs.iter().find(|f| f.rule == Rule::Errors).unwrap();
        assert_eq!(e.level, Level::Problem);
        assert!(e.text.contains("500 Internal Server Error"), "{}", e.text);
        assert!(e.text.contains("POST /predict has 100% of the failures"), "{}", e.text);
        assert!(e.text.contains(&format::count(r.totals.failed)), "{}", e.text);
    }

    #[test]
    fn tail_rule() {
        let fs = analyze(&Spec::default().build());
        assert!(!flagged(&fs, Rule::Tail));
        // Every tenth request slow: p99 far above the median.
        let mut r = Spec::default().build();
        let d = r.metrics.get_mut("http_req_duration").unwrap();
        d.values.insert("p(99)".into(), 400.0);
        let fs = analyze(&r);
        numbered(&fs);
        assert!(fs.iter().any(|f| f.rule == Rule::Tail && f.text.contains("long")));
    }

    #[test]
    fn spike_is_located() {
        let mut spec = Spec::default();
        spec.seconds[6].p50_ms = 200.0;
        let fs = analyze(&spec.build());
        let spike = fs.iter().find(|f| f.text.contains("spiked")).expect("spike found");
        assert!(spike.text.contains("t = 6 s"), "{}", spike.text);
        let fs = analyze(&Spec::default().build());
        assert!(!fs.iter().any(|f| f.text.contains("spiked")));
    }

    #[test]
    fn saturation_rule() {
        // Load doubles every few seconds; throughput stops at 500 req/s while latency climbs.
        let mut seconds = Vec::new();
        for t in 0..16u64 {
            let vus = 5 + t * 5;
            let rps = (vus * 50).min(500);
            let p50 = vus as f64 * 1000.0 / rps as f64;
            seconds.push(Second { requests: rps, failures: 0, p50_ms: p50, vus });
        }
        let fs = analyze(&Spec { seconds: seconds.clone(), ..Spec::default() }.build());
        numbered(&fs);
        let s = fs.iter().find(|f| f.rule == Rule::Saturation).expect("saturation");
        assert_eq!(s.level, Level::Warning, "{}", s.text);
        assert!(s.text.contains("t = 1 s"), "{}", s.text);
        assert!(s.text.contains("10 VUs"), "{}", s.text);
        // Same ramp against a server that keeps up: throughput follows the load.
        let scaling: Vec<Second> =
            seconds.iter().map(|s| Second { requests: s.vus * 50, p50_ms: 20.0, ..*s }).collect();
        let fs = analyze(&Spec { seconds: scaling, ..Spec::default() }.build());
        assert!(!flagged(&fs, Rule::Saturation), "{fs:?}");
        // Constant load: the rule says nothing.
        assert!(!analyze(&Spec::default().build()).iter().any(|f| f.rule == Rule::Saturation));
        // Nor at a fixed arrival rate, where rising in-flight counts are not added load.
        let open = Spec { seconds, open_model: Some((500.0, 0)), ..Spec::default() }.build();
        assert!(!analyze(&open).iter().any(|f| f.rule == Rule::Saturation));
    }

    #[test]
    fn generator_rule() {
        let busy = Spec { server: Some((vec![50.0], 195.0)), ..Spec::default() }.build();
        let fs = analyze(&busy);
        numbered(&fs);
        assert!(has(&fs, Rule::Generator, Level::Problem));
        assert!(fs[0].text.contains("untrustworthy"), "most important first: {}", fs[0].text);
        let idle = Spec { server: Some((vec![50.0], 40.0)), ..Spec::default() }.build();
        let fs = analyze(&idle);
        assert!(!flagged(&fs, Rule::Generator));
        assert!(has(&fs, Rule::Generator, Level::Info));
    }

    #[test]
    fn open_model_lag_and_drops() {
        let mut r = Spec { open_model: Some((100.0, 0)), ..Spec::default() }.build();
        r.open_model.as_mut().unwrap().schedule_lag.p99 = 1.0;
        assert!(!flagged(&analyze(&r), Rule::Generator));
        let mut lagging = r.clone();
        lagging.open_model.as_mut().unwrap().schedule_lag.p99 = 45.0;
        let fs = analyze(&lagging);
        assert!(
            fs.iter().any(|f| f.rule == Rule::Generator && f.text.contains("45.0ms")),
            "{fs:?}"
        );
        let mut dropped = Spec { open_model: Some((110.0, 100)), ..Spec::default() }.build();
        dropped.open_model.as_mut().unwrap().schedule_lag.p99 = 1.0;
        let fs = analyze(&dropped);
        let d = fs.iter().find(|f| f.text.contains("dropped")).expect("drop finding");
        assert!(d.text.starts_with("100 iterations (9.09%"), "{}", d.text);
        assert!(!fs.iter().any(|f| f.text.contains("could not generate")), "{fs:?}");
        let mut limited = dropped.clone();
        let om = limited.open_model.as_mut().unwrap();
        (om.generator_limited, om.generator_busy) = (true, 0.97);
        let fs = analyze(&limited);
        let g = fs.iter().find(|f| f.text.contains("could not generate")).expect("limit finding");
        assert_eq!(g.level, Level::Problem);
        assert!(g.text.contains("busy 97.00%") && g.text.contains("not the server"), "{}", g.text);
    }

    #[test]
    fn timeline_rule() {
        let fs = analyze(&fixture::plan_run());
        numbered(&fs);
        assert!(
            fs.iter().any(|f| f.text.contains("first failure came at t = 4 s, after 63.0 req/s"))
        );
        assert!(fs.iter().any(|f| f.text.contains("peaked at 82 req/s at t = 11 s")));
        let fs = analyze(&Spec::default().build());
        assert!(!fs.iter().any(|f| f.text.contains("first failure")));
        assert!(!flagged(&fs, Rule::Timeline));
    }

    #[test]
    fn threshold_crossing_is_dated() {
        let mut r = fixture::plan_run();
        r.thresholds[0].expression = "p(95)<150".into();
        let fs = analyze(&r);
        let c = fs.iter().find(|f| f.text.contains("first exceeded")).expect("crossing");
        let tl = facts::timeline(&r);
        assert!(c.text.contains(&format!("t = {} s", tl.crossings[0].t)), "{}", c.text);
        let mut ok = fixture::plan_run();
        ok.thresholds[0].expression = "p(95)<100000".into();
        assert!(!analyze(&ok).iter().any(|f| f.text.contains("first exceeded")));
    }

    #[test]
    fn thresholds_and_checks_rules() {
        let r = fixture::plan_run();
        let fs = analyze(&r);
        assert!(has(&fs, Rule::Thresholds, Level::Problem));
        assert!(has(&fs, Rule::Checks, Level::Warning));
        let mut ok = r.clone();
        for t in &mut ok.thresholds {
            t.ok = true;
        }
        for c in &mut ok.checks {
            c.passes += c.fails;
            c.fails = 0;
        }
        let fs = analyze(&ok);
        assert!(!flagged(&fs, Rule::Thresholds) && !flagged(&fs, Rule::Checks));
    }

    #[test]
    fn interrupted_rule() {
        let mut r = Spec::default().build();
        assert!(!analyze(&r).iter().any(|f| f.rule == Rule::Interrupted));
        r.interrupted = true;
        assert!(has(&analyze(&r), Rule::Interrupted, Level::Warning));
    }
}
