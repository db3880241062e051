//! Set-up before the run: the spec indexed (endpoint, flow, check names), static requests
//! rendered once, host names resolved once, TLS configured; all of it in [`Shared`], which
//! every worker thread reads.

use std::collections::HashMap;
use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use http::HeaderName;
use tokio_util::sync::CancellationToken;
use volley_metrics::recorder::Names;
use volley_plan::{Body, JsonTemplate, Spec, Step, VuState};

use super::iteration::prepare;
use crate::transport::{self, Origin, Prepared};
use crate::{EngineError, RunOptions};

/// What every thread reads: the spec and everything derived from it before the run.
pub(super) struct Shared {
    pub(super) spec: Spec,
    pub(super) names: Names,
    /// Per scenario, per flow, per step: endpoint index, first check index, prepared request
    /// when the step renders the same every time.
    pub(super) steps: Vec<Vec<Vec<StepInfo>>>,
    /// Global flow index of flow 0 of each scenario.
    pub(super) flow_base: Vec<usize>,
    /// Global VU number of VU 0 of each scenario.
    pub(super) vu_base: Vec<u64>,
    /// Iterations claimed so far, per scenario (shared-iterations).
    pub(super) claimed: Vec<AtomicU64>,
    /// This generator's execution segment, and its share of each scenario.
    pub(super) tuple: volley_metrics::segment::Tuple,
    pub(super) shares: Vec<crate::schedule::Share>,
    pub(super) addrs: HashMap<(String, u16), std::net::SocketAddr>,
    pub(super) tls: Option<Arc<rustls::ClientConfig>>,
    pub(super) backend_header: Option<HeaderName>,
    pub(super) threads: usize,
    pub(super) seed: u64,
    pub(super) start: Instant,
    pub(super) stop: CancellationToken,
    pub(super) grace: Duration,
    /// Send a recorder snapshot every second (only when some threshold can abort the run).
    pub(super) snapshots: bool,
    pub(super) control: std::sync::Arc<crate::Control>,
}

pub(super) struct StepInfo {
    pub(super) endpoint: usize,
    pub(super) check_base: usize,
    pub(super) fixed: Option<Prepared>,
    pub(super) keep_body: bool,
}

/// Checks and indexes the spec, resolves its hosts and builds what the threads share.
pub(super) fn shared(spec: &Spec, opts: &RunOptions) -> Result<Shared, EngineError> {
    if spec.scenarios.is_empty() {
        return Err(EngineError::Empty);
    }
    spec.http.check_pipeline(&spec.scenarios).map_err(EngineError::Pipeline)?;
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    } else {
        opts.threads
    };
    // Connections need descriptors: as many as the hard limit allows (the binary warns
    // before the run when the spec's VUs do not fit, see `limits::check_open_files`).
    crate::limits::raise_open_files();
    let names = names_of(spec);
    let (steps, origins) = prepare_steps(spec, &names)?;
    let mut addrs = HashMap::new();
    for o in &origins {
        let a = (o.host.as_str(), o.port)
            .to_socket_addrs()
            .map_err(|e| EngineError::Dns { host: o.host.clone(), reason: e.to_string() })?
            .min_by_key(|a| !a.is_ipv4())
            .ok_or_else(|| EngineError::Dns {
                host: o.host.clone(),
                reason: "no address found".into(),
            })?;
        addrs.insert((o.host.clone(), o.port), a);
    }
    let tls = Some(transport::tls_config(spec.http.insecure).map_err(EngineError::Tls)?);
    let backend_header = match &spec.http.backend_header {
        Some(h) => Some(
            HeaderName::from_bytes(h.as_bytes()).map_err(|_| EngineError::BadHeader(h.clone()))?,
        ),
        None => None,
    };
    let mut flow_base = Vec::new();
    let mut vu_base = Vec::new();
    let (mut fb, mut vb) = (0, 0u64);
    for sc in &spec.scenarios {
        flow_base.push(fb);
        vu_base.push(vb);
        fb += sc.flows.len();
        vb += sc.executor.max_vus() as u64;
    }
    let stop = opts.stop.child_token();
    let shares = spec
        .scenarios
        .iter()
        .map(|sc| crate::schedule::share(&sc.executor, &opts.segment))
        .collect();
    let snapshots = opts.live_results
        || spec.thresholds.iter().any(|t| t.exprs.iter().any(|e| e.abort_on_fail));
    Ok(Shared {
        spec: spec.clone(),
        names,
        steps,
        flow_base,
        vu_base,
        claimed: spec.scenarios.iter().map(|_| AtomicU64::new(0)).collect(),
        tuple: opts.segment.clone(),
        shares,
        addrs,
        tls,
        backend_header,
        threads,
        seed: opts.seed,
        start: wait_for_start(opts),
        stop,
        grace: opts.grace,
        snapshots,
        control: {
            opts.control.reset(spec);
            opts.control.clone()
        },
    })
}

/// Waits (after everything else is ready) for the shared wall-clock start of `--start-at`, so
/// that the shards of a distributed run start together; a stop while waiting starts the run
/// at once, which then ends at once.
fn wait_for_start(opts: &RunOptions) -> Instant {
    if let Some(at) = opts.start_at {
        while !opts.stop.is_cancelled() {
            let Ok(left) = at.duration_since(std::time::SystemTime::now()) else { break };
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }
    Instant::now()
}

/// Endpoints, scenarios, flows and checks, indexed before the run.
pub(crate) fn names_of(spec: &Spec) -> Names {
    let mut names = Names::default();
    for (si, sc) in spec.scenarios.iter().enumerate() {
        names.scenarios.push(sc.name.clone());
        for f in &sc.flows {
            names.flow_scenarios.push(si);
            names.flows.push(f.name.clone());
            for st in &f.steps {
                let key = (st.method.as_str().to_string(), st.name.clone());
                if !names.endpoints.contains(&key) {
                    names.endpoints.push(key);
                }
                for c in &st.checks {
                    names.checks.push((c.name.clone(), st.name.clone()));
                    names.check_flows.push(names.flows.len() - 1);
                }
            }
        }
    }
    // Every sub-metric a threshold names is recorded exactly.
    for t in &spec.thresholds {
        names.watch(&t.key);
    }
    names
}

/// Per scenario, flow and step, and every origin known before the run.
type StepTable = (Vec<Vec<Vec<StepInfo>>>, Vec<Origin>);

fn prepare_steps(spec: &Spec, names: &Names) -> Result<StepTable, EngineError> {
    let mut origins: Vec<Origin> = Vec::new();
    if let Some(b) = &spec.base_url {
        let uri: http::Uri = b
            .as_str()
            .parse()
            .map_err(|e: http::uri::InvalidUri| bad_url(b.as_str(), e.to_string()))?;
        origins.push(Origin::of(&uri).map_err(|r| bad_url(b.as_str(), r))?);
    }
    let mut check = 0;
    let mut out = Vec::new();
    for sc in &spec.scenarios {
        let mut flows = Vec::new();
        for f in &sc.flows {
            let mut steps = Vec::new();
            for st in &f.steps {
                let key = (st.method.as_str().to_string(), st.name.clone());
                let endpoint = names.endpoints.iter().position(|e| *e == key).unwrap_or(0);
                let fixed = if is_static(st, spec) {
                    let p = prepare(st, spec, &mut VuState::new(0, 0))
                        .map_err(|u| EngineError::BadUrl { url: u.url, reason: u.reason })?;
                    if !origins.contains(&p.origin) {
                        origins.push(p.origin.clone());
                    }
                    Some(p)
                } else {
                    None
                };
                steps.push(StepInfo {
                    endpoint,
                    check_base: check,
                    fixed,
                    keep_body: !st.checks.is_empty() || !st.extract.is_empty(),
                });
                check += st.checks.len();
            }
            flows.push(steps);
        }
        out.push(flows);
    }
    Ok((out, origins))
}

fn bad_url(url: &str, reason: String) -> EngineError {
    EngineError::BadUrl { url: url.to_string(), reason }
}

/// True when every part of the step is literal text: it is rendered once, before the run.
fn is_static(st: &Step, spec: &Spec) -> bool {
    fn json_static(j: &JsonTemplate) -> bool {
        match j {
            JsonTemplate::String(t) => t.as_literal().is_some(),
            JsonTemplate::Array(v) => v.iter().all(json_static),
            JsonTemplate::Object(v) => v.iter().all(|(_, j)| json_static(j)),
            _ => true,
        }
    }
    st.url.as_literal().is_some()
        && st.query.iter().all(|(_, t)| t.as_literal().is_some())
        && st.headers.iter().all(|(_, t)| t.as_literal().is_some())
        && spec.http.headers.iter().all(|(_, t)| t.as_literal().is_some())
        && match &st.body {
            Body::None | Body::Bytes(_) => true,
            Body::Raw(t) => t.as_literal().is_some(),
            Body::Json(j) => json_static(j),
            Body::Form(f) => f.iter().all(|(_, t)| t.as_literal().is_some()),
        }
}
