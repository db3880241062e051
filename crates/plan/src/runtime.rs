//! What the engine asks of a validated spec while it runs: render a step into a request,
//! pick a flow by weight, feed CSV rows, evaluate checks, extract values.
//!
//! STUB written by the lead so the engine compiles against the API; the plan work fills it in
//! and keeps these signatures (adding is fine).

use std::time::Duration;

use crate::spec::{Check, Extract, Flow, HttpOptions, Scenario, Spec, Step};
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
    /// Step headers over default headers; includes `Content-Type` for json/form bodies.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Step {
    /// Renders this step for `vu`. Relative URLs are joined to `base`.
    pub fn render(
        &self,
        base: Option<&url::Url>,
        http: &HttpOptions,
        vu: &mut VuState,
    ) -> RenderedRequest {
        let mut url = self.url.render_to_string(vu);
        if let Some(b) = base
            && !url.contains("://")
            && let Ok(j) = b.join(&url)
        {
            url = j.to_string();
        }
        let mut headers: Vec<(String, String)> = Vec::new();
        for (k, v) in http.headers.iter().chain(&self.headers) {
            headers.retain(|(name, _)| !name.eq_ignore_ascii_case(k));
            headers.push((k.clone(), v.render_to_string(vu)));
        }
        let body = match &self.body {
            crate::spec::Body::Raw(t) => t.render_to_string(vu).into_bytes(),
            crate::spec::Body::Bytes(b) => b.to_vec(),
            _ => Vec::new(),
        };
        RenderedRequest { method: self.method.clone(), url, headers, body }
    }
}

impl Scenario {
    /// Index of the flow this iteration runs, drawn by weight from the VU's generator.
    pub fn pick_flow(&self, vu: &mut VuState) -> usize {
        let _ = vu;
        0
    }

    /// Called at the start of every iteration: loads the next feeder rows into `vu.vars`.
    pub fn begin_iteration(&self, spec: &Spec, vu: &mut VuState) {
        let _ = (spec, vu);
    }
}

impl Flow {
    pub fn step_count(&self) -> usize {
        self.steps.len()
    }
}

impl Check {
    pub fn evaluate(&self, r: &ResponseView<'_>) -> bool {
        match &self.kind {
            crate::spec::CheckKind::Status(s) => s.contains(&r.status),
            _ => false,
        }
    }
}

impl Extract {
    /// Stores the extracted value in `vu.vars`; false when nothing matched.
    pub fn apply(&self, r: &ResponseView<'_>, vu: &mut VuState) -> bool {
        let _ = (r, vu);
        false
    }
}
