//! The flags that make a run one shard of a distributed test: `--execution-segment`,
//! `--execution-segment-sequence` (k6's syntax and semantics, parsed by
//! `volley_metrics::segment`), `--execution-segment-index` (the I-th segment of the sequence,
//! for a pod that knows only its index) and `--start-at` (the shared wall-clock start).

use std::time::{Duration, SystemTime};

use volley_metrics::segment::{Sequence, Tuple};

use crate::outcome::usage;

/// How far ahead `--start-at` may be: a later time is taken for a mistake.
const AHEAD: Duration = Duration::from_secs(24 * 3600);
/// How far in the past `--start-at` may be (a shard that starts late runs at once, with a
/// warning); more than this is taken for a mistake.
const BEHIND: Duration = Duration::from_secs(3600);

#[derive(clap::Args, Debug, Default, Clone)]
pub struct SegmentArgs {
    /// Run only this share of the test (k6's syntax: `0:1/4`, `1/4:2/4`, `25%:50%`).
    #[arg(long = "execution-segment", value_name = "A:B")]
    pub execution_segment: Option<String>,
    /// The segments of every shard (`0,1/4,1/2,3/4,1`), so that each one's share is striped
    /// exactly as the others expect.
    #[arg(long = "execution-segment-sequence", value_name = "R1,R2,...")]
    pub execution_segment_sequence: Option<String>,
    /// Run the I-th segment of `--execution-segment-sequence` (0 is the first): what a pod of
    /// an Indexed Job passes as `$(JOB_COMPLETION_INDEX)`.
    #[arg(
        long = "execution-segment-index",
        value_name = "I",
        conflicts_with = "execution_segment"
    )]
    pub execution_segment_index: Option<String>,
    /// Wait until this UTC time (RFC 3339, `2026-12-02T03:00:00Z`) before starting: the
    /// shared start of the shards.
    #[arg(long = "start-at", value_name = "RFC3339")]
    pub start_at: Option<String>,
}

impl SegmentArgs {
    /// The segment to run (the whole test without the flags); a bad value is a usage error.
    pub fn tuple(&self) -> anyhow::Result<Tuple> {
        if let Some(index) = &self.execution_segment_index {
            return self.indexed(index);
        }
        Tuple::parse(self.execution_segment.as_deref(), self.execution_segment_sequence.as_deref())
            .map_err(|e| usage(format!("--execution-segment: {e}")))
    }

    /// `--execution-segment-index I`: the I-th segment of the sequence.
    fn indexed(&self, index: &str) -> anyhow::Result<Tuple> {
        let Some(text) = &self.execution_segment_sequence else {
            return Err(usage(
                "--execution-segment-index needs --execution-segment-sequence (hint: \
                 --execution-segment-sequence 0,1/4,1/2,3/4,1 --execution-segment-index 2)",
            ));
        };
        let sequence = Sequence::parse(text)
            .map_err(|e| usage(format!("--execution-segment-sequence: {e}")))?;
        let count = sequence.segments().count();
        let i: usize = index.trim().parse().map_err(|_| {
            usage(format!(
                "--execution-segment-index `{index}` is not a number (hint: 0 to {}; in a pod, \
                 set the JOB_COMPLETION_INDEX variable in the container's env)",
                count - 1
            ))
        })?;
        let segment = sequence.segments().nth(i).ok_or_else(|| {
            usage(format!(
                "--execution-segment-index {i}: the sequence `{text}` has {count} segments \
                 (hint: 0 to {})",
                count - 1
            ))
        })?;
        Tuple::new(segment, Some(sequence)).map_err(|e| usage(format!("--execution-segment: {e}")))
    }

    /// The start time, checked against `now`.
    pub fn start_at(&self, now: SystemTime) -> anyhow::Result<Option<SystemTime>> {
        let Some(text) = &self.start_at else { return Ok(None) };
        let at = humantime::parse_rfc3339_weak(text.trim()).map_err(|e| {
            usage(format!(
                "--start-at `{text}`: {e} (hint: a UTC time such as 2026-12-02T03:00:00Z, e.g. \
                 from `date -u -d '+1 min' +%Y-%m-%dT%H:%M:%SZ`)"
            ))
        })?;
        if at.duration_since(now).is_ok_and(|ahead| ahead > AHEAD) {
            return Err(usage(format!(
                "--start-at `{text}` is more than 24 hours ahead (hint: the time is UTC; check \
                 the date)"
            )));
        }
        if let Ok(late) = now.duration_since(at) {
            if late > BEHIND {
                return Err(usage(format!(
                    "--start-at `{text}` was more than an hour ago (hint: the time is UTC; check \
                     the date)"
                )));
            }
            if late > Duration::from_secs(1) {
                eprintln!(
                    "warning: --start-at `{text}` passed {}s ago: starting now, out of step \
                     with the other shards",
                    late.as_secs()
                );
            }
        }
        Ok(Some(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(seg: Option<&str>, seq: Option<&str>, at: Option<&str>) -> SegmentArgs {
        SegmentArgs {
            execution_segment: seg.map(Into::into),
            execution_segment_sequence: seq.map(Into::into),
            execution_segment_index: None,
            start_at: at.map(Into::into),
        }
    }

    #[test]
    fn an_index_picks_the_segment_of_the_sequence() {
        let is_usage = |e: anyhow::Error| e.chain().any(|c| c.is::<crate::outcome::Usage>());
        let at = |i: &str, seq: Option<&str>| SegmentArgs {
            execution_segment_index: Some(i.into()),
            ..args(None, seq, None)
        };
        let seq = Some("0,1/4,1/2,3/4,1");
        let t = at("2", seq).tuple().unwrap();
        assert_eq!(t.segment.to_string(), "1/2:3/4");
        assert_eq!(t, args(Some("1/2:3/4"), seq, None).tuple().unwrap());
        assert_eq!(at("0", seq).tuple().unwrap().segment.to_string(), "0:1/4");
        for bad in [at("4", seq), at("$(JOB_COMPLETION_INDEX)", seq), at("-1", seq), at("0", None)]
        {
            let e = bad.tuple().unwrap_err();
            assert!(is_usage(e), "{bad:?}");
        }
        let e = at("4", seq).tuple().unwrap_err().to_string();
        assert!(e.contains("has 4 segments (hint: 0 to 3)"), "{e}");
    }

    #[test]
    fn segments_and_start_times_are_checked() {
        let is_usage = |e: anyhow::Error| e.chain().any(|c| c.is::<crate::outcome::Usage>());
        assert!(args(None, None, None).tuple().unwrap().is_full());
        let t = args(Some("1/4:2/4"), Some("0,1/4,1/2,3/4,1"), None).tuple().unwrap();
        assert_eq!(t.scale(8), 2);
        assert!(is_usage(args(Some("1/2:1/4"), None, None).tuple().unwrap_err()));
        assert!(is_usage(args(Some("0:1/3"), Some("0,1/2,1"), None).tuple().unwrap_err()));
        let now = humantime::parse_rfc3339("2026-12-02T02:00:00Z").unwrap();
        let at = |s| args(None, None, Some(s)).start_at(now);
        assert_eq!(at("2026-12-02T02:01:00Z").unwrap(), Some(now + Duration::from_secs(60)));
        assert!(at("2026-12-02T01:59:30Z").unwrap().is_some());
        assert!(is_usage(at("2026-12-04T02:00:00Z").unwrap_err()));
        assert!(is_usage(at("2026-12-01T02:00:00Z").unwrap_err()));
        assert!(is_usage(at("tomorrow").unwrap_err()));
        assert_eq!(args(None, None, None).start_at(now).unwrap(), None);
    }
}
