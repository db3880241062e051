//! How user strings (URLs, step, check and endpoint names, labels, commands, anything read from a
//! result file) are made safe for each output kind, one function per kind:
//!
//! - [`visible`]: the base of all of them. Control characters (C0, DEL, C1) and the Unicode
//!   controls that reorder or break lines (bidi overrides and isolates, line and paragraph
//!   separators) never reach an output raw: C0 and DEL become their visible Control Pictures
//!   (`␀`, `␛`, `␊` ...), the others `\u{FFFD}`. A name with an ESC therefore cannot drive a
//!   terminal, and one with a newline cannot start a new Markdown block.
//! - [`terminal`]: text for the terminal ([`terminal_safe`] applies it to every string of a
//!   document before it is drawn, so no field can be forgotten).
//! - [`md_escape`], [`md_code_span`], [`md_code_block`]: Markdown text, inline code and fenced
//!   code (CommonMark: backslash escapes for text; for code, a backtick fence longer than any
//!   backtick run inside, since nothing can be escaped in code).
//! - [`html_formatter`]: minijinja's HTML auto-escaping with [`visible`] applied first; every
//!   HTML template environment of this crate uses it.
//! - [`xml`]: XML text and attributes (JUnit).
//! - [`csv_cell`]: a CSV cell (Locust's files): [`visible`], then OWASP's neutralisation of
//!   cells a spreadsheet would run as a formula.

use std::borrow::Cow;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The visible stand-in for a character no output may carry raw, or `None` when `c` is fine.
fn stand_in(c: char) -> Option<char> {
    match c {
        // Control Pictures: U+2400 + the code for C0, U+2421 for DEL.
        '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32),
        '\u{7f}' => Some('\u{2421}'),
        '\u{80}'..='\u{9f}'
        | '\u{200e}'
        | '\u{200f}'
        | '\u{2028}'
        | '\u{2029}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}' => Some('\u{fffd}'),
        _ => None,
    }
}

/// `s` with every control character replaced by a visible stand-in (see the module docs).
/// Borrows when there is nothing to replace, which is almost always.
pub fn visible(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| stand_in(c).is_some()) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().map(|c| stand_in(c).unwrap_or(c)).collect())
}

/// A user string for the terminal: [`visible`] (the only thing a terminal needs; colours are
/// added by the renderer around already safe text).
pub fn terminal(s: &str) -> Cow<'_, str> {
    visible(s)
}

/// A copy of `doc` (a result, a sweep) in which every string, map keys included, went
/// through [`terminal`]: the terminal renderers draw from it, so a field added later is
/// covered without anyone remembering to escape it. Numbers are copied exactly (no text
/// round trip). `None` only when serde cannot copy the document (a NaN in it): draw it
/// without colour and pass the whole text through [`terminal_text`] then.
pub fn terminal_safe<T: Serialize + DeserializeOwned + Clone>(doc: &T) -> Option<T> {
    fn walk(v: &mut serde_json::Value) -> bool {
        match v {
            serde_json::Value::String(s) => match visible(s) {
                Cow::Borrowed(_) => false,
                Cow::Owned(o) => {
                    *s = o;
                    true
                }
            },
            serde_json::Value::Array(a) => a.iter_mut().fold(false, |ch, x| walk(x) | ch),
            serde_json::Value::Object(m) => {
                let mut changed = false;
                let entries: Vec<(String, serde_json::Value)> = std::mem::take(m)
                    .into_iter()
                    .map(|(k, mut x)| {
                        changed |= walk(&mut x);
                        let k = match visible(&k) {
                            Cow::Borrowed(_) => k,
                            Cow::Owned(o) => {
                                changed = true;
                                o
                            }
                        };
                        (k, x)
                    })
                    .collect();
                m.extend(entries);
                changed
            }
            _ => false,
        }
    }
    let mut value = serde_json::to_value(doc).ok()?;
    if !walk(&mut value) {
        return Some(doc.clone());
    }
    serde_json::from_value(value).ok()
}

/// Already drawn, uncoloured terminal text with every control character but the line breaks
/// made [`visible`]: the fallback of [`terminal_safe`].
pub fn terminal_text(text: &str) -> String {
    text.split('\n').map(visible).collect::<Vec<_>>().join("\n")
}

/// Escapes text for Markdown so user strings render as typed: no tables broken by `|`, no
/// emphasis from `*`/`_`/`~`, no links, no raw HTML from `<`, no entity from `&`, no new block
/// from a line break (control characters go through [`visible`]).
pub fn md_escape(s: &str) -> String {
    let s = visible(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '~' | '[' | ']' | '<' | '>' | '|' | '#' | '&') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The length of the longest run of backticks in `s`.
fn longest_backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// Inline code (CommonMark code span) showing `s` literally: the fence is one backtick longer
/// than any backtick run in `s`, and padded with a space when `s` starts or ends with a
/// backtick or a space (CommonMark strips one space on each side). Inside a code span nothing
/// is interpreted, so `<img onerror=…>` stays text. Not for table cells (GFM splits cells on
/// `|` even in code): use [`md_escape`] there.
pub fn md_code_span(s: &str) -> String {
    let s = visible(s);
    if s.is_empty() {
        return String::new();
    }
    let fence = "`".repeat(longest_backtick_run(&s) + 1);
    let pad = if s.starts_with(['`', ' ']) || s.ends_with(['`', ' ']) { " " } else { "" };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// A fenced code block showing `text` literally (its lines kept, other control characters
/// made [`visible`]); the fence is longer than any backtick run in `text`.
pub fn md_code_block(text: &str) -> String {
    let lines: Vec<Cow<str>> = text.split('\n').map(visible).collect();
    let body = lines.join("\n");
    let fence = "`".repeat(longest_backtick_run(&body).max(2) + 1);
    format!("{fence}text\n{body}\n{fence}\n")
}

/// minijinja's HTML auto-escaping with control characters made [`visible`] first; safe
/// strings (the SVG charts) keep their markup and lose only raw control characters other
/// than whitespace.
pub fn html_formatter(
    out: &mut minijinja::Output,
    state: &minijinja::State,
    value: &minijinja::Value,
) -> Result<(), minijinja::Error> {
    if let Some(s) = value.as_str()
        && s.chars().any(|c| stand_in(c).is_some())
    {
        let cleaned = if value.is_safe() {
            let keep = |c: char| matches!(c, '\t' | '\n' | '\r');
            let s: String =
                s.chars().map(|c| if keep(c) { c } else { stand_in(c).unwrap_or(c) }).collect();
            minijinja::Value::from_safe_string(s)
        } else {
            minijinja::Value::from(visible(s).into_owned())
        };
        return minijinja::escape_formatter(out, state, &cleaned);
    }
    minijinja::escape_formatter(out, state, value)
}

/// Escapes text for XML attributes and content, with control characters made [`visible`]
/// (XML 1.0 forbids most of them, and a NUL would make the file unreadable).
pub fn xml(s: &str) -> String {
    let s = visible(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\u{FFFE}' | '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A user string as a CSV cell safe to open in a spreadsheet (OWASP, "CSV Injection"):
/// control characters made [`visible`], and a cell that begins with `=`, `+`, `-`, `@`, a tab or
/// a carriage return (which a spreadsheet would read as a formula) gets a leading `'`, which
/// spreadsheets show as text and do not display. The CSV writer quotes the cell when it holds
/// a separator or a quote.
pub fn csv_cell(s: &str) -> Cow<'_, str> {
    let s = visible(s);
    match s.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{s}")),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "a\u{0}b\u{1b}[31mc\u{7f}d\u{9b}e\u{202e}f\ng\th\r";

    fn has_control(s: &str) -> bool {
        s.chars().any(|c| stand_in(c).is_some())
    }

    #[test]
    fn controls_become_visible() {
        assert_eq!(visible(HOSTILE), "a␀b␛[31mc␡d\u{fffd}e\u{fffd}f␊g␉h␍");
        assert!(matches!(visible("plain /path ünïcode ✓"), Cow::Borrowed(_)));
        for f in [
            terminal(HOSTILE).into_owned(),
            md_escape(HOSTILE),
            md_code_span(HOSTILE),
            xml(HOSTILE),
        ] {
            assert!(!has_control(&f), "{f:?}");
        }
        let block = md_code_block(&format!("{HOSTILE}\nsecond"));
        assert!(!block.trim_end().lines().any(has_control), "{block:?}");
        assert_eq!(block.lines().count(), 5, "{block}");
    }

    #[test]
    fn markdown_text_renders_as_typed() {
        assert_eq!(md_escape("a|b <script>"), "a\\|b \\<script\\>");
        assert_eq!(md_escape("&lt; ![x](y) ~~s~~"), "\\&lt; !\\[x\\](y) \\~\\~s\\~\\~");
        assert_eq!(md_escape("one\ntwo"), "one␊two");
    }

    #[test]
    fn code_spans_outgrow_backticks() {
        assert_eq!(md_code_span("volley x"), "`volley x`");
        assert_eq!(md_code_span("a`b"), "``a`b``");
        assert_eq!(
            md_code_span("`<img src=x onerror=alert(1)>`"),
            "`` `<img src=x onerror=alert(1)>` ``"
        );
        assert_eq!(md_code_span("a ``` b"), "````a ``` b````");
        assert_eq!(md_code_span(""), "");
        assert!(md_code_block("a ``` b").starts_with("````text\n"));
        assert!(md_code_block("ab").starts_with("```text\nab\n```"));
    }

    #[test]
    fn xml_is_well_formed() {
        assert_eq!(xml("<a href='x'>&\"</a>"), "&lt;a href=&apos;x&apos;&gt;&amp;&quot;&lt;/a&gt;");
        assert_eq!(xml("a\u{0}b\u{FFFF}"), "a␀b\u{FFFD}");
    }

    #[test]
    fn terminal_safe_reaches_every_string() {
        let mut r = crate::fixture::Spec::default().build();
        r.config.target = Some("http://x/\u{1b}]0;pwned\u{7}".into());
        r.endpoints[0].name = "/\u{1b}[2J".into();
        r.status_codes.insert("2\u{1b}00".into(), 1);
        let clean = terminal_safe(&r).unwrap();
        let json = serde_json::to_string(&clean).unwrap();
        assert!(!json.contains("\\u001b"), "{json}");
        assert_eq!(clean.endpoints[0].name, "/␛[2J");
        assert!(clean.status_codes.contains_key("2␛00"));
        assert_eq!(clean.totals, r.totals);
        assert_eq!(clean.duration_s.to_bits(), r.duration_s.to_bits());
        let untouched = crate::fixture::Spec::default().build();
        assert_eq!(terminal_safe(&untouched), Some(untouched));
        assert_eq!(terminal_text("a\u{1b}b\nc"), "a␛b\nc");
    }

    /// A name that tries everything: a NUL, an ESC sequence that clears the screen, a
    /// newline that starts an HTML block, backticks that close a code span, markup.
    const NAME: &str = "x\u{0}\u{1b}[2J\n<img src=x onerror=alert(1)>`|*a*";

    fn no_raw_control(out: &str, allowed: &[char]) -> bool {
        !out.chars().any(|c| stand_in(c).is_some() && !allowed.contains(&c))
    }

    /// The terminal text without the renderer's own colour codes (`ESC [ digits m`).
    fn without_colours(s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find("\u{1b}[") {
            out.push_str(&rest[..i]);
            let tail = &rest[i + 2..];
            let digits = tail.find(|c: char| !c.is_ascii_digit()).unwrap_or(tail.len());
            if tail[digits..].starts_with('m') {
                rest = &tail[digits + 1..];
            } else {
                out.push('\u{1b}');
                rest = &rest[i + 1..];
            }
        }
        out.push_str(rest);
        out
    }

    /// Whether Markdown has a `<` that could open an HTML tag (followed by a letter, `/`, `!` or
    /// `?`) and is neither backslash-escaped nor inside a fenced block.
    fn raw_html_outside_code(md: &str) -> bool {
        let mut fence: Option<String> = None;
        for line in md.lines() {
            let ticks: String = line.chars().take_while(|&c| c == '`').collect();
            match &fence {
                Some(f) if ticks.len() >= f.len() && line.trim_end() == ticks => fence = None,
                Some(_) => {}
                None if ticks.len() >= 3 => fence = Some(ticks),
                None => {
                    let b = line.as_bytes();
                    let opens = |i: usize| {
                        b.get(i + 1)
                            .is_some_and(|&n| n.is_ascii_alphabetic() || b"/!?".contains(&n))
                    };
                    if (0..b.len())
                        .any(|i| b[i] == b'<' && opens(i) && (i == 0 || b[i - 1] != b'\\'))
                    {
                        return true;
                    }
                }
            }
        }
        false
    }

    fn hostile() -> volley_metrics::RunResult {
        let mut r = crate::fixture::plan_run();
        r.config.target = Some(format!("http://127.0.0.1:1/{NAME}"));
        r.config.label = Some(NAME.into());
        r.config.command_line = vec!["volley".into(), NAME.into()];
        r.endpoints[0].name = NAME.into();
        r.checks[0].name = NAME.into();
        r.checks[0].step = NAME.into();
        r.thresholds[0].expression = format!("p(95)<500{NAME}");
        r.config.scenarios = vec![volley_metrics::ScenarioConfig {
            name: NAME.into(),
            executor: NAME.into(),
            description: NAME.into(),
        }];
        r
    }

    #[test]
    fn hostile_names_are_escaped_in_every_format() {
        let r = hostile();
        for color in [false, true] {
            let t = crate::terminal::render(&r, crate::terminal::Style { color });
            assert!(no_raw_control(&without_colours(&t), &['\n']), "{t:?}");
            assert!(t.contains("x␀␛[2J␊<img"), "{t}");
        }
        let md = crate::markdown::render(&r, crate::markdown::Options::default());
        assert!(no_raw_control(&md, &['\n']), "{md:?}");
        assert!(!raw_html_outside_code(&md), "{md}");
        assert!(md.contains("x␀␛\\[2J␊\\<img src=x onerror=alert(1)\\>\\`\\|\\*a\\*"), "{md}");
        let html = crate::html::render(&r, crate::html::Options::default()).unwrap();
        assert!(no_raw_control(&html, &['\n']), "{html:?}");
        assert!(!html.contains("<img"), "{html}");
        let xml = crate::junit::render(&r);
        assert!(no_raw_control(&xml, &['\n']), "{xml:?}");
        let runs = [
            crate::compare::Run { label: NAME.into(), result: r.clone() },
            crate::compare::Run { label: "b".into(), result: r.clone() },
        ];
        let cmp = crate::compare::markdown(&runs);
        assert!(no_raw_control(&cmp, &['\n']) && !raw_html_outside_code(&cmp), "{cmp}");
        let cmp = crate::compare::html(&runs).unwrap();
        assert!(no_raw_control(&cmp, &['\n']) && !cmp.contains("<img"), "{cmp}");
    }
}
