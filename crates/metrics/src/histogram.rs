//! HDR histograms of durations in microseconds, and their serialized form.
//!
//! Every latency volley reports comes out of one of these: 3 significant digits, 1 µs
//! resolution, auto-resizing so that a histogram costs memory only for the range it has seen.

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

/// Microsecond histogram with 3 significant digits.
pub type Micros = Histogram<u64>;

/// A fresh, empty histogram. Allocates; call it at set-up or once per interval, never per sample.
pub fn new() -> Micros {
    Histogram::new(3).expect("3 significant digits is a valid histogram precision")
}

/// An empty histogram with room for values up to `max_us` already allocated (it still grows
/// past it). For histograms created during the run, so their first samples do not allocate.
pub fn sized(max_us: u64) -> Micros {
    let mut h = Histogram::new_with_bounds(1, max_us.max(2), 3)
        .expect("bounds of 1..max with 3 significant digits are valid");
    h.auto(true);
    h
}

/// Records a duration (0 included), saturating on overflow.
#[inline]
pub fn record(h: &mut Micros, micros: u64) {
    // `saturating_record` alone would clamp to the current (initially tiny) range instead of
    // auto-resizing; it is only the fallback when growing fails.
    // 0 is recorded as 0 (a phase that did not happen: k6's `p(95)<0.001` on connecting).
    let v = micros;
    if h.record(v).is_err() {
        h.saturating_record(v);
    }
}

/// Records `n` zeros at once: what `n` calls of [`record`] with 0 would (the phases of
/// requests on a reused connection, counted in bulk).
#[inline]
pub fn record_zeros(h: &mut Micros, n: u64) {
    if n > 0 && h.record_n(0, n).is_err() {
        h.saturating_record_n(0, n);
    }
}

/// Serializes as HdrHistogram's V2 + DEFLATE format, base64 encoded (the format of
/// HdrHistogram's own log files, readable by its Java, Go and Python ports).
pub fn encode(h: &Micros) -> String {
    let mut buf = Vec::new();
    V2DeflateSerializer::new().serialize(h, &mut buf).expect("serializing into a Vec cannot fail");
    base64::engine::general_purpose::STANDARD.encode(buf)
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("histogram is not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("histogram is not a valid HdrHistogram V2 encoding: {0:?}")]
    Hdr(hdrhistogram::serialization::DeserializeError),
}

pub fn decode(s: &str) -> Result<Micros, DecodeError> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(s.trim())?;
    let mut h: Micros = Deserializer::new()
        .deserialize(&mut std::io::Cursor::new(bytes))
        .map_err(DecodeError::Hdr)?;
    h.auto(true);
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_roundtrip() {
        let mut h = new();
        for v in [0, 1, 50_000, 50_100, 1_000_000, 3_600_000_000] {
            record(&mut h, v);
        }
        let mut zeros = new();
        record_zeros(&mut zeros, 0);
        assert_eq!(zeros.len(), 0);
        record_zeros(&mut zeros, 3);
        let mut one_by_one = new();
        for _ in 0..3 {
            record(&mut one_by_one, 0);
        }
        assert_eq!(zeros, one_by_one);
        assert_eq!(encode(&zeros), encode(&one_by_one));
        let back = decode(&encode(&h)).unwrap();
        assert_eq!(back.len(), 6);
        assert_eq!(back.max(), h.max());
        assert_eq!(back.value_at_quantile(0.5), h.value_at_quantile(0.5));
    }
}
