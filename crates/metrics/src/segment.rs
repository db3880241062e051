//! Execution segments: which share of a test one generator runs, with k6's syntax and striping.
//!
//! A segment `A:B` (`0:1/4`, `25%:50%`, `0.5:0.75`; `B` alone means `0:B`) is a slice of the
//! interval [0, 1]; a sequence (`0,1/4,1/2,3/4,1`) lists the boundaries of every generator's
//! segment. k6's striping gives each segment of the sequence a fixed set of positions in every
//! cycle of `lcd` consecutive indices (the least common denominator of the segments' lengths),
//! spread as evenly as possible, so that:
//!
//! - a count (VUs, iterations) scales to the number of indices below it the segment owns, and
//!   the segments' counts add up to the count exactly, whatever the count;
//! - numbered things (VU number g, arrival slot k) belong to exactly one segment, so the union of
//!   the segments' work is the unsegmented run, item by item.
//!
//! The result file records the segment and the sequence ([`crate::RunConfig`]), and
//! `volley merge` uses [`Segment::overlaps`] to refuse shards that ran the same share twice. This
//! module lives in `metrics` because both the engine (which runs a segment) and the merge of
//! results (which reasons about them) need the one parser.

use std::cmp::Ordering;
use std::fmt;

/// Longest cycle the striping accepts (positions computed once per run).
const MAX_LCD: u64 = 1_000_000;

/// Why a segment or a sequence was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    #[error("`{0}` is not a percentage, decimal or fraction (hint: 1/4, 0.25 or 25%)")]
    Value(String),
    #[error("segment `{0}`: its start must be less than its end (hint: 0:1/4, 1/4:1/2)")]
    Empty(String),
    #[error("segment `{0}`: its end can't be more than 1")]
    AboveOne(String),
    #[error(
        "sequence `{0}`: at least 2 points are needed and each must be larger than the one \
         before (hint: 0,1/4,1/2,3/4,1)"
    )]
    Sequence(String),
    #[error(
        "segment `{segment}` is not one of the sequence `{sequence}` (hint: the segment must \
         go from one point of the sequence to the next)"
    )]
    NotInSequence { segment: String, sequence: String },
    #[error(
        "the segments' lengths need a cycle of {0} positions, more than {MAX_LCD} (hint: use \
         simpler fractions, e.g. 1/3 rather than 0.333333)"
    )]
    TooFine(u128),
}

/// A rational number in [0, 1], reduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fraction {
    num: u64,
    den: u64,
}

impl Fraction {
    pub const ZERO: Fraction = Fraction { num: 0, den: 1 };
    pub const ONE: Fraction = Fraction { num: 1, den: 1 };

    fn new(num: u128, den: u128) -> Option<Fraction> {
        if den == 0 {
            return None;
        }
        let g = gcd(num, den);
        let (num, den) = (num / g, den / g);
        Some(Fraction { num: u64::try_from(num).ok()?, den: u64::try_from(den).ok()? })
    }

    pub fn num(self) -> u64 {
        self.num
    }

    pub fn den(self) -> u64 {
        self.den
    }

    fn sub(self, o: Fraction) -> Fraction {
        let (a, b) = (self.num as u128 * o.den as u128, o.num as u128 * self.den as u128);
        Fraction::new(a - b, self.den as u128 * o.den as u128).unwrap_or(Fraction::ZERO)
    }

    /// Parses k6's forms: `25%`, `12.5%`, `0.25`, `1/4`, `1`.
    pub fn parse(s: &str) -> Result<Fraction, SegmentError> {
        let bad = || SegmentError::Value(s.to_string());
        let t = s.trim();
        let (t, scale) = match t.strip_suffix('%') {
            Some(p) => (p.trim(), 100u128),
            None => (t, 1u128),
        };
        let f = if let Some((n, d)) = t.split_once('/') {
            if scale != 1 {
                return Err(bad());
            }
            Fraction::new(int(n).ok_or_else(bad)?, int(d).ok_or_else(bad)?)
        } else {
            let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
            if (whole.is_empty() && frac.is_empty()) || frac.len() > 12 {
                return Err(bad());
            }
            let w = if whole.is_empty() { Some(0) } else { int(whole) };
            let f = if frac.is_empty() { Some(0) } else { int(frac) };
            let (w, f) = (w.ok_or_else(bad)?, f.ok_or_else(bad)?);
            let den = 10u128.pow(frac.len() as u32);
            w.checked_mul(den)
                .and_then(|x| x.checked_add(f))
                .and_then(|n| Fraction::new(n, den * scale))
        };
        f.ok_or_else(bad)
    }
}

/// Digits only (no sign: a segment boundary is never negative).
fn int(s: &str) -> Option<u128> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

impl Ord for Fraction {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.num as u128 * o.den as u128).cmp(&(o.num as u128 * self.den as u128))
    }
}

impl PartialOrd for Fraction {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl fmt::Display for Fraction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

/// The share `(from, to]` of a test one generator runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Segment {
    pub from: Fraction,
    pub to: Fraction,
}

impl Segment {
    pub const FULL: Segment = Segment { from: Fraction::ZERO, to: Fraction::ONE };

    fn new(from: Fraction, to: Fraction, text: &str) -> Result<Segment, SegmentError> {
        if to > Fraction::ONE {
            return Err(SegmentError::AboveOne(text.to_string()));
        }
        if from >= to {
            return Err(SegmentError::Empty(text.to_string()));
        }
        Ok(Segment { from, to })
    }

    /// `A:B`, or `B` alone for `0:B`; empty means the whole test.
    pub fn parse(s: &str) -> Result<Segment, SegmentError> {
        let t = s.trim();
        if t.is_empty() {
            return Ok(Segment::FULL);
        }
        let (from, to) = match t.split_once(':') {
            Some((a, b)) => (Fraction::parse(a)?, Fraction::parse(b)?),
            None => (Fraction::ZERO, Fraction::parse(t)?),
        };
        Segment::new(from, to, t)
    }

    pub fn length(&self) -> Fraction {
        self.to.sub(self.from)
    }

    pub fn is_full(&self) -> bool {
        *self == Segment::FULL
    }

    /// True when the two segments share more than a boundary point.
    pub fn overlaps(&self, o: &Segment) -> bool {
        self.from < o.to && o.from < self.to
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.from, self.to)
    }
}

/// Consecutive segments without gaps, given by their boundaries (`0,1/3,2/3,1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    points: Vec<Fraction>,
}

impl Sequence {
    /// `r1,r2,...,rn` with at least two increasing points in [0, 1].
    pub fn parse(s: &str) -> Result<Sequence, SegmentError> {
        let bad = || SegmentError::Sequence(s.trim().to_string());
        let points = s.split(',').map(Fraction::parse).collect::<Result<Vec<_>, SegmentError>>()?;
        if points.len() < 2 || points.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad());
        }
        if *points.last().unwrap_or(&Fraction::ZERO) > Fraction::ONE {
            return Err(SegmentError::AboveOne(s.trim().to_string()));
        }
        Ok(Sequence { points })
    }

    /// `n` equal segments: `0,1/n,...,1`.
    pub fn equal(n: u64) -> Sequence {
        let n = n.max(1);
        let points = (0..=n).filter_map(|i| Fraction::new(i as u128, n as u128)).collect();
        Sequence { points }
    }

    pub fn segments(&self) -> impl Iterator<Item = Segment> + '_ {
        self.points.windows(2).map(|w| Segment { from: w[0], to: w[1] })
    }

    /// The sequence with the gaps before its first and after its last point filled, so that
    /// it covers [0, 1].
    fn filled(&self) -> Sequence {
        let mut points = self.points.clone();
        if points.first() != Some(&Fraction::ZERO) {
            points.insert(0, Fraction::ZERO);
        }
        if points.last() != Some(&Fraction::ONE) {
            points.push(Fraction::ONE);
        }
        Sequence { points }
    }
}

impl fmt::Display for Sequence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p: Vec<String> = self.points.iter().map(|p| p.to_string()).collect();
        f.write_str(&p.join(","))
    }
}

/// One segment within its (filled) sequence, with the positions it owns in each cycle: what a
/// generator needs to run exactly its share. [`Tuple::full`] is the unsegmented run (every
/// index owned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuple {
    pub segment: Segment,
    /// The sequence as given (`None`: the segment alone, filled around).
    pub sequence: Option<Sequence>,
    index: usize,
    lcd: u64,
    /// Per segment of the filled sequence: the positions in `0..lcd` it owns, ascending.
    owned: Vec<Vec<u64>>,
}

impl Default for Tuple {
    fn default() -> Self {
        Tuple::full()
    }
}

impl Tuple {
    /// The whole test on one generator.
    pub fn full() -> Tuple {
        Tuple { segment: Segment::FULL, sequence: None, index: 0, lcd: 1, owned: vec![vec![0]] }
    }

    /// The segment within the sequence (or, without one, within the sequence that fills the
    /// gaps around it, as k6 does).
    pub fn new(segment: Segment, sequence: Option<Sequence>) -> Result<Tuple, SegmentError> {
        let filled = match &sequence {
            Some(s) => s.filled(),
            None => Sequence { points: vec![segment.from, segment.to] }.filled(),
        };
        let segments: Vec<Segment> = filled.segments().collect();
        let index = segments.iter().position(|s| *s == segment).ok_or_else(|| {
            SegmentError::NotInSequence {
                segment: segment.to_string(),
                sequence: sequence.as_ref().unwrap_or(&filled).to_string(),
            }
        })?;
        let lengths: Vec<Fraction> = segments.iter().map(Segment::length).collect();
        let owned = stripes(&lengths)?;
        let lcd = owned.iter().map(|o| o.len() as u64).sum();
        Ok(Tuple { segment, sequence, index, lcd, owned })
    }

    /// Parses the flags' values (`--execution-segment`, `--execution-segment-sequence`).
    pub fn parse(segment: Option<&str>, sequence: Option<&str>) -> Result<Tuple, SegmentError> {
        let seg = match segment {
            Some(s) => Segment::parse(s)?,
            None => Segment::FULL,
        };
        let seq = match sequence.map(str::trim) {
            Some(s) if !s.is_empty() => Some(Sequence::parse(s)?),
            _ => None,
        };
        Tuple::new(seg, seq)
    }

    /// True when this generator runs the whole test.
    pub fn is_full(&self) -> bool {
        self.owned.len() == 1
    }

    fn mine(&self) -> &[u64] {
        &self.owned[self.index]
    }

    /// This segment's share of `value` things numbered 0..value: how many of them it owns.
    /// The segments' shares of a value add up to it exactly.
    pub fn scale(&self, value: u64) -> u64 {
        scale_with(self.mine(), self.lcd, value)
    }

    /// The number (in the unsegmented run) of the `j`-th thing this segment owns.
    pub fn global(&self, j: u64) -> u64 {
        let mine = self.mine();
        let m = mine.len() as u64;
        (j / m).saturating_mul(self.lcd).saturating_add(mine[(j % m) as usize])
    }

    /// The tuple re-segmented by how the segments share `value` (k6 splits shared iterations
    /// by the segments' shares of the VUs, so a segment without VUs gets no iterations).
    /// `None` when this segment owns none of `value`.
    pub fn resegment(&self, value: u64) -> Option<Tuple> {
        if value == 0 {
            return None;
        }
        if value.is_multiple_of(self.lcd) {
            return Some(self.clone());
        }
        let mut lengths = Vec::new();
        let mut index = None;
        let mut at = 0u64;
        let mut points = vec![Fraction::ZERO];
        for (i, o) in self.owned.iter().enumerate() {
            let n = scale_with(o, self.lcd, value);
            if n == 0 {
                continue;
            }
            if i == self.index {
                index = Some(lengths.len());
            }
            lengths.push(Fraction::new(n as u128, value as u128)?);
            at += n;
            points.push(Fraction::new(at as u128, value as u128)?);
        }
        let index = index?;
        let owned = stripes(&lengths).ok()?;
        let lcd = owned.iter().map(|o| o.len() as u64).sum();
        let segment = Segment { from: points[index], to: points[index + 1] };
        Some(Tuple { segment, sequence: Some(Sequence { points }), index, lcd, owned })
    }

    /// The sequence to record in the result: the one given, or the filled one.
    pub fn sequence_text(&self) -> Option<String> {
        self.sequence.as_ref().map(|s| s.to_string())
    }
}

fn scale_with(mine: &[u64], lcd: u64, value: u64) -> u64 {
    (value / lcd) * mine.len() as u64 + mine.partition_point(|&o| o < value % lcd) as u64
}

/// k6's striping: the segments sorted by length (longest first, ties in order); position i of
/// the cycle goes to the first segment whose next due position (its count taken so far times
/// the cycle over its share) is at or before i. Long segments take theirs first, so every
/// segment's positions are spread as evenly as the others allow.
fn stripes(lengths: &[Fraction]) -> Result<Vec<Vec<u64>>, SegmentError> {
    let mut lcd: u128 = 1;
    for l in lengths {
        let d = l.den as u128;
        lcd = lcd / gcd(lcd, d) * d;
        if lcd > MAX_LCD as u128 {
            return Err(SegmentError::TooFine(lcd));
        }
    }
    let lcd = lcd as u64;
    let shares: Vec<u64> = lengths.iter().map(|l| l.num * (lcd / l.den)).collect();
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by(|&a, &b| shares[b].cmp(&shares[a]));
    let mut owned: Vec<Vec<u64>> = shares.iter().map(|&n| Vec::with_capacity(n as usize)).collect();
    for i in 0..lcd {
        for &s in &order {
            let taken = owned[s].len() as u128;
            if (i as u128) * (shares[s] as u128) >= taken * lcd as u128 && taken < shares[s] as u128
            {
                owned[s].push(i);
                break;
            }
        }
    }
    Ok(owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> Fraction {
        Fraction::parse(s).unwrap()
    }

    #[test]
    fn values_parse_as_k6_writes_them() {
        assert_eq!(f("1/4"), f("0.25"));
        assert_eq!(f("25%"), f("2/8"));
        assert_eq!(f("12.5%"), f("1/8"));
        assert_eq!(f("1"), Fraction::ONE);
        assert_eq!(f(".5").to_string(), "1/2");
        assert_eq!(f("0").to_string(), "0");
        for bad in ["", "-1/4", "a", "1/0", "1/2%", "1e3", "0.5.5", "%"] {
            assert!(Fraction::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Segment::parse("1/4:2/4").unwrap().to_string(), "1/4:1/2");
        assert_eq!(Segment::parse("50%").unwrap().to_string(), "0:1/2");
        assert_eq!(Segment::parse("2/4:75%").unwrap().to_string(), "1/2:3/4");
        assert_eq!(Segment::parse("").unwrap(), Segment::FULL);
        assert!(matches!(Segment::parse("1/2:1/4"), Err(SegmentError::Empty(_))));
        assert!(matches!(Segment::parse("1/2:1/2"), Err(SegmentError::Empty(_))));
        assert!(matches!(Segment::parse("0:5/4"), Err(SegmentError::AboveOne(_))));
        assert!(Sequence::parse("0,1/2,1/2,1").is_err());
        assert!(Sequence::parse("0").is_err());
        assert_eq!(Sequence::parse("0, 1/3 ,2/3,1").unwrap().to_string(), "0,1/3,2/3,1");
        let e = Tuple::parse(Some("0:1/3"), Some("0,1/2,1")).unwrap_err();
        assert!(matches!(e, SegmentError::NotInSequence { .. }), "{e}");
    }

    #[test]
    fn overlap_is_more_than_a_shared_boundary() {
        let s = |x| Segment::parse(x).unwrap();
        assert!(!s("0:1/2").overlaps(&s("1/2:1")));
        assert!(s("0:1/2").overlaps(&s("1/4:3/4")));
        assert!(s("0:1").overlaps(&s("1/3:2/3")));
    }

    /// k6's own documented example: 0:1/2, 1/2:3/4, 3/4:1 stripe as 0 2 4 6 / 1 5 9 / 3 7 11.
    #[test]
    fn striping_matches_k6s_example() {
        let seq = Sequence::parse("0,1/2,3/4,1").unwrap();
        let t = |s| Tuple::new(Segment::parse(s).unwrap(), Some(seq.clone())).unwrap();
        let firsts = |t: &Tuple| (0..3).map(|j| t.global(j)).collect::<Vec<_>>();
        assert_eq!(firsts(&t("0:1/2")), [0, 2, 4]);
        assert_eq!(firsts(&t("1/2:3/4")), [1, 5, 9]);
        assert_eq!(firsts(&t("3/4:1")), [3, 7, 11]);
        // Its table of scaled values, 1 to 12.
        let scaled = |t: &Tuple| (1..=12).map(|v| t.scale(v)).collect::<Vec<_>>();
        assert_eq!(scaled(&t("0:1/2")), [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]);
        assert_eq!(scaled(&t("1/2:3/4")), [0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3]);
        assert_eq!(scaled(&t("3/4:1")), [0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3]);
    }

    #[test]
    fn every_index_has_one_owner_and_shares_add_up() {
        let seqs = ["0,1", "0,1/3,2/3,1", "0,1/2,3/4,1", "0,0.1,0.35,1", "0,1/7,2/7,1/2,1"];
        let mut all: Vec<String> = seqs.iter().map(|s| s.to_string()).collect();
        all.extend((1..=8).map(|n| Sequence::equal(n).to_string()));
        for seq in &all {
            let seq = Sequence::parse(seq).unwrap();
            let tuples: Vec<Tuple> =
                seq.segments().map(|s| Tuple::new(s, Some(seq.clone())).unwrap()).collect();
            for v in [0u64, 1, 2, 3, 5, 7, 10, 99, 1000, 1001] {
                assert_eq!(tuples.iter().map(|t| t.scale(v)).sum::<u64>(), v, "{seq} {v}");
                let mut seen: Vec<u64> =
                    tuples.iter().flat_map(|t| (0..t.scale(v)).map(|j| t.global(j))).collect();
                seen.sort_unstable();
                assert_eq!(seen, (0..v).collect::<Vec<_>>(), "{seq} {v}");
            }
            // Re-segmented by a value, shares of another value still add up.
            for by in [1u64, 3, 7, 8, 100] {
                let sum: u64 =
                    tuples.iter().filter_map(|t| t.resegment(by)).map(|r| r.scale(100)).sum();
                assert_eq!(sum, 100, "{seq} by {by}");
            }
        }
    }

    #[test]
    fn a_segment_alone_is_filled_around() {
        let t = Tuple::parse(Some("1/4:1/2"), None).unwrap();
        assert!(!t.is_full());
        // Filled as 0:1/4, 1/4:1/2, 1/2:1 (k6's default).
        assert_eq!(t.scale(4), 1);
        assert_eq!(t.scale(400), 100);
        assert!(Tuple::parse(None, None).unwrap().is_full());
        assert!(Tuple::parse(Some("0:1"), None).unwrap().is_full());
        assert_eq!(Tuple::full().scale(17), 17);
        assert_eq!(Tuple::full().global(17), 17);
        assert!(matches!(Tuple::parse(Some("0:0.3333333"), None), Err(SegmentError::TooFine(_))));
    }
}
