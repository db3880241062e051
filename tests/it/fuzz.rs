//! Deterministic mutation fuzzing of the two readers of untrusted files, run as ordinary tests
//! (cargo-fuzz needs a nightly toolchain): the plan loader and the result reader. Seeds are the
//! corpus in `tests/corpus/{plans,results}/`; each case mutates a seed (bytes for both, JSON
//! structure for results) with a fixed-seed generator, so a failure reproduces exactly.
//!
//! Asserted: nothing panics; a result the reader accepts keeps its accounting and renders in
//! every format (terminal, Markdown, HTML, CSV, JUnit, compare). Bounded by `VOLLEY_FUZZ_CASES`
//! (default 1500 per target) and `VOLLEY_FUZZ_SECS` (default 40 s per target); `.ci/run` runs
//! a longer pass. A failing input is written to `target/fuzz-failures/` and named in the panic.

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// xorshift64*: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus(kind: &str) -> Vec<Vec<u8>> {
    let dir = repo().join("tests/corpus").join(kind);
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(!seeds.is_empty(), "no corpus in {}", dir.display());
    seeds
}

fn budget() -> (usize, Duration) {
    let env = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    (env("VOLLEY_FUZZ_CASES", 1500) as usize, Duration::from_secs(env("VOLLEY_FUZZ_SECS", 40)))
}

/// Tokens that reach the interesting corners of YAML, JSON and volley's own grammars.
const TOKENS: &[&str] = &[
    "*a",
    "&a ",
    "<<: *a",
    "{{",
    "}}",
    "{{ random_sentence }}",
    "${X}",
    "\0",
    "\u{1b}[2J",
    "\u{feff}",
    "---\n",
    "\n  - ",
    ": ",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "'",
    "-1",
    "0",
    "1e308",
    "-0",
    "NaN",
    "18446744073709551615",
    "9223372036854775808",
    "99999999999999999999999s",
    "1ms",
    "0s",
    "..",
    "p(99.9)<",
    "rate>",
    "{name:x}",
    "http://127.0.0.1:108279/",
    "/dev/zero",
    "null",
    "true",
    "~",
    "\t",
    "\r\n",
    "é",
    "\u{202e}",
];

fn mutate_bytes(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut v = rng.pick(seeds).clone();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                v.drain(at..end.max(at));
            }
            2 => {
                let t = rng.pick(TOKENS).as_bytes().to_vec();
                v.splice(at..at, t);
            }
            3 if !v.is_empty() => {
                let from = rng.below(v.len());
                let end = (from + 1 + rng.below(64)).min(v.len());
                let chunk = v[from..end].to_vec();
                v.splice(at..at, chunk);
            }
            4 => v.truncate(at),
            _ => {
                let other = rng.pick(seeds);
                let from = rng.below(other.len());
                let end = (from + rng.below(128)).min(other.len());
                v.splice(at..at, other[from..end].iter().copied());
            }
        }
    }
    v
}

/// Structural mutation of a JSON value: replace one node (number, string, key) with a hostile
/// one, or drop one.
fn mutate_json(rng: &mut Rng, v: &mut serde_json::Value) {
    use serde_json::Value;
    let hostile_values = [
        Value::from(0),
        Value::from(-1),
        Value::from(u64::MAX),
        Value::from(1e308),
        Value::from(-1e308),
        Value::from(0.5),
        Value::from(""),
        Value::from("\u{1b}]0;x\u{7}<img src=x onerror=1>`|"),
        Value::from("AAAA"),
        Value::Null,
        Value::Array(vec![]),
        serde_json::json!({}),
    ];
    fn visit(rng: &mut Rng, node: &mut Value, depth: usize, hostile: &[Value]) {
        if depth > 0 {
            match node {
                Value::Array(a) if !a.is_empty() => {
                    let i = rng.below(a.len());
                    return visit(rng, &mut a[i], depth - 1, hostile);
                }
                Value::Object(m) if !m.is_empty() => {
                    let i = rng.below(m.len());
                    let k = m.keys().nth(i).unwrap().clone();
                    if rng.below(10) == 0 {
                        let x = m.shift_remove(&k).unwrap();
                        if rng.below(2) == 0 {
                            m.insert(rng.pick(TOKENS).to_string(), x);
                        }
                        return;
                    }
                    return visit(rng, m.get_mut(&k).unwrap(), depth - 1, hostile);
                }
                _ => {}
            }
        }
        let bump = match node {
            Value::Number(n) if rng.below(2) == 0 => Some(n.as_f64().unwrap_or(0.0)),
            _ => None,
        };
        *node = match bump {
            Some(f) if rng.below(2) == 0 => Value::from(f + 1.0),
            Some(f) => Value::from((f - 1.0).max(0.0)),
            None => rng.pick(hostile).clone(),
        };
    }
    let depth = rng.below(8);
    visit(rng, v, depth, &hostile_values);
}

fn save_failure(name: &str, case: usize, input: &[u8]) -> PathBuf {
    let dir = repo().join("target/fuzz-failures");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("{name}-{case}"));
    std::fs::write(&p, input).unwrap();
    p
}

fn quiet_panics<R>(f: impl FnOnce() -> R + std::panic::UnwindSafe) -> std::thread::Result<R> {
    std::panic::catch_unwind(f)
}

#[test]
fn fuzz_plan_loader() {
    let seeds = corpus("plans");
    let (cases, time) = budget();
    let base = repo().join("examples");
    let mut rng = Rng(0x005e_ed0f_91a5);
    let start = Instant::now();
    let (mut ran, mut accepted) = (0, 0);
    for case in 0..cases {
        if start.elapsed() > time {
            break;
        }
        let input = mutate_bytes(&mut rng, &seeds);
        let text = String::from_utf8_lossy(&input).into_owned();
        let base = base.clone();
        let outcome = quiet_panics(move || {
            volley_plan::load_str(&text, "fuzz.yaml", &base, &Default::default()).is_ok()
        });
        match outcome {
            Ok(ok) => accepted += ok as usize,
            Err(_) => {
                let p = save_failure("plan", case, &input);
                panic!("the plan loader panicked on case {case}: {}", p.display());
            }
        }
        ran += 1;
    }
    eprintln!("fuzz_plan_loader: {ran} cases in {:?}, {accepted} accepted", start.elapsed());
    assert!(ran >= 100.min(cases), "only {ran} cases ran");
}

/// Every format renders an accepted result without panicking.
fn render_everywhere(r: &volley_metrics::RunResult) {
    use volley_report::*;
    terminal::render(r, terminal::Style { color: true });
    markdown::render(r, markdown::Options { glossary: false });
    html::render(r, html::Options::default()).unwrap();
    csv::render(r).unwrap();
    junit::render(r);
    let runs = [
        compare::Run { label: "a".into(), result: r.clone() },
        compare::Run { label: "b".into(), result: r.clone() },
    ];
    compare::markdown(&runs);
    compare::html(&runs).unwrap();
}

#[test]
fn fuzz_result_reader() {
    let mut seeds = corpus("results");
    let fixture = volley_report::fixture::plan_run();
    seeds.push(serde_json::to_vec_pretty(&fixture).unwrap());
    let values: Vec<serde_json::Value> =
        seeds.iter().filter_map(|s| serde_json::from_slice(s).ok()).collect();
    let (cases, time) = budget();
    let mut rng = Rng(0x0dd_ba11_cafe);
    let start = Instant::now();
    let (mut ran, mut accepted) = (0, 0);
    for case in 0..cases {
        if start.elapsed() > time {
            break;
        }
        let input = if rng.below(3) == 0 {
            mutate_bytes(&mut rng, &seeds)
        } else {
            let mut v = rng.pick(&values).clone();
            for _ in 0..1 + rng.below(3) {
                mutate_json(&mut rng, &mut v);
            }
            serde_json::to_vec(&v).unwrap()
        };
        let text = String::from_utf8_lossy(&input).into_owned();
        let outcome = quiet_panics(move || match volley_metrics::read::from_str(&text) {
            Ok(r) => {
                assert!(r.totals.check().is_ok());
                render_everywhere(&r);
                true
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                false
            }
        });
        match outcome {
            Ok(ok) => accepted += ok as usize,
            Err(_) => {
                let p = save_failure("result", case, &input);
                panic!("reading or rendering a result panicked on case {case}: {}", p.display());
            }
        }
        ran += 1;
    }
    eprintln!("fuzz_result_reader: {ran} cases in {:?}, {accepted} accepted", start.elapsed());
    assert!(accepted > 0, "no mutated result was accepted: the mutations are too coarse");
    assert!(ran >= 100.min(cases), "only {ran} cases ran");
}

#[test]
fn the_corpus_seeds_are_valid() {
    for seed in corpus("results") {
        let r = volley_metrics::read::from_str(std::str::from_utf8(&seed).unwrap()).unwrap();
        render_everywhere(&r);
    }
    for (i, seed) in corpus("plans").iter().enumerate() {
        let text = std::str::from_utf8(seed).unwrap();
        let r =
            volley_plan::load_str(text, "seed.yaml", &repo().join("examples"), &Default::default());
        assert!(r.is_ok(), "plan seed {i}: {:?}", r.err());
    }
}
