//! A table of already formatted cells, rendered as aligned text (terminal), as Markdown, or
//! handed to an HTML template (it serializes to `{headers, align, rows, footer}`).
//!
//! Reports build tables once and render them in every format, so the terminal, Markdown and
//! HTML show the same columns. Public so that other reports (`volley scale`) reuse it.

use serde::Serialize;

pub use crate::escape::md_escape;

/// Column alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Align {
    Left,
    Right,
}

/// Rows of text cells under a header. `footer` is a summary row (Locust's "Aggregated").
#[derive(Debug, Clone, Default, Serialize)]
pub struct Table {
    pub headers: Vec<String>,
    pub align: Vec<Align>,
    pub rows: Vec<Vec<String>>,
    pub footer: Option<Vec<String>>,
}

impl Table {
    /// A table whose first column is left-aligned and the others right-aligned (numbers).
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Table {
        let headers: Vec<String> = headers.into_iter().map(Into::into).collect();
        let align =
            (0..headers.len()).map(|i| if i == 0 { Align::Left } else { Align::Right }).collect();
        Table { headers, align, rows: Vec::new(), footer: None }
    }

    /// Sets the alignment of column `i`.
    pub fn align(mut self, i: usize, a: Align) -> Table {
        if let Some(slot) = self.align.get_mut(i) {
            *slot = a;
        }
        self
    }

    /// Appends a row; missing cells are empty, extra cells are dropped.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        let row = self.fit(cells);
        self.rows.push(row);
    }

    /// Sets the summary row.
    pub fn footer<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.footer = Some(self.fit(cells));
    }

    fn fit<S: Into<String>>(&self, cells: impl IntoIterator<Item = S>) -> Vec<String> {
        let mut row: Vec<String> =
            cells.into_iter().map(Into::into).take(self.headers.len()).collect();
        row.resize(self.headers.len(), String::new());
        row
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.footer.is_none()
    }

    fn widths(&self) -> Vec<usize> {
        let mut w: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in self.rows.iter().chain(self.footer.iter()) {
            for (i, c) in row.iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        w
    }

    /// Aligned plain text with two spaces between columns, each line prefixed by `indent`.
    /// Cells go through [`crate::escape::terminal`].
    pub fn to_text(&self, indent: &str) -> String {
        let visible = |cells: &[String]| -> Vec<String> {
            cells.iter().map(|c| crate::escape::terminal(c).into_owned()).collect()
        };
        let clean = Table {
            headers: visible(&self.headers),
            align: self.align.clone(),
            rows: self.rows.iter().map(|r| visible(r)).collect(),
            footer: self.footer.as_deref().map(visible),
        };
        clean.text_lines(indent)
    }

    fn text_lines(&self, indent: &str) -> String {
        let w = self.widths();
        let line = |cells: &[String]| {
            let mut s = String::from(indent);
            for (i, c) in cells.iter().enumerate() {
                if i > 0 {
                    s.push_str("  ");
                }
                let pad = w[i] - c.chars().count();
                let last = i + 1 == cells.len();
                match self.align[i] {
                    Align::Left if last => s.push_str(c),
                    Align::Left => {
                        s.push_str(c);
                        s.extend(std::iter::repeat_n(' ', pad));
                    }
                    Align::Right => {
                        s.extend(std::iter::repeat_n(' ', pad));
                        s.push_str(c);
                    }
                }
            }
            s.push('\n');
            s
        };
        let mut out = line(&self.headers);
        for r in &self.rows {
            out.push_str(&line(r));
        }
        if let Some(f) = &self.footer {
            out.push_str(&line(f));
        }
        out
    }

    /// A GitHub-flavoured Markdown table. Cells are escaped with [`md_escape`]; the footer
    /// row is bold.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let line = |cells: &[String], bold: bool| {
            let mut s = String::from("|");
            for c in cells {
                let c = md_escape(c);
                if bold && !c.is_empty() {
                    s.push_str(&format!(" **{c}** |"));
                } else {
                    s.push_str(&format!(" {c} |"));
                }
            }
            s.push('\n');
            s
        };
        out.push_str(&line(&self.headers, false));
        out.push('|');
        for a in &self.align {
            out.push_str(match a {
                Align::Left => ":---|",
                Align::Right => "---:|",
            });
        }
        out.push('\n');
        for r in &self.rows {
            out.push_str(&line(r, false));
        }
        if let Some(f) = &self.footer {
            out.push_str(&line(f, true));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new(["Name", "# reqs"]);
        t.row(["/", "47"]);
        t.row(["/predict", "175"]);
        t.footer(["Aggregated", "222"]);
        t
    }

    #[test]
    fn text_is_aligned() {
        assert_eq!(
            sample().to_text("  "),
            "  Name        # reqs\n  /               47\n  /predict       175\n  Aggregated     222\n"
        );
    }

    #[test]
    fn markdown_escapes_cells() {
        let mut t = Table::new(["Name", "n"]);
        t.row(["a|b <script>", "1"]);
        let md = t.to_markdown();
        assert!(md.contains("a\\|b \\<script\\>"), "{md}");
        assert!(md.starts_with("| Name | n |\n|:---|---:|\n"), "{md}");
        let md = sample().to_markdown();
        assert!(md.contains("| **Aggregated** | **222** |"), "{md}");
    }

    #[test]
    fn rows_are_fitted_to_the_header() {
        let mut t = Table::new(["a", "b"]);
        t.row(["1"]);
        t.row(["1", "2", "3"]);
        assert_eq!(
            t.rows,
            vec![vec!["1".to_string(), String::new()], vec!["1".into(), "2".into()]]
        );
    }
}
