//! A YAML tree that remembers where every node came from, so that every plan error can say
//! `file:line:col`.
//!
//! Built from `saphyr-parser`'s events rather than a generic loader because validation needs
//! what loaders throw away: duplicate keys, and whether a scalar was quoted (a plain `50` that
//! came from `${VUS}` must become a number after substitution, a quoted `"50"` must not).

use std::collections::HashMap;
use std::rc::Rc;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::error::PlanError;

/// Where a node starts: file (or `--set …`), 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pos {
    pub file: Rc<str>,
    pub line: usize,
    pub col: usize,
}

impl Pos {
    pub fn error(&self, message: impl Into<String>, hint: Option<String>) -> PlanError {
        PlanError {
            file: self.file.to_string(),
            line: self.line,
            col: self.col,
            message: message.into(),
            hint,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub pos: Pos,
    pub v: Value,
}

#[derive(Debug, Clone)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    /// The number and its text as written.
    Int(i64, String),
    Float(f64, String),
    /// The text, and whether it was a plain (unquoted) scalar.
    Str(String, bool),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The text of a scalar (numbers as written); `None` for collections.
    pub fn text(&self) -> Option<String> {
        match &self.v {
            Value::Null => Some(String::new()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(_, s) | Value::Float(_, s) | Value::Str(s, _) => Some(s.clone()),
            Value::Seq(_) | Value::Map(_) => None,
        }
    }

    /// What the node is, for "expected X, found Y" messages.
    pub fn kind(&self) -> String {
        match &self.v {
            Value::Null => "nothing".into(),
            Value::Bool(b) => format!("a boolean `{b}`"),
            Value::Int(_, s) | Value::Float(_, s) => format!("a number `{s}`"),
            Value::Str(s, _) => {
                let short: String = s.chars().take(40).collect();
                format!("a string `{short}`")
            }
            Value::Seq(_) => "a list".into(),
            Value::Map(_) => "a mapping".into(),
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.v {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The value under `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.iter().find(|(k, _)| k.text().as_deref() == Some(key)).map(|(_, v)| v)
    }

    fn scalar(pos: Pos, text: String, style: ScalarStyle, tagged_str: bool) -> Node {
        let v = if style == ScalarStyle::Plain && !tagged_str {
            resolve_plain(text)
        } else {
            Value::Str(text, false)
        };
        Node { pos, v }
    }
}

/// YAML 1.2 core schema resolution of a plain scalar.
pub(crate) fn resolve_plain(text: String) -> Value {
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = text.parse::<i64>() {
        return Value::Int(i, text);
    }
    let looks_numeric =
        text.chars().next().is_some_and(|c| c.is_ascii_digit() || "+-.".contains(c))
            && text.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c))
            && text.chars().any(|c| c.is_ascii_digit());
    if looks_numeric && let Ok(f) = text.parse::<f64>() {
        return Value::Float(f, text);
    }
    Value::Str(text, true)
}

fn pos_of(file: &Rc<str>, span: &Span) -> Pos {
    // saphyr's lines are 1-based and its columns 0-based.
    Pos { file: file.clone(), line: span.start.line(), col: span.start.col() + 1 }
}

enum Frame {
    Seq(Pos, usize, Vec<Node>),
    /// Position, anchor, entries, the key waiting for its value, `<<` merges, and the keys
    /// seen so far with their line (duplicate detection in O(1) per key).
    Map(Pos, usize, Vec<(Node, Node)>, Option<Node>, Vec<Node>, HashMap<String, usize>),
}

/// At most this many aliases (`*name`) in one plan. Real plans use a handful.
pub(crate) const MAX_ALIASES: usize = 10_000;
/// At most this much copied by aliases in one plan, in nodes plus bytes of scalar text: a
/// "billion laughs" document (anchors of anchors) stops here, after a few hundred kilobytes,
/// instead of growing to gigabytes.
pub(crate) const MAX_ALIAS_EXPANSION: usize = 250_000;

/// Nodes plus bytes of text in `n`: what copying it for an alias costs.
fn weight(n: &Node) -> usize {
    match &n.v {
        Value::Null | Value::Bool(_) => 1,
        Value::Int(_, s) | Value::Float(_, s) | Value::Str(s, _) => 1 + s.len(),
        Value::Seq(items) => items.iter().fold(1, |w, i| w.saturating_add(weight(i))),
        Value::Map(m) => {
            m.iter().fold(1, |w, (k, v)| w.saturating_add(weight(k)).saturating_add(weight(v)))
        }
    }
}

/// Parses `text`, which must hold one YAML document. Duplicate keys are reported in `errors`
/// (the first occurrence wins); a syntax error, a second document or aliases expanding past
/// [`MAX_ALIAS_EXPANSION`] are fatal and returned alone.
pub(crate) fn parse(
    text: &str,
    file: &Rc<str>,
    errors: &mut Vec<PlanError>,
) -> Result<Node, PlanError> {
    // Editors on Windows save UTF-8 with a byte-order mark; it is not part of the first key.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, (Node, usize)> = HashMap::new();
    let (mut aliases, mut expanded) = (0usize, 0usize);
    let mut root: Option<Node> = None;
    let mut documents = 0usize;
    let syntax = |e: saphyr_parser::ScanError| {
        let m = e.marker();
        PlanError {
            file: file.to_string(),
            line: m.line(),
            col: m.col() + 1,
            message: format!("YAML syntax: {}", e.info()),
            hint: Some("check the indentation and the quoting around this point".into()),
        }
    };
    while let Some(ev) = parser.next_event() {
        let (ev, span) = ev.map_err(syntax)?;
        let pos = pos_of(file, &span);
        let done = match ev {
            Event::StreamStart | Event::Nothing | Event::DocumentEnd => None,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    // Loaders that read the first document only would run half a plan.
                    return Err(pos.error(
                        "a second YAML document (after `---`): a plan is one document",
                        Some("put each plan in its own file, or remove the `---` line".into()),
                    ));
                }
                None
            }
            Event::StreamEnd => break,
            Event::Alias(id) => match anchors.get(&id) {
                Some((n, w)) => {
                    aliases += 1;
                    expanded = expanded.saturating_add(*w);
                    if aliases > MAX_ALIASES || expanded > MAX_ALIAS_EXPANSION {
                        return Err(pos.error(
                            format!(
                                "YAML aliases expand too much (more than {MAX_ALIASES} aliases \
                                 or {MAX_ALIAS_EXPANSION} nodes and bytes copied)"
                            ),
                            Some(
                                "aliases of aliases multiply: write the repeated part once, \
                                  or use fewer levels of anchors"
                                    .into(),
                            ),
                        ));
                    }
                    Some((Node { pos, v: n.v.clone() }, 0))
                }
                None => {
                    errors.push(pos.error("unknown YAML alias", None));
                    Some((Node { pos, v: Value::Null }, 0))
                }
            },
            Event::Scalar(text, style, anchor, tag) => {
                let is_str = tag.as_ref().is_some_and(|t| t.suffix == "str");
                Some((Node::scalar(pos, text.into_owned(), style, is_str), anchor))
            }
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Seq(pos, anchor, Vec::new()));
                None
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Map(pos, anchor, Vec::new(), None, Vec::new(), HashMap::new()));
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(p, a, items)) => Some((Node { pos: p, v: Value::Seq(items) }, a)),
                _ => None,
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(p, a, mut entries, _, merges, _)) => {
                    merge_into(&mut entries, merges, errors);
                    Some((Node { pos: p, v: Value::Map(entries) }, a))
                }
                _ => None,
            },
        };
        let Some((node, anchor)) = done else { continue };
        if anchor != 0 {
            let w = weight(&node);
            anchors.insert(anchor, (node.clone(), w));
        }
        match stack.last_mut() {
            None => {
                root = Some(node);
            }
            Some(Frame::Seq(_, _, items)) => items.push(node),
            Some(Frame::Map(_, _, entries, pending, merges, seen)) => match pending.take() {
                None => *pending = Some(node),
                // `<<: *defaults` merges a mapping (or a list of them); explicit keys win.
                Some(key) if matches!(&key.v, Value::Str(s, true) if s == "<<") => match node.v {
                    Value::Seq(items) => merges.extend(items),
                    _ => merges.push(node),
                },
                Some(key) => insert_entry(entries, seen, key, node, errors),
            },
        }
    }
    Ok(root.unwrap_or(Node { pos: Pos { file: file.clone(), line: 1, col: 1 }, v: Value::Null }))
}

fn merge_into(entries: &mut Vec<(Node, Node)>, merges: Vec<Node>, errors: &mut Vec<PlanError>) {
    if merges.is_empty() {
        return;
    }
    let mut present: std::collections::HashSet<Option<String>> =
        entries.iter().map(|(k, _)| k.text()).collect();
    for src in merges {
        if let Value::Map(m) = src.v {
            for (k, v) in m {
                if present.insert(k.text()) {
                    entries.push((k, v));
                }
            }
        } else {
            errors.push(src.pos.error("`<<` merges only mappings", None));
        }
    }
}

fn insert_entry(
    entries: &mut Vec<(Node, Node)>,
    seen: &mut HashMap<String, usize>,
    key: Node,
    value: Node,
    errors: &mut Vec<PlanError>,
) {
    if let Some(ktext) = key.text() {
        if let Some(first_line) = seen.get(&ktext) {
            errors.push(key.pos.error(
                format!("duplicate key `{ktext}`"),
                Some(format!("it is already set at line {first_line}; keep one")),
            ));
            return;
        }
        seen.insert(ktext, key.pos.line);
    }
    entries.push((key, value));
}

/// Applies `--set a.b.c=value`: the value is parsed as YAML (so `50` is a number, `[1, 2]` a
/// list), missing mappings on the way are created, numeric segments index lists.
pub(crate) fn apply_set(root: &mut Node, path: &str, value: &str, errors: &mut Vec<PlanError>) {
    let origin: Rc<str> = Rc::from(format!("--set {path}={value}"));
    let at = Pos { file: origin.clone(), line: 1, col: 1 };
    let mut sub = Vec::new();
    let mut new = match parse(value, &origin, &mut sub) {
        Ok(n) if sub.is_empty() => n,
        _ => Node { pos: at.clone(), v: Value::Str(value.to_string(), true) },
    };
    relocate(&mut new, &at);
    let segments = split_path(path);
    if segments.iter().any(|s| s.is_empty()) {
        errors.push(at.error(
            format!("`{path}` is not a dotted path"),
            Some("for example `--set scenarios.default.vus=50`".into()),
        ));
        return;
    }
    let mut cur = root;
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        if matches!(cur.v, Value::Null) {
            cur.v = Value::Map(Vec::new());
        }
        match &mut cur.v {
            Value::Seq(items) => {
                let Ok(idx) = seg.parse::<usize>() else {
                    errors.push(
                        at.error(format!("`{seg}` in `{path}` indexes a list: use a number"), None),
                    );
                    return;
                };
                let len = items.len();
                let Some(item) = items.get_mut(idx) else {
                    errors.push(at.error(
                        format!("`{path}`: index {idx} is past the end of a list of {len}"),
                        None,
                    ));
                    return;
                };
                if last {
                    *item = new;
                    return;
                }
                cur = item;
            }
            Value::Map(entries) => {
                let idx = match entries.iter().position(|(k, _)| k.text().as_deref() == Some(seg)) {
                    Some(i) => i,
                    None => {
                        let key = Node { pos: at.clone(), v: Value::Str(seg.clone(), false) };
                        entries.push((key, Node { pos: at.clone(), v: Value::Null }));
                        entries.len() - 1
                    }
                };
                let slot = &mut entries[idx].1;
                if last {
                    *slot = new;
                    return;
                }
                cur = slot;
            }
            _ => {
                errors.push(at.error(
                    format!("`{path}`: `{seg}` is inside a value that is not a mapping or a list"),
                    None,
                ));
                return;
            }
        }
    }
}

/// Splits on dots outside `{…}` so that `thresholds.http_req_duration{name:a.b}` works.
fn split_path(path: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut depth = 0usize;
    for c in path.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            '.' if depth == 0 => {
                out.push(String::new());
                continue;
            }
            _ => {}
        }
        out.last_mut().expect("never empty").push(c);
    }
    out
}

fn relocate(node: &mut Node, at: &Pos) {
    node.pos = at.clone();
    match &mut node.v {
        Value::Seq(items) => items.iter_mut().for_each(|n| relocate(n, at)),
        Value::Map(m) => m.iter_mut().for_each(|(k, v)| {
            relocate(k, at);
            relocate(v, at);
        }),
        _ => {}
    }
}

/// Replaces `${NAME}` and `${NAME:-default}` in every string (not in keys); `$${` is a literal
/// `${`. A plain scalar is re-resolved afterwards, so `vus: ${VUS}` becomes a number.
pub(crate) fn substitute_env(
    node: &mut Node,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<PlanError>,
) {
    match &mut node.v {
        Value::Seq(items) => items.iter_mut().for_each(|n| substitute_env(n, lookup, errors)),
        Value::Map(m) => m.iter_mut().for_each(|(_, v)| substitute_env(v, lookup, errors)),
        Value::Str(s, plain) => {
            if !s.contains('$') {
                return;
            }
            match expand(s, lookup) {
                Ok(out) => {
                    if *plain && out != *s {
                        node.v = resolve_plain(out);
                    } else {
                        *s = out;
                    }
                }
                Err((msg, hint)) => errors.push(node.pos.error(msg, Some(hint))),
            }
        }
        _ => {}
    }
}

fn expand(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, (String, String)> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(r) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = r;
            continue;
        }
        let Some(body) = after.strip_prefix("${") else {
            out.push('$');
            rest = &after[1..];
            continue;
        };
        let Some(end) = body.find('}') else {
            return Err((
                "unclosed `${` in an environment reference".into(),
                "write `${NAME}`, or `$${` for a literal `${`".into(),
            ));
        };
        let inner = &body[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n.trim(), Some(d)),
            None => (inner.trim(), None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err((
                format!("`${{{inner}}}` is not an environment variable reference"),
                "names are letters, digits and `_`; `${NAME:-default}` gives a default".into(),
            ));
        }
        match lookup(name).or_else(|| default.map(str::to_string)) {
            Some(v) => out.push_str(&v),
            None => {
                return Err((
                    format!("environment variable `{name}` is not set"),
                    format!(
                        "pass `--env {name}=…`, export it, or give a default: `${{{name}:-value}}`"
                    ),
                ));
            }
        }
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn p(text: &str) -> (Node, Vec<PlanError>) {
        let mut errs = Vec::new();
        let n = parse(text, &Rc::from("t.yaml"), &mut errs).unwrap();
        (n, errs)
    }

    #[test]
    fn positions_are_one_based() {
        let (n, _) = p("a: 1\nb:\n  c: [x, 'y']\n");
        let b = n.get("b").unwrap();
        let c = b.get("c").unwrap();
        assert_eq!((c.pos.line, c.pos.col), (3, 6));
        let Value::Seq(items) = &c.v else { panic!() };
        assert_eq!((items[1].pos.line, items[1].pos.col), (3, 10));
        assert!(matches!(items[1].v, Value::Str(_, false)));
        assert!(matches!(n.get("a").unwrap().v, Value::Int(1, _)));
    }

    #[test]
    fn duplicate_keys_and_merge() {
        let (n, errs) = p("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n  y: 4\n");
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].line, 5);
        let m = n.get("m").unwrap();
        assert_eq!(m.get("x").unwrap().text().unwrap(), "1");
        assert_eq!(m.get("y").unwrap().text().unwrap(), "3");
    }

    #[test]
    fn syntax_error_has_position() {
        let mut errs = Vec::new();
        let e = parse("a: [1, 2\nb: 3\n", &Rc::from("t.yaml"), &mut errs).unwrap_err();
        assert_eq!(e.file, "t.yaml");
        assert!(e.line >= 1);
    }

    /// The "billion laughs" document: each level repeats the previous nine times.
    pub(crate) fn laughs(levels: usize) -> String {
        let mut s = String::from("a0: &a0 [lol]\n");
        for i in 1..=levels {
            let refs = vec![format!("*a{}", i - 1); 9].join(", ");
            s.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        s
    }

    #[test]
    fn alias_expansion_is_bounded_with_a_position() {
        let mut errs = Vec::new();
        let start = std::time::Instant::now();
        let e = parse(&laughs(9), &Rc::from("t.yaml"), &mut errs).unwrap_err();
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        assert!(e.message.contains("aliases expand too much"), "{e}");
        assert!(e.line >= 5 && e.line <= 7, "the level that crosses the limit: {e}");
        // A few levels are fine, and the copies are real.
        let (n, errs) = p(&laughs(3));
        assert!(errs.is_empty());
        let Value::Seq(items) = &n.get("a3").unwrap().v else { panic!() };
        assert_eq!(items.len(), 9);
    }

    #[test]
    fn bom_and_second_documents() {
        let (n, errs) = p("\u{feff}a: 1\n");
        assert!(errs.is_empty());
        assert!(n.get("a").is_some());
        let mut errs = Vec::new();
        let e = parse("a: 1\n---\nb: 2\n", &Rc::from("t.yaml"), &mut errs).unwrap_err();
        assert!(e.message.contains("second YAML document"), "{e}");
        assert_eq!(e.line, 2);
        let (n, _) = p("---\na: 1\n...\n");
        assert!(n.get("a").is_some(), "one explicit document is fine");
    }

    #[test]
    fn set_creates_and_replaces() {
        let (mut n, _) = p("scenarios:\n  s:\n    vus: 1\nflows: [{w: 1}]\n");
        let mut errs = Vec::new();
        apply_set(&mut n, "scenarios.s.vus", "50", &mut errs);
        apply_set(&mut n, "scenarios.s.duration", "10s", &mut errs);
        apply_set(&mut n, "flows.0.w", "3", &mut errs);
        apply_set(&mut n, "flows.5.w", "3", &mut errs);
        let s = n.get("scenarios").unwrap().get("s").unwrap();
        assert!(matches!(s.get("vus").unwrap().v, Value::Int(50, _)));
        assert_eq!(s.get("duration").unwrap().text().unwrap(), "10s");
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(split_path("thresholds.a{name:x.y}.0"), ["thresholds", "a{name:x.y}", "0"]);
    }

    #[test]
    fn env_substitution() {
        let (mut n, _) = p("a: ${VUS}\nb: \"${VUS}\"\nc: ${NOPE:-x}\nd: $${LIT}\ne: ${MISSING}\n");
        let mut errs = Vec::new();
        let look = |k: &str| (k == "VUS").then(|| "7".to_string());
        substitute_env(&mut n, &look, &mut errs);
        assert!(matches!(n.get("a").unwrap().v, Value::Int(7, _)));
        assert!(matches!(n.get("b").unwrap().v, Value::Str(ref s, false) if s == "7"));
        assert_eq!(n.get("c").unwrap().text().unwrap(), "x");
        assert_eq!(n.get("d").unwrap().text().unwrap(), "${LIT}");
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].line, 5);
    }
}
