//! `{{ }}` templates in URLs, headers and bodies, and the per-VU state they render from.
//!
//! Templates are compiled once at load time into literal pieces, variable lookups and
//! generators, so rendering a request parses nothing. Plan variables that nothing can change at
//! run time are folded into the literal pieces.
//!
//! Generators (see `docs/plan.md`): `random_int(a, b)`, `random_choice(a, b, …)`,
//! `random_string(n)`, `uuid`, `seq`, `timestamp`, `vu`, `iteration`, `random_sentence`.
//! `timestamp` is the only thing in this crate that reads the clock, at render time.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::Rng;

/// A compiled template. Rendering a literal template costs a copy and nothing else.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Var(String),
    Gen(Generator),
}

#[derive(Debug, Clone, PartialEq)]
enum Generator {
    RandomInt(i64, i64),
    RandomChoice(Vec<String>),
    RandomString(usize),
    Uuid,
    Seq(SeqCounter),
    Timestamp,
    Vu,
    Iteration,
    RandomSentence,
}

impl Generator {
    fn is_number(&self) -> bool {
        matches!(
            self,
            Generator::RandomInt(..)
                | Generator::Seq(_)
                | Generator::Timestamp
                | Generator::Vu
                | Generator::Iteration
        )
    }
}

/// The run-wide counter behind `{{ seq }}`, shared by every template of one loaded plan.
#[derive(Clone, Default)]
pub struct SeqCounter(Arc<AtomicU64>);

impl PartialEq for SeqCounter {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for SeqCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SeqCounter({})", self.0.load(Ordering::Relaxed))
    }
}

/// Names of the generators, for "did you mean" and the docs.
pub const GENERATORS: &[&str] = &[
    "random_int",
    "random_choice",
    "random_string",
    "uuid",
    "seq",
    "timestamp",
    "vu",
    "iteration",
    "random_sentence",
];

/// What a template may refer to, decided by the loader.
#[derive(Debug, Default)]
pub struct CompileContext {
    /// Plan variables that nothing overwrites at run time: folded into the literal text.
    pub constants: HashMap<String, String>,
    /// Names that exist at run time (feeder columns, extracted values, overwritable variables).
    pub variables: Vec<String>,
    pub seq: SeqCounter,
}

/// Why a template does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub message: String,
    pub hint: Option<String>,
    /// Byte offset of the offending `{{` in the template's text.
    pub offset: usize,
}

impl Template {
    pub fn literal(s: impl Into<String>) -> Self {
        Template { parts: vec![Part::Lit(s.into())] }
    }

    /// Compiles `src`; every problem is reported (an undefined variable, an unknown
    /// generator, bad arguments, an unclosed `{{`).
    pub fn compile(src: &str, ctx: &CompileContext) -> Result<Template, Vec<TemplateError>> {
        let mut parts: Vec<Part> = Vec::new();
        let mut errors = Vec::new();
        let mut rest = src;
        let mut lit = String::new();
        while let Some(i) = rest.find("{{") {
            let offset = src.len() - rest.len() + i;
            lit.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let Some(end) = after.find("}}") else {
                errors.push(TemplateError {
                    message: format!("unclosed `{{{{` in `{src}`"),
                    hint: Some("close it with `}}`".into()),
                    offset,
                });
                rest = "";
                break;
            };
            let expr = after[..end].trim();
            rest = &after[end + 2..];
            match compile_expr(expr, ctx) {
                Ok(Part::Lit(s)) => lit.push_str(&s),
                Ok(p) => {
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    parts.push(p);
                }
                Err(e) => errors.push(TemplateError { offset, ..e }),
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        if errors.is_empty() { Ok(Template { parts }) } else { Err(errors) }
    }

    /// The text when the template has no placeholders (lets the engine pre-build requests).
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Lit(s)] => Some(s),
            _ => None,
        }
    }

    /// True when the template is exactly one number generator (`{{ random_int(1, 9) }}`):
    /// a JSON body then gets a number, not a string.
    pub fn is_single_number(&self) -> bool {
        matches!(self.parts.as_slice(), [Part::Gen(g)] if g.is_number())
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
                Part::Gen(g) => render_gen(g, vu, out),
            }
        }
    }

    pub fn render_to_string(&self, vu: &mut VuState) -> String {
        let mut s = String::new();
        self.render(vu, &mut s);
        s
    }
}

fn compile_expr(expr: &str, ctx: &CompileContext) -> Result<Part, TemplateError> {
    let err = |message: String, hint: Option<String>| TemplateError { message, hint, offset: 0 };
    let (name, args) = match expr.find('(') {
        Some(i) => {
            let Some(inner) = expr[i + 1..].strip_suffix(')') else {
                return Err(err(
                    format!("`{{{{ {expr} }}}}`: missing `)`"),
                    Some("write for example `{{ random_int(1, 100) }}`".into()),
                ));
            };
            (expr[..i].trim(), Some(split_args(inner)))
        }
        None => (expr, None),
    };
    if name.is_empty() {
        return Err(err("empty `{{ }}`".into(), Some("put a variable name inside".into())));
    }
    let no_args = |g: Generator| match &args {
        Some(a) if !a.is_empty() => Err(err(
            format!("`{name}` takes no arguments"),
            Some(format!("write `{{{{ {name} }}}}`")),
        )),
        _ => Ok(Part::Gen(g)),
    };
    match name {
        "uuid" => return no_args(Generator::Uuid),
        "seq" => return no_args(Generator::Seq(ctx.seq.clone())),
        "timestamp" => return no_args(Generator::Timestamp),
        "vu" => return no_args(Generator::Vu),
        "iteration" => return no_args(Generator::Iteration),
        "random_sentence" => return no_args(Generator::RandomSentence),
        "random_int" => {
            let usage = Some("write `{{ random_int(1, 100) }}` (both bounds included)".to_string());
            let a = args.unwrap_or_default();
            let nums: Vec<Option<i64>> = a.iter().map(|s| s.parse().ok()).collect();
            return match nums.as_slice() {
                [Some(lo), Some(hi)] if lo <= hi => Ok(Part::Gen(Generator::RandomInt(*lo, *hi))),
                [Some(lo), Some(hi)] => Err(err(
                    format!("`random_int({lo}, {hi})`: the low bound is above the high one"),
                    usage,
                )),
                _ => Err(err(
                    format!("`random_int` takes two integers, got `{}`", a.join(", ")),
                    usage,
                )),
            };
        }
        "random_choice" => {
            let a = args.unwrap_or_default();
            if a.is_empty() {
                return Err(err(
                    "`random_choice` needs at least one value".into(),
                    Some("write `{{ random_choice(red, green, blue) }}`".into()),
                ));
            }
            return Ok(Part::Gen(Generator::RandomChoice(a)));
        }
        "random_string" => {
            let a = args.unwrap_or_default();
            return match a.as_slice() {
                [n] if n.parse::<usize>().is_ok_and(|n| n > 0 && n <= 1 << 20) => {
                    Ok(Part::Gen(Generator::RandomString(n.parse().expect("checked"))))
                }
                _ => Err(err(
                    format!("`random_string` takes one length, got `{}`", a.join(", ")),
                    Some("write `{{ random_string(16) }}`".into()),
                )),
            };
        }
        _ => {}
    }
    if let Some(a) = args {
        let _ = a;
        return Err(err(
            format!("unknown generator `{name}`"),
            Some(match crate::error::did_you_mean(name, GENERATORS.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("generators: {}", GENERATORS.join(", ")),
            }),
        ));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.') {
        return Err(err(
            format!("`{{{{ {name} }}}}` is not a variable name"),
            Some("variable names are letters, digits, `_`, `-` and `.`".into()),
        ));
    }
    if let Some(v) = ctx.constants.get(name) {
        return Ok(Part::Lit(v.clone()));
    }
    if ctx.variables.iter().any(|v| v == name) {
        return Ok(Part::Var(name.to_string()));
    }
    let candidates = ctx
        .constants
        .keys()
        .map(String::as_str)
        .chain(ctx.variables.iter().map(String::as_str))
        .chain(GENERATORS.iter().copied());
    let hint = match crate::error::did_you_mean(name, candidates) {
        Some(s) => format!("did you mean `{s}`?"),
        None => "define it under `variables`, as a CSV column of `data`, or with `extract`".into(),
    };
    Err(err(format!("undefined variable `{name}`"), Some(hint)))
}

/// Splits generator arguments on commas; quotes (`'a, b'`, `"c"`) keep commas and spaces.
fn split_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut quoted = false;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                if cur.trim().is_empty() {
                    cur.clear();
                }
                quote = Some(c);
                quoted = true;
            }
            (None, ',') => {
                out.push(if quoted { std::mem::take(&mut cur) } else { cur.trim().to_string() });
                cur.clear();
                quoted = false;
            }
            (None, c) => {
                if !(quoted && c.is_whitespace()) {
                    cur.push(c)
                }
            }
        }
    }
    let last = if quoted { cur } else { cur.trim().to_string() };
    if !last.is_empty() || !out.is_empty() {
        out.push(last);
    }
    out
}

const WORDS: &[&str] = &[
    "the", "model", "predicts", "a", "quick", "brown", "fox", "service", "under", "load",
    "returns", "label", "every", "request", "with", "latency", "happy", "customer", "orders",
    "fresh", "coffee", "slow", "network", "great", "product", "terrible", "delivery", "arrived",
    "late", "today", "works", "fine", "and", "never", "again", "really", "love", "this", "cheap",
    "price",
];

fn render_gen(g: &Generator, vu: &mut VuState, out: &mut String) {
    use std::fmt::Write;
    match g {
        Generator::RandomInt(lo, hi) => {
            let _ = write!(out, "{}", vu.rng.random_range(*lo..=*hi));
        }
        Generator::RandomChoice(items) => {
            let i = vu.rng.random_range(0..items.len());
            out.push_str(&items[i]);
        }
        Generator::RandomString(n) => {
            const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
            for _ in 0..*n {
                out.push(ALNUM[vu.rng.random_range(0..ALNUM.len())] as char);
            }
        }
        Generator::Uuid => {
            let mut b: [u8; 16] = vu.rng.random();
            b[6] = (b[6] & 0x0f) | 0x40;
            b[8] = (b[8] & 0x3f) | 0x80;
            for (i, byte) in b.iter().enumerate() {
                if matches!(i, 4 | 6 | 8 | 10) {
                    out.push('-');
                }
                let _ = write!(out, "{byte:02x}");
            }
        }
        Generator::Seq(counter) => {
            let n = match vu.seq {
                Some((epoch, n)) if epoch == vu.epoch => n,
                _ => {
                    let n = counter.0.fetch_add(1, Ordering::Relaxed);
                    vu.seq = Some((vu.epoch, n));
                    n
                }
            };
            let _ = write!(out, "{n}");
        }
        Generator::Timestamp => {
            let ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0);
            let _ = write!(out, "{ms}");
        }
        Generator::Vu => {
            let _ = write!(out, "{}", vu.vu);
        }
        Generator::Iteration => {
            let _ = write!(out, "{}", vu.iteration);
        }
        Generator::RandomSentence => {
            let n = vu.rng.random_range(6..=14);
            for i in 0..n {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(WORDS[vu.rng.random_range(0..WORDS.len())]);
            }
        }
    }
}

/// What one VU carries between iterations: its variables (plan variables, feeder columns,
/// extracted values), its random generator, its counters, its cookies.
#[derive(Debug)]
pub struct VuState {
    /// 1-based VU number, unique within the run.
    pub vu: u64,
    /// Iteration number of this VU, starting at 0 (the engine advances it).
    pub iteration: u64,
    pub vars: HashMap<String, String>,
    pub rng: rand::rngs::SmallRng,
    /// Cookies received by this VU (`Set-Cookie`), sent back by [`crate::Step::render`].
    pub cookies: crate::runtime::CookieJar,
    /// Incremented by `begin_iteration`; keeps `{{ seq }}` stable within one iteration.
    pub epoch: u64,
    /// The `{{ seq }}` value drawn in epoch `.0`.
    pub seq: Option<(u64, u64)>,
    /// Per-feeder row cursors of this VU (per-VU feeders).
    pub feeder_rows: Vec<u64>,
}

impl VuState {
    pub fn new(vu: u64, seed: u64) -> Self {
        use rand::SeedableRng;
        VuState {
            vu,
            iteration: 0,
            vars: HashMap::new(),
            rng: rand::rngs::SmallRng::seed_from_u64(seed ^ vu.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            cookies: Default::default(),
            epoch: 0,
            seq: None,
            feeder_rows: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> CompileContext {
        CompileContext {
            constants: HashMap::from([("host".to_string(), "example".to_string())]),
            variables: vec!["token".into()],
            seq: SeqCounter::default(),
        }
    }

    #[test]
    fn constants_fold_and_variables_render() {
        let t = Template::compile("/{{ host }}/a", &ctx()).unwrap();
        assert_eq!(t.as_literal(), Some("/example/a"));
        let t = Template::compile("Bearer {{token}}", &ctx()).unwrap();
        let mut vu = VuState::new(1, 1);
        vu.vars.insert("token".into(), "abc".into());
        assert_eq!(t.render_to_string(&mut vu), "Bearer abc");
    }

    #[test]
    fn errors_are_all_reported() {
        let e =
            Template::compile("{{ tokn }} {{ randint(1,2) }} {{ random_int(5, 1) }} {{ x", &ctx())
                .unwrap_err();
        assert_eq!(e.len(), 4, "{e:?}");
        assert_eq!(e[0].hint.as_deref(), Some("did you mean `token`?"));
        assert_eq!(e[1].hint.as_deref(), Some("did you mean `random_int`?"));
    }

    #[test]
    fn generators_render_in_range() {
        let c = ctx();
        let t = Template::compile(
            "{{ random_int(3, 5) }}|{{ random_choice(a, 'b, c') }}|{{ uuid }}|{{ vu }}|{{ random_string(8) }}",
            &c,
        )
        .unwrap();
        let mut vu = VuState::new(7, 42);
        for _ in 0..200 {
            let s = t.render_to_string(&mut vu);
            let f: Vec<&str> = s.split('|').collect();
            let n: i64 = f[0].parse().unwrap();
            assert!((3..=5).contains(&n));
            assert!(f[1] == "a" || f[1] == "b, c", "{s}");
            assert_eq!(f[2].len(), 36);
            assert_eq!(f[2].as_bytes()[14], b'4');
            assert_eq!(f[3], "7");
            assert_eq!(f[4].len(), 8);
        }
    }

    #[test]
    fn seq_is_global_and_stable_within_an_iteration() {
        let c = ctx();
        let t = Template::compile("{{ seq }}-{{ seq }}", &c).unwrap();
        let mut a = VuState::new(1, 1);
        let mut b = VuState::new(2, 1);
        assert_eq!(t.render_to_string(&mut a), "0-0");
        assert_eq!(t.render_to_string(&mut b), "1-1");
        a.epoch += 1;
        assert_eq!(t.render_to_string(&mut a), "2-2");
        assert!(Template::compile("{{ seq }}", &c).unwrap().is_single_number());
        assert!(!Template::compile("x{{ seq }}", &c).unwrap().is_single_number());
    }
}
