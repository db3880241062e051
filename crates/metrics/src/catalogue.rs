//! The metrics volley measures: k6's names, types and units, in one list.
//!
//! Plan validation, the recorder, the assembler, thresholds and every report look metrics up
//! here, so a metric cannot be known to one of them and unknown to another.

use serde::{Deserialize, Serialize};

use crate::result::MetricKind;
use crate::selector::Tag;

/// What a metric's values are: k6's `contains`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Contains {
    /// Milliseconds.
    Time,
    /// Bytes.
    Data,
    /// A plain number (a count, a fraction, a number of VUs).
    Default,
}

impl Contains {
    pub fn as_str(self) -> &'static str {
        match self {
            Contains::Time => "time",
            Contains::Data => "data",
            Contains::Default => "default",
        }
    }
}

/// The tags a request carries (k6 tags every `http_req_*` sample with them).
const REQUEST: &[Tag] = &[
    Tag::Name,
    Tag::Url,
    Tag::Method,
    Tag::Status,
    Tag::ExpectedResponse,
    Tag::Scenario,
    Tag::Flow,
    Tag::Instance,
];
/// k6 emits iteration metrics and data counters once per iteration, tagged with the scenario.
const ITERATION: &[Tag] = &[Tag::Scenario];
const CHECK: &[Tag] = &[Tag::Check, Tag::Scenario, Tag::Flow];

/// One metric of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    pub name: &'static str,
    pub kind: MetricKind,
    pub contains: Contains,
    /// Tags its samples carry. A selector on another tag is valid (as in k6) but matches
    /// nothing.
    pub tags: &'static [Tag],
    /// Present in every result (k6 shows it for every HTTP test).
    pub always: bool,
    /// One line for glossaries and `--help`.
    pub about: &'static str,
}

impl MetricDef {
    pub fn carries(&self, tag: Tag) -> bool {
        self.tags.contains(&tag)
    }
}

const fn def(
    name: &'static str,
    kind: MetricKind,
    contains: Contains,
    tags: &'static [Tag],
    about: &'static str,
) -> MetricDef {
    MetricDef { name, kind, contains, tags, always: true, about }
}

use Contains::{Data, Default as Plain, Time};
use MetricKind::{Counter, Gauge, Rate, Trend};

/// Every metric volley produces, in k6's order of presentation.
pub const CATALOGUE: &[MetricDef] = &[
    def("http_reqs", Counter, Plain, REQUEST, "requests started"),
    def(
        "http_req_failed",
        Rate,
        Plain,
        REQUEST,
        "fraction of requests that failed (transport failure or unexpected status)",
    ),
    def("http_req_duration", Trend, Time, REQUEST, "sending + waiting + receiving"),
    def(
        "http_req_blocked",
        Trend,
        Time,
        REQUEST,
        "time before the request could be sent: DNS, connecting and TLS on a new connection, 0 on a reused one",
    ),
    def("http_req_connecting", Trend, Time, REQUEST, "TCP connect; 0 on a reused connection"),
    def(
        "http_req_tls_handshaking",
        Trend,
        Time,
        REQUEST,
        "TLS handshake; 0 on a reused or plain connection",
    ),
    def("http_req_sending", Trend, Time, REQUEST, "writing the request"),
    def("http_req_waiting", Trend, Time, REQUEST, "time to first byte after sending"),
    def("http_req_receiving", Trend, Time, REQUEST, "reading the response"),
    def("iterations", Counter, Plain, ITERATION, "iterations completed"),
    def(
        "iteration_duration",
        Trend,
        Time,
        ITERATION,
        "one pass through a flow, think time included",
    ),
    MetricDef {
        always: false,
        ..def(
            "dropped_iterations",
            Counter,
            Plain,
            ITERATION,
            "open model: iterations that found no free VU",
        )
    },
    def("vus", Gauge, Plain, &[], "active VUs, sampled once a second"),
    def("vus_max", Gauge, Plain, &[], "VUs allocated"),
    def("checks", Rate, Plain, CHECK, "fraction of checks that passed"),
    def("data_sent", Counter, Data, ITERATION, "bytes sent"),
    def("data_received", Counter, Data, ITERATION, "bytes received"),
];

/// The metric of that name.
pub fn lookup(name: &str) -> Option<&'static MetricDef> {
    CATALOGUE.iter().find(|m| m.name == name)
}

/// Every metric name, for hints.
pub fn names() -> impl Iterator<Item = &'static str> {
    CATALOGUE.iter().map(|m| m.name)
}

impl MetricKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Rate => "rate",
            MetricKind::Trend => "trend",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_k6s() {
        let mut seen = std::collections::HashSet::new();
        for m in CATALOGUE {
            assert!(seen.insert(m.name), "{} twice", m.name);
            assert!(
                m.name.starts_with("http_req")
                    || ["iterations", "iteration_duration", "dropped_iterations"].contains(&m.name)
                    || ["vus", "vus_max", "checks", "data_sent", "data_received"].contains(&m.name),
                "{} is not a k6 name",
                m.name
            );
            // Every time metric is a trend, and the other way round.
            assert_eq!(m.contains == Time, m.kind == Trend, "{}", m.name);
        }
        assert_eq!(lookup("http_req_sending").unwrap().kind, Trend);
        assert_eq!(lookup("checks").unwrap().kind, Rate);
        assert_eq!(lookup("data_received").unwrap().contains, Data);
        assert!(lookup("http_req_blocked").is_some());
        assert!(lookup("nope").is_none());
    }

    #[test]
    fn tags_follow_k6() {
        let d = lookup("http_req_duration").unwrap();
        assert!(d.carries(Tag::Name) && d.carries(Tag::Status) && !d.carries(Tag::Check));
        let c = lookup("checks").unwrap();
        assert!(c.carries(Tag::Check) && !c.carries(Tag::Name));
        assert!(lookup("iterations").unwrap().carries(Tag::Scenario));
        assert!(!lookup("data_received").unwrap().carries(Tag::Name));
        assert!(lookup("vus").unwrap().tags.is_empty());
    }
}
