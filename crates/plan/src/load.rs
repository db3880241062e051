//! Loading a plan file: YAML text → validated [`Spec`], with command-line overrides.
//!
//! Order: parse (positions kept) → `--set` → `${ENV}` → resolve every key into the spec types,
//! collecting every problem with its position → `--vus`/`--duration`. The schema is documented
//! in `docs/plan.md` and `schema/plan.schema.json`; keep the three in step.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{PlanError, PlanErrors, did_you_mean};
use crate::spec::{
    Body, Check, CheckKind, Executor, Extract, ExtractFrom, Feeder, FeederMode, Flow, HttpOptions,
    HttpVersion, JsonTemplate, Scenario, Spec, Stage, StatusSet, Step, ThinkTime,
};
use crate::template::{CompileContext, Template};
use crate::threshold::{self, MetricKey, Tag, Threshold};
use crate::yaml::{self, Node, Pos, Value};

/// Changes from the command line, applied without editing the plan file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--set dotted.path=value`: applied to the YAML tree before validation.
    pub set: Vec<(String, String)>,
    /// `--vus N`: VUs of every VU-based scenario (see `docs/plan.md`).
    pub vus: Option<u32>,
    /// `--duration D`: duration of every duration-based scenario.
    pub duration: Option<Duration>,
    /// `--env NAME=value`: wins over the process environment in `${NAME}`.
    pub env: Vec<(String, String)>,
}

/// Reads and validates the plan at `path`; relative file references resolve from its folder.
pub fn load(path: &Path, overrides: &Overrides) -> Result<Spec, PlanErrors> {
    let origin = path.display().to_string();
    let whole = |message: String, hint: Option<&str>| PlanErrors {
        errors: vec![PlanError {
            file: origin.clone(),
            line: 1,
            col: 1,
            message,
            hint: hint.map(str::to_string),
        }],
    };
    let bytes = crate::files::read_limited(path, crate::files::MAX_PLAN_BYTES).map_err(|e| {
        whole(
            format!("cannot read the plan: {e}"),
            Some("check the path (it is relative to the current directory)"),
        )
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        whole(
            format!(
                "the plan is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
            Some("save the plan as UTF-8"),
        )
    })?;
    let base = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    load_str(&text, &origin, base, overrides)
}

/// Validates plan text; `origin` names it in messages, `base_dir` resolves relative files.
pub fn load_str(
    text: &str,
    origin: &str,
    base_dir: &Path,
    overrides: &Overrides,
) -> Result<Spec, PlanErrors> {
    let file: Rc<str> = Rc::from(origin);
    let mut errors = Vec::new();
    let mut root = match yaml::parse(text, &file, &mut errors) {
        Ok(r) => r,
        Err(e) => return Err(PlanErrors { errors: vec![e] }),
    };
    for (path, value) in &overrides.set {
        yaml::apply_set(&mut root, path, value, &mut errors);
    }
    let env: HashMap<&str, &str> =
        overrides.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let lookup =
        |name: &str| env.get(name).map(|v| v.to_string()).or_else(|| std::env::var(name).ok());
    yaml::substitute_env(&mut root, &lookup, &mut errors);
    let mut r = Resolver {
        errors,
        lines: text.lines().map(str::to_string).collect(),
        origin: origin.to_string(),
        base_dir: base_dir.to_path_buf(),
        ctx: CompileContext::default(),
        files: Vec::new(),
    };
    let spec = r.plan(&root, origin);
    let mut errors = r.errors;
    if errors.is_empty()
        && let Some(mut spec) = spec
    {
        apply_overrides(&mut spec, overrides);
        return Ok(spec);
    }
    if errors.is_empty() {
        errors.push(PlanError {
            file: origin.into(),
            line: 1,
            col: 1,
            message: "the plan is invalid".into(),
            hint: None,
        });
    }
    // File order; errors from `--set` values come after the file's own.
    errors.sort_by(|a, b| {
        (a.file != origin, &a.file, a.line, a.col).cmp(&(b.file != origin, &b.file, b.line, b.col))
    });
    errors.dedup();
    // An unset `${VAR}` makes its value meaningless: say so once, not once per consequence.
    let unset: Vec<(String, usize, usize)> = errors
        .iter()
        .filter(|e| e.message.starts_with("environment variable"))
        .map(|e| (e.file.clone(), e.line, e.col))
        .collect();
    errors.retain(|e| {
        e.message.starts_with("environment variable")
            || !unset.contains(&(e.file.clone(), e.line, e.col))
    });
    Err(PlanErrors { errors })
}

/// Parses a duration the way k6 (Go) writes them: `30s`, `1m30s`, `1.5s`, `500ms`, `2h`.
/// A bare `0` is zero; any other bare number needs a unit.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    if t.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!("`{t}` does not start with a number"));
        }
        let n: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("`{}` is not a number", &rest[..num_len]))?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = rest[..unit_len].trim();
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            "" => return Err(format!("`{t}` has no unit")),
            u => return Err(format!("unknown unit `{u}` in `{t}`")),
        };
        total += n * scale;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > 1e9 {
        return Err(format!("`{t}` is too long"));
    }
    Ok(Duration::from_secs_f64(total))
}

/// Names users bring from Locust, k6 scripts or HTTP clients: (theirs, ours, explanation).
const ALIASES: &[(&str, &str, &str)] = &[
    ("host", "base_url", ""),
    ("url", "base_url", ""),
    ("users", "vus", ""),
    ("wait_time", "think_time", ": `1s..5s` is Locust's between(1, 5)"),
    ("wait", "think_time", ""),
    ("sleep", "think_time", ""),
    ("tasks", "flows", ": a flow is a weighted list of steps, like a Locust task"),
    ("requests", "steps", ""),
    ("spawn_rate", "stages", ": 200 users at 10/s is `stages: [ { duration: 20s, target: 200 } ]`"),
    ("exec", "flows", ""),
    ("env", "variables", "; `${NAME}` reads the environment"),
    ("vars", "variables", ""),
    ("options", "defaults", ""),
    ("path", "url", ""),
    ("params", "query", ""),
    ("data", "body", " (or `json`, `form`)"),
    ("checks", "check", ""),
    ("expect", "check", ""),
    ("assert", "check", ""),
    ("status_code", "status", ""),
    ("contains", "body_contains", ""),
    ("capture", "extract", ""),
    ("headers", "defaults", ": put headers for every request under `defaults.headers`"),
    ("timeout", "defaults", ": put the request timeout under `defaults.timeout`"),
];

const TOP_KEYS: &[&str] = &[
    "base_url",
    "description",
    "variables",
    "defaults",
    "data",
    "scenarios",
    "flows",
    "steps",
    "thresholds",
];
const SCENARIO_KEYS: &[&str] = &[
    "executor",
    "vus",
    "duration",
    "iterations",
    "stages",
    "start_vus",
    "rate",
    "time_unit",
    "start_rate",
    "pre_allocated_vus",
    "max_vus",
    "max_duration",
    "start_time",
    "graceful_stop",
    "graceful_ramp_down",
    "think_time",
    "http2",
    "flows",
    "steps",
    "data",
    "description",
];
/// Keys that only some executors take.
const EXECUTOR_KEYS: &[&str] = &[
    "vus",
    "duration",
    "iterations",
    "stages",
    "start_vus",
    "rate",
    "time_unit",
    "start_rate",
    "pre_allocated_vus",
    "max_vus",
    "max_duration",
    "graceful_ramp_down",
];
const EXECUTORS: &[(&str, &[&str])] = &[
    ("constant-vus", &["vus", "duration"]),
    ("ramping-vus", &["start_vus", "stages", "graceful_ramp_down"]),
    ("per-vu-iterations", &["vus", "iterations", "max_duration"]),
    ("shared-iterations", &["vus", "iterations", "max_duration"]),
    ("constant-arrival-rate", &["rate", "time_unit", "duration", "pre_allocated_vus", "max_vus"]),
    (
        "ramping-arrival-rate",
        &["start_rate", "time_unit", "stages", "pre_allocated_vus", "max_vus"],
    ),
    ("externally-controlled", &["vus", "max_vus", "duration"]),
];
const DEFAULTS_KEYS: &[&str] = &[
    "timeout",
    "headers",
    "think_time",
    "expected_statuses",
    "keepalive",
    "insecure",
    "backend_header",
    "http2",
    "streams",
    "pipeline",
    "retry_non_idempotent",
];
const FLOW_KEYS: &[&str] = &["name", "weight", "steps"];
const METHODS: &[&str] = &["get", "post", "put", "patch", "delete", "head", "options"];
const STEP_KEYS: &[&str] = &[
    "get",
    "post",
    "put",
    "patch",
    "delete",
    "head",
    "options",
    "method",
    "url",
    "name",
    "query",
    "headers",
    "body",
    "json",
    "form",
    "body_file",
    "timeout",
    "check",
    "extract",
    "think_time",
    "http2",
];
const CHECK_KEYS: &[&str] =
    &["name", "status", "body_contains", "body_matches", "json", "header", "max_duration"];
const THRESHOLD_KEYS: &[&str] =
    &["threshold", "abortOnFail", "delayAbortEval", "abort_on_fail", "delay_abort_eval"];

struct Resolver {
    errors: Vec<PlanError>,
    /// The plan's lines and name, to point inside scalars.
    lines: Vec<String>,
    origin: String,
    base_dir: PathBuf,
    ctx: CompileContext,
    /// The files read so far, as written in the plan ([`Spec::files`]).
    files: Vec<String>,
}

/// What a scenario inherits from the top of the plan.
struct Shared {
    think_time: Option<ThinkTime>,
    flows: Option<Vec<Flow>>,
    feeder_names: Vec<String>,
}

impl Resolver {
    fn read_file(&mut self, file: &str) {
        if !self.files.iter().any(|f| f == file) {
            self.files.push(file.to_string());
        }
    }

    fn err(&mut self, pos: &Pos, message: impl Into<String>, hint: impl Into<Option<String>>) {
        self.errors.push(pos.error(message, hint.into()));
    }

    fn map<'a>(&mut self, n: &'a Node, what: &str) -> Option<&'a [(Node, Node)]> {
        match &n.v {
            Value::Map(m) => Some(m),
            _ => {
                self.err(&n.pos, format!("{what} must be a mapping, found {}", n.kind()), None);
                None
            }
        }
    }

    fn seq<'a>(&mut self, n: &'a Node, what: &str) -> Option<&'a [Node]> {
        match &n.v {
            Value::Seq(s) => Some(s),
            _ => {
                self.err(&n.pos, format!("{what} must be a list, found {}", n.kind()), None);
                None
            }
        }
    }

    /// Reports keys of `n` not in `allowed`, with a suggestion.
    fn keys(&mut self, n: &Node, allowed: &[&str], what: &str) {
        let Some(m) = n.as_map() else { return };
        for (k, _) in m {
            let key = k.text().unwrap_or_default();
            if !allowed.contains(&key.as_str()) {
                let alias = ALIASES
                    .iter()
                    .find(|(from, to, _)| *from == key && allowed.contains(to))
                    .map(|(_, to, why)| format!("volley calls it `{to}`{why}"));
                let hint = match (alias, did_you_mean(&key, allowed.iter().copied())) {
                    (Some(a), _) => a,
                    (None, Some(s))
                        if key.chars().any(|c| c.is_ascii_uppercase())
                            && s.replace('_', "") == key.to_lowercase().replace(['_', '-'], "") =>
                    {
                        format!("did you mean `{s}`? (k6's options are written in snake_case)")
                    }
                    (None, Some(s)) => format!("did you mean `{s}`?"),
                    (None, None) => format!("{what} takes: {}", allowed.join(", ")),
                };
                self.err(&k.pos, format!("unknown key `{key}` in {what}"), Some(hint));
            }
        }
    }

    fn text(&mut self, n: &Node, what: &str) -> Option<String> {
        match (&n.v, n.text()) {
            (Value::Null, _) => {
                self.err(&n.pos, format!("{what} is empty"), None);
                None
            }
            (_, Some(t)) => Some(t),
            (_, None) => {
                self.err(
                    &n.pos,
                    format!("{what} must be a single value, found {}", n.kind()),
                    None,
                );
                None
            }
        }
    }

    fn int(&mut self, n: &Node, what: &str, min: i64, max: i64) -> Option<i64> {
        // A quoted number (`status: "200"`) is still the number.
        let quoted = match &n.v {
            Value::Str(t, false) => t.trim().parse::<i64>().ok().map(|i| Value::Int(i, t.clone())),
            _ => None,
        };
        match quoted.as_ref().unwrap_or(&n.v) {
            Value::Int(i, _) if (min..=max).contains(i) => Some(*i),
            Value::Int(i, _) => {
                let range = if max == i64::MAX {
                    format!("at least {min}")
                } else {
                    format!("{min}–{max}")
                };
                self.err(&n.pos, format!("{what} must be {range}, found {i}"), None);
                None
            }
            _ => {
                self.err(
                    &n.pos,
                    format!("{what} must be a whole number, found {}", n.kind()),
                    None,
                );
                None
            }
        }
    }

    fn u32(&mut self, n: &Node, what: &str, min: u32) -> Option<u32> {
        self.int(n, what, i64::from(min), i64::from(u32::MAX)).map(|i| i as u32)
    }

    fn number(&mut self, n: &Node, what: &str) -> Option<f64> {
        let quoted = match &n.v {
            Value::Str(t, false) => {
                t.trim().parse::<f64>().ok().map(|f| Value::Float(f, t.clone()))
            }
            _ => None,
        };
        match quoted.as_ref().unwrap_or(&n.v) {
            Value::Int(i, _) if *i >= 0 => Some(*i as f64),
            Value::Float(f, _) if *f >= 0.0 && f.is_finite() => Some(*f),
            _ => {
                self.err(&n.pos, format!("{what} must be a number ≥ 0, found {}", n.kind()), None);
                None
            }
        }
    }

    fn boolean(&mut self, n: &Node, what: &str) -> Option<bool> {
        match &n.v {
            Value::Bool(b) => Some(*b),
            _ => {
                self.err(&n.pos, format!("{what} must be true or false, found {}", n.kind()), None);
                None
            }
        }
    }

    fn duration(&mut self, n: &Node, what: &str) -> Option<Duration> {
        let hint = || Some("write a number with a unit: `500ms`, `30s`, `1m30s`, `2h`".to_string());
        match &n.v {
            Value::Int(0, _) => Some(Duration::ZERO),
            Value::Int(..) | Value::Float(..) => {
                let t = n.text().unwrap_or_default();
                self.err(
                    &n.pos,
                    format!("bad duration `{t}` for {what}: missing unit"),
                    Some(format!("write `{t}s` or `{t}ms`")),
                );
                None
            }
            Value::Str(s, _) => match parse_duration(s) {
                Ok(d) => Some(d),
                Err(e) => {
                    self.err(&n.pos, format!("bad duration for {what}: {e}"), hint());
                    None
                }
            },
            _ => {
                self.err(&n.pos, format!("{what} must be a duration, found {}", n.kind()), hint());
                None
            }
        }
    }

    /// `2s`, `1s..5s`, or `{min: 1s, max: 5s}`.
    fn think_time(&mut self, n: &Node) -> Option<ThinkTime> {
        if let Some(m) = n.as_map() {
            let _ = m;
            self.keys(n, &["min", "max"], "think_time");
            let min = n.get("min").and_then(|v| self.duration(v, "think_time.min"));
            let max = n.get("max").and_then(|v| self.duration(v, "think_time.max"));
            return match (min, max) {
                (Some(min), Some(max)) if min <= max => Some(ThinkTime { min, max }),
                (Some(_), Some(_)) => {
                    self.err(&n.pos, "think_time: `min` is above `max`", None);
                    None
                }
                _ => {
                    if n.get("min").is_none() || n.get("max").is_none() {
                        self.err(
                            &n.pos,
                            "think_time needs both `min` and `max`",
                            Some("or write `1s..5s`".into()),
                        );
                    }
                    None
                }
            };
        }
        if let Value::Str(s, _) = &n.v
            && let Some((a, b)) = s.split_once("..")
        {
            let hint = Some("write `1s..5s` (Locust's between(1, 5)) or a fixed `2s`".to_string());
            return match (parse_duration(a), parse_duration(b)) {
                (Ok(min), Ok(max)) if min <= max => Some(ThinkTime { min, max }),
                (Ok(_), Ok(_)) => {
                    self.err(
                        &n.pos,
                        format!("think_time `{s}`: the low end is above the high end"),
                        hint,
                    );
                    None
                }
                (Err(e), _) | (_, Err(e)) => {
                    self.err(&n.pos, format!("bad think_time `{s}`: {e}"), hint);
                    None
                }
            };
        }
        self.duration(n, "think_time").map(|d| ThinkTime { min: d, max: d })
    }

    fn template(&mut self, n: &Node, what: &str) -> Option<Template> {
        let text = self.text(n, what)?;
        self.compile(&text, &n.pos)
    }

    fn compile(&mut self, text: &str, pos: &Pos) -> Option<Template> {
        match Template::compile(text, &self.ctx) {
            Ok(t) => Some(t),
            Err(es) => {
                for e in es {
                    let at = self.point_into(pos, text, e.offset);
                    self.err(&at, e.message, e.hint);
                }
                None
            }
        }
    }

    /// The position of byte `offset` of a scalar's `text`, when the source shows the text
    /// verbatim there (plain or simply quoted, one line); else the scalar's own position.
    fn point_into(&self, pos: &Pos, text: &str, offset: usize) -> Pos {
        let Some(line) = self.lines.get(pos.line.wrapping_sub(1)) else { return pos.clone() };
        if *pos.file != *self.origin || offset == 0 {
            return pos.clone();
        }
        let Some(start) = line.char_indices().nth(pos.col - 1).map(|(b, _)| b) else {
            return pos.clone();
        };
        let src = &line[start..];
        let prefix = &text[..offset];
        for quote in ["", "\"", "'"] {
            if src.starts_with(quote) && src[quote.len()..].starts_with(prefix) {
                let chars = quote.chars().count() + prefix.chars().count();
                return Pos { col: pos.col + chars, ..pos.clone() };
            }
        }
        pos.clone()
    }

    /// Headers volley frames itself (`Content-Length`, `Transfer-Encoding`, a second `Host`)
    /// are refused where they are written; see [`crate::check_user_header`].
    fn user_headers(&mut self, n: &Node, body_len: Option<usize>) {
        let mut host_seen = false;
        for (k, v) in n.as_map().unwrap_or_default() {
            let Some(name) = k.text() else { continue };
            let value = v.text();
            if let Err(e) = crate::check_user_header(&name, value.as_deref(), body_len, host_seen) {
                self.err(&k.pos, e.message, Some(e.hint.to_string()));
            }
            host_seen |= name.eq_ignore_ascii_case("host");
        }
    }

    fn template_map(&mut self, n: &Node, what: &str) -> Vec<(String, Template)> {
        let mut out = Vec::new();
        for (k, v) in self.map(n, what).unwrap_or_default() {
            let Some(key) = k.text() else { continue };
            // `Accept: ` with nothing after it sends an empty value rather than failing.
            let t = if matches!(v.v, Value::Null) {
                Some(Template::literal(""))
            } else {
                self.template(v, &format!("{what}.{key}"))
            };
            if let Some(t) = t {
                out.push((key, t));
            }
        }
        out
    }

    fn plan(&mut self, root: &Node, origin: &str) -> Option<Spec> {
        match &root.v {
            Value::Map(_) => {}
            Value::Null => {
                self.err(&root.pos, "the plan is empty", Some("a minimal plan has `base_url`, `vus`, `duration` and `steps`; see docs/plan.md".to_string()));
                return None;
            }
            _ => {
                self.err(
                    &root.pos,
                    format!(
                        "a plan is a mapping of keys (base_url, scenarios, …), found {}",
                        root.kind()
                    ),
                    None,
                );
                return None;
            }
        }
        let has_scenarios = root.get("scenarios").is_some();
        let mut allowed: Vec<&str> = TOP_KEYS.to_vec();
        allowed.extend(
            SCENARIO_KEYS.iter().filter(|k| !["flows", "steps", "data", "description"].contains(k)),
        );
        self.keys(root, &allowed, "the plan");
        if has_scenarios {
            for (k, _) in root.as_map().unwrap_or_default() {
                let key = k.text().unwrap_or_default();
                if SCENARIO_KEYS.contains(&key.as_str()) && !TOP_KEYS.contains(&key.as_str()) {
                    self.err(
                        &k.pos,
                        format!(
                            "`{key}` at the top level only applies to a plan without `scenarios`"
                        ),
                        Some(
                            "move it into a scenario (or `think_time` into `defaults`)".to_string(),
                        ),
                    );
                }
            }
        }

        // Relative step URLs are fine as soon as a base_url is written, even a broken one.
        let has_base = root.get("base_url").is_some();
        let base_url = root.get("base_url").and_then(|n| {
            let t = self.text(n, "base_url")?;
            match crate::Target::parse(&t) {
                Ok(target) => Some(target.url),
                Err(e) if e.contains("scheme") => {
                    self.err(&n.pos, format!("base_url: {e}"), None);
                    None
                }
                Err(e) => {
                    self.err(
                        &n.pos,
                        format!("base_url `{t}` is not a URL: {e}"),
                        Some("write for example `http://127.0.0.1:3000`".to_string()),
                    );
                    None
                }
            }
        });

        let variables = self.variables(root.get("variables"));
        let feeders = match root.get("data") {
            Some(n) => self.feeders(n),
            None => Vec::new(),
        };

        // Names that change at run time are looked up per render; the rest are folded in.
        let mut dynamic: Vec<String> = Vec::new();
        collect_extract_names(root, &mut dynamic);
        for f in &feeders {
            dynamic.extend(f.columns.iter().cloned());
        }
        let dynamic_set: HashSet<&String> = dynamic.iter().collect();
        self.ctx.constants = variables
            .iter()
            .filter(|(k, _)| !dynamic_set.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut runtime_vars: Vec<String> = dynamic.clone();
        runtime_vars.extend(
            variables.iter().filter(|(k, _)| dynamic_set.contains(k)).map(|(k, _)| k.clone()),
        );
        self.ctx.variables = runtime_vars;

        let (http, default_think) = match root.get("defaults") {
            Some(d) => self.defaults(d),
            None => (HttpOptions::default(), None),
        };

        let top_flows = if let Some(f) = root.get("flows") {
            if root.get("steps").is_some() {
                self.err(
                    &f.pos,
                    "the plan has both `flows` and `steps`",
                    Some("`steps` is a single flow; put its steps in one of the flows".to_string()),
                );
            }
            self.flows(f, has_base)
        } else {
            root.get("steps").map(|s| vec![self.single_flow(s, "default", has_base)])
        };
        let shared = Shared {
            think_time: default_think,
            flows: top_flows,
            feeder_names: feeders.iter().map(|f| f.name.clone()).collect(),
        };

        let mut scenarios = Vec::new();
        if let Some(sc) = root.get("scenarios") {
            let entries = self.map(sc, "scenarios").unwrap_or_default();
            if entries.is_empty() && sc.as_map().is_some() {
                self.err(
                    &sc.pos,
                    "`scenarios` is empty",
                    Some("add a scenario with an `executor`".to_string()),
                );
            }
            for (k, v) in entries {
                let Some(name) = k.text() else { continue };
                if let Some(s) = self.scenario(&name, v, &shared, has_base, false) {
                    scenarios.push(s);
                }
            }
        } else if let Some(s) = self.scenario("default", root, &shared, has_base, true) {
            scenarios.push(s);
        }

        let thresholds = match root.get("thresholds") {
            Some(t) => self.thresholds(t, &scenarios),
            None => Vec::new(),
        };

        if let Some(p) = root.get("defaults").and_then(|d| d.get("pipeline"))
            && let Err(why) = http.check_pipeline(&scenarios)
        {
            self.err(&p.pos, format!("`pipeline: {}`: {why}", http.pipeline), None);
        }
        if !self.errors.is_empty() {
            return None;
        }
        Some(Spec {
            base_url,
            scenarios,
            thresholds,
            http,
            variables,
            feeders,
            files: std::mem::take(&mut self.files),
            source: Some(origin.to_string()),
        })
    }

    fn variables(&mut self, n: Option<&Node>) -> Vec<(String, String)> {
        let Some(n) = n else { return Vec::new() };
        let mut out = Vec::new();
        for (k, v) in self.map(n, "variables").unwrap_or_default() {
            let Some(name) = k.text() else { continue };
            if !is_name(&name) {
                self.err(
                    &k.pos,
                    format!("`{name}` is not a variable name"),
                    Some("use letters, digits, `_` and `-`".to_string()),
                );
                continue;
            }
            match v.text() {
                Some(t) => out.push((name, t)),
                None => self.err(
                    &v.pos,
                    format!("variable `{name}` must be a single value, found {}", v.kind()),
                    Some(
                        "variables are strings or numbers; put lists in `random_choice(…)`"
                            .to_string(),
                    ),
                ),
            }
        }
        out
    }

    fn feeders(&mut self, n: &Node) -> Vec<Feeder> {
        let mut out = Vec::new();
        for (k, v) in self.map(n, "data").unwrap_or_default() {
            let Some(name) = k.text() else { continue };
            let (file_node, mode) = match &v.v {
                Value::Map(_) => {
                    self.keys(v, &["file", "mode"], &format!("data `{name}`"));
                    let mode = match v.get("mode") {
                        None => Some(FeederMode::Shared),
                        Some(m) => {
                            match m.text().as_deref() {
                                Some("shared") => Some(FeederMode::Shared),
                                Some("per_vu" | "per-vu") => Some(FeederMode::PerVu),
                                Some("random") => Some(FeederMode::Random),
                                other => {
                                    self.err(&m.pos, format!("unknown feeder mode `{}`", other.unwrap_or_default()), Some("modes: shared (round-robin over all VUs), per_vu, random".to_string()));
                                    None
                                }
                            }
                        }
                    };
                    match v.get("file") {
                        Some(f) => (f, mode),
                        None => {
                            self.err(
                                &v.pos,
                                format!("data `{name}` needs a `file`"),
                                Some("write `file: users.csv` (relative to the plan)".to_string()),
                            );
                            continue;
                        }
                    }
                }
                _ => (v, Some(FeederMode::Shared)),
            };
            let Some(file) = self.text(file_node, &format!("data `{name}` file")) else { continue };
            let Some(mode) = mode else { continue };
            let path = self.base_dir.join(&file);
            match read_csv(&path) {
                Ok((columns, rows)) => {
                    self.read_file(&file);
                    out.push(Feeder {
                        name,
                        columns,
                        rows: Arc::new(rows),
                        mode,
                        cursor: Default::default(),
                    })
                }
                Err(e) => self.err(
                    &file_node.pos,
                    format!("data `{name}`: {e}"),
                    Some(format!(
                        "paths are relative to the plan's folder ({})",
                        self.base_dir.display()
                    )),
                ),
            }
        }
        out
    }

    fn defaults(&mut self, n: &Node) -> (HttpOptions, Option<ThinkTime>) {
        let mut http = HttpOptions::default();
        let mut think = None;
        if self.map(n, "defaults").is_none() {
            return (http, think);
        }
        self.keys(n, DEFAULTS_KEYS, "defaults");
        if let Some(t) = n.get("timeout").and_then(|t| self.duration(t, "defaults.timeout")) {
            http.timeout = t;
        }
        if let Some(h) = n.get("headers") {
            http.headers = self.template_map(h, "defaults.headers");
            // Bodies differ per step: a length cannot be right for all of them.
            self.user_headers(h, None);
        }
        if let Some(t) = n.get("think_time") {
            think = self.think_time(t);
        }
        if let Some(s) = n.get("expected_statuses")
            && let Some(set) = self.status_set(s)
        {
            http.expected_statuses = set;
        }
        if let Some(b) = n.get("keepalive").and_then(|b| self.boolean(b, "keepalive")) {
            http.keepalive = b;
        }
        if let Some(b) = n.get("insecure").and_then(|b| self.boolean(b, "insecure")) {
            http.insecure = b;
        }
        if let Some(h) = n.get("backend_header") {
            http.backend_header = self.text(h, "backend_header");
        }
        if let Some(v) = n.get("http2").and_then(|b| self.http2(b)) {
            http.version = v;
        }
        if let Some(p) = n.get("streams").and_then(|p| self.u32(p, "streams", 1)) {
            http.streams = p;
        }
        if let Some(p) = n.get("pipeline").and_then(|p| self.u32(p, "pipeline", 1)) {
            http.pipeline = p;
        }
        if let Some(b) =
            n.get("retry_non_idempotent").and_then(|b| self.boolean(b, "retry_non_idempotent"))
        {
            http.retry_non_idempotent = b;
        }
        (http, think)
    }

    /// `http2: true` (HTTP/2, negotiated by ALPN over TLS) or `false` (HTTP/1.1).
    fn http2(&mut self, n: &Node) -> Option<HttpVersion> {
        let on = self.boolean(n, "http2")?;
        Some(if on { HttpVersion::Http2 } else { HttpVersion::Http1 })
    }

    /// `[200, 201]`, `["200-299", 304]`, or one status.
    fn status_set(&mut self, n: &Node) -> Option<StatusSet> {
        let items: Vec<&Node> = match &n.v {
            Value::Seq(s) => s.iter().collect(),
            _ => vec![n],
        };
        let mut ranges = Vec::new();
        for it in items {
            let t = it.text().unwrap_or_default();
            let parsed = match t.split_once('-') {
                Some((a, b)) => a.trim().parse::<u16>().ok().zip(b.trim().parse::<u16>().ok()),
                None => t.trim().parse::<u16>().ok().map(|s| (s, s)),
            };
            match parsed {
                Some((a, b)) if (100..=599).contains(&a) && (a..=599).contains(&b) => {
                    ranges.push((a, b))
                }
                _ => self.err(
                    &it.pos,
                    format!("`{t}` is not an HTTP status or a range of them"),
                    Some("write `200`, or `200-399`".to_string()),
                ),
            }
        }
        (!ranges.is_empty()).then_some(StatusSet(ranges))
    }

    fn scenario(
        &mut self,
        name: &str,
        n: &Node,
        shared: &Shared,
        has_base: bool,
        shorthand: bool,
    ) -> Option<Scenario> {
        self.map(n, &format!("scenario `{name}`"))?;
        if !shorthand {
            self.keys(n, SCENARIO_KEYS, &format!("scenario `{name}`"));
        }
        let what = if shorthand { "the plan".to_string() } else { format!("scenario `{name}`") };
        let executor = self.executor(n, &what, shorthand);
        let start_time = n
            .get("start_time")
            .and_then(|v| self.duration(v, "start_time"))
            .unwrap_or(Duration::ZERO);
        let graceful_stop = n
            .get("graceful_stop")
            .and_then(|v| self.duration(v, "graceful_stop"))
            .unwrap_or(Duration::from_secs(30));
        let think_time = match n.get("think_time") {
            Some(t) => self.think_time(t),
            None => shared.think_time,
        };
        let flows = if shorthand {
            shared.flows.clone()
        } else {
            match (n.get("flows"), n.get("steps")) {
                (Some(f), Some(_)) => {
                    self.err(
                        &f.pos,
                        format!("{what} has both `flows` and `steps`"),
                        Some(
                            "`steps` is a single flow; put its steps in one of the flows"
                                .to_string(),
                        ),
                    );
                    None
                }
                (Some(f), None) => self.flows(f, has_base),
                (None, Some(s)) => Some(vec![self.single_flow(s, name, has_base)]),
                (None, None) => shared.flows.clone(),
            }
        };
        let flows = match flows {
            // The scenario's `http2:` for its steps that do not say.
            Some(mut f) => {
                if let Some(v) = n.get("http2").and_then(|b| self.http2(b)) {
                    for st in f.iter_mut().flat_map(|f| f.steps.iter_mut()) {
                        st.version.get_or_insert(v);
                    }
                }
                f
            }
            None => {
                if shared.flows.is_none() && n.get("flows").is_none() && n.get("steps").is_none() {
                    self.err(&n.pos, format!("{what} has no flows"), Some("add `flows:` (weighted lists of steps) or `steps:` to it or to the top of the plan".to_string()));
                }
                Vec::new()
            }
        };
        let feeders = match n.get("data").filter(|_| !shorthand) {
            None => (0..shared.feeder_names.len()).collect(),
            Some(d) => {
                let mut idx = Vec::new();
                let names: Vec<&Node> = match &d.v {
                    Value::Seq(s) => s.iter().collect(),
                    _ => vec![d],
                };
                for nm in names {
                    let t = nm.text().unwrap_or_default();
                    match shared.feeder_names.iter().position(|f| *f == t) {
                        Some(i) => idx.push(i),
                        None => {
                            let hint = match did_you_mean(
                                &t,
                                shared.feeder_names.iter().map(String::as_str),
                            ) {
                                Some(s) => format!("did you mean `{s}`?"),
                                None => {
                                    "name a feeder defined under the top-level `data`".to_string()
                                }
                            };
                            self.err(&nm.pos, format!("unknown data `{t}`"), Some(hint));
                        }
                    }
                }
                idx
            }
        };
        Some(Scenario {
            name: name.to_string(),
            executor: executor?,
            start_time,
            graceful_stop,
            flows,
            think_time,
            feeders,
        })
    }

    fn executor(&mut self, n: &Node, what: &str, shorthand: bool) -> Option<Executor> {
        let name = match n.get("executor") {
            Some(e) => {
                let t = self.text(e, "executor")?;
                if !EXECUTORS.iter().any(|(x, _)| *x == t) {
                    let hint = match did_you_mean(&t, EXECUTORS.iter().map(|(x, _)| *x)) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!(
                            "executors: {}",
                            EXECUTORS.iter().map(|(x, _)| *x).collect::<Vec<_>>().join(", ")
                        ),
                    };
                    self.err(&e.pos, format!("unknown executor `{t}`"), Some(hint));
                    return None;
                }
                t
            }
            // Like k6's shortcut options: stages → ramping-vus, iterations → shared-iterations,
            // duration → constant-vus.
            None if shorthand => {
                if n.get("stages").is_some() {
                    "ramping-vus".to_string()
                } else if n.get("iterations").is_some() {
                    "shared-iterations".to_string()
                } else if n.get("duration").is_some() {
                    "constant-vus".to_string()
                } else {
                    self.err(&n.pos, "the plan says neither how long nor how much to run", Some("add `scenarios:`, or `vus` with `duration` (or `iterations`, or `stages`)".to_string()));
                    return None;
                }
            }
            None => {
                self.err(
                    &n.pos,
                    format!("{what} needs an `executor`"),
                    Some(format!(
                        "one of: {}",
                        EXECUTORS.iter().map(|(x, _)| *x).collect::<Vec<_>>().join(", ")
                    )),
                );
                return None;
            }
        };
        let takes = EXECUTORS.iter().find(|(x, _)| *x == name).map(|(_, k)| *k).unwrap_or_default();
        for (k, _) in n.as_map().unwrap_or_default() {
            let key = k.text().unwrap_or_default();
            if EXECUTOR_KEYS.contains(&key.as_str()) && !takes.contains(&key.as_str()) {
                self.err(
                    &k.pos,
                    format!("`{key}` does not apply to executor `{name}`"),
                    Some(format!("{name} takes: {}", takes.join(", "))),
                );
            }
        }
        let need = |r: &mut Self, key: &str| -> Option<&Node> {
            let v = n.get(key);
            if v.is_none() {
                r.err(
                    &n.pos,
                    format!("executor `{name}` of {what} needs `{key}`"),
                    Some(format!("{name} takes: {}", takes.join(", "))),
                );
            }
            v
        };
        let vus = |r: &mut Self| n.get("vus").map_or(Some(1), |v| r.u32(v, "vus", 1));
        let iterations = |r: &mut Self| {
            n.get("iterations")
                .map_or(Some(1), |v| r.int(v, "iterations", 1, i64::MAX).map(|i| i as u64))
        };
        let max_duration = |r: &mut Self| {
            n.get("max_duration")
                .map_or(Some(Duration::from_secs(600)), |v| r.duration(v, "max_duration"))
        };
        let time_unit = |r: &mut Self| {
            let d = n
                .get("time_unit")
                .map_or(Some(Duration::from_secs(1)), |v| r.duration(v, "time_unit"))?;
            if d.is_zero() {
                r.err(
                    &n.get("time_unit").expect("zero only when given").pos,
                    "time_unit must be above zero",
                    None,
                );
                return None;
            }
            Some(d.as_secs_f64())
        };
        let vus_pair = |r: &mut Self| -> Option<(u32, u32)> {
            let pre =
                need(r, "pre_allocated_vus").and_then(|v| r.u32(v, "pre_allocated_vus", 0))?;
            let max = match n.get("max_vus") {
                None => pre,
                Some(v) => r.u32(v, "max_vus", 1)?,
            };
            if max < pre {
                r.err(
                    &n.get("max_vus").expect("set").pos,
                    format!("max_vus ({max}) is below pre_allocated_vus ({pre})"),
                    None,
                );
                return None;
            }
            if max == 0 {
                r.err(
                    &n.pos,
                    "an arrival-rate executor needs at least one VU",
                    Some("set `pre_allocated_vus` or `max_vus` above 0".to_string()),
                );
                return None;
            }
            Some((pre, max))
        };
        match name.as_str() {
            "constant-vus" => {
                let vus = vus(self);
                let duration = need(self, "duration").and_then(|d| self.duration(d, "duration"));
                Some(Executor::ConstantVus {
                    vus: vus?,
                    duration: self.positive(duration?, n, "duration")?,
                })
            }
            "externally-controlled" => {
                let vus = vus(self);
                let max = n.get("max_vus").map(|v| self.u32(v, "max_vus", 1)).unwrap_or(None);
                let duration = need(self, "duration").and_then(|d| self.duration(d, "duration"));
                let vus = vus?;
                let max_vus = max.unwrap_or(vus);
                if max_vus < vus {
                    self.err(
                        &n.pos,
                        format!(
                            "externally-controlled: vus ({vus}) must not exceed max_vus ({max_vus})"
                        ),
                        Some("raise `max_vus`".to_string()),
                    );
                    return None;
                }
                Some(Executor::ExternallyControlled {
                    vus,
                    max_vus,
                    duration: self.positive(duration?, n, "duration")?,
                })
            }
            "ramping-vus" => {
                let start_vus = n.get("start_vus").map_or(Some(1), |v| self.u32(v, "start_vus", 0));
                let stages = need(self, "stages").and_then(|s| self.stages(s, true));
                let grd = n.get("graceful_ramp_down").map_or(Some(Duration::from_secs(30)), |v| {
                    self.duration(v, "graceful_ramp_down")
                });
                let (start_vus, stages) = (start_vus?, stages?);
                if start_vus == 0 && stages.iter().all(|s| s.target == 0.0) {
                    self.err(
                        &n.pos,
                        "start_vus and every stage target are 0: the scenario would send nothing",
                        Some("give a stage a target above 0".to_string()),
                    );
                    return None;
                }
                Some(Executor::RampingVus { start_vus, stages, graceful_ramp_down: grd? })
            }
            "per-vu-iterations" | "shared-iterations" => {
                let (v, i, m) = (vus(self), iterations(self), max_duration(self));
                let (vus, iterations, max_duration) = (v?, i?, m?);
                let max_duration = self.positive(max_duration, n, "max_duration")?;
                if name == "per-vu-iterations" {
                    return Some(Executor::PerVuIterations { vus, iterations, max_duration });
                }
                if iterations < u64::from(vus) {
                    self.err(&n.pos, format!("shared-iterations: iterations ({iterations}) must be at least vus ({vus})"), Some("lower `vus` or raise `iterations`".to_string()));
                    return None;
                }
                Some(Executor::SharedIterations { vus, iterations, max_duration })
            }
            "constant-arrival-rate" => {
                let rate = need(self, "rate").and_then(|r| self.number(r, "rate"));
                let unit = time_unit(self);
                let duration = need(self, "duration").and_then(|d| self.duration(d, "duration"));
                let pair = vus_pair(self);
                let (rate, unit, duration, (pre, max)) = (rate?, unit?, duration?, pair?);
                if rate <= 0.0 {
                    self.err(&n.get("rate").expect("set").pos, "rate must be above zero", None);
                    return None;
                }
                Some(Executor::ConstantArrivalRate {
                    rate: rate / unit,
                    duration: self.positive(duration, n, "duration")?,
                    pre_allocated_vus: pre,
                    max_vus: max,
                    max_iterations: None,
                })
            }
            _ => {
                let start = n.get("start_rate").map_or(Some(0.0), |v| self.number(v, "start_rate"));
                let unit = time_unit(self);
                let stages = need(self, "stages").and_then(|s| self.stages(s, false));
                let pair = vus_pair(self);
                let (start, unit, mut stages, (pre, max)) = (start?, unit?, stages?, pair?);
                if start <= 0.0 && stages.iter().all(|s| s.target <= 0.0) {
                    self.err(
                        &n.pos,
                        "start_rate and every stage target are 0: the scenario would send nothing",
                        Some("give a stage a target above 0".to_string()),
                    );
                    return None;
                }
                for s in &mut stages {
                    s.target /= unit;
                }
                Some(Executor::RampingArrivalRate {
                    start_rate: start / unit,
                    stages,
                    pre_allocated_vus: pre,
                    max_vus: max,
                })
            }
        }
    }

    fn positive(&mut self, d: Duration, n: &Node, key: &str) -> Option<Duration> {
        if d.is_zero() {
            let pos = n.get(key).map_or(&n.pos, |v| &v.pos).clone();
            self.err(&pos, format!("{key} must be above zero"), None);
            return None;
        }
        Some(d)
    }

    fn stages(&mut self, n: &Node, whole: bool) -> Option<Vec<Stage>> {
        let items = self.seq(n, "stages")?;
        if items.is_empty() {
            self.err(
                &n.pos,
                "stages is empty",
                Some("add `- { duration: 30s, target: 50 }`".to_string()),
            );
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for it in items {
            if self.map(it, "a stage").is_none() {
                ok = false;
                continue;
            }
            self.keys(it, &["duration", "target"], "a stage");
            let d = match it.get("duration") {
                Some(d) => self.duration(d, "stage duration"),
                None => {
                    self.err(
                        &it.pos,
                        "a stage needs a `duration`",
                        Some("write `{ duration: 30s, target: 50 }`".to_string()),
                    );
                    None
                }
            };
            let t = match it.get("target") {
                Some(t) if whole => self.u32(t, "stage target", 0).map(f64::from),
                Some(t) => self.number(t, "stage target"),
                None => {
                    self.err(
                        &it.pos,
                        "a stage needs a `target`",
                        Some("write `{ duration: 30s, target: 50 }`".to_string()),
                    );
                    None
                }
            };
            match (d, t) {
                (Some(duration), Some(target)) => out.push(Stage { duration, target }),
                _ => ok = false,
            }
        }
        if ok && out.iter().all(|s| s.duration.is_zero()) {
            self.err(
                &n.pos,
                "every stage lasts 0s: the scenario would send nothing",
                Some(
                    "give at least one stage a duration, e.g. `{ duration: 30s, target: 50 }`"
                        .to_string(),
                ),
            );
            return None;
        }
        ok.then_some(out)
    }

    fn flows(&mut self, n: &Node, has_base: bool) -> Option<Vec<Flow>> {
        let items = self.seq(n, "flows")?;
        if items.is_empty() {
            self.err(
                &n.pos,
                "flows is empty",
                Some(
                    "add a flow: `- { name: home, weight: 1, steps: [ { get: / } ] }`".to_string(),
                ),
            );
            return None;
        }
        let mut out = Vec::new();
        let mut names: HashSet<String> = HashSet::new();
        for (i, it) in items.iter().enumerate() {
            if self.map(it, "a flow").is_none() {
                continue;
            }
            self.keys(it, FLOW_KEYS, "a flow");
            let name = match it.get("name") {
                Some(v) => self.text(v, "flow name").unwrap_or_default(),
                None => format!("flow{}", i + 1),
            };
            if !names.insert(name.clone()) {
                self.err(
                    &it.pos,
                    format!("two flows are named `{name}`"),
                    Some("flow names must be unique within a list".to_string()),
                );
            }
            let weight =
                it.get("weight").map_or(Some(1), |w| self.u32(w, "weight", 0)).unwrap_or(1);
            let steps = match it.get("steps") {
                Some(s) => self.steps(s, has_base),
                None => {
                    self.err(
                        &it.pos,
                        format!("flow `{name}` has no `steps`"),
                        Some("add `steps: [ { get: / } ]`".to_string()),
                    );
                    Vec::new()
                }
            };
            out.push(Flow { name, weight, steps });
        }
        if out.len() == items.len() && out.iter().map(|f| u64::from(f.weight)).sum::<u64>() == 0 {
            self.err(
                &n.pos,
                "the weights of the flows sum to zero",
                Some("give at least one flow a weight above 0".to_string()),
            );
        }
        Some(out)
    }

    fn single_flow(&mut self, n: &Node, name: &str, has_base: bool) -> Flow {
        Flow { name: name.to_string(), weight: 1, steps: self.steps(n, has_base) }
    }

    fn steps(&mut self, n: &Node, has_base: bool) -> Vec<Step> {
        let Some(items) = self.seq(n, "steps") else { return Vec::new() };
        if items.is_empty() {
            self.err(&n.pos, "steps is empty", Some("add a request: `- get: /`".to_string()));
        }
        items.iter().filter_map(|it| self.step(it, has_base)).collect()
    }

    fn step(&mut self, n: &Node, has_base: bool) -> Option<Step> {
        self.map(n, "a step")?;
        self.keys(n, STEP_KEYS, "a step");
        let shorthand: Vec<(&str, &Node)> =
            METHODS.iter().filter_map(|m| n.get(m).map(|v| (*m, v))).collect();
        let (method, url_node) = match (shorthand.as_slice(), n.get("method"), n.get("url")) {
            ([(m, u)], None, None) => (m.to_ascii_uppercase(), *u),
            ([], Some(m), Some(u)) => {
                let m = self.text(m, "method")?.to_ascii_uppercase();
                (m, u)
            }
            ([], _, _) => {
                self.err(&n.pos, "a step needs a request", Some("write `get: /path` (or post, put, patch, delete, head, options), or `method:` with `url:`".to_string()));
                return None;
            }
            ([(a, _), (b, _), ..], _, _) => {
                self.err(
                    &n.pos,
                    format!("a step makes one request; found `{a}` and `{b}`"),
                    Some("split it into two steps".to_string()),
                );
                return None;
            }
            ([(a, _)], _, _) => {
                self.err(
                    &n.pos,
                    format!("a step has both `{a}` and `method`/`url`"),
                    Some(format!("keep `{a}: URL`, or `method` with `url`")),
                );
                return None;
            }
        };
        let method = match http::Method::from_bytes(method.as_bytes()) {
            Ok(m) => m,
            Err(_) => {
                self.err(&n.pos, format!("`{method}` is not an HTTP method"), None);
                return None;
            }
        };
        let url_text = self.text(url_node, "the URL")?;
        let url = self.compile(&url_text, &url_node.pos);
        let literal = url.as_ref().and_then(Template::as_literal);
        let text = literal.unwrap_or(&url_text);
        let absolute = text.contains("://");
        // A URL that starts with a run-time variable may be either; the request will tell.
        let unknown = literal.is_none() && url_text.trim_start().starts_with("{{");
        if !absolute && !unknown && !has_base {
            self.err(
                &url_node.pos,
                format!("relative URL `{url_text}` but the plan has no `base_url`"),
                Some(
                    "add `base_url: http://host:port` at the top, or write an absolute URL"
                        .to_string(),
                ),
            );
        } else if absolute
            && let Some(lit) = literal
            && let Err(e) = crate::Target::parse(lit)
        {
            self.err(&url_node.pos, format!("`{lit}` is not a URL: {e}"), None);
        }
        let name = match n.get("name") {
            Some(v) => self.text(v, "step name"),
            None => Some(url_text.clone()),
        };
        let query = n.get("query").map(|q| self.template_map(q, "query")).unwrap_or_default();
        let headers = n.get("headers").map(|h| self.template_map(h, "headers")).unwrap_or_default();
        let bodies: Vec<&str> = ["body", "json", "form", "body_file"]
            .into_iter()
            .filter(|k| n.get(k).is_some())
            .collect();
        if bodies.len() > 1 {
            self.err(
                &n.pos,
                format!("a step has one body; found `{}`", bodies.join("` and `")),
                Some("keep one of body, json, form, body_file".to_string()),
            );
        }
        let body = if let Some(b) = n.get("body") {
            if matches!(b.v, Value::Map(_) | Value::Seq(_)) {
                self.err(
                    &b.pos,
                    format!("body must be text, found {}", b.kind()),
                    Some("for a JSON body write `json:` instead of `body:`".to_string()),
                );
                None
            } else {
                self.template(b, "body").map(Body::Raw)
            }
        } else if let Some(j) = n.get("json") {
            self.json_template(j).map(Body::Json)
        } else if let Some(f) = n.get("form") {
            Some(Body::Form(self.template_map(f, "form")))
        } else if let Some(f) = n.get("body_file") {
            let file = self.text(f, "body_file")?;
            let path = self.base_dir.join(&file);
            match crate::files::read_limited(&path, crate::files::MAX_BODY_BYTES) {
                Ok(bytes) => {
                    self.read_file(&file);
                    Some(Body::Bytes(Arc::from(bytes)))
                }
                Err(e) => {
                    self.err(
                        &f.pos,
                        format!("body_file `{file}`: {e}"),
                        Some(format!(
                            "paths are relative to the plan's folder ({})",
                            self.base_dir.display()
                        )),
                    );
                    None
                }
            }
        } else {
            Some(Body::None)
        };
        if let Some(h) = n.get("headers") {
            let body_len = match &body {
                Some(Body::None) => Some(0),
                Some(Body::Bytes(b)) => Some(b.len()),
                Some(Body::Raw(t)) => t.as_literal().map(str::len),
                _ => None,
            };
            self.user_headers(h, body_len);
        }
        let timeout = n.get("timeout").map(|t| self.duration(t, "timeout"));
        let think_time = n.get("think_time").map(|t| self.think_time(t));
        let version = n.get("http2").and_then(|b| self.http2(b));
        let name_for_checks = name.clone().unwrap_or_default();
        let checks = match n.get("check") {
            Some(c) => self.checks(c, &name_for_checks),
            None => Some(Vec::new()),
        };
        let extract = match n.get("extract") {
            Some(e) => self.extracts(e),
            None => Some(Vec::new()),
        };
        Some(Step {
            name: name?,
            method,
            url: url?,
            query,
            headers,
            body: body?,
            timeout: timeout.flatten().filter(|d| !d.is_zero()),
            checks: checks?,
            extract: extract?,
            think_time: match think_time {
                None => None,
                Some(t) => Some(t?),
            },
            version,
        })
    }

    fn json_template(&mut self, n: &Node) -> Option<JsonTemplate> {
        Some(match &n.v {
            Value::Null => JsonTemplate::Null,
            Value::Bool(b) => JsonTemplate::Bool(*b),
            Value::Int(i, _) => JsonTemplate::Number((*i).into()),
            Value::Float(f, t) => match serde_json::Number::from_f64(*f) {
                Some(x) => JsonTemplate::Number(x),
                None => {
                    self.err(&n.pos, format!("`{t}` is not a JSON number"), None);
                    return None;
                }
            },
            Value::Str(s, _) => JsonTemplate::String(self.compile(s, &n.pos)?),
            Value::Seq(items) => {
                let out: Vec<Option<JsonTemplate>> =
                    items.iter().map(|i| self.json_template(i)).collect();
                JsonTemplate::Array(out.into_iter().collect::<Option<Vec<_>>>()?)
            }
            Value::Map(m) => {
                let mut out = Vec::new();
                let mut ok = true;
                for (k, v) in m {
                    match self.json_template(v) {
                        Some(t) => out.push((k.text().unwrap_or_default(), t)),
                        None => ok = false,
                    }
                }
                if !ok {
                    return None;
                }
                JsonTemplate::Object(out)
            }
        })
    }

    fn checks(&mut self, n: &Node, step: &str) -> Option<Vec<Check>> {
        let items: Vec<&Node> = match &n.v {
            Value::Seq(s) => s.iter().collect(),
            _ => vec![n],
        };
        let mut out = Vec::new();
        let before = self.errors.len();
        for it in items {
            if self.map(it, "check").is_none() {
                continue;
            }
            self.keys(it, CHECK_KEYS, "check");
            let mut found: Vec<Check> = Vec::new();
            for (k, v) in it.as_map().unwrap_or_default() {
                match k.text().unwrap_or_default().as_str() {
                    "status" => {
                        let vals: Vec<&Node> = match &v.v {
                            Value::Seq(s) => s.iter().collect(),
                            _ => vec![v],
                        };
                        let codes: Vec<u16> = vals
                            .iter()
                            .filter_map(|c| self.int(c, "status", 100, 599).map(|i| i as u16))
                            .collect();
                        if codes.len() == vals.len() && !codes.is_empty() {
                            let label =
                                codes.iter().map(u16::to_string).collect::<Vec<_>>().join("|");
                            found.push(Check {
                                name: format!("status {label}"),
                                kind: CheckKind::Status(codes),
                            });
                        }
                    }
                    "body_contains" => {
                        let vals: Vec<&Node> = match &v.v {
                            Value::Seq(s) => s.iter().collect(),
                            _ => vec![v],
                        };
                        for s in vals {
                            if let Some(t) = self.text(s, "body_contains") {
                                found.push(Check {
                                    name: format!("body contains {t:?}"),
                                    kind: CheckKind::BodyContains(t),
                                });
                            }
                        }
                    }
                    "body_matches" => {
                        if let Some(t) = self.text(v, "body_matches") {
                            match regex::Regex::new(&t) {
                                Ok(re) => found.push(Check {
                                    name: format!("body matches /{t}/"),
                                    kind: CheckKind::BodyMatches(re),
                                }),
                                Err(e) => self.err(
                                    &v.pos,
                                    format!(
                                        "body_matches: bad regular expression: {}",
                                        first_line(&e.to_string())
                                    ),
                                    Some(
                                        "the syntax is Rust's `regex` crate (like RE2)".to_string(),
                                    ),
                                ),
                            }
                        }
                    }
                    "json" => match &v.v {
                        Value::Map(m) => {
                            for (p, want) in m {
                                let path = p.text().unwrap_or_default();
                                if self.json_path(&path, &p.pos) {
                                    let equals = yaml_to_json(want);
                                    found.push(Check {
                                        name: format!("json {path} == {equals}"),
                                        kind: CheckKind::JsonPath { path, equals: Some(equals) },
                                    });
                                }
                            }
                        }
                        _ => {
                            let vals: Vec<&Node> = match &v.v {
                                Value::Seq(s) => s.iter().collect(),
                                _ => vec![v],
                            };
                            for p in vals {
                                if let Some(path) = self.text(p, "json path")
                                    && self.json_path(&path, &p.pos)
                                {
                                    found.push(Check {
                                        name: format!("json {path} exists"),
                                        kind: CheckKind::JsonPath { path, equals: None },
                                    });
                                }
                            }
                        }
                    },
                    "header" => match &v.v {
                        Value::Map(m) => {
                            for (h, want) in m {
                                let name = h.text().unwrap_or_default();
                                if self.header_name(&name, &h.pos)
                                    && let Some(w) = self.text(want, "header value")
                                {
                                    found.push(Check {
                                        name: format!("header {name} == {w}"),
                                        kind: CheckKind::Header { name, equals: Some(w) },
                                    });
                                }
                            }
                        }
                        _ => {
                            if let Some(name) = self.text(v, "header")
                                && self.header_name(&name, &v.pos)
                            {
                                found.push(Check {
                                    name: format!("header {name} exists"),
                                    kind: CheckKind::Header { name, equals: None },
                                });
                            }
                        }
                    },
                    "max_duration" => {
                        if let Some(d) = self.duration(v, "max_duration") {
                            let label = v.text().unwrap_or_default();
                            found.push(Check {
                                name: format!("duration <= {label}"),
                                kind: CheckKind::MaxDuration(d),
                            });
                        }
                    }
                    _ => {}
                }
            }
            if let Some(nm) = it.get("name") {
                let name = self.text(nm, "check name");
                match (found.len(), name) {
                    (1, Some(name)) => found[0].name = name,
                    (0, _) | (_, None) => {}
                    (k, Some(_)) => self.err(&nm.pos, format!("a named check has one condition; this one has {k}"), Some("write a list of checks, one `name` each: `check: [ { name: stock 200, status: 200 }, … ]`".to_string())),
                }
            } else if found.is_empty()
                && it.as_map().is_some_and(|m| !m.is_empty())
                && self.errors.len() == before
            {
                self.err(
                    &it.pos,
                    format!("check of step `{step}` has no condition"),
                    Some(
                        "use status, body_contains, body_matches, json, header or max_duration"
                            .to_string(),
                    ),
                );
            }
            out.extend(found);
        }
        (self.errors.len() == before).then_some(out)
    }

    fn json_path(&mut self, path: &str, pos: &Pos) -> bool {
        match crate::runtime::parse_json_path(path) {
            Ok(_) => true,
            Err(e) => {
                self.err(
                    pos,
                    format!("bad JSON path: {e}"),
                    Some("volley supports `$.a.b[0].c` and `$['key']`".to_string()),
                );
                false
            }
        }
    }

    fn header_name(&mut self, name: &str, pos: &Pos) -> bool {
        if http::HeaderName::from_bytes(name.as_bytes()).is_ok() {
            return true;
        }
        self.err(pos, format!("`{name}` is not a header name"), None);
        false
    }

    fn extracts(&mut self, n: &Node) -> Option<Vec<Extract>> {
        let before = self.errors.len();
        let mut out = Vec::new();
        for (k, v) in self.map(n, "extract").unwrap_or_default() {
            let Some(var) = k.text() else { continue };
            if !is_name(&var) {
                self.err(
                    &k.pos,
                    format!("`{var}` is not a variable name"),
                    Some("use letters, digits, `_` and `-`".to_string()),
                );
                continue;
            }
            let from = match &v.v {
                Value::Str(s, _) => {
                    if self.json_path(s, &v.pos) {
                        Some(ExtractFrom::JsonPath(s.clone()))
                    } else {
                        None
                    }
                }
                Value::Map(m) if m.len() == 1 => {
                    self.keys(v, &["json", "regex", "header"], "extract");
                    let (kk, vv) = &m[0];
                    let src = self.text(vv, "extract source");
                    match (kk.text().as_deref(), src) {
                        (Some("json"), Some(p)) => {
                            self.json_path(&p, &vv.pos).then_some(ExtractFrom::JsonPath(p))
                        }
                        (Some("regex"), Some(r)) => match regex::Regex::new(&r) {
                            Ok(re) => Some(ExtractFrom::Regex(re)),
                            Err(e) => {
                                self.err(
                                    &vv.pos,
                                    format!(
                                        "bad regular expression: {}",
                                        first_line(&e.to_string())
                                    ),
                                    None,
                                );
                                None
                            }
                        },
                        (Some("header"), Some(h)) => {
                            self.header_name(&h, &vv.pos).then_some(ExtractFrom::Header(h))
                        }
                        _ => None,
                    }
                }
                _ => {
                    self.err(&v.pos, format!("extract `{var}` needs one source"), Some("write `{ json: $.token }`, `{ regex: 'id=(\\d+)' }` or `{ header: Location }`".to_string()));
                    None
                }
            };
            if let Some(from) = from {
                out.push(Extract { variable: var, from });
            }
        }
        (self.errors.len() == before).then_some(out)
    }

    fn thresholds(&mut self, n: &Node, scenarios: &[Scenario]) -> Vec<Threshold> {
        let mut out = Vec::new();
        for (k, v) in self.map(n, "thresholds").unwrap_or_default() {
            let Some(key) = k.text() else { continue };
            let parsed = match threshold::check_metric_key(&key) {
                Ok(t) => Some(t),
                Err(es) => {
                    for e in es {
                        self.err(&k.pos, e.message, e.hint);
                    }
                    None
                }
            };
            if let Some(p) = &parsed {
                self.check_selector(p, &key, &k.pos, scenarios);
            }
            let items: Vec<&Node> = match &v.v {
                Value::Seq(s) => s.iter().collect(),
                _ => vec![v],
            };
            if items.is_empty() {
                self.err(
                    &v.pos,
                    format!("no expression for `{key}`"),
                    Some("write `[\"p(95)<500\"]`".to_string()),
                );
            }
            let mut exprs = Vec::new();
            for it in items {
                let (src_node, abort, delay) = match &it.v {
                    Value::Map(_) => {
                        self.keys(it, THRESHOLD_KEYS, "a threshold");
                        let Some(t) = it.get("threshold") else {
                            self.err(
                                &it.pos,
                                "a threshold object needs `threshold`",
                                Some(
                                    "write `{ threshold: \"p(95)<500\", abortOnFail: true }`"
                                        .to_string(),
                                ),
                            );
                            continue;
                        };
                        let abort = it
                            .get("abortOnFail")
                            .or(it.get("abort_on_fail"))
                            .and_then(|b| self.boolean(b, "abortOnFail"))
                            .unwrap_or(false);
                        let delay = it
                            .get("delayAbortEval")
                            .or(it.get("delay_abort_eval"))
                            .and_then(|d| self.duration(d, "delayAbortEval"))
                            .unwrap_or(Duration::ZERO);
                        (t, abort, delay)
                    }
                    _ => (it, false, Duration::ZERO),
                };
                let Some(src) = self.text(src_node, "threshold") else { continue };
                match threshold::parse_expr(&src, parsed.as_ref().map(|p| p.metric)) {
                    Ok(mut e) => {
                        e.abort_on_fail = abort;
                        e.delay_abort_eval = delay;
                        exprs.push(e);
                    }
                    Err(e) => {
                        self.err(&src_node.pos, format!("bad threshold {}", e.message), e.hint)
                    }
                }
            }
            if let Some(key) = parsed {
                out.push(Threshold { key, exprs });
            }
        }
        out
    }

    /// A sub-metric on a name, flow or scenario that does not exist would silently stay empty.
    fn check_selector(&mut self, parsed: &MetricKey, key: &str, pos: &Pos, scenarios: &[Scenario]) {
        let Some(sel) = &parsed.selector else { return };
        for (tag, value) in &sel.pairs {
            let value = value.as_str();
            let known: Vec<&str> = match tag {
                Tag::Name | Tag::Url => scenarios
                    .iter()
                    .flat_map(|s| &s.flows)
                    .flat_map(|f| &f.steps)
                    .map(|s| s.name.as_str())
                    .collect(),
                Tag::Flow => {
                    scenarios.iter().flat_map(|s| &s.flows).map(|f| f.name.as_str()).collect()
                }
                Tag::Scenario => scenarios.iter().map(|s| s.name.as_str()).collect(),
                Tag::Check => scenarios
                    .iter()
                    .flat_map(|s| &s.flows)
                    .flat_map(|f| &f.steps)
                    .flat_map(|s| &s.checks)
                    .map(|c| c.name.as_str())
                    .collect(),
                _ => continue,
            };
            let tag = tag.as_str();
            if known.is_empty() || known.contains(&value) {
                continue;
            }
            let hint = match did_you_mean(value, known.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("{tag}s in this plan: {}", dedup(known).join(", ")),
            };
            self.err(
                pos,
                format!("no {tag} is `{value}` in this plan, so `{key}` would stay empty"),
                Some(hint),
            );
        }
    }
}

fn dedup(v: Vec<&str>) -> Vec<&str> {
    let mut seen = HashSet::new();
    v.into_iter().filter(|x| seen.insert(*x)).collect()
}

fn first_line(s: &str) -> String {
    let last = s.lines().rfind(|l| !l.trim().is_empty()).unwrap_or(s).trim();
    last.strip_prefix("error: ").unwrap_or(last).to_string()
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

fn yaml_to_json(n: &Node) -> serde_json::Value {
    match &n.v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(i, _) => (*i).into(),
        Value::Float(f, _) => {
            serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
        }
        Value::Str(s, _) => s.clone().into(),
        Value::Seq(items) => items.iter().map(yaml_to_json).collect(),
        Value::Map(m) => m
            .iter()
            .map(|(k, v)| (k.text().unwrap_or_default(), yaml_to_json(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    }
}

/// Names of every `extract:` target anywhere in the plan, so that templates of earlier-parsed
/// steps already know them.
fn collect_extract_names(n: &Node, out: &mut Vec<String>) {
    match &n.v {
        Value::Map(m) => {
            for (k, v) in m {
                if k.text().as_deref() == Some("extract")
                    && let Some(em) = v.as_map()
                {
                    out.extend(em.iter().filter_map(|(k, _)| k.text()));
                }
                collect_extract_names(v, out);
            }
        }
        Value::Seq(items) => items.iter().for_each(|i| collect_extract_names(i, out)),
        _ => {}
    }
}

fn read_csv(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    use crate::files::{MAX_CSV_BYTES, MAX_CSV_CELLS, read_limited};
    let bytes = read_limited(path, MAX_CSV_BYTES)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(bytes.as_slice());
    let columns: Vec<String> = rdr
        .headers()
        .map_err(|e| format!("`{}`: {}", path.display(), csv_reason(&e)))?
        .iter()
        .map(str::to_string)
        .collect();
    if columns.is_empty() || columns.iter().any(String::is_empty) {
        return Err(format!("`{}`: the first line must name every column", path.display()));
    }
    let mut rows = Vec::new();
    let mut cells = columns.len();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| format!("`{}`: {}", path.display(), csv_reason(&e)))?;
        cells += rec.len();
        if cells > MAX_CSV_CELLS {
            return Err(format!(
                "`{}` has more than {MAX_CSV_CELLS} cells, the limit of one feeder (hint: sample \
                 the rows the test needs)",
                path.display()
            ));
        }
        rows.push(rec.iter().map(str::to_string).collect());
    }
    if rows.is_empty() {
        return Err(format!("`{}` has a header but no rows", path.display()));
    }
    Ok((columns, rows))
}

fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Io(io) => io.to_string(),
        _ => e.to_string(),
    }
}

/// `--vus` and `--duration`, applied to the validated spec (see `docs/plan.md`).
fn apply_overrides(spec: &mut Spec, o: &Overrides) {
    for s in &mut spec.scenarios {
        if let Some(n) = o.vus {
            match &mut s.executor {
                Executor::ConstantVus { vus, .. } | Executor::PerVuIterations { vus, .. } => {
                    *vus = n
                }
                Executor::SharedIterations { vus, iterations, .. } => {
                    *vus = n;
                    *iterations = (*iterations).max(u64::from(n));
                }
                Executor::RampingVus { start_vus, stages, .. } => {
                    // Keep the shape, scale the peak to N.
                    let peak =
                        stages.iter().map(|s| s.target).fold(f64::from(*start_vus), f64::max);
                    if peak > 0.0 {
                        let k = f64::from(n) / peak;
                        *start_vus = (f64::from(*start_vus) * k).round() as u32;
                        for st in stages.iter_mut() {
                            st.target = (st.target * k).round();
                        }
                    }
                }
                Executor::ConstantArrivalRate { pre_allocated_vus, max_vus, .. }
                | Executor::RampingArrivalRate { pre_allocated_vus, max_vus, .. } => {
                    *max_vus = n;
                    *pre_allocated_vus = (*pre_allocated_vus).min(n);
                }
                Executor::ExternallyControlled { vus, max_vus, .. } => {
                    *vus = n;
                    *max_vus = (*max_vus).max(n);
                }
            }
        }
        if let Some(d) = o.duration {
            match &mut s.executor {
                Executor::ConstantVus { duration, .. }
                | Executor::ExternallyControlled { duration, .. }
                | Executor::ConstantArrivalRate { duration, .. } => *duration = d,
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Spec, PlanErrors> {
        load_str(text, "plan.yaml", Path::new("plans"), &Overrides::default())
    }

    fn errors(text: &str) -> String {
        match load_text(text) {
            Ok(_) => panic!("the plan should not validate:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    const OK: &str = "base_url: http://127.0.0.1:3000\nvus: 2\nduration: 10s\nsteps:\n  - get: /\n";

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// Every plan the project ships: `examples/*.yaml` and the ```` ```yaml plan ```` blocks of
    /// `docs/plan.md`, as (origin, text, folder).
    fn shipped_plans() -> Vec<(String, String, PathBuf)> {
        let mut out = Vec::new();
        let ex = repo().join("examples");
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(&ex).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files.into_iter().filter(|f| f.extension().is_some_and(|e| e == "yaml")) {
            out.push((f.display().to_string(), std::fs::read_to_string(&f).unwrap(), ex.clone()));
        }
        let docs = repo().join("docs");
        let md = std::fs::read_to_string(docs.join("plan.md")).unwrap();
        let mut block: Option<(usize, String)> = None;
        for (i, line) in md.lines().enumerate() {
            match &mut block {
                None if line.trim() == "```yaml plan" => block = Some((i + 2, String::new())),
                Some((start, text)) if line.trim() == "```" => {
                    out.push((format!("docs/plan.md:{start}"), std::mem::take(text), docs.clone()));
                    block = None;
                }
                Some((_, text)) => {
                    text.push_str(line);
                    text.push('\n');
                }
                None => {}
            }
        }
        out
    }

    /// Executor keys are a subset of scenario keys: a key added to one list only would be
    /// rejected as unknown (or never checked against the executor).
    #[test]
    fn executor_keys_are_scenario_keys() {
        for k in EXECUTOR_KEYS {
            assert!(SCENARIO_KEYS.contains(k), "`{k}` is missing from SCENARIO_KEYS");
        }
    }

    #[test]
    fn every_shipped_plan_validates() {
        let plans = shipped_plans();
        assert!(plans.len() >= 15, "{} plans found", plans.len());
        for (origin, text, dir) in &plans {
            if let Err(e) = load_str(text, origin, dir, &Overrides::default()) {
                panic!("{origin} does not validate:\n{e}");
            }
        }
    }

    #[test]
    fn every_shipped_plan_matches_the_json_schema() {
        let schema: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(repo().join("schema/plan.schema.json")).unwrap(),
        )
        .unwrap();
        let validator = jsonschema::draft202012::new(&schema).unwrap();
        for (origin, text, _) in shipped_plans() {
            let mut errs = Vec::new();
            let node = yaml::parse(&text, &Rc::from(origin.as_str()), &mut errs).unwrap();
            let doc = yaml_to_json(&node);
            let problems: Vec<String> = validator
                .iter_errors(&doc)
                .map(|e| format!("{} at {}", e, e.instance_path))
                .collect();
            assert!(
                problems.is_empty(),
                "{origin} does not match the schema:\n{}",
                problems.join("\n")
            );
        }
        // The schema rejects what the loader rejects, at least the common mistakes.
        for bad in [
            "vus: 1\nduration: 3x\nsteps: [ { get: / } ]\n",
            "vus: 1\nduration: 1s\nsteps: [ { get: /, hedaers: {} } ]\n",
            "vus: 1\nduration: 1s\nsteps: [ { get: / } ]\nthresholds: { http_req_duraton: [\"p(95)<1\"] }\n",
            "vus: 1\nduration: 1s\nsteps: [ { get: / } ]\nthresholds: { http_req_duration: [\"p95<1\"] }\n",
            "scenarios: { a: { executor: ramping-vu } }\n",
        ] {
            let node = yaml::parse(bad, &Rc::from("bad"), &mut Vec::new()).unwrap();
            assert!(!validator.is_valid(&yaml_to_json(&node)), "the schema accepts:\n{bad}");
        }
    }

    #[test]
    fn never_panics_on_damaged_plans() {
        // Every truncation and a few character swaps of every shipped plan: errors, no panic.
        for (origin, text, dir) in shipped_plans() {
            let cuts: Vec<usize> = text.char_indices().map(|(i, _)| i).step_by(13).collect();
            for &cut in &cuts {
                let _ = load_str(&text[..cut], &origin, &dir, &Overrides::default());
                for junk in [":", "{", "- ", "\"", "{{", "${", "\n  x: [", "\t"] {
                    let damaged = format!("{}{junk}{}", &text[..cut], &text[cut..]);
                    let _ = load_str(&damaged, &origin, &dir, &Overrides::default());
                }
            }
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("3x").is_err());
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn plans_that_send_nothing_are_errors() {
        let e = errors(
            "base_url: http://h\nstages: [ { duration: 0s, target: 5 }, { duration: 0s, target: 0 } ]\nsteps: [ { get: / } ]\n",
        );
        assert!(e.contains("plan.yaml:2:9: error: every stage lasts 0s"), "{e}");
        let e = errors(
            "base_url: http://h\nstart_vus: 0\nstages: [ { duration: 5s, target: 0 } ]\nsteps: [ { get: / } ]\n",
        );
        assert!(e.contains("would send nothing"), "{e}");
        let e = errors(
            "base_url: http://h\nscenarios:\n  a: { executor: ramping-arrival-rate, pre_allocated_vus: 1, stages: [ { duration: 5s, target: 0 } ], steps: [ { get: / } ] }\n",
        );
        assert!(e.contains("would send nothing"), "{e}");
        let e = errors(
            "base_url: http://h\nvus: 1\niterations: 1\nmax_duration: 0s\nsteps: [ { get: / } ]\n",
        );
        assert!(e.contains("max_duration must be above zero"), "{e}");
    }

    #[test]
    fn framing_headers_are_refused_where_written() {
        let e = errors(
            "base_url: http://h\nvus: 1\nduration: 1s\nsteps:\n  - post: /\n    body: hello\n    headers: { Content-Length: 99 }\n",
        );
        assert!(
            e.contains(
                "plan.yaml:7:16: error: header `Content-Length: 99` but the body is 5 bytes"
            ),
            "{e}"
        );
        let e = errors(
            "base_url: http://h\ndefaults: { headers: { Transfer-Encoding: chunked } }\nvus: 1\nduration: 1s\nsteps: [ { get: / } ]\n",
        );
        assert!(e.contains("Transfer-Encoding"), "{e}");
        let ok = "base_url: http://h\nvus: 1\nduration: 1s\nsteps:\n  - post: /\n    body: hello\n    headers: { Content-Length: 5, Host: example.com }\n";
        assert!(load_text(ok).is_ok());
    }

    #[test]
    fn hostile_files_end_in_a_message() {
        let e = errors(
            "base_url: http://h\ndata:\n  z: /dev/zero\nvus: 1\nduration: 1s\nsteps: [ { post: /, body_file: /dev/zero } ]\n",
        );
        assert!(e.contains("data `z`: cannot read `/dev/zero`: is a character device"), "{e}");
        assert!(e.contains("body_file `/dev/zero`: is a character device"), "{e}");
        let e = errors(&crate::yaml::tests::laughs(9));
        assert!(e.contains("aliases expand too much"), "{e}");
        let e = load(Path::new("/dev/zero"), &Overrides::default()).unwrap_err().to_string();
        assert!(e.contains("character device"), "{e}");
        let e = errors(
            "base_url: http://127.0.0.1:108279\nvus: 1\nduration: 1s\nsteps: [ { get: / } ]\n",
        );
        assert!(e.contains("invalid port"), "{e}");
    }

    #[test]
    fn shorthand_plan() {
        let s = load_text(OK).unwrap();
        assert_eq!(s.scenarios.len(), 1);
        assert_eq!(s.scenarios[0].name, "default");
        assert_eq!(
            s.scenarios[0].executor,
            Executor::ConstantVus { vus: 2, duration: Duration::from_secs(10) }
        );
        assert_eq!(s.scenarios[0].flows[0].steps[0].name, "/");
        assert_eq!(s.source.as_deref(), Some("plan.yaml"));
    }

    #[test]
    fn seed_002_locust_plan() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/locust-seed-002.yaml"
        ))
        .unwrap();
        let s = load_str(&text, "seed2.yaml", Path::new("."), &Overrides::default()).unwrap();
        let sc = &s.scenarios[0];
        assert_eq!(sc.executor.name(), "ramping-vus");
        assert_eq!(sc.executor.max_vus(), 200);
        let Executor::RampingVus { start_vus, stages, .. } = &sc.executor else { panic!() };
        assert_eq!(*start_vus, 0);
        // 200 users at 10 per second is a 20 s ramp.
        assert_eq!(stages[0], Stage { duration: Duration::from_secs(20), target: 200.0 });
        assert_eq!(
            sc.think_time,
            Some(ThinkTime { min: Duration::from_secs(1), max: Duration::from_secs(5) })
        );
        let w: Vec<(&str, u32)> = sc.flows.iter().map(|f| (f.name.as_str(), f.weight)).collect();
        assert_eq!(w, [("index", 20), ("predict", 80)]);
        let Body::Json(j) = &sc.flows[1].steps[0].body else { panic!() };
        let mut vu = crate::VuState::new(1, 1);
        let body: serde_json::Value = serde_json::from_str(&j.render_to_string(&mut vu)).unwrap();
        assert!(body["text"].as_str().unwrap().split(' ').count() >= 6);
    }

    #[test]
    fn scenarios_executors_and_thresholds() {
        let text = r#"
base_url: http://h:1/api
defaults:
  timeout: 5s
  headers: { Accept: application/json }
  expected_statuses: ["200-299", 404]
  think_time: 2s
flows:
  - { name: a, weight: 3, steps: [ { get: /a } ] }
  - { name: b, steps: [ { get: /b } ] }
scenarios:
  open:
    executor: constant-arrival-rate
    rate: 30
    time_unit: 1m
    duration: 1m
    pre_allocated_vus: 5
    max_vus: 10
  ramp:
    executor: ramping-arrival-rate
    start_rate: 2
    stages: [ { duration: 10s, target: 20 } ]
    pre_allocated_vus: 3
    start_time: 5s
  iters:
    executor: per-vu-iterations
    vus: 2
    iterations: 3
    think_time: 1s..2s
thresholds:
  http_req_duration: ["p(95)<500", { threshold: "p(99.9)<2000", abortOnFail: true, delayAbortEval: 10s }]
  "http_reqs{flow:a}": ["count>0"]
  checks: ["rate>0.9"]
"#;
        let s = load_text(text).unwrap();
        assert_eq!(s.http.timeout, Duration::from_secs(5));
        assert_eq!(s.http.expected_statuses, StatusSet(vec![(200, 299), (404, 404)]));
        let open = &s.scenarios[0];
        assert_eq!(
            open.executor,
            Executor::ConstantArrivalRate {
                rate: 0.5,
                duration: Duration::from_secs(60),
                pre_allocated_vus: 5,
                max_vus: 10,
                max_iterations: None
            }
        );
        assert_eq!(open.flows.len(), 2);
        assert_eq!(open.flows[1].weight, 1);
        assert_eq!(open.think_time.unwrap().min, Duration::from_secs(2));
        let ramp = &s.scenarios[1];
        assert_eq!(ramp.start_time, Duration::from_secs(5));
        assert_eq!(ramp.executor.max_vus(), 3);
        assert_eq!(s.scenarios[2].think_time.unwrap().max, Duration::from_secs(2));
        assert_eq!(s.thresholds.len(), 3);
        let e = &s.thresholds[0].exprs[1];
        assert_eq!(
            (e.aggregate.key().as_str(), e.abort_on_fail, e.delay_abort_eval),
            ("p(99.9)", true, Duration::from_secs(10))
        );
        let mut vu = crate::VuState::new(1, 1);
        let r = open.flows[0].steps[0].render(s.base_url.as_ref(), &s.http, &mut vu);
        assert_eq!(r.url, "http://h:1/api/a");
        assert_eq!(r.headers, vec![("Accept".to_string(), "application/json".to_string())]);
    }

    #[test]
    fn login_chain_uses_extracted_variables() {
        let text = r#"
base_url: http://h:1
variables: { user: alice, token: none }
iterations: 1
steps:
  - post: /login
    form: { user: "{{ user }}" }
    extract: { token: { json: $.token }, sid: { header: X-Session } }
  - get: /me
    headers: { Authorization: "Bearer {{ token }}" }
    query: { sid: "{{ sid }}" }
    check: [ { name: me ok, status: [200, 204] }, { json: { $.name: alice } } ]
"#;
        let s = load_text(text).unwrap();
        let sc = &s.scenarios[0];
        assert_eq!(sc.executor.name(), "shared-iterations");
        let steps = &sc.flows[0].steps;
        assert_eq!(steps[0].extract.len(), 2);
        assert_eq!(
            steps[1].checks.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["me ok", "json $.name == \"alice\""]
        );
        let mut vu = crate::VuState::new(1, 1);
        sc.begin_iteration(&s, &mut vu);
        // `token` is overwritten at run time, so its plan value is only the starting value.
        let r = steps[1].render(s.base_url.as_ref(), &s.http, &mut vu);
        assert!(r.headers.contains(&("Authorization".into(), "Bearer none".into())));
        let headers = http::HeaderMap::new();
        let resp = crate::ResponseView {
            status: 200,
            headers: &headers,
            body: br#"{"token":"t0k"}"#,
            duration: Duration::ZERO,
        };
        assert!(steps[0].extract[0].apply(&resp, &mut vu));
        let r = steps[1].render(s.base_url.as_ref(), &s.http, &mut vu);
        assert!(r.headers.contains(&("Authorization".into(), "Bearer t0k".into())));
        // `user` never changes: folded into the literal body.
        let Body::Form(f) = &steps[0].body else { panic!() };
        assert_eq!(f[0].1.as_literal(), Some("alice"));
    }

    #[test]
    fn overrides_set_env_vus_duration() {
        let text = "base_url: ${HOST}\nscenarios:\n  a: { executor: constant-vus, vus: 2, duration: 10s, steps: [ { get: / } ] }\n  r: { executor: ramping-vus, start_vus: 10, stages: [ { duration: 5s, target: 50 }, { duration: 5s, target: 100 } ], steps: [ { get: / } ] }\n";
        let o = Overrides {
            set: vec![
                ("scenarios.a.vus".into(), "7".into()),
                ("scenarios.a.think_time".into(), "1s..2s".into()),
            ],
            vus: None,
            duration: Some(Duration::from_secs(3)),
            env: vec![("HOST".into(), "http://127.0.0.1:9".into())],
        };
        let s = load_str(text, "p.yaml", Path::new("."), &o).unwrap();
        assert_eq!(s.base_url.unwrap().as_str(), "http://127.0.0.1:9/");
        assert_eq!(
            s.scenarios[0].executor,
            Executor::ConstantVus { vus: 7, duration: Duration::from_secs(3) }
        );
        assert!(s.scenarios[0].think_time.is_some());
        let o = Overrides {
            vus: Some(32),
            env: vec![("HOST".into(), "http://x".into())],
            ..Default::default()
        };
        let s = load_str(text, "p.yaml", Path::new("."), &o).unwrap();
        assert_eq!(s.scenarios[0].executor.max_vus(), 32);
        let Executor::RampingVus { start_vus, stages, .. } = &s.scenarios[1].executor else {
            panic!()
        };
        assert_eq!((*start_vus, stages[0].target, stages[1].target), (3, 16.0, 32.0));
    }

    #[test]
    fn feeders_from_csv() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("users.csv"), "user, pass\nalice,a1\nbob,b2\n").unwrap();
        std::fs::write(dir.path().join("body.bin"), b"\x00\x01raw").unwrap();
        let text = "base_url: http://h\ndata:\n  users: { file: users.csv, mode: per_vu }\nvus: 1\nduration: 1s\nsteps:\n  - post: /login?u={{ user }}\n    body_file: body.bin\n";
        let s = load_str(text, "p.yaml", dir.path(), &Overrides::default()).unwrap();
        assert_eq!(s.feeders[0].columns, ["user", "pass"]);
        assert_eq!(s.feeders[0].rows.len(), 2);
        assert_eq!(s.feeders[0].mode, FeederMode::PerVu);
        assert_eq!(s.scenarios[0].feeders, [0]);
        let mut vu = crate::VuState::new(2, 1);
        s.scenarios[0].begin_iteration(&s, &mut vu);
        let r = s.scenarios[0].flows[0].steps[0].render(s.base_url.as_ref(), &s.http, &mut vu);
        assert_eq!(r.url, "http://h/login?u=bob");
        assert_eq!(r.body, b"\x00\x01raw");
        // What travels with the plan: each file once, as written.
        assert_eq!(s.files, ["users.csv", "body.bin"]);
    }

    #[test]
    fn every_error_at_once() {
        let text = "base_url: http://h\nvus: two\nduration: 3x\nsteps:\n  - get: /{{ nope }}\n    timeout: 1\n";
        let e = load_text(text).unwrap_err();
        assert_eq!(e.len(), 4, "{e}");
        let lines: Vec<usize> = e.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 5, 6]);
    }

    #[test]
    fn snapshot_unknown_keys() {
        insta::assert_snapshot!(errors(
            "base_url: http://h\nvus: 1\nduration: 1s\ndefault:\n  timeout: 1s\nsteps:\n  - get: /\n    thinktime: 2s\n    hedaers: { a: b }\n"
        ));
    }

    #[test]
    fn snapshot_names_from_other_tools() {
        insta::assert_snapshot!(errors(
            "host: http://h\nusers: 10\nspawn_rate: 2\nwait_time: 1s..5s\nduration: 1m\ntasks:\n  - { name: a, steps: [ { get: /, status_code: 200 } ] }\nscenarios:\n  s: { executor: constant-arrival-rate, rate: 1, duration: 1s, preAllocatedVUs: 2, steps: [ { get: /, check: { status: \"200\" } } ] }\n"
        ));
    }

    #[test]
    fn snapshot_wrong_types() {
        insta::assert_snapshot!(errors(
            "base_url: [http://h]\nscenarios:\n  s:\n    executor: constant-vus\n    vus: ten\n    duration: 10s\n    flows: { name: a }\n"
        ));
    }

    #[test]
    fn snapshot_bad_durations() {
        insta::assert_snapshot!(errors(
            "base_url: http://h\nvus: 1\nduration: 3x\ndefaults: { timeout: 30 }\nthink_time: 1s..xs\nsteps: [ { get: / } ]\n"
        ));
    }

    #[test]
    fn snapshot_bad_thresholds() {
        insta::assert_snapshot!(errors(
            "base_url: http://h\nvus: 1\nduration: 1s\nsteps: [ { get: /, name: home } ]\nthresholds:\n  http_req_duration: [\"p95<500\", \"p(95)<500ms\", \"p(95)\"]\n  http_req_failed: [\"avg<0.01\"]\n  http_req_duraton: [\"avg<1\"]\n  \"http_req_duration{name:hom}\": [\"p(99)<1000\"]\n  \"http_reqs{code:500}\": [{ threshold: \"count<1\", abortOnFial: true }]\n"
        ));
    }

    #[test]
    fn snapshot_weights_sum_to_zero() {
        insta::assert_snapshot!(errors(
            "base_url: http://h\nvus: 1\nduration: 1s\nflows:\n  - { name: a, weight: 0, steps: [ { get: /a } ] }\n  - { name: b, weight: 0, steps: [ { get: /b } ] }\n"
        ));
    }

    #[test]
    fn snapshot_templates() {
        insta::assert_snapshot!(errors(
            "base_url: http://h\nvariables: { user_id: 7 }\nvus: 1\nduration: 1s\nsteps:\n  - get: /u/{{ userid }}\n    headers: { X-Id: \"{{ uuid4 }}\" }\n    json: { n: \"{{ randint(1, 5) }}\", m: \"{{ random_int(9, 1) }}\", o: \"{{ seq\" }\n"
        ));
    }

    #[test]
    fn snapshot_missing_files() {
        insta::assert_snapshot!(errors(
            "base_url: http://h\ndata:\n  users: missing.csv\nvus: 1\nduration: 1s\nsteps:\n  - post: /\n    body_file: nope.json\n"
        ));
    }

    #[test]
    fn snapshot_executors() {
        insta::assert_snapshot!(errors(
            "base_url: http://h\nflows: [ { steps: [ { get: / } ] } ]\nscenarios:\n  a: { executor: ramping-vu, stages: [] }\n  b: { vus: 2, duration: 1s }\n  c: { executor: constant-arrival-rate, rate: 10, duration: 1m }\n  d: { executor: ramping-vus, iterations: 5 }\n  e: { executor: shared-iterations, vus: 10, iterations: 5 }\n"
        ));
    }

    #[test]
    fn snapshot_steps() {
        insta::assert_snapshot!(errors(
            "vus: 1\nduration: 1s\nsteps:\n  - name: nothing\n  - get: /a\n    post: /b\n  - get: /rel\n    body: x\n    json: { a: 1 }\n  - get: http://h/\n    check: { name: two, status: 200, body_contains: ok }\n  - get: http://h/\n    check: { body_matches: \"(\", json: \"$..x\", status: 700 }\n    extract: { t: { xml: a } }\n"
        ));
    }

    #[test]
    fn snapshot_yaml_and_env() {
        insta::assert_snapshot!(errors(
            "base_url: ${VOLLEY_SURELY_UNSET_VAR}\nvus: 1\nvus: 2\nduration: 1s\nsteps: [ { get: / } ]\n"
        ));
        insta::assert_snapshot!(
            "syntax",
            errors("base_url: http://h\nsteps:\n  - get: /\n   post: /x\n")
        );
        insta::assert_snapshot!("empty", errors(""));
    }

    #[test]
    fn set_errors_point_at_the_flag() {
        let o = Overrides { set: vec![("vus".into(), "many".into())], ..Default::default() };
        let e = load_str(OK, "p.yaml", Path::new("."), &o).unwrap_err();
        assert_eq!(e.errors[0].file, "--set vus=many");
        assert!(e.errors[0].message.contains("whole number"), "{e}");
    }
}
