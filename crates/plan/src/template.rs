//! `{{ }}` templates in URLs, headers and bodies, and the per-VU state they render from.
//!
//! STUB written by the lead so the engine can compile against the API; the plan work
//! replaces the internals (variables, generators, feeders) but keeps these signatures.

use std::collections::HashMap;

/// A compiled template. Rendering a literal template costs a copy and nothing else.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Var(String),
}

impl Template {
    pub fn literal(s: impl Into<String>) -> Self {
        Template { parts: vec![Part::Lit(s.into())] }
    }

    /// The text when the template has no placeholders (lets the engine pre-build requests).
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Lit(s)] => Some(s),
            _ => None,
        }
    }

    /// Appends the rendered text to `out`.
    pub fn render(&self, vu: &mut VuState, out: &mut String) {
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Var(v) => {
                    if let Some(val) = vu.vars.get(v) {
                        out.push_str(val)
                    }
                }
            }
        }
    }

    pub fn render_to_string(&self, vu: &mut VuState) -> String {
        let mut s = String::new();
        self.render(vu, &mut s);
        s
    }
}

/// What one VU carries between iterations: its variables (plan variables, feeder columns,
/// extracted values), its random generator, its counters.
#[derive(Debug)]
pub struct VuState {
    /// 1-based VU number, unique within the run.
    pub vu: u64,
    /// Iteration number of this VU, starting at 0.
    pub iteration: u64,
    pub vars: HashMap<String, String>,
    pub rng: rand::rngs::SmallRng,
}

impl VuState {
    pub fn new(vu: u64, seed: u64) -> Self {
        use rand::SeedableRng;
        VuState {
            vu,
            iteration: 0,
            vars: HashMap::new(),
            rng: rand::rngs::SmallRng::seed_from_u64(seed ^ vu.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        }
    }
}
