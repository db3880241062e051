//! Metric keys with tag selectors, k6's `http_req_duration{name:stock,method:GET}`: the one
//! type and the one parser.
//!
//! As in k6, a selector has any number of `tag:value` pairs in any order, separated by commas,
//! with spaces allowed around names and values (`{ name:rapport , method:GET }`); a value may
//! contain spaces and colons (`checks{check:stock 200}`) and may be quoted. A sub-metric is
//! the set of pairs (order does not matter); its name in results is k6's: the text between the
//! braces with the spaces at both ends removed (`http_req_duration{name:rapport , method:GET}`).

use std::fmt;

use crate::catalogue::{self, MetricDef};
use crate::recorder::Names;

/// A tag a sub-metric may select on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tag {
    /// The step's name (k6: the request's `name` tag).
    Name,
    /// Same as `name` in volley (a step's URL is aggregated under its name).
    Url,
    Method,
    /// The response status; `0` for a request that got no response (as k6).
    Status,
    ExpectedResponse,
    Scenario,
    Flow,
    /// A check's name (`checks{check:status 200}`).
    Check,
    /// The value of the backend header (`instance` or `backend`).
    Instance,
}

impl Tag {
    pub const ALL: [Tag; 9] = [
        Tag::Name,
        Tag::Url,
        Tag::Method,
        Tag::Status,
        Tag::ExpectedResponse,
        Tag::Scenario,
        Tag::Flow,
        Tag::Check,
        Tag::Instance,
    ];

    pub fn parse(s: &str) -> Option<Tag> {
        Some(match s {
            "name" => Tag::Name,
            "url" => Tag::Url,
            "method" => Tag::Method,
            "status" => Tag::Status,
            "expected_response" => Tag::ExpectedResponse,
            "scenario" => Tag::Scenario,
            "flow" => Tag::Flow,
            "check" => Tag::Check,
            "instance" | "backend" => Tag::Instance,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tag::Name => "name",
            Tag::Url => "url",
            Tag::Method => "method",
            Tag::Status => "status",
            Tag::ExpectedResponse => "expected_response",
            Tag::Scenario => "scenario",
            Tag::Flow => "flow",
            Tag::Check => "check",
            Tag::Instance => "instance",
        }
    }

    /// Every tag name accepted, for hints.
    pub fn names() -> impl Iterator<Item = &'static str> {
        Tag::ALL.iter().map(|t| t.as_str()).chain(["backend"])
    }
}

/// `{tag:value,…}`: the pairs in the order written (tag spelling kept for display).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub pairs: Vec<(Tag, String)>,
    /// The canonical text between the braces.
    text: String,
}

impl Selector {
    /// The value selected for `tag`, when the selector names it.
    pub fn get(&self, tag: Tag) -> Option<&str> {
        self.pairs.iter().find(|(t, _)| *t == tag).map(|(_, v)| v.as_str())
    }

    /// The same selection whatever the order the pairs were written in.
    pub fn same_selection(&self, other: &Selector) -> bool {
        let mut a: Vec<_> = self.pairs.iter().collect();
        let mut b: Vec<_> = other.pairs.iter().collect();
        a.sort();
        b.sort();
        a == b
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

/// A metric, or a sub-metric of it: `http_req_duration`, `http_reqs{status:200}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricKey {
    pub metric: &'static MetricDef,
    pub selector: Option<Selector>,
}

impl MetricKey {
    pub fn whole(metric: &'static MetricDef) -> Self {
        MetricKey { metric, selector: None }
    }

    /// Parses a key, checking the metric and the tag names.
    pub fn parse(key: &str) -> Result<MetricKey, Vec<KeyError>> {
        let (name, pairs) = split(key)?;
        let mut errors = Vec::new();
        let metric = catalogue::lookup(name);
        if metric.is_none() {
            errors.push(KeyError::UnknownMetric(name.to_string()));
        }
        let mut tags = Vec::new();
        for (k, v) in &pairs {
            match Tag::parse(k) {
                None => errors.push(KeyError::UnknownTag { tag: k.to_string(), key: key.into() }),
                Some(_) if v.is_empty() => {
                    errors.push(KeyError::EmptyValue { tag: k.to_string(), key: key.into() })
                }
                Some(t) => tags.push((t, v.to_string())),
            }
        }
        match metric {
            Some(metric) if errors.is_empty() => {
                let selector = (!pairs.is_empty())
                    .then(|| Selector { text: braces(key).trim().to_string(), pairs: tags });
                Ok(MetricKey { metric, selector })
            }
            _ => Err(errors),
        }
    }
}

impl fmt::Display for MetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.selector {
            None => f.write_str(self.metric.name),
            Some(s) => write!(f, "{}{{{}}}", self.metric.name, s.text),
        }
    }
}

/// What is wrong with a metric key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("`{0}` is not a metric or a sub-metric")]
    Syntax(String),
    #[error("unknown metric `{0}`")]
    UnknownMetric(String),
    #[error("unknown tag `{tag}` in `{key}`")]
    UnknownTag { tag: String, key: String },
    #[error("tag `{tag}` has no value in `{key}`")]
    EmptyValue { tag: String, key: String },
}

/// `name{a:b, c:d}` → (`name`, [(`a`, `b`), (`c`, `d`)]), trimmed and unquoted.
/// What is between the braces of a well-formed key.
fn braces(key: &str) -> &str {
    let k = key.trim();
    k.find('{').map_or("", |open| &k[open + 1..k.len() - 1])
}

/// A metric name and its (tag, value) pairs, borrowed from the key.
type Split<'a> = (&'a str, Vec<(&'a str, &'a str)>);

fn split(key: &str) -> Result<Split<'_>, Vec<KeyError>> {
    let syntax = || vec![KeyError::Syntax(key.to_string())];
    let key_t = key.trim();
    let Some(open) = key_t.find('{') else {
        return if key_t.is_empty() || key_t.contains('}') {
            Err(syntax())
        } else {
            Ok((key_t, vec![]))
        };
    };
    let inner = key_t[open + 1..].strip_suffix('}').ok_or_else(syntax)?;
    if inner.contains(['{', '}']) || inner.trim().is_empty() {
        return Err(syntax());
    }
    let mut pairs = Vec::new();
    for pair in inner.split(',') {
        let (k, v) = pair.split_once(':').ok_or_else(syntax)?;
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
            .unwrap_or(v);
        pairs.push((k.trim(), v));
    }
    Ok((key_t[..open].trim(), pairs))
}

/// A selector resolved against the run's [`Names`]: what the recorder tests each sample with.
/// Built once before the run; matching takes no allocation.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Per endpoint index: does `name`/`url`/`method` allow it (all true when unconstrained).
    endpoints: Option<Vec<bool>>,
    scenarios: Option<Vec<bool>>,
    flows: Option<Vec<bool>>,
    checks: Option<Vec<bool>>,
    /// Per check index: name, flow and scenario all allowed.
    check_mask: Vec<bool>,
    status: Option<Option<u16>>,
    expected: Option<Option<bool>>,
    instance: Option<String>,
    /// Names a request tag (requests only) or the check tag (checks only).
    request_tags: bool,
    check_tag: bool,
}

impl Matcher {
    pub fn new(sel: &Selector, names: &Names) -> Matcher {
        let mut m = Matcher {
            endpoints: None,
            scenarios: None,
            flows: None,
            checks: None,
            check_mask: Vec::new(),
            status: None,
            expected: None,
            instance: None,
            request_tags: false,
            check_tag: false,
        };
        fn and(mask: &mut Option<Vec<bool>>, new: Vec<bool>) {
            *mask = Some(match mask.take() {
                None => new,
                Some(old) => old.iter().zip(new).map(|(a, b)| *a && b).collect(),
            });
        }
        for (tag, value) in &sel.pairs {
            match tag {
                Tag::Name | Tag::Url => {
                    m.request_tags = true;
                    and(&mut m.endpoints, names.endpoints.iter().map(|(_, n)| n == value).collect())
                }
                Tag::Method => {
                    m.request_tags = true;
                    and(
                        &mut m.endpoints,
                        names
                            .endpoints
                            .iter()
                            .map(|(x, _)| x.eq_ignore_ascii_case(value))
                            .collect(),
                    )
                }
                Tag::Scenario => {
                    and(&mut m.scenarios, names.scenarios.iter().map(|n| n == value).collect())
                }
                Tag::Flow => and(&mut m.flows, names.flows.iter().map(|n| n == value).collect()),
                Tag::Check => {
                    m.check_tag = true;
                    and(&mut m.checks, names.checks.iter().map(|(n, _)| n == value).collect())
                }
                Tag::Status => {
                    m.request_tags = true;
                    let want = value.parse::<u16>().ok();
                    // Two different status values, or one that is not a number, match nothing.
                    m.status = match m.status {
                        Some(prev) if prev != want => Some(None),
                        _ => Some(want),
                    };
                }
                Tag::ExpectedResponse => {
                    m.request_tags = true;
                    let want = match value.as_str() {
                        "true" => Some(true),
                        "false" => Some(false),
                        _ => None,
                    };
                    m.expected = match m.expected {
                        Some(prev) if prev != want => Some(None),
                        _ => Some(want),
                    };
                }
                Tag::Instance => {
                    m.request_tags = true;
                    m.instance = Some(value.clone());
                }
            }
        }
        m.check_mask = (0..names.checks.len())
            .map(|i| {
                let flow = names.check_flows.get(i).copied();
                let scenario = flow.and_then(|f| names.flow_scenarios.get(f).copied());
                let by = |mask: &Option<Vec<bool>>, at: Option<usize>| match (mask, at) {
                    (None, _) => true,
                    (Some(_), None) => false,
                    (Some(_), Some(i)) => Self::allows(mask, i),
                };
                Self::allows(&m.checks, i) && by(&m.flows, flow) && by(&m.scenarios, scenario)
            })
            .collect();
        m
    }

    fn allows(mask: &Option<Vec<bool>>, i: usize) -> bool {
        mask.as_ref().is_none_or(|v| v.get(i).copied().unwrap_or(false))
    }

    /// Does a request sample carry every tag of the selector?
    #[inline]
    pub fn request(
        &self,
        endpoint: usize,
        scenario: usize,
        flow: usize,
        status: Option<u16>,
        expected: bool,
        instance: Option<&str>,
    ) -> bool {
        if self.check_tag {
            return false;
        }
        Self::allows(&self.endpoints, endpoint)
            && Self::allows(&self.scenarios, scenario)
            && Self::allows(&self.flows, flow)
            && self.status.is_none_or(|want| want == Some(status.unwrap_or(0)))
            && self.expected.is_none_or(|want| want == Some(expected))
            && self.instance.as_deref().is_none_or(|want| instance == Some(want))
    }

    /// Does a check result carry every tag of the selector?
    #[inline]
    pub fn check(&self, check: usize) -> bool {
        !self.request_tags && self.check_mask.get(check).copied().unwrap_or(false)
    }

    /// Does an iteration of this scenario carry every tag of the selector?
    #[inline]
    pub fn iteration(&self, scenario: usize) -> bool {
        !self.request_tags
            && !self.check_tag
            && self.flows.is_none()
            && Self::allows(&self.scenarios, scenario)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> MetricKey {
        MetricKey::parse(s).unwrap()
    }

    #[test]
    fn k6_forms() {
        let k = key("http_req_duration{name:stock,method:GET}");
        assert_eq!(k.metric.name, "http_req_duration");
        let s = k.selector.as_ref().unwrap();
        assert_eq!(s.pairs, vec![(Tag::Name, "stock".into()), (Tag::Method, "GET".into())]);
        assert_eq!(k.to_string(), "http_req_duration{name:stock,method:GET}");

        let spaced = key("http_req_duration{ name:rapport , method:GET }");
        // Named as k6 names it: only the ends of the braces' text are trimmed.
        assert_eq!(spaced.to_string(), "http_req_duration{name:rapport , method:GET}");
        let reordered = key("http_req_duration{method:GET,name:rapport}");
        assert!(
            reordered.selector.as_ref().unwrap().same_selection(spaced.selector.as_ref().unwrap())
        );
        assert_eq!(reordered.to_string(), "http_req_duration{method:GET,name:rapport}");

        let c = key("checks{check:stock 200}");
        assert_eq!(c.selector.unwrap().get(Tag::Check), Some("stock 200"));
        let r = key("http_reqs{name:update,status:200}");
        assert_eq!(r.selector.unwrap().get(Tag::Status), Some("200"));
        let q = key("http_reqs{name:\"a b\", url : 'x:y' }");
        let q = q.selector.unwrap();
        assert_eq!((q.get(Tag::Name), q.get(Tag::Url)), (Some("a b"), Some("x:y")));
        assert_eq!(key(" http_reqs ").to_string(), "http_reqs");
        assert_eq!(key("http_reqs{backend:b1}").selector.unwrap().get(Tag::Instance), Some("b1"));
    }

    #[test]
    fn errors() {
        let e = MetricKey::parse("http_req_duraton{nme:x}").unwrap_err();
        assert_eq!(e.len(), 2);
        assert!(matches!(e[0], KeyError::UnknownMetric(_)));
        assert!(matches!(e[1], KeyError::UnknownTag { .. }));
        for bad in ["http_reqs{name}", "http_reqs{", "http_reqs{}", "http_reqs{name:a}}", "", "a}"]
        {
            assert!(MetricKey::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            MetricKey::parse("http_reqs{name: }").unwrap_err()[0],
            KeyError::EmptyValue { .. }
        ));
    }

    fn names() -> Names {
        Names {
            endpoints: vec![
                ("GET".into(), "stock".into()),
                ("POST".into(), "stock".into()),
                ("GET".into(), "rapport".into()),
            ],
            scenarios: vec!["a".into(), "b".into()],
            flows: vec!["f".into(), "g".into()],
            checks: vec![("stock 200".into(), "stock".into()), ("other".into(), "rapport".into())],
            check_flows: vec![0, 1],
            flow_scenarios: vec![0, 1],
            ..Names::default()
        }
    }

    fn matcher(s: &str) -> Matcher {
        Matcher::new(key(s).selector.as_ref().unwrap(), &names())
    }

    #[test]
    fn matching_is_exact() {
        let m = matcher("http_req_duration{name:stock,method:GET}");
        assert!(m.request(0, 0, 0, Some(200), true, None));
        assert!(!m.request(1, 0, 0, Some(200), true, None));
        assert!(!m.request(2, 0, 0, Some(200), true, None));
        let m = matcher("http_reqs{ method:get , name:stock, status:200 }");
        assert!(m.request(0, 1, 1, Some(200), true, None));
        assert!(!m.request(0, 1, 1, Some(201), true, None));
        assert!(!m.request(0, 1, 1, None, false, None));
        let m = matcher("http_reqs{status:0}");
        assert!(m.request(0, 0, 0, None, false, None));
        let m = matcher("http_reqs{status:200,status:201}");
        assert!(!m.request(0, 0, 0, Some(200), true, None));
        let m = matcher("http_reqs{expected_response:false,scenario:b}");
        assert!(m.request(2, 1, 0, Some(500), false, None));
        assert!(!m.request(2, 0, 0, Some(500), false, None));
        let m = matcher("http_reqs{instance:x}");
        assert!(m.request(0, 0, 0, Some(200), true, Some("x")));
        assert!(!m.request(0, 0, 0, Some(200), true, None));
        let m = matcher("checks{check:stock 200}");
        assert!(m.check(0) && !m.check(1));
        assert!(!m.request(0, 0, 0, Some(200), true, None));
        assert!(matcher("checks{scenario:b}").check(1) && !matcher("checks{scenario:b}").check(0));
        assert!(matcher("checks{flow:f}").check(0));
        // Checks and iterations carry no request tags, as in k6.
        assert!(!matcher("checks{name:stock}").check(0));
        assert!(matcher("iterations{scenario:b}").iteration(1));
        assert!(!matcher("iterations{scenario:b}").iteration(0));
        assert!(!matcher("iterations{name:stock}").iteration(0));
        assert!(!matcher("http_reqs{name:nowhere}").request(0, 0, 0, Some(200), true, None));
    }
}
