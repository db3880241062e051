//! What the engine asks of a validated spec while it runs: render a step into a request,
//! pick a flow by weight, feed CSV rows, evaluate checks, extract values, keep cookies,
//! sample think times.
//!
//! Called once per request or iteration, so nothing here parses the plan again; the only
//! parsing is of responses (JSON for `json` checks and extractors).

use std::sync::atomic::Ordering;
use std::time::Duration;

use rand::Rng;

use crate::spec::{
    Body, Check, CheckKind, Extract, ExtractFrom, FeederMode, Flow, HttpOptions, JsonTemplate,
    Scenario, Spec, Step, ThinkTime,
};
use crate::template::VuState;

/// A response as checks and extractors see it.
#[derive(Debug)]
pub struct ResponseView<'a> {
    pub status: u16,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
    pub duration: Duration,
}

/// A step rendered for one VU: everything the transport needs.
#[derive(Debug, Clone)]
pub struct RenderedRequest {
    pub method: http::Method,
    /// Absolute URL.
    pub url: String,
    /// Step headers over default headers; includes `Content-Type` for json/form bodies and
    /// `Cookie` from the VU's jar.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Joins a path to the base URL the way Locust and k6 users expect: the base's own path is
/// kept as a prefix (`http://h/api` + `/users` = `http://h/api/users`).
pub fn join_url(base: &url::Url, path: &str, out: &mut String) {
    let b = base.as_str().trim_end_matches('/');
    out.push_str(b);
    if !path.starts_with('/') && !path.starts_with('?') && !path.is_empty() {
        out.push('/');
    }
    out.push_str(path);
}

impl Step {
    /// Renders this step for `vu`. Relative URLs are joined to `base`.
    pub fn render(
        &self,
        base: Option<&url::Url>,
        http: &HttpOptions,
        vu: &mut VuState,
    ) -> RenderedRequest {
        let path = self.url.render_to_string(vu);
        let mut url = String::with_capacity(path.len() + 32);
        match base {
            Some(b) if !path.contains("://") => join_url(b, &path, &mut url),
            _ => url = path,
        }
        if !self.query.is_empty() {
            let mut sep = if url.contains('?') { '&' } else { '?' };
            let mut val = String::new();
            for (k, v) in &self.query {
                val.clear();
                v.render(vu, &mut val);
                url.push(sep);
                url.extend(url::form_urlencoded::byte_serialize(k.as_bytes()));
                url.push('=');
                url.extend(url::form_urlencoded::byte_serialize(val.as_bytes()));
                sep = '&';
            }
        }
        let mut headers: Vec<(String, String)> =
            Vec::with_capacity(http.headers.len() + self.headers.len() + 2);
        for (k, v) in http.headers.iter().chain(&self.headers) {
            headers.retain(|(name, _)| !name.eq_ignore_ascii_case(k));
            headers.push((k.clone(), v.render_to_string(vu)));
        }
        let has =
            |h: &[(String, String)], n: &str| h.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
        let body = match &self.body {
            Body::None => Vec::new(),
            Body::Raw(t) => t.render_to_string(vu).into_bytes(),
            Body::Bytes(b) => b.to_vec(),
            Body::Json(j) => {
                if !has(&headers, "content-type") {
                    headers.push(("Content-Type".into(), "application/json".into()));
                }
                let mut s = String::with_capacity(128);
                j.render(vu, &mut s);
                s.into_bytes()
            }
            Body::Form(fields) => {
                if !has(&headers, "content-type") {
                    headers
                        .push(("Content-Type".into(), "application/x-www-form-urlencoded".into()));
                }
                let mut s = String::new();
                let mut val = String::new();
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        s.push('&');
                    }
                    val.clear();
                    v.render(vu, &mut val);
                    s.extend(url::form_urlencoded::byte_serialize(k.as_bytes()));
                    s.push('=');
                    s.extend(url::form_urlencoded::byte_serialize(val.as_bytes()));
                }
                s.into_bytes()
            }
        };
        if !vu.cookies.is_empty()
            && !has(&headers, "cookie")
            && let Some(c) = vu.cookies.header_for(&url)
        {
            headers.push(("Cookie".into(), c));
        }
        RenderedRequest { method: self.method.clone(), url, headers, body }
    }
}

impl JsonTemplate {
    /// Writes the JSON text. A string leaf that is exactly one number generator
    /// (`"{{ random_int(1, 9) }}"`) is written as a number; every other leaf as a string.
    pub fn render(&self, vu: &mut VuState, out: &mut String) {
        match self {
            JsonTemplate::Null => out.push_str("null"),
            JsonTemplate::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            JsonTemplate::Number(n) => out.push_str(&n.to_string()),
            JsonTemplate::String(t) => {
                if t.is_single_number() {
                    t.render(vu, out);
                } else if let Some(lit) = t.as_literal() {
                    write_json_string(lit, out);
                } else {
                    write_json_string(&t.render_to_string(vu), out);
                }
            }
            JsonTemplate::Array(items) => {
                out.push('[');
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    it.render(vu, out);
                }
                out.push(']');
            }
            JsonTemplate::Object(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_string(k, out);
                    out.push(':');
                    v.render(vu, out);
                }
                out.push('}');
            }
        }
    }

    pub fn render_to_string(&self, vu: &mut VuState) -> String {
        let mut s = String::new();
        self.render(vu, &mut s);
        s
    }
}

fn write_json_string(s: &str, out: &mut String) {
    use std::fmt::Write;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl Scenario {
    /// Index of the flow this iteration runs, drawn by weight from the VU's generator.
    pub fn pick_flow(&self, vu: &mut VuState) -> usize {
        if self.flows.len() <= 1 {
            return 0;
        }
        let total: u64 = self.flows.iter().map(|f| u64::from(f.weight)).sum();
        if total == 0 {
            return 0;
        }
        let mut x = vu.rng.random_range(0..total);
        for (i, f) in self.flows.iter().enumerate() {
            let w = u64::from(f.weight);
            if x < w {
                return i;
            }
            x -= w;
        }
        self.flows.len() - 1
    }

    /// Called at the start of every iteration: loads the next feeder rows into `vu.vars`
    /// (and, on a VU's first iteration, the plan variables that steps may overwrite).
    pub fn begin_iteration(&self, spec: &Spec, vu: &mut VuState) {
        vu.epoch += 1;
        if vu.epoch == 1 {
            for (k, v) in &spec.variables {
                if !vu.vars.contains_key(k) {
                    vu.vars.insert(k.clone(), v.clone());
                }
            }
        }
        for &fi in &self.feeders {
            let Some(feeder) = spec.feeders.get(fi) else { continue };
            let n = feeder.rows.len() as u64;
            if n == 0 {
                continue;
            }
            let row = match feeder.mode {
                FeederMode::Shared => feeder.cursor.fetch_add(1, Ordering::Relaxed) % n,
                FeederMode::Random => vu.rng.random_range(0..n),
                FeederMode::PerVu => {
                    if vu.feeder_rows.len() <= fi {
                        vu.feeder_rows.resize(fi + 1, u64::MAX);
                    }
                    let next = match vu.feeder_rows[fi] {
                        // Each VU starts at its own row so VUs do not all use row 0 at once.
                        u64::MAX => vu.vu.saturating_sub(1) % n,
                        r => (r + 1) % n,
                    };
                    vu.feeder_rows[fi] = next;
                    next
                }
            };
            let row = &feeder.rows[row as usize];
            for (col, val) in feeder.columns.iter().zip(row) {
                match vu.vars.get_mut(col) {
                    Some(v) => {
                        v.clear();
                        v.push_str(val);
                    }
                    None => {
                        vu.vars.insert(col.clone(), val.clone());
                    }
                }
            }
        }
    }
}

impl Flow {
    pub fn step_count(&self) -> usize {
        self.steps.len()
    }
}

impl ThinkTime {
    /// A pause drawn uniformly in `[min, max]`.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        if self.max <= self.min {
            return self.min;
        }
        let lo = self.min.as_nanos() as u64;
        let hi = self.max.as_nanos() as u64;
        Duration::from_nanos(rng.random_range(lo..=hi))
    }
}

impl Check {
    pub fn evaluate(&self, r: &ResponseView<'_>) -> bool {
        match &self.kind {
            CheckKind::Status(s) => s.contains(&r.status),
            CheckKind::BodyContains(needle) => contains(r.body, needle.as_bytes()),
            CheckKind::BodyMatches(re) => re.is_match(&String::from_utf8_lossy(r.body)),
            CheckKind::JsonPath { path, equals } => {
                let Ok(doc) = serde_json::from_slice::<serde_json::Value>(r.body) else {
                    return false;
                };
                match (json_path_get(&doc, path), equals) {
                    (None, _) => false,
                    (Some(_), None) => true,
                    (Some(v), Some(want)) => json_equal(v, want),
                }
            }
            CheckKind::Header { name, equals } => match (r.headers.get(name.as_str()), equals) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(v), Some(want)) => v.to_str().is_ok_and(|v| v == want),
            },
            CheckKind::MaxDuration(d) => r.duration <= *d,
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// Equality as a plan author means it: `json: {$.id: "7"}` matches the number 7 too.
fn json_equal(actual: &serde_json::Value, want: &serde_json::Value) -> bool {
    use serde_json::Value;
    if actual == want {
        return true;
    }
    match (actual, want) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Number(a), Value::String(b)) | (Value::String(b), Value::Number(a)) => {
            a.to_string() == *b
        }
        (Value::Bool(a), Value::String(b)) => a.to_string() == *b,
        _ => false,
    }
}

impl Extract {
    /// Stores the extracted value in `vu.vars`; false when nothing matched.
    pub fn apply(&self, r: &ResponseView<'_>, vu: &mut VuState) -> bool {
        let value = match &self.from {
            ExtractFrom::JsonPath(path) => {
                let Ok(doc) = serde_json::from_slice::<serde_json::Value>(r.body) else {
                    return false;
                };
                match json_path_get(&doc, path) {
                    None => return false,
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                }
            }
            ExtractFrom::Regex(re) => {
                let text = String::from_utf8_lossy(r.body);
                let Some(c) = re.captures(&text) else { return false };
                match c.get(1).or_else(|| c.get(0)) {
                    Some(m) => m.as_str().to_string(),
                    None => return false,
                }
            }
            ExtractFrom::Header(name) => match r.headers.get(name.as_str()) {
                Some(v) => String::from_utf8_lossy(v.as_bytes()).into_owned(),
                None => return false,
            },
        };
        vu.vars.insert(self.variable.clone(), value);
        true
    }
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    Key(String),
    Index(usize),
}

/// Parses the JSON path subset volley supports: `$.a.b[0].c`, `$['a b']`, `a.b` (the `$.` is
/// optional).
pub fn parse_json_path(path: &str) -> Result<Vec<PathSegment>, String> {
    let mut segs = Vec::new();
    let p = path.trim();
    let owned;
    let mut rest = p.strip_prefix('$').unwrap_or(p);
    if !p.starts_with('$') && !rest.is_empty() && !rest.starts_with('[') {
        owned = format!(".{rest}");
        rest = &owned;
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && chars[j] != '.' && chars[j] != '[' {
                    j += 1;
                }
                if j == start {
                    return Err(format!("empty key at character {} of `{path}`", i + 1));
                }
                segs.push(PathSegment::Key(chars[start..j].iter().collect()));
                i = j;
            }
            '[' => {
                let Some(close) = chars[i..].iter().position(|&c| c == ']') else {
                    return Err(format!("unclosed `[` in `{path}`"));
                };
                let inner: String = chars[i + 1..i + close].iter().collect();
                let inner = inner.trim();
                if let Some(q) = inner
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
                {
                    segs.push(PathSegment::Key(q.to_string()));
                } else if let Ok(n) = inner.parse::<usize>() {
                    segs.push(PathSegment::Index(n));
                } else {
                    return Err(format!(
                        "`[{inner}]` in `{path}` is neither an index nor a quoted key"
                    ));
                }
                i += close + 1;
            }
            c => return Err(format!("unexpected `{c}` in `{path}`")),
        }
    }
    Ok(segs)
}

/// The value at `path` in `doc`, if there is one.
pub fn json_path_get<'a>(doc: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    let segs = parse_json_path(path).ok()?;
    let mut cur = doc;
    for s in &segs {
        cur = match s {
            PathSegment::Key(k) => cur.as_object()?.get(k)?,
            PathSegment::Index(i) => cur.as_array()?.get(*i)?,
        };
    }
    Some(cur)
}

/// One cookie a VU received.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cookie {
    /// Host the cookie was set by, or the `Domain` attribute (then sub-domains match too).
    domain: String,
    host_only: bool,
    path: String,
    name: String,
    value: String,
}

/// A per-VU cookie jar: `Set-Cookie` in, `Cookie` out, matched on host and path. Expiry dates
/// are not tracked (a test is short); `Max-Age=0` or an empty value deletes.
#[derive(Debug, Clone, Default)]
pub struct CookieJar {
    cookies: Vec<Cookie>,
}

impl CookieJar {
    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }

    pub fn len(&self) -> usize {
        self.cookies.len()
    }

    /// Stores every `Set-Cookie` of a response to `url`.
    pub fn store(&mut self, url: &str, headers: &http::HeaderMap) {
        let mut all = headers.get_all(http::header::SET_COOKIE).iter().peekable();
        if all.peek().is_none() {
            return;
        }
        let Ok(u) = url::Url::parse(url) else { return };
        let Some(host) = u.host_str() else { return };
        for v in all {
            let Ok(v) = v.to_str() else { continue };
            let mut parts = v.split(';');
            let Some((name, value)) = parts.next().and_then(|nv| nv.split_once('=')) else {
                continue;
            };
            let mut c = Cookie {
                domain: host.to_ascii_lowercase(),
                host_only: true,
                path: default_path(u.path()),
                name: name.trim().to_string(),
                value: value.trim().trim_matches('"').to_string(),
            };
            let mut delete = false;
            for attr in parts {
                let (k, val) = attr.split_once('=').unwrap_or((attr, ""));
                match k.trim().to_ascii_lowercase().as_str() {
                    "domain" => {
                        let d = val.trim().trim_start_matches('.').to_ascii_lowercase();
                        if !d.is_empty() && domain_match(&c.domain, &d) {
                            c.domain = d;
                            c.host_only = false;
                        }
                    }
                    "path" if val.trim().starts_with('/') => c.path = val.trim().to_string(),
                    "max-age" => delete |= val.trim().parse::<i64>().is_ok_and(|n| n <= 0),
                    _ => {}
                }
            }
            self.cookies
                .retain(|o| !(o.name == c.name && o.domain == c.domain && o.path == c.path));
            if !delete && !c.value.is_empty() {
                self.cookies.push(c);
            }
        }
    }

    /// The `Cookie` header value for a request to `url`, if any cookie applies.
    pub fn header_for(&self, url: &str) -> Option<String> {
        let u = url::Url::parse(url).ok()?;
        let host = u.host_str()?.to_ascii_lowercase();
        let path = u.path();
        let mut out = String::new();
        for c in &self.cookies {
            let host_ok =
                if c.host_only { host == c.domain } else { domain_match(&host, &c.domain) };
            let path_ok = path == c.path
                || (path.starts_with(&c.path)
                    && (c.path.ends_with('/') || path[c.path.len()..].starts_with('/')));
            if host_ok && path_ok {
                if !out.is_empty() {
                    out.push_str("; ");
                }
                out.push_str(&c.name);
                out.push('=');
                out.push_str(&c.value);
            }
        }
        (!out.is_empty()).then_some(out)
    }
}

fn domain_match(host: &str, domain: &str) -> bool {
    host == domain || (host.ends_with(domain) && host[..host.len() - domain.len()].ends_with('.'))
}

fn default_path(p: &str) -> String {
    match p.rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => p[..i].to_string(),
    }
}

impl VuState {
    /// Remembers the cookies of a response; the engine calls it after every response.
    pub fn store_cookies(&mut self, url: &str, headers: &http::HeaderMap) {
        self.cookies.store(url, headers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Feeder;
    use crate::template::{CompileContext, Template};
    use rand::SeedableRng;

    fn scenario(weights: &[u32]) -> Scenario {
        Scenario {
            name: "s".into(),
            executor: crate::spec::Executor::ConstantVus {
                vus: 1,
                duration: Duration::from_secs(1),
            },
            start_time: Duration::ZERO,
            graceful_stop: Duration::from_secs(30),
            flows: weights
                .iter()
                .enumerate()
                .map(|(i, &w)| Flow { name: format!("f{i}"), weight: w, steps: vec![] })
                .collect(),
            think_time: None,
            feeders: vec![],
        }
    }

    #[test]
    fn weights_20_80_within_3_points() {
        let s = scenario(&[20, 80]);
        let mut vu = VuState::new(1, 12345);
        let n = 5000;
        let first = (0..n).filter(|_| s.pick_flow(&mut vu) == 0).count();
        let pct = first as f64 * 100.0 / n as f64;
        assert!((17.0..=23.0).contains(&pct), "{pct}");
        let s = scenario(&[0, 5]);
        assert!((0..100).all(|_| s.pick_flow(&mut vu) == 1));
    }

    #[test]
    fn think_time_bounds() {
        let t = ThinkTime { min: Duration::from_secs(1), max: Duration::from_secs(5) };
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let samples: Vec<Duration> = (0..2000).map(|_| t.sample(&mut rng)).collect();
        assert!(samples.iter().all(|d| *d >= t.min && *d <= t.max));
        let lo = samples.iter().filter(|d| d.as_secs_f64() < 2.0).count();
        let hi = samples.iter().filter(|d| d.as_secs_f64() >= 4.0).count();
        assert!(lo > 350 && hi > 350, "{lo} {hi}");
        let fixed = ThinkTime { min: Duration::from_secs(2), max: Duration::from_secs(2) };
        assert_eq!(fixed.sample(&mut rng), Duration::from_secs(2));
    }

    fn step(url: &str, body: Body) -> Step {
        let ctx = CompileContext { variables: vec!["id".into()], ..Default::default() };
        Step {
            name: url.into(),
            method: http::Method::POST,
            url: Template::compile(url, &ctx).unwrap(),
            query: vec![("q".into(), Template::literal("a b&c"))],
            headers: vec![("accept".into(), Template::literal("text/plain"))],
            body,
            timeout: None,
            checks: vec![],
            extract: vec![],
            think_time: None,
            version: None,
        }
    }

    #[test]
    fn render_joins_encodes_and_sets_headers() {
        let base = url::Url::parse("http://127.0.0.1:3000/api").unwrap();
        let http = HttpOptions {
            headers: vec![
                ("Accept".into(), Template::literal("application/json")),
                ("X-A".into(), Template::literal("1")),
            ],
            ..Default::default()
        };
        let body = Body::Form(vec![("name".into(), Template::literal("é x"))]);
        let mut vu = VuState::new(1, 1);
        vu.vars.insert("id".into(), "7".into());
        let r = step("/item/{{ id }}", body).render(Some(&base), &http, &mut vu);
        assert_eq!(r.url, "http://127.0.0.1:3000/api/item/7?q=a+b%26c");
        assert_eq!(
            r.headers,
            vec![
                ("X-A".to_string(), "1".to_string()),
                ("accept".to_string(), "text/plain".to_string()),
                ("Content-Type".to_string(), "application/x-www-form-urlencoded".to_string()),
            ]
        );
        assert_eq!(r.body, b"name=%C3%A9+x");
        let abs = step("http://other:1/x", Body::None).render(Some(&base), &http, &mut vu);
        assert_eq!(abs.url, "http://other:1/x?q=a+b%26c");
    }

    #[test]
    fn json_bodies_keep_numbers_and_escape_strings() {
        let ctx = CompileContext::default();
        let t = |s: &str| JsonTemplate::String(Template::compile(s, &ctx).unwrap());
        let j = JsonTemplate::Object(vec![
            ("n".into(), t("{{ random_int(5, 5) }}")),
            ("s".into(), t("id-{{ random_int(5, 5) }}")),
            ("q".into(), t("say \"hi\"\n")),
            ("a".into(), JsonTemplate::Array(vec![JsonTemplate::Bool(true), JsonTemplate::Null])),
        ]);
        let mut vu = VuState::new(1, 1);
        let s = j.render_to_string(&mut vu);
        assert_eq!(s, r#"{"n":5,"s":"id-5","q":"say \"hi\"\n","a":[true,null]}"#);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["n"], 5);
    }

    fn view<'a>(status: u16, headers: &'a http::HeaderMap, body: &'a [u8]) -> ResponseView<'a> {
        ResponseView { status, headers, body, duration: Duration::from_millis(120) }
    }

    #[test]
    fn checks() {
        let mut h = http::HeaderMap::new();
        h.insert("x-served-by", "a".parse().unwrap());
        let body = br#"{"label":"positive","items":[{"id":7}],"ok":true}"#;
        let r = view(200, &h, body);
        let c = |kind| Check { name: "c".into(), kind };
        assert!(c(CheckKind::Status(vec![200, 201])).evaluate(&r));
        assert!(!c(CheckKind::Status(vec![500])).evaluate(&r));
        assert!(c(CheckKind::BodyContains("positive".into())).evaluate(&r));
        assert!(!c(CheckKind::BodyContains("negative".into())).evaluate(&r));
        assert!(c(CheckKind::BodyMatches(regex::Regex::new(r#""id":\d+"#).unwrap())).evaluate(&r));
        let jp = |p: &str, e: Option<serde_json::Value>| {
            c(CheckKind::JsonPath { path: p.into(), equals: e }).evaluate(&r)
        };
        assert!(jp("$.items[0].id", Some(7.into())));
        assert!(jp("$.items[0].id", Some("7".into())));
        assert!(!jp("$.items[0].id", Some(8.into())));
        assert!(jp("$.ok", None));
        assert!(!jp("$.missing", None));
        assert!(
            c(CheckKind::Header { name: "X-Served-By".into(), equals: Some("a".into()) })
                .evaluate(&r)
        );
        assert!(!c(CheckKind::Header { name: "x-other".into(), equals: None }).evaluate(&r));
        assert!(c(CheckKind::MaxDuration(Duration::from_millis(200))).evaluate(&r));
        assert!(!c(CheckKind::MaxDuration(Duration::from_millis(100))).evaluate(&r));
    }

    #[test]
    fn extractors() {
        let mut h = http::HeaderMap::new();
        h.insert("x-token", "hdr".parse().unwrap());
        let r = view(200, &h, br#"{"token":"abc","n":3} id=42;"#);
        let mut vu = VuState::new(1, 1);
        let e = |v: &str, from| Extract { variable: v.into(), from };
        // Not JSON as a whole: the JSON extractor finds nothing.
        assert!(!e("t", ExtractFrom::JsonPath("$.token".into())).apply(&r, &mut vu));
        assert!(
            e("id", ExtractFrom::Regex(regex::Regex::new(r"id=(\d+)").unwrap())).apply(&r, &mut vu)
        );
        assert_eq!(vu.vars["id"], "42");
        assert!(e("h", ExtractFrom::Header("X-Token".into())).apply(&r, &mut vu));
        assert_eq!(vu.vars["h"], "hdr");
        let r = view(200, &h, br#"{"token":"abc","n":3}"#);
        assert!(e("t", ExtractFrom::JsonPath("$.token".into())).apply(&r, &mut vu));
        assert!(e("n", ExtractFrom::JsonPath("n".into())).apply(&r, &mut vu));
        assert_eq!((vu.vars["t"].as_str(), vu.vars["n"].as_str()), ("abc", "3"));
    }

    #[test]
    fn json_paths() {
        assert_eq!(
            parse_json_path("$.a['b c'][2].d").unwrap(),
            vec![
                PathSegment::Key("a".into()),
                PathSegment::Key("b c".into()),
                PathSegment::Index(2),
                PathSegment::Key("d".into())
            ]
        );
        assert!(parse_json_path("$.a[x]").is_err());
        assert!(parse_json_path("$..a").is_err());
        assert_eq!(parse_json_path("$").unwrap(), vec![]);
    }

    #[test]
    fn cookie_jar() {
        let mut vu = VuState::new(1, 1);
        let mut h = http::HeaderMap::new();
        h.append("set-cookie", "sid=abc; Path=/; HttpOnly".parse().unwrap());
        h.append("set-cookie", "pref=x; Path=/app".parse().unwrap());
        vu.store_cookies("http://127.0.0.1:3000/login", &h);
        assert_eq!(vu.cookies.len(), 2);
        let s = step("/app/page", Body::None);
        let base = url::Url::parse("http://127.0.0.1:3000").unwrap();
        let r = s.render(Some(&base), &HttpOptions::default(), &mut vu);
        assert!(
            r.headers.contains(&("Cookie".into(), "sid=abc; pref=x".into())),
            "{:?}",
            r.headers
        );
        assert_eq!(
            vu.cookies.header_for("http://127.0.0.1:3000/other").as_deref(),
            Some("sid=abc")
        );
        assert_eq!(vu.cookies.header_for("http://localhost:3000/"), None);
        let mut del = http::HeaderMap::new();
        del.append("set-cookie", "sid=; Max-Age=0; Path=/".parse().unwrap());
        vu.store_cookies("http://127.0.0.1:3000/logout", &del);
        assert_eq!(vu.cookies.header_for("http://127.0.0.1:3000/"), None);
    }

    #[test]
    fn feeders_shared_per_vu_random() {
        let feeder = |mode| Feeder {
            name: "users".into(),
            columns: vec!["user".into()],
            rows: std::sync::Arc::new(vec![vec!["a".into()], vec!["b".into()], vec!["c".into()]]),
            mode,
            cursor: Default::default(),
        };
        let spec = |mode| Spec {
            base_url: None,
            scenarios: vec![],
            thresholds: vec![],
            http: HttpOptions::default(),
            variables: vec![("v".into(), "1".into())],
            feeders: vec![feeder(mode)],
            files: vec![],
            source: None,
        };
        let mut s = scenario(&[1]);
        s.feeders = vec![0];
        let shared = spec(FeederMode::Shared);
        let (mut a, mut b) = (VuState::new(1, 1), VuState::new(2, 1));
        let mut seen = Vec::new();
        for _ in 0..2 {
            s.begin_iteration(&shared, &mut a);
            seen.push(a.vars["user"].clone());
            s.begin_iteration(&shared, &mut b);
            seen.push(b.vars["user"].clone());
        }
        assert_eq!(seen, ["a", "b", "c", "a"]);
        assert_eq!(a.vars["v"], "1");
        let per = spec(FeederMode::PerVu);
        let mut b = VuState::new(2, 1);
        let rows: Vec<String> = (0..4)
            .map(|_| {
                s.begin_iteration(&per, &mut b);
                b.vars["user"].clone()
            })
            .collect();
        assert_eq!(rows, ["b", "c", "a", "b"]);
        let rnd = spec(FeederMode::Random);
        let mut c = VuState::new(3, 9);
        for _ in 0..20 {
            s.begin_iteration(&rnd, &mut c);
            assert!(["a", "b", "c"].contains(&c.vars["user"].as_str()));
        }
    }
}
