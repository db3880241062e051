//! Human units for every number a report prints: durations (µs/ms/s/m/h), bytes (kB/MB, SI
//! like k6), counts with thousands separators, rates and percentages.
//!
//! One place decides how a figure looks, so the terminal, Markdown and HTML agree.

/// A duration given in milliseconds, with 3 significant figures in the unit that fits:
/// `850µs`, `12.3ms`, `223ms`, `1.52s`, `1m0s`, `1h2m`.
pub fn ms(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let v = v.max(0.0);
    if v == 0.0 {
        return "0s".into();
    }
    if v < 1.0 {
        let us = v * 1000.0;
        if us < 10.0 { format!("{us:.2}µs") } else { format!("{us:.0}µs") }
    } else if v < 10.0 {
        format!("{v:.2}ms")
    } else if v < 100.0 {
        format!("{v:.1}ms")
    } else if v < 1000.0 {
        format!("{v:.0}ms")
    } else if v < 60_000.0 {
        let s = v / 1000.0;
        if s < 10.0 { format!("{s:.2}s") } else { format!("{s:.1}s") }
    } else {
        seconds(v / 1000.0)
    }
}

/// A wall-clock span in seconds: `4.75s`, `2m11s`, `1h0m`.
pub fn seconds(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "n/a".into();
    }
    if s > 0.0 && s < 1.0 {
        return ms(s * 1000.0);
    }
    if s < 60.0 {
        return if s < 10.0 { format!("{s:.2}s") } else { format!("{s:.1}s") };
    }
    let total = s.round() as u64;
    let (h, m, sec) = (total / 3600, (total % 3600) / 60, total % 60);
    if h > 0 { format!("{h}h{m}m") } else { format!("{m}m{sec}s") }
}

/// CPU usage (100 = one core): `43%`.
pub fn cpu(pct: f64) -> String {
    if !pct.is_finite() {
        return "n/a".into();
    }
    // Sums of nothing are -0.0, which would print as "-0%".
    format!("{:.0}%", if pct == 0.0 { 0.0 } else { pct })
}

/// Bytes in SI units as k6 prints them: `568 B`, `7.6 kB`, `994 kB`, `1.0 MB`.
pub fn bytes(n: f64) -> String {
    let n = if n == 0.0 { 0.0 } else { n };
    if !n.is_finite() || n < 0.0 {
        return "n/a".into();
    }
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if n < 1000.0 {
        return format!("{n:.0} B");
    }
    let mut v = n / 1000.0;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    if v < 10.0 { format!("{v:.1} {}", UNITS[unit]) } else { format!("{v:.0} {}", UNITS[unit]) }
}

/// A byte rate: `7.6 kB/s`.
pub fn byte_rate(per_s: f64) -> String {
    format!("{}/s", bytes(per_s))
}

/// An integer with thousands separators: `10,000`.
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate per second with precision that fits its size: `2.87`, `65.8`, `658`, `12,431`.
pub fn rate(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        count(v.round() as u64)
    }
}

/// A fraction as a percentage with two decimals: `0.995` → `99.50%`.
pub fn pct(frac: f64) -> String {
    if !frac.is_finite() {
        return "n/a".into();
    }
    format!("{:.2}%", frac * 100.0)
}

/// `part / whole` as a percentage, `0.00%` when `whole` is 0.
pub fn pct_of(part: u64, whole: u64) -> String {
    pct(if whole == 0 { 0.0 } else { part as f64 / whole as f64 })
}

/// A signed relative change: `+31%`, `-4.2%`, `0%`.
pub fn delta_pct(from: f64, to: f64) -> String {
    if from == 0.0 {
        return if to == 0.0 { "0%".into() } else { "n/a".into() };
    }
    let d = (to - from) / from.abs() * 100.0;
    if d.abs() < 0.05 {
        "0%".into()
    } else if d.abs() < 10.0 {
        format!("{d:+.1}%")
    } else {
        format!("{d:+.0}%")
    }
}

/// The reason phrase of common HTTP status codes (`500` → `Internal Server Error`).
pub fn status_reason(code: &str) -> &'static str {
    match code {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted",
        "204" => "No Content",
        "301" => "Moved Permanently",
        "302" => "Found",
        "304" => "Not Modified",
        "307" => "Temporary Redirect",
        "308" => "Permanent Redirect",
        "400" => "Bad Request",
        "401" => "Unauthorized",
        "403" => "Forbidden",
        "404" => "Not Found",
        "405" => "Method Not Allowed",
        "408" => "Request Timeout",
        "409" => "Conflict",
        "413" => "Content Too Large",
        "422" => "Unprocessable Content",
        "429" => "Too Many Requests",
        "500" => "Internal Server Error",
        "501" => "Not Implemented",
        "502" => "Bad Gateway",
        "503" => "Service Unavailable",
        "504" => "Gateway Timeout",
        _ => "",
    }
}

/// What an unexpected status usually means, for the failures table.
pub fn status_meaning(code: &str) -> &'static str {
    match code {
        "429" => "the server is rate-limiting the client",
        "408" => "the server timed out waiting for the request",
        "500" => "the server failed while handling the request",
        "502" => "a proxy or balancer got no valid answer from the upstream",
        "503" => "the server is overloaded or down",
        "504" => "a proxy or balancer timed out waiting for the upstream",
        c if c.starts_with('4') => "the server rejected the request (client error)",
        c if c.starts_with('5') => "the server failed to handle the request",
        _ => "the status is not an expected one (2xx or 3xx)",
    }
}

/// `500 Internal Server Error`, or just the code when its phrase is not known.
pub fn status_label(code: &str) -> String {
    match status_reason(code) {
        "" => code.to_string(),
        r => format!("{code} {r}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_their_unit() {
        assert_eq!(ms(0.85), "850µs");
        assert_eq!(ms(0.0042), "4.20µs");
        assert_eq!(ms(1.234), "1.23ms");
        assert_eq!(ms(12.34), "12.3ms");
        assert_eq!(ms(223.4), "223ms");
        assert_eq!(ms(1520.0), "1.52s");
        assert_eq!(ms(16_300.0), "16.3s");
        assert_eq!(ms(60_000.0), "1m0s");
        assert_eq!(ms(131_500.0), "2m12s");
        assert_eq!(ms(3_720_000.0), "1h2m");
        assert_eq!(ms(0.0), "0s");
        assert_eq!(seconds(0.0025), "2.50ms");
        assert_eq!(seconds(0.0), "0.00s");
        assert_eq!(cpu(-0.0), "0%");
        assert_eq!(bytes(-0.0), "0 B");
    }

    #[test]
    fn bytes_are_si() {
        assert_eq!(bytes(568.0), "568 B");
        assert_eq!(bytes(7_600.0), "7.6 kB");
        assert_eq!(bytes(994_000.0), "994 kB");
        assert_eq!(bytes(1_000_000.0), "1.0 MB");
        assert_eq!(bytes(103_000_000.0), "103 MB");
        assert_eq!(byte_rate(7_600.0), "7.6 kB/s");
    }

    #[test]
    fn counts_rates_percentages() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(10_000), "10,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(rate(2.874171), "2.87");
        assert_eq!(rate(658.21), "658");
        assert_eq!(rate(65.821), "65.8");
        assert_eq!(rate(12_431.4), "12,431");
        assert_eq!(pct(0.995), "99.50%");
        assert_eq!(pct_of(1, 0), "0.00%");
        assert_eq!(delta_pct(2104.0, 2758.0), "+31%");
        assert_eq!(delta_pct(100.0, 95.8), "-4.2%");
        assert_eq!(status_label("502"), "502 Bad Gateway");
        assert_eq!(status_label("599"), "599");
    }
}
