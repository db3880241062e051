//! k6 threshold expressions (`p(95)<500`, `rate<0.01`, `count>100`) and their evaluation.
//!
//! STUB written by the lead so the engine can compile against the API; the plan work
//! fills in parsing. Evaluation is pure: it takes a metric's k6 values map.

use std::collections::BTreeMap;
use std::time::Duration;

/// All expressions on one metric key (possibly a sub-metric: `http_req_duration{name:x}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub metric: String,
    pub exprs: Vec<ThresholdExpr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdExpr {
    /// As written, the key of the outcome in the result file.
    pub source: String,
    /// `avg`, `min`, `med`, `max`, `p(95)`, `rate`, `count`, `value` — the key into k6 values.
    pub aggregate: String,
    pub op: Op,
    pub value: f64,
    pub abort_on_fail: bool,
    /// Do not evaluate for abort before this much time has passed (`delayAbortEval`).
    pub delay_abort_eval: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl ThresholdExpr {
    /// The observed aggregate and whether the expression holds. `None` when the metric has
    /// no such aggregate.
    pub fn evaluate(&self, values: &BTreeMap<String, f64>) -> Option<(f64, bool)> {
        let v = *values.get(&self.aggregate)?;
        let ok = match self.op {
            Op::Lt => v < self.value,
            Op::Le => v <= self.value,
            Op::Gt => v > self.value,
            Op::Ge => v >= self.value,
            Op::Eq => v == self.value,
            Op::Ne => v != self.value,
        };
        Some((v, ok))
    }
}
