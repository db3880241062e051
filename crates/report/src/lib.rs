//! Reports: pure functions from a result file to text (terminal, Markdown, HTML, CSV, JUnit)
//! and comparisons of several results. Depends on `volley-metrics` only: never on the engine,
//! so a result from another machine renders the same.

pub mod terminal;
