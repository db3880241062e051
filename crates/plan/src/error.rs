//! Plan errors: every problem found in a plan, each with its position and a hint.
//!
//! Validation never stops at the first problem (users fix a plan in one pass), so the loader
//! collects [`PlanError`]s and returns them all as one [`PlanErrors`].

use std::fmt;

/// One problem in a plan, at `file:line:col` (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: error: {}", self.file, self.line, self.col, self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// All the problems found in one plan, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PlanErrors {
    pub errors: Vec<PlanError>,
}

impl fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl PlanErrors {
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}

/// The closest candidate to a misspelt `word`, if one is close enough to be what was meant.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count().div_ceil(3)).max(2);
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance with adjacent transpositions (optimal string alignment).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let keys = ["think_time", "timeout", "headers"];
        assert_eq!(did_you_mean("thinktime", keys), Some("think_time"));
        assert_eq!(did_you_mean("think_tiem", keys), Some("think_time"));
        assert_eq!(did_you_mean("header", keys), Some("headers"));
        assert_eq!(did_you_mean("zzz", keys), None);
    }

    #[test]
    fn display_one_per_line() {
        let e = PlanErrors {
            errors: vec![
                PlanError {
                    file: "p.yaml".into(),
                    line: 3,
                    col: 5,
                    message: "bad".into(),
                    hint: Some("fix".into()),
                },
                PlanError {
                    file: "p.yaml".into(),
                    line: 4,
                    col: 1,
                    message: "worse".into(),
                    hint: None,
                },
            ],
        };
        assert_eq!(e.to_string(), "p.yaml:3:5: error: bad\n  hint: fix\np.yaml:4:1: error: worse");
    }
}
