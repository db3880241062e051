//! One iteration of a VU: a flow picked by weight, its steps rendered, sent and recorded
//! (checks and extractions included), and the VU that carries state between iterations.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng;
use volley_metrics::{FailureKind, Sample};
use volley_plan::{ResponseView, Scenario, Spec, Step, ThinkTime, VuState};

use super::Ctx;
use super::setup::StepInfo;
use crate::clock::Tick;
use crate::transport::{Conn, Kept, Prepared};

/// One virtual user: its variables, its connection, its reused sample (which the transport
/// fills and the recorder records) and what it keeps of the response.
pub(super) struct Vu {
    pub(super) state: VuState,
    pub(super) conn: Option<Conn>,
    pub(super) sample: Sample,
    pub(super) kept: Kept,
    /// Pipelining: one sample per request of a batch, and the batch's bytes.
    pub(super) batch: Vec<(Sample, Kept)>,
    pub(super) wire: Vec<u8>,
    /// When the last request sent ended (`None` after a step that could not be sent).
    pub(super) ended: Option<Tick>,
}

impl Vu {
    pub(super) fn new(id: u64, seed: u64) -> Self {
        Vu {
            state: VuState::new(id, seed),
            conn: None,
            sample: Sample::default(),
            kept: Kept::default(),
            batch: Vec::new(),
            wire: Vec::new(),
            ended: None,
        }
    }
}

/// A request that could not be sent: failure `other`, nothing measured, nothing kept.
fn unsent(sample: &mut Sample, kept: &mut Kept) {
    sample.clear();
    kept.clear();
    sample.failure = Some(FailureKind::Other);
}

pub(super) fn think(vu: &mut VuState, tt: ThinkTime) -> Duration {
    let (lo, hi) = (micros(tt.min), micros(tt.max));
    if hi <= lo { tt.min } else { Duration::from_micros(vu.rng.random_range(lo..=hi)) }
}

pub(super) fn micros(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}
/// A rendered request that cannot be sent: its URL and why.
#[derive(Debug)]
pub(super) struct Unsendable {
    pub(super) url: String,
    pub(super) reason: String,
}

/// Renders `step` for `vu` into the request as sent: the one way a step becomes a request,
/// before the run for a static step (set-up) and per request otherwise (steps, batches).
pub(super) fn prepare(step: &Step, spec: &Spec, vu: &mut VuState) -> Result<Prepared, Unsendable> {
    let r = step.render(spec.base_url.as_ref(), &spec.http, vu);
    match Prepared::new(r.method, &r.url, &r.headers, Bytes::from(r.body), spec.http.keepalive) {
        Ok(p) => Ok(p.with_version(step.version_in(&spec.http))),
        Err(reason) => Err(Unsendable { url: r.url, reason }),
    }
}

/// A rendered request that cannot be sent (a CSV value making the port 108279) is counted as
/// failure `other`; the first one of the process also says why on stderr, once, so the count
/// has a reason without a line per request.
fn warn_unsendable(step: &str, reason: &str) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        eprintln!(
            "warning: step `{step}` rendered a request that cannot be sent ({reason}); each \
             such request is counted as failure `other`"
        );
    }
}

/// One iteration: a flow picked by weight, its steps in order. True when a request failed at
/// the transport level (the caller yields so a failing target cannot starve the thread).
pub(super) async fn iteration(
    ctx: &Ctx,
    si: usize,
    vu: &mut Vu,
    intended: Option<Instant>,
) -> bool {
    let shared = &ctx.shared;
    let spec = &shared.spec;
    let sc: &Scenario = &spec.scenarios[si];
    sc.begin_iteration(spec, &mut vu.state);
    let fi = sc.pick_flow(&mut vu.state).min(sc.flows.len().saturating_sub(1));
    let flow = &sc.flows[fi];
    let mut any_failure = false;
    for (i, step) in flow.steps.iter().enumerate() {
        let info = &shared.steps[si][fi][i];
        let rendered;
        let req = match &info.fixed {
            // A fixed request carries no cookies: render when the jar has some.
            Some(p) if vu.state.cookies.is_empty() => Ok(p),
            _ => {
                rendered = prepare(step, spec, &mut vu.state);
                rendered.as_ref().map_err(|u| warn_unsendable(&step.name, &u.reason))
            }
        };
        let timeout = step.timeout.unwrap_or(spec.http.timeout);
        match req {
            Ok(req) => {
                vu.ended = Some(
                    ctx.client
                        .send(
                            &mut vu.conn,
                            req,
                            timeout,
                            info.keep_body,
                            shared.backend_header.as_ref(),
                            &mut vu.sample,
                            &mut vu.kept,
                        )
                        .await,
                );
            }
            Err(()) => {
                vu.ended = None;
                unsent(&mut vu.sample, &mut vu.kept);
            }
        }
        let (failed, measured) =
            record(ctx, si, fi, info, &mut vu.sample, if i == 0 { intended } else { None });
        any_failure |= failed;
        let kept = &vu.kept;
        if kept.set_cookie
            && let Ok(req) = req
        {
            vu.state.store_cookies(&req.url, &kept.headers);
        }
        if info.keep_body {
            // A request that failed after its head still shows the head's status to checks.
            let view = ResponseView {
                status: vu.sample.status,
                headers: &kept.headers,
                body: &kept.body,
                duration: Duration::from_micros(measured),
            };
            let mut rec = ctx.recorder.borrow_mut();
            for (ci, c) in step.checks.iter().enumerate() {
                rec.record_check(info.check_base + ci, c.evaluate(&view));
            }
            drop(rec);
            for x in &step.extract {
                x.apply(&view, &mut vu.state);
            }
        }
        if let Some(tt) = step.think_time
            && i + 1 < flow.steps.len()
        {
            tokio::time::sleep(think(&mut vu.state, tt)).await;
        }
    }
    vu.state.iteration += 1;
    any_failure
}

/// Completes the transport's sample of one request (step `info` of flow `fi` of scenario
/// `si`) with what only the engine knows, and records it; `first_open` is the intended start
/// of an open-model iteration's first request. Returns whether it failed at the transport
/// level, and its measured duration in µs.
fn record(
    ctx: &Ctx,
    si: usize,
    fi: usize,
    info: &StepInfo,
    s: &mut Sample,
    first_open: Option<Instant>,
) -> (bool, u64) {
    let shared = &ctx.shared;
    let (start, end) = s.span();
    s.expected = shared.spec.http.expected_statuses.contains(s.status);
    let measured = match s.failure {
        None => s.sending_us + s.waiting_us + s.receiving_us,
        Some(_) => micros(end - start),
    };
    // Open model, first step: measured from when it should have started, so a stalled
    // server shows in the percentiles (no coordinated omission).
    (s.duration_us, s.raw_us, s.lag_us) = match first_open {
        // A slot started up to half a timer tick early counts from its actual start.
        Some(due) => (
            micros(end.saturating_duration_since(due.min(start))),
            // The generator's own failure (out of files or ports) has no latency to keep.
            Some(micros(end - start)).filter(|_| !s.is_local()),
            Some(micros(start.saturating_duration_since(due))),
        ),
        None => (measured, None, None),
    };
    s.endpoint = info.endpoint;
    s.scenario = si;
    s.flow = shared.flow_base[si] + fi;
    s.tally_backend = shared.backend_header.is_some();
    ctx.recorder.borrow_mut().record(s);
    (s.failure.is_some(), measured)
}

/// `n` iterations of a pipelined scenario (one-step flows without checks, see
/// `HttpOptions::check_pipeline`): the step's request `n` times in one write on the VU's
/// connection, each response recorded on its own. A templated step is rendered once per batch.
/// True when a request failed at the transport level.
pub(super) async fn pipelined(ctx: &Ctx, si: usize, vu: &mut Vu, n: usize) -> bool {
    let shared = &ctx.shared;
    let spec = &shared.spec;
    let sc: &Scenario = &spec.scenarios[si];
    sc.begin_iteration(spec, &mut vu.state);
    let fi = sc.pick_flow(&mut vu.state).min(sc.flows.len().saturating_sub(1));
    let step = &sc.flows[fi].steps[0];
    let info = &shared.steps[si][fi][0];
    let rendered;
    let req = match &info.fixed {
        Some(p) if vu.state.cookies.is_empty() => Ok(p),
        _ => {
            rendered = prepare(step, spec, &mut vu.state);
            rendered.as_ref().map_err(|u| warn_unsendable(&step.name, &u.reason))
        }
    };
    if vu.batch.len() < n {
        vu.batch.resize_with(n, Default::default);
    }
    let outs = &mut vu.batch[..n];
    match req {
        Ok(req) => {
            let timeout = step.timeout.unwrap_or(spec.http.timeout);
            let backend = shared.backend_header.as_ref();
            ctx.client
                .send_pipelined(&mut vu.conn, req, timeout, backend, outs, &mut vu.wire)
                .await;
        }
        Err(()) => {
            for (sample, kept) in outs.iter_mut() {
                unsent(sample, kept);
            }
        }
    }
    let mut any_failure = false;
    for (sample, kept) in &mut vu.batch[..n] {
        any_failure |= record(ctx, si, fi, info, sample, None).0;
        if kept.set_cookie
            && let Ok(req) = req
        {
            vu.state.store_cookies(&req.url, &kept.headers);
        }
    }
    vu.state.iteration += n as u64;
    any_failure
}
