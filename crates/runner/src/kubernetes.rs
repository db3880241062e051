//! Running a plan on Kubernetes (`volley k8s`): the manifests that split it over N pods, and
//! the `kubectl` session that applies them, waits, collects every pod's result and cleans up.
//!
//! The cluster runs nothing of volley's own: a ConfigMap carries the plan and the files it
//! reads, and an Indexed Job runs N pods; pod i runs `volley run` on segment i of the
//! sequence `0,1/N,…,1` (the index comes from `JOB_COMPLETION_INDEX`), waits for one shared
//! `--start-at`, and prints its result on stdout between [`BEGIN`] and [`END`], so that
//! `kubectl logs` is the only way out a result needs (no volume, no object store). The
//! results are then merged by `volley_metrics::merge`, the one exact merge.
//!
//! Manifests are built as JSON values (the API's own shape) and written as YAML by saphyr's
//! emitter, with every scalar's style chosen here (see [`to_yaml`]) so that no string can be
//! read back as another type or another text.

use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use volley_metrics::RunResult;
use volley_metrics::segment::{Segment, Sequence, Tuple};
use volley_plan::Spec;

use crate::Stop;

/// The line before a result printed on stdout (`volley run -o -`).
pub const BEGIN: &str = "-----BEGIN VOLLEY RESULT-----";
/// The line after it.
pub const END: &str = "-----END VOLLEY RESULT-----";

/// What a ConfigMap may hold, all values together (the API server refuses more).
pub const MAX_CONFIGMAP_BYTES: usize = 1 << 20;
/// Where the ConfigMap is mounted in the pods: the plan's folder there.
pub const MOUNT: &str = "/plan";
/// The container's name (and `kubectl logs -c`).
pub const CONTAINER: &str = "volley";
/// Longest Job name: a pod's hostname is `NAME-INDEX`, a DNS label (63), and the Job's name is
/// also a label value; this leaves room for the index.
pub const MAX_NAME: usize = 52;
/// How long one `kubectl wait` call blocks before volley looks at the Job's status again (a
/// failed Job never becomes complete, and Ctrl-C is noticed between calls).
const WAIT_SLICE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum KubernetesError {
    #[error(
        "`{file}`: the plan reads a file outside its folder, which cannot be mounted beside it \
         in the pods (hint: copy it into the plan's folder and name it relative to the plan)"
    )]
    Outside { file: String },
    #[error("cannot read `{path}`: {why}")]
    Read { path: String, why: String },
    #[error(
        "the plan and its files are {bytes} bytes, more than a ConfigMap holds ({MAX_CONFIGMAP_BYTES}) \
         (hint: build the large files into the image, or make them smaller)"
    )]
    TooBig { bytes: usize },
    #[error("{what} `{value}` is not a valid Kubernetes name (hint: {hint})")]
    Name { what: &'static str, value: String, hint: String },
    #[error(
        "{flag} `{value}` is not a Kubernetes quantity (hint: e.g. 500m or 2 for CPU, 512Mi or 1Gi for memory)"
    )]
    Quantity { flag: &'static str, value: String },
    #[error("--parallelism {n}: at least 1 pod is needed")]
    NoPods { n: u32 },
    #[error(
        "--parallelism {n}: segment {segment} would get no share of the plan's work (hint: \
         --parallelism {most} at most for this plan, or more VUs, iterations or arrivals)"
    )]
    IdleSegment { n: u32, segment: String, most: u32 },
    #[error("writing the manifests: {0}")]
    Emit(String),
    #[error("kubectl was not found on PATH (hint: install kubectl and point it at the cluster)")]
    NoKubectl,
    #[error("`{command}` failed ({status}): {stderr}")]
    Kubectl { command: String, status: String, stderr: String },
    #[error(
        "job {name} failed: {why} (hint: `kubectl logs` of its pods says why; --keep keeps them)"
    )]
    JobFailed { name: String, why: String },
    #[error(
        "job {name} did not complete within {secs} s (hint: --timeout, or look at its pods with \
         `kubectl get pods -l job-name={name}`)"
    )]
    Timeout { name: String, secs: u64 },
    #[error("interrupted while waiting for job {name}")]
    Interrupted { name: String },
    #[error("job {name}: {found} pods found, {expected} expected")]
    Pods { name: String, found: usize, expected: usize },
    #[error("pod {pod}: {why}")]
    Result { pod: String, why: String },
}

// ---------------------------------------------------------------------------------------
// Framing a result on stdout

/// `json` between the markers, each on its own line.
pub fn frame(json: &str) -> String {
    format!("{BEGIN}\n{}\n{END}\n", json.trim_end())
}

/// Why a log holds no usable result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("no result in its output (no line `{BEGIN}`)")]
    Missing,
    #[error("its result is cut short (no line `{END}` after `{BEGIN}`)")]
    Unterminated,
}

/// Every framed text in `log`, in order. Other lines around them (a summary, warnings, a
/// runtime's own lines) are ignored; a marker counts only as a whole line, which a result's
/// JSON never is (its strings escape their line breaks).
pub fn unframe(log: &str) -> Result<Vec<String>, FrameError> {
    let mut out = Vec::new();
    let mut open: Option<Vec<&str>> = None;
    for line in log.lines() {
        let marker = line.trim_end_matches('\r');
        match &mut open {
            None if marker == BEGIN => open = Some(Vec::new()),
            None => {}
            Some(body) if marker == END => {
                out.push(body.join("\n"));
                open = None;
            }
            // A second BEGIN inside: the first one was cut short (its writer died).
            Some(body) if marker == BEGIN => body.clear(),
            Some(body) => body.push(line),
        }
    }
    match (out.is_empty(), open.is_some()) {
        (true, true) => Err(FrameError::Unterminated),
        (true, false) => Err(FrameError::Missing),
        _ => Ok(out),
    }
}

// ---------------------------------------------------------------------------------------
// The plan and its files

/// One file shipped in the ConfigMap: where it goes under [`MOUNT`], and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// The plan and every file it reads, at the same places relative to each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub plan: File,
    pub files: Vec<File>,
}

impl Bundle {
    /// Reads the plan at `plan` and the files `spec` says it read ([`Spec::files`]). Files
    /// must sit in the plan's folder or below it: they are mounted there in the pods.
    pub fn collect(plan: &Path, spec: &Spec) -> Result<Bundle, KubernetesError> {
        let read = |path: &Path, limit: u64| {
            volley_plan::files::read_limited(path, limit)
                .map_err(|why| KubernetesError::Read { path: path.display().to_string(), why })
        };
        let name = plan.file_name().map(|n| n.to_string_lossy().to_string());
        let name = name.unwrap_or_else(|| "plan.yaml".into());
        let plan_file = File { path: name, bytes: read(plan, volley_plan::files::MAX_PLAN_BYTES)? };
        let base = match plan.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let mut files: Vec<File> = Vec::new();
        for f in &spec.files {
            let path = relative(f).ok_or_else(|| KubernetesError::Outside { file: f.clone() })?;
            if path == plan_file.path || files.iter().any(|x| x.path == path) {
                continue;
            }
            let limit = volley_plan::files::MAX_CSV_BYTES.max(volley_plan::files::MAX_BODY_BYTES);
            files.push(File { bytes: read(&base.join(f), limit)?, path });
        }
        let bundle = Bundle { plan: plan_file, files };
        let bytes = bundle.all().map(|f| f.bytes.len()).sum();
        if bytes > MAX_CONFIGMAP_BYTES {
            return Err(KubernetesError::TooBig { bytes });
        }
        Ok(bundle)
    }

    fn all(&self) -> impl Iterator<Item = &File> {
        std::iter::once(&self.plan).chain(&self.files)
    }
}

/// `f` as a path below the plan's folder (`./a/b.csv` → `a/b.csv`), or `None` when it is
/// absolute or climbs out with `..`.
fn relative(f: &str) -> Option<String> {
    let mut parts = Vec::new();
    for c in Path::new(f).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str()?.to_string()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// A ConfigMap key for a file's path: the characters a key allows (`[-._a-zA-Z0-9]`), never
/// `.`/`..`-led, unique among `taken`.
fn key_for(path: &str, taken: &[String]) -> String {
    let mut key: String = path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') { c } else { '_' })
        .collect();
    if key.starts_with('.') {
        key.insert(0, '_');
    }
    key.truncate(240);
    let mut unique = key.clone();
    let mut n = 2;
    while taken.contains(&unique) {
        unique = format!("{key}-{n}");
        n += 1;
    }
    unique
}

// ---------------------------------------------------------------------------------------
// The manifests

/// A Kubernetes resource quantity (`500m`, `2`, `512Mi`, `1.5Gi`), checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantity(String);

impl Quantity {
    pub fn parse(flag: &'static str, value: &str) -> Result<Quantity, KubernetesError> {
        let v = value.trim();
        let bad = || KubernetesError::Quantity { flag, value: value.to_string() };
        let digits = v.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(v.len());
        let (number, suffix) = v.split_at(digits);
        let number_ok = !number.is_empty()
            && number.matches('.').count() <= 1
            && !number.starts_with('.')
            && !number.ends_with('.');
        let suffixes = ["", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
        if !number_ok
            || !suffixes.contains(&suffix)
            || number.parse::<f64>().map_err(|_| bad())? <= 0.0
        {
            return Err(bad());
        }
        Ok(Quantity(v.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Requests and limits of each pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    pub cpu_request: Quantity,
    /// None by default: a CPU limit throttles the generator in bursts (CFS quotas), and the
    /// lost time shows up as the service's latency.
    pub cpu_limit: Option<Quantity>,
    pub memory_request: Quantity,
    pub memory_limit: Option<Quantity>,
}

impl Default for Resources {
    fn default() -> Self {
        Resources {
            cpu_request: Quantity("1".into()),
            cpu_limit: None,
            memory_request: Quantity("256Mi".into()),
            memory_limit: Some(Quantity("1Gi".into())),
        }
    }
}

/// Everything the manifests say besides the plan's files.
#[derive(Debug, Clone)]
pub struct Job {
    /// The Job's and the ConfigMap's name.
    pub name: String,
    /// `None`: kubectl's current namespace.
    pub namespace: Option<String>,
    pub image: String,
    /// Pods, and segments of the test.
    pub parallelism: u32,
    /// The shared start of every pod.
    pub start_at: SystemTime,
    /// More arguments of `volley run` in every pod (the plan's overrides, the seed).
    pub run_args: Vec<String>,
    pub resources: Resources,
    /// How long Kubernetes keeps the finished Job and its pods (and their logs).
    pub ttl_after_finished: Duration,
}

/// The image built from the repository's Dockerfile for this version.
pub fn default_image() -> String {
    format!("volley:{}", env!("CARGO_PKG_VERSION"))
}

/// A Job name for the plan at `plan` starting at `start_at`: `volley-<stem>-<yyyymmdd-hhmmss>`,
/// so that two runs of one plan do not collide and the name says when it ran.
pub fn default_name(plan: &Path, start_at: SystemTime) -> String {
    let stem = plan.file_stem().map(|s| s.to_string_lossy().to_lowercase()).unwrap_or_default();
    let mut stem: String =
        stem.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let when = humantime::format_rfc3339_seconds(start_at).to_string();
    let when: String = when.chars().filter(char::is_ascii_digit).collect();
    let when = format!("{}-{}", &when[..8.min(when.len())], &when[8.min(when.len())..]);
    let room = MAX_NAME - "volley-".len() - 1 - when.len();
    stem.truncate(room);
    let stem = collapse_dashes(&stem);
    if stem.is_empty() { format!("volley-{when}") } else { format!("volley-{stem}-{when}") }
}

fn collapse_dashes(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
    }
    out.trim_end_matches('-').to_string()
}

/// Checks a Job name (`what` = `--name`) or a namespace: a DNS-1123 label of at most `max`.
pub fn check_name(what: &'static str, value: &str, max: usize) -> Result<(), KubernetesError> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        return Ok(());
    }
    Err(KubernetesError::Name {
        what,
        value: value.to_string(),
        hint: format!(
            "lowercase letters, digits and `-`, starting and ending with a letter or digit, at \
             most {max} characters"
        ),
    })
}

/// The segments of `sequence` that would run nothing of `spec`: no VU, iteration or arrival
/// in any scenario (such a pod would send nothing and fail).
pub fn idle_segments(spec: &Spec, sequence: &Sequence) -> Vec<Segment> {
    sequence
        .segments()
        .filter(|s| {
            let Ok(tuple) = Tuple::new(*s, Some(sequence.clone())) else { return true };
            !spec.scenarios.iter().any(|sc| {
                let share = volley_engine::schedule::share(&sc.executor, &tuple);
                if sc.executor.is_open() {
                    tuple.scale(share.arrivals) > 0
                } else {
                    share.vus > 0 && (share.iterations > 0 || !has_iterations(&sc.executor))
                }
            })
        })
        .collect()
}

fn has_iterations(e: &volley_plan::Executor) -> bool {
    matches!(
        e,
        volley_plan::Executor::SharedIterations { .. }
            | volley_plan::Executor::PerVuIterations { .. }
    )
}

/// The most pods the plan gives work to (for the hint of [`KubernetesError::IdleSegment`]).
fn most_pods(spec: &Spec, upto: u32) -> u32 {
    (1..=upto)
        .rev()
        .find(|&n| idle_segments(spec, &Sequence::equal(n.into())).is_empty())
        .unwrap_or(1)
}

/// The manifests (a ConfigMap, then the Job) as one multi-document YAML text; the same inputs
/// give the same bytes.
pub fn manifests(job: &Job, bundle: &Bundle, spec: &Spec) -> Result<String, KubernetesError> {
    check_name("--name", &job.name, MAX_NAME)?;
    if let Some(ns) = &job.namespace {
        check_name("--namespace", ns, 63)?;
    }
    if job.parallelism == 0 {
        return Err(KubernetesError::NoPods { n: 0 });
    }
    let sequence = Sequence::equal(job.parallelism.into());
    if let Some(idle) = idle_segments(spec, &sequence).first() {
        return Err(KubernetesError::IdleSegment {
            n: job.parallelism,
            segment: idle.to_string(),
            most: most_pods(spec, job.parallelism),
        });
    }
    let docs = [config_map(job, bundle), job_manifest(job, bundle, &sequence)];
    let mut out = String::new();
    for d in &docs {
        out.push_str(&emit(d)?);
        out.push('\n');
    }
    Ok(out)
}

fn labels(job: &Job) -> Value {
    json!({
        "app.kubernetes.io/name": "volley",
        "app.kubernetes.io/instance": job.name,
        "app.kubernetes.io/managed-by": "volley",
    })
}

fn metadata(job: &Job) -> Value {
    let mut m = json!({ "name": job.name });
    if let Some(ns) = &job.namespace {
        m["namespace"] = json!(ns);
    }
    m["labels"] = labels(job);
    m
}

/// The keys of the bundle's files, in order (plan first).
fn keys(bundle: &Bundle) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for f in bundle.all() {
        let k = key_for(&f.path, &keys);
        keys.push(k);
    }
    keys
}

fn config_map(job: &Job, bundle: &Bundle) -> Value {
    let mut data = serde_json::Map::new();
    let mut binary = serde_json::Map::new();
    for (f, key) in bundle.all().zip(keys(bundle)) {
        match std::str::from_utf8(&f.bytes) {
            Ok(text) => data.insert(key, json!(text)),
            Err(_) => binary.insert(key, json!(BASE64.encode(&f.bytes))),
        };
    }
    let mut cm = json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata(job) });
    if !data.is_empty() {
        cm["data"] = Value::Object(data);
    }
    if !binary.is_empty() {
        cm["binaryData"] = Value::Object(binary);
    }
    cm
}

fn job_manifest(job: &Job, bundle: &Bundle, sequence: &Sequence) -> Value {
    let start_at = humantime::format_rfc3339_seconds(job.start_at).to_string();
    let mut args: Vec<String> = vec![
        "run".into(),
        format!("{MOUNT}/{}", bundle.plan.path),
        "--execution-segment-sequence".into(),
        sequence.to_string(),
        // Kubernetes substitutes `$(NAME)` from the container's env in its arguments.
        "--execution-segment-index".into(),
        "$(JOB_COMPLETION_INDEX)".into(),
        "--start-at".into(),
        start_at,
        // The result framed on stdout, collected with `kubectl logs`.
        "-o".into(),
        "-".into(),
        // A pod's thresholds judge only its share (`volley merge` judges the whole); a crossed
        // one must not fail the pod, which would fail the Job and stop the other pods.
        "--no-threshold-exit".into(),
    ];
    args.extend(job.run_args.iter().cloned());
    let r = &job.resources;
    let mut requests =
        json!({ "cpu": r.cpu_request.as_str(), "memory": r.memory_request.as_str() });
    let mut limits = serde_json::Map::new();
    if let Some(c) = &r.cpu_limit {
        limits.insert("cpu".into(), json!(c.as_str()));
    }
    if let Some(m) = &r.memory_limit {
        limits.insert("memory".into(), json!(m.as_str()));
    }
    let mut resources = json!({ "requests": requests.take() });
    if !limits.is_empty() {
        resources["limits"] = Value::Object(limits);
    }
    let items: Vec<Value> = bundle
        .all()
        .zip(keys(bundle))
        .map(|(f, key)| json!({ "key": key, "path": f.path }))
        .collect();
    let pod_labels = labels(job);
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(job),
        "spec": {
            "completionMode": "Indexed",
            "completions": job.parallelism,
            "parallelism": job.parallelism,
            // One try: a pod run again would start after the others and count its share twice.
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": job.ttl_after_finished.as_secs(),
            "template": {
                "metadata": { "labels": pod_labels },
                "spec": {
                    "restartPolicy": "Never",
                    // One generator per node where the cluster allows: pods sharing a node share
                    // its CPU and network, and measure each other.
                    "affinity": {
                        "podAntiAffinity": {
                            "preferredDuringSchedulingIgnoredDuringExecution": [{
                                "weight": 100,
                                "podAffinityTerm": {
                                    "labelSelector": {
                                        "matchLabels": {
                                            "app.kubernetes.io/instance": job.name,
                                        },
                                    },
                                    "topologyKey": "kubernetes.io/hostname",
                                },
                            }],
                        },
                    },
                    "containers": [{
                        "name": CONTAINER,
                        "image": job.image,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["volley"],
                        "args": args,
                        // Set by the Job controller too on recent clusters; given here so that
                        // older ones substitute it as well.
                        "env": [{
                            "name": "JOB_COMPLETION_INDEX",
                            "valueFrom": {
                                "fieldRef": {
                                    "fieldPath":
                                        "metadata.annotations['batch.kubernetes.io/job-completion-index']",
                                },
                            },
                        }],
                        "resources": resources,
                        "securityContext": {
                            "allowPrivilegeEscalation": false,
                            "runAsNonRoot": true,
                        },
                        "volumeMounts": [{ "name": "plan", "mountPath": MOUNT, "readOnly": true }],
                    }],
                    "volumes": [{
                        "name": "plan",
                        "configMap": { "name": job.name, "items": items },
                    }],
                },
            },
        },
    })
}

// ---------------------------------------------------------------------------------------
// YAML

/// One document, `---` first.
fn emit(doc: &Value) -> Result<String, KubernetesError> {
    let mut out = String::new();
    let mut e = saphyr::YamlEmitter::new(&mut out);
    e.multiline_strings(true);
    e.dump(&to_yaml(doc)).map_err(|e| KubernetesError::Emit(format!("{e:?}")))?;
    Ok(out)
}

/// A JSON value as a YAML node, choosing each string's style: plain when it can only be read
/// back as that string, a literal block for multi-line text that survives one unchanged, and
/// otherwise double-quoted with JSON's escapes (a JSON string is a YAML double-quoted scalar).
fn to_yaml(v: &Value) -> saphyr::Yaml<'static> {
    use saphyr::{Scalar, Yaml};
    match v {
        Value::Null => Yaml::Value(Scalar::Null),
        Value::Bool(b) => Yaml::Value(Scalar::Boolean(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Value(Scalar::Integer(i)),
            None => Yaml::Representation(n.to_string().into(), saphyr::ScalarStyle::Plain, None),
        },
        Value::String(s) => string(s),
        Value::Array(a) => Yaml::Sequence(a.iter().map(to_yaml).collect()),
        Value::Object(o) => {
            let mut m = saphyr::Mapping::new();
            for (k, v) in o {
                m.insert(string(k), to_yaml(v));
            }
            Yaml::Mapping(m)
        }
    }
}

fn string(s: &str) -> saphyr::Yaml<'static> {
    use saphyr::{Scalar, Yaml};
    if plain(s) {
        return Yaml::Representation(s.to_string().into(), saphyr::ScalarStyle::Plain, None);
    }
    if literal(s) {
        // The emitter writes it as a block (`|` or `|-`); see `literal` for when that is exact.
        return Yaml::Value(Scalar::String(s.to_string().into()));
    }
    // Written as is by the emitter: the quotes and escapes are ours.
    Yaml::Representation(quoted(s).into(), saphyr::ScalarStyle::Plain, None)
}

/// A plain scalar that no YAML 1.1 or 1.2 reader takes for anything but this string: starts
/// with a letter or `/`, only `[A-Za-z0-9._/-]`, not a boolean or null word.
fn plain(s: &str) -> bool {
    const WORDS: &[&str] =
        &["y", "n", "yes", "no", "true", "false", "on", "off", "null", "nan", "inf"];
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'))
        && !WORDS.contains(&s.to_ascii_lowercase().as_str())
}

/// Characters a YAML stream may hold as they are (c-printable), less the ones YAML 1.1
/// reads as line breaks (NEL, LS, PS) and the byte-order mark.
fn printable(c: char) -> bool {
    matches!(c, ' '..='~' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
        && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// Whether the emitter's literal block gives back exactly `s`: several lines, at most one
/// line break at the end (`|` keeps one, `|-` none), no indentation or blank line to start
/// (the block's indentation is read from its first line), no carriage return, no line of
/// blanks only, nothing but tabs and printable characters.
fn literal(s: &str) -> bool {
    let body = s.strip_suffix('\n').unwrap_or(s);
    body.contains('\n')
        && !body.ends_with('\n')
        && !s.starts_with([' ', '\t', '\n'])
        && s.chars().all(|c| c == '\n' || c == '\t' || printable(c))
        && !body.lines().any(|l| !l.is_empty() && l.trim().is_empty())
}

/// `s` double-quoted, with YAML's escapes for everything not [`printable`].
fn quoted(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if printable(c) => out.push(c),
            c if u32::from(c) <= 0xffff => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------------
// kubectl

/// `kubectl` from PATH, in one namespace.
#[derive(Debug, Clone)]
pub struct Kubectl {
    pub program: PathBuf,
    pub namespace: Option<String>,
}

impl Kubectl {
    /// Finds `kubectl` on PATH.
    pub fn find(namespace: Option<String>) -> Result<Kubectl, KubernetesError> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let program = std::env::split_paths(&path)
            .map(|d| d.join("kubectl"))
            .find(|p| is_executable(p))
            .ok_or(KubernetesError::NoKubectl)?;
        Ok(Kubectl { program, namespace })
    }

    /// Runs `kubectl ARGS` (with `-n NS`), feeding `stdin`; its stdout, or its stderr in
    /// the error.
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<String, KubernetesError> {
        let mut all: Vec<&str> = Vec::new();
        if let Some(ns) = &self.namespace {
            all.extend(["--namespace", ns.as_str()]);
        }
        all.extend(args);
        let command = format!("kubectl {}", all.join(" "));
        let failed = |status: String, stderr: String| KubernetesError::Kubectl {
            command: command.clone(),
            status,
            stderr: stderr.trim().to_string(),
        };
        let mut child = Command::new(&self.program)
            .args(&all)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| failed("not started".into(), e.to_string()))?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            use std::io::Write as _;
            pipe.write_all(text.as_bytes()).map_err(|e| failed("stdin".into(), e.to_string()))?;
        }
        let out = child.wait_with_output().map_err(|e| failed("wait".into(), e.to_string()))?;
        if !out.status.success() {
            let status = match out.status.code() {
                Some(c) => format!("exit {c}"),
                None => "killed by a signal".into(),
            };
            return Err(failed(status, String::from_utf8_lossy(&out.stderr).to_string()));
        }
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    }

    /// `kubectl apply -f -` of the manifests.
    pub fn apply(&self, manifests: &str) -> Result<(), KubernetesError> {
        self.run(&["apply", "-f", "-"], Some(manifests)).map(drop)
    }

    /// Waits until the Job completes, fails, `timeout` passes or `stop` is triggered.
    pub fn wait(&self, name: &str, timeout: Duration, stop: &Stop) -> Result<(), KubernetesError> {
        let deadline = Instant::now() + timeout;
        let job = format!("job/{name}");
        loop {
            if stop.is_stopped() {
                return Err(KubernetesError::Interrupted { name: name.to_string() });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let slice = format!("--timeout={}s", left.min(WAIT_SLICE).as_secs().max(1));
            match self.run(&["wait", "--for=condition=complete", &slice, &job], None) {
                Ok(_) => return Ok(()),
                // Not complete yet, or never will be: the Job's conditions tell which.
                Err(_) => {
                    let status = self.run(&["get", &job, "-o", "json"], None)?;
                    if let Some(why) = failed_condition(&status) {
                        return Err(KubernetesError::JobFailed { name: name.to_string(), why });
                    }
                    if complete(&status) {
                        return Ok(());
                    }
                    if Instant::now() >= deadline {
                        return Err(KubernetesError::Timeout {
                            name: name.to_string(),
                            secs: timeout.as_secs(),
                        });
                    }
                }
            }
        }
    }

    /// The Job's pods (`pod/NAME`), by completion index.
    pub fn pods(&self, name: &str) -> Result<Vec<String>, KubernetesError> {
        let selector = format!("job-name={name}");
        let out = self.run(&["get", "pods", "-l", &selector, "-o", "json"], None)?;
        let v: Value = serde_json::from_str(&out).map_err(|e| KubernetesError::Kubectl {
            command: format!("kubectl get pods -l {selector} -o json"),
            status: "exit 0".into(),
            stderr: format!("not JSON: {e}"),
        })?;
        let mut pods: Vec<(u64, String)> = v["items"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|p| {
                let name = p["metadata"]["name"].as_str()?;
                let index =
                    p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
                        .as_str()
                        .and_then(|i| i.parse().ok())
                        .unwrap_or(u64::MAX);
                Some((index, format!("pod/{name}")))
            })
            .collect();
        pods.sort();
        Ok(pods.into_iter().map(|(_, n)| n).collect())
    }

    /// Everything the pod printed.
    pub fn logs(&self, pod: &str) -> Result<String, KubernetesError> {
        self.run(&["logs", pod, "-c", CONTAINER], None)
    }

    /// Deletes the Job (its pods with it) and the ConfigMap.
    pub fn delete(&self, name: &str) -> Result<(), KubernetesError> {
        let (job, cm) = (format!("job/{name}"), format!("configmap/{name}"));
        self.run(&["delete", &job, &cm, "--ignore-not-found", "--wait=false"], None).map(drop)
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn condition<'a>(status: &'a Value, kind: &str) -> Option<&'a Value> {
    status["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind && c["status"] == "True")
}

/// The reason of a Job's `Failed` condition, if it has one.
fn failed_condition(job_json: &str) -> Option<String> {
    let v: Value = serde_json::from_str(job_json).ok()?;
    let c = condition(&v, "Failed")?;
    let reason = c["reason"].as_str().unwrap_or("Failed");
    Some(match c["message"].as_str() {
        Some(m) if !m.is_empty() => format!("{reason}: {m}"),
        _ => reason.to_string(),
    })
}

fn complete(job_json: &str) -> bool {
    serde_json::from_str::<Value>(job_json)
        .ok()
        .is_some_and(|v| condition(&v, "Complete").is_some())
}

/// Every pod's result, read from its logs (each named `pod/NAME` for messages): exactly
/// `expected` pods, each with one result.
pub fn collect(
    kubectl: &Kubectl,
    name: &str,
    expected: usize,
) -> Result<Vec<(String, RunResult)>, KubernetesError> {
    let pods = kubectl.pods(name)?;
    if pods.len() != expected {
        return Err(KubernetesError::Pods { name: name.to_string(), found: pods.len(), expected });
    }
    let mut out = Vec::new();
    for pod in pods {
        let log = kubectl.logs(&pod)?;
        let framed = unframe(&log).map_err(|e| KubernetesError::Result {
            pod: pod.clone(),
            why: format!("{e}; its last lines:\n{}", tail(&log, 5)),
        })?;
        // The last one: a pod prints one, but a rerun container would print another.
        let text = framed.last().map(String::as_str).unwrap_or_default();
        let r = volley_metrics::read::from_str(text)
            .map_err(|e| KubernetesError::Result { pod: pod.clone(), why: e.to_string() })?;
        out.push((pod, r));
    }
    Ok(out)
}

fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// How long `--apply` waits by default: the start delay, the plan's longest scenario with
/// its graceful stop, and a margin for scheduling and pulling the image.
pub fn default_timeout(spec: &Spec, start_in: Duration) -> Duration {
    let longest = spec
        .scenarios
        .iter()
        .map(|s| {
            s.start_time
                .saturating_add(volley_engine::schedule::executor_duration(&s.executor))
                .saturating_add(s.graceful_stop)
        })
        .max()
        .unwrap_or_default();
    start_in.saturating_add(longest).saturating_add(Duration::from_secs(300))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_found_among_other_lines() {
        let log = format!("summary\n{}warning: x\n", frame("{\"a\": 1}\n"));
        assert_eq!(unframe(&log).unwrap(), ["{\"a\": 1}"]);
        let two = format!("{}{}", frame("1"), frame("2\n3"));
        assert_eq!(unframe(&two).unwrap(), ["1", "2\n3"]);
        assert_eq!(unframe("nothing"), Err(FrameError::Missing));
        assert_eq!(unframe(&format!("{BEGIN}\n{{")), Err(FrameError::Unterminated));
        // A writer that died mid-result, then a whole one; markers inside a line do not count.
        let log = format!("{BEGIN}\n{{\"cut\n{}x {END}\n", frame("ok"));
        assert_eq!(unframe(&log).unwrap(), ["ok"]);
        assert_eq!(unframe(&format!("{BEGIN}\r\n1\r\n{END}\r\n")).unwrap(), ["1"]);
    }

    #[test]
    fn strings_come_back_as_written() {
        let cases = [
            "plain",
            "app.kubernetes.io/name",
            "",
            "1",
            "0.5",
            "1e3",
            "true",
            "Yes",
            "n",
            "null",
            "~",
            "-o",
            "--start-at",
            "2026-12-02T10:00:00Z",
            "0,1/2,1",
            "$(JOB_COMPLETION_INDEX)",
            "metadata.annotations['x']",
            "a: b",
            "# c",
            "line\nline2\n",
            "line\nline2",
            "two\n\n",
            " lead\nx\n",
            "\nblank first\n",
            "cr\r\nlf\n",
            "tab\tx\ny\n",
            "nel\u{85}x\ny",
            "é\nü\n",
            "sp \n  \nz\n",
            "\u{1}\n",
        ];
        for s in cases {
            let doc = json!({ "k": s, "list": [s] });
            let text = emit(&doc).unwrap();
            let back = <saphyr::Yaml as saphyr::LoadableYamlNode>::load_from_str(&text).unwrap();
            let got = back[0]["k"].as_str().unwrap_or_else(|| panic!("{s:?} → {text}"));
            assert_eq!(got, s, "{text}");
            assert_eq!(back[0]["list"][0].as_str(), Some(s), "{text}");
        }
        assert!(literal("a\nb\n") && !literal("a\nb\n\n") && !literal("one line"));
    }

    #[test]
    fn names_quantities_and_paths() {
        let at = humantime::parse_rfc3339("2026-12-02T10:05:00Z").unwrap();
        let name = default_name(Path::new("dir/My Plan_v2.yaml"), at);
        assert_eq!(name, "volley-my-plan-v2-20261202-100500");
        check_name("--name", &name, MAX_NAME).unwrap();
        let long = default_name(Path::new(&format!("{}.yaml", "x".repeat(80))), at);
        assert!(long.len() <= MAX_NAME, "{long}");
        check_name("--name", &long, MAX_NAME).unwrap();
        assert_eq!(default_name(Path::new("___.yaml"), at), "volley-20261202-100500");
        for bad in ["", "Upper", "-x", "x-", "a_b", &"a".repeat(53)] {
            assert!(check_name("--name", bad, MAX_NAME).is_err(), "{bad}");
        }
        for ok in ["1", "500m", "2", "1.5", "512Mi", "1Gi", "100k"] {
            Quantity::parse("--cpu", ok).unwrap();
        }
        for bad in ["", "0", "m", "1.", ".5", "1GB", "-1", "1 Gi", "1.2.3"] {
            assert!(Quantity::parse("--cpu", bad).is_err(), "{bad}");
        }
        assert_eq!(relative("./data/u.csv").as_deref(), Some("data/u.csv"));
        assert_eq!(relative("u.csv").as_deref(), Some("u.csv"));
        assert_eq!(relative("../u.csv"), None);
        assert_eq!(relative("/etc/u.csv"), None);
        assert_eq!(relative("a/../../u.csv"), None);
        assert_eq!(key_for("data/u s.csv", &[]), "data_u_s.csv");
        assert_eq!(key_for(".hidden", &[]), "_.hidden");
        assert_eq!(key_for("a/b", &["a_b".into()]), "a_b-2");
    }

    #[test]
    fn the_conditions_of_a_job() {
        let failed = r#"{"status":{"conditions":[{"type":"Failed","status":"True","reason":"BackoffLimitExceeded","message":"Job has reached the specified backoff limit"}]}}"#;
        assert_eq!(
            failed_condition(failed).as_deref(),
            Some("BackoffLimitExceeded: Job has reached the specified backoff limit")
        );
        assert!(!complete(failed));
        let done = r#"{"status":{"conditions":[{"type":"Complete","status":"True"}]}}"#;
        assert!(complete(done) && failed_condition(done).is_none());
        let running = r#"{"status":{"active":2}}"#;
        assert!(!complete(running) && failed_condition(running).is_none());
    }
}
