//! One-line descriptions of executors and durations in k6's words ("Up to 50 looping VUs for
//! 2m0s over 3 stages"), for `volley validate`, the run banner and the result's config.

use std::time::Duration;

use crate::spec::{Executor, Stage, ThinkTime};

/// A duration as k6 prints it: `500ms`, `30s`, `2m0s`, `1h30m0s`, `1.5s`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let total_s = d.as_secs();
    let frac = d.subsec_millis();
    let (h, m, s) = (total_s / 3600, (total_s / 60) % 60, total_s % 60);
    let secs = if frac == 0 {
        format!("{s}s")
    } else {
        format!("{}s", format!("{s}.{frac:03}").trim_end_matches('0'))
    };
    match (h, m) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

fn rate(r: f64) -> String {
    if (r - r.round()).abs() < 1e-9 { format!("{r:.0}") } else { format!("{r:.2}") }
}

/// The stages' total length; saturating, since a plan may hold absurd durations.
fn total(stages: &[Stage]) -> Duration {
    stages.iter().fold(Duration::ZERO, |a, s| a.saturating_add(s.duration))
}

impl Executor {
    /// How long the executor's schedule lasts, without graceful stop (`None`: until the
    /// iterations are done, bounded by `max_duration`).
    pub fn planned_duration(&self) -> Option<Duration> {
        match self {
            Executor::ConstantVus { duration, .. }
            | Executor::ExternallyControlled { duration, .. }
            | Executor::ConstantArrivalRate { duration, .. } => Some(*duration),
            Executor::RampingVus { stages, .. } | Executor::RampingArrivalRate { stages, .. } => {
                Some(total(stages))
            }
            Executor::PerVuIterations { .. } | Executor::SharedIterations { .. } => None,
        }
    }

    /// k6's one-line description of the schedule.
    pub fn describe(&self) -> String {
        match self {
            Executor::ConstantVus { vus, duration } => {
                format!("{vus} looping VUs for {}", format_duration(*duration))
            }
            Executor::ExternallyControlled { vus, max_vus, duration } => format!(
                "{vus} VUs at first, up to {max_vus}, for {}, controlled externally",
                format_duration(*duration)
            ),
            Executor::RampingVus { stages, graceful_ramp_down, .. } => format!(
                "Up to {} looping VUs for {} over {} stages (gracefulRampDown: {})",
                self.max_vus(),
                format_duration(total(stages)),
                stages.len(),
                format_duration(*graceful_ramp_down)
            ),
            Executor::PerVuIterations { vus, iterations, max_duration } => format!(
                "{iterations} iterations for each of {vus} VUs (maxDuration: {})",
                format_duration(*max_duration)
            ),
            Executor::SharedIterations { vus, iterations, max_duration } => format!(
                "{iterations} iterations shared among {vus} VUs (maxDuration: {})",
                format_duration(*max_duration)
            ),
            Executor::ConstantArrivalRate {
                rate: r, duration, pre_allocated_vus, max_vus, ..
            } => {
                format!(
                    "{} iterations/s for {} (maxVUs: {max_vus}, preAllocatedVUs: {pre_allocated_vus})",
                    rate(*r),
                    format_duration(*duration)
                )
            }
            Executor::RampingArrivalRate { start_rate, stages, pre_allocated_vus, max_vus } => {
                let peak = stages.iter().map(|s| s.target).fold(*start_rate, f64::max);
                format!(
                    "Up to {} iterations/s for {} over {} stages (maxVUs: {max_vus}, preAllocatedVUs: {pre_allocated_vus})",
                    rate(peak),
                    format_duration(total(stages)),
                    stages.len()
                )
            }
        }
    }
}

impl ThinkTime {
    /// `2s`, or `1s..5s`.
    pub fn describe(&self) -> String {
        if self.min == self.max {
            format_duration(self.min)
        } else {
            format!("{}..{}", format_duration(self.min), format_duration(self.max))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_k6() {
        let f = |ms: u64| format_duration(Duration::from_millis(ms));
        assert_eq!(f(250), "250ms");
        assert_eq!(f(30_000), "30s");
        assert_eq!(f(120_000), "2m0s");
        assert_eq!(f(1_500), "1.5s");
        assert_eq!(f(3_723_000), "1h2m3s");
    }

    #[test]
    fn descriptions() {
        let st = |s: u64, t: f64| Stage { duration: Duration::from_secs(s), target: t };
        let e = Executor::RampingVus {
            start_vus: 1,
            stages: vec![st(30, 50.0), st(60, 50.0), st(30, 0.0)],
            graceful_ramp_down: Duration::from_secs(30),
        };
        assert_eq!(
            e.describe(),
            "Up to 50 looping VUs for 2m0s over 3 stages (gracefulRampDown: 30s)"
        );
        assert_eq!(e.planned_duration(), Some(Duration::from_secs(120)));
        let e = Executor::ConstantArrivalRate {
            rate: 2.5,
            duration: Duration::from_secs(60),
            pre_allocated_vus: 10,
            max_vus: 20,
            max_iterations: None,
        };
        assert_eq!(e.describe(), "2.50 iterations/s for 1m0s (maxVUs: 20, preAllocatedVUs: 10)");
    }
}
