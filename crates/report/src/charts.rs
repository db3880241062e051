//! Charts as inline SVG, drawn with plotters' SVG backend: time series (requests/s, latency
//! percentiles, VUs, failures, CPU, memory) and the latency percentile spectrum with a
//! logarithmic percentile axis, as HdrHistogram plots it.
//!
//! Public building blocks: [`line_chart`] draws any set of [`Series`]; the `*_series`
//! functions extract series from a result, so comparisons and sweeps can overlay several runs.
//! Text inside the SVG is escaped by plotters; series names may be user strings.

use plotters::prelude::*;
use volley_metrics::histogram::Micros;
use volley_metrics::{RunResult, TimePoint, summary};

use crate::format;

/// Largest number of points drawn per series; longer series are averaged into buckets so a
/// one-hour run stays small and fast to render.
pub const MAX_POINTS: usize = 900;

/// Chart canvas size in SVG user units (the page scales it to its width).
pub const SIZE: (u32, u32) = (640, 300);

/// Distinct colours for series, in order (colour-blind friendly).
pub const PALETTE: [(u8, u8, u8); 8] = [
    (0, 114, 178),
    (213, 94, 0),
    (0, 158, 115),
    (204, 121, 167),
    (230, 159, 0),
    (86, 180, 233),
    (120, 120, 120),
    (240, 228, 66),
];

/// Success green and failure red.
pub const OK: (u8, u8, u8) = (0, 158, 115);
pub const BAD: (u8, u8, u8) = (204, 51, 17);

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub color: (u8, u8, u8),
    pub points: Vec<(f64, f64)>,
    /// Dashed line (a second run in a comparison, a raw vs corrected pair).
    pub dashed: bool,
    /// A dot on every point: for few, discrete points (one per instance count, one per step),
    /// which a line alone would hide (a single point draws no line at all).
    pub markers: bool,
}

impl Series {
    pub fn new(name: impl Into<String>, color: (u8, u8, u8), points: Vec<(f64, f64)>) -> Series {
        Series { name: name.into(), color, points, dashed: false, markers: false }
    }
}

/// How the values of an axis are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Plain numbers (requests/s, VUs, failures).
    Count,
    /// Milliseconds, printed as human durations.
    Ms,
    /// Bytes, printed in SI units.
    Bytes,
    /// Percent (CPU).
    Percent,
    /// Seconds since the start of the run, printed as `30s`, `2m0s`.
    Seconds,
    /// Percentile axis of a spectrum: the value is log10(1 / (1 - q)), printed as `99.9%`.
    Percentile,
}

impl Unit {
    fn label(self, v: f64) -> String {
        match self {
            Unit::Count => {
                if v.abs() >= 1000.0 {
                    format!("{}k", trim(v / 1000.0))
                } else {
                    trim(v)
                }
            }
            Unit::Ms => format::ms(v),
            Unit::Bytes => format::bytes(v),
            Unit::Percent => format!("{}%", trim(v)),
            Unit::Seconds => {
                if v < 60.0 {
                    format!("{}s", trim(v))
                } else {
                    format::seconds(v)
                }
            }
            Unit::Percentile => {
                // Only the decades (0%, 90%, 99%, 99.9% ...) are labelled: in between, the log
                // scale gives unreadable values such as 68.3772%.
                if (v - v.round()).abs() > 1e-6 {
                    return String::new();
                }
                let q = 1.0 - 10f64.powf(-v.round());
                let pct = q * 100.0;
                let s = format!("{pct:.4}");
                let s = s.trim_end_matches('0').trim_end_matches('.');
                format!("{s}%")
            }
        }
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// What to draw.
#[derive(Debug, Clone)]
pub struct Chart {
    pub x_label: String,
    pub y_label: String,
    pub x_unit: Unit,
    pub y_unit: Unit,
    pub series: Vec<Series>,
}

#[derive(Debug, thiserror::Error)]
#[error("could not draw chart: {0}")]
pub struct ChartError(String);

fn err<E: std::fmt::Debug>(e: E) -> ChartError {
    ChartError(format!("{e:?}"))
}

/// Averages consecutive points into at most `max` buckets.
pub fn downsample(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max || max == 0 {
        return points.to_vec();
    }
    let size = points.len().div_ceil(max);
    points
        .chunks(size)
        .map(|c| {
            let n = c.len() as f64;
            (c.iter().map(|p| p.0).sum::<f64>() / n, c.iter().map(|p| p.1).sum::<f64>() / n)
        })
        .collect()
}

/// Draws `chart` as a standalone `<svg>` element (with a `viewBox`, so CSS can scale it).
pub fn line_chart(chart: &Chart) -> Result<String, ChartError> {
    let series: Vec<Series> = chart
        .series
        .iter()
        .map(|s| Series { points: downsample(&s.points, MAX_POINTS), ..s.clone() })
        .collect();
    let all = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64);
    for &(x, y) in all {
        if x.is_finite() && y.is_finite() {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
    }
    if !x0.is_finite() {
        (x0, x1) = (0.0, 1.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    // Headroom above the data keeps the lines clear of the legend in the top-left corner.
    let headroom = if series.len() > 1 { 1.3 } else { 1.08 };
    let y1 = if y1 <= 0.0 { 1.0 } else { y1 * headroom };

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut ctx = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(78)
            .build_cartesian_2d(x0..x1, 0.0..y1)
            .map_err(err)?;
        let (xu, yu) = (chart.x_unit, chart.y_unit);
        let x_fmt = move |v: &f64| xu.label(*v);
        let y_fmt = move |v: &f64| yu.label(*v);
        ctx.configure_mesh()
            .light_line_style(RGBColor(238, 238, 238))
            .bold_line_style(RGBColor(220, 220, 220))
            .x_labels(8)
            .y_labels(6)
            .x_desc(chart.x_label.as_str())
            .y_desc(chart.y_label.as_str())
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 15))
            .draw()
            .map_err(err)?;
        for s in &series {
            let color = RGBColor(s.color.0, s.color.1, s.color.2);
            let style = color.stroke_width(2);
            let pts = s.points.iter().copied().filter(|p| p.0.is_finite() && p.1.is_finite());
            if s.markers {
                ctx.draw_series(pts.clone().map(|p| Circle::new(p, 4, color.filled())))
                    .map_err(err)?;
            }
            let drawn = if s.dashed {
                ctx.draw_series(DashedLineSeries::new(pts, 6, 4, style)).map_err(err)?
            } else {
                ctx.draw_series(LineSeries::new(pts, style)).map_err(err)?
            };
            drawn.label(s.name.as_str()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
            });
        }
        if series.len() > 1 || series.iter().any(|s| !s.name.is_empty()) {
            ctx.configure_series_labels()
                .background_style(WHITE.mix(0.92))
                .border_style(RGBColor(200, 200, 200))
                .label_font(("sans-serif", 15))
                .position(SeriesLabelPosition::UpperLeft)
                .draw()
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A per-second series over the run's full seconds: a final partial second would show as a
/// false drop at the end.
fn per_second(r: &RunResult, f: impl Fn(&TimePoint) -> Option<f64>) -> Vec<(f64, f64)> {
    crate::facts::full_seconds(r).iter().filter_map(|p| f(p).map(|v| (p.t as f64, v))).collect()
}

/// Requests per second, split into succeeded and failed.
pub fn rps_series(r: &RunResult) -> Vec<Series> {
    vec![
        Series::new(
            "ok",
            OK,
            per_second(r, |p| Some((p.requests - p.failures.min(p.requests)) as f64)),
        ),
        Series::new("failed", BAD, per_second(r, |p| Some(p.failures as f64))),
    ]
}

/// Per-second latency p50, p95 and p99 (ms); seconds without a completed request are gaps.
pub fn latency_series(r: &RunResult) -> Vec<Series> {
    vec![
        Series::new("p50", PALETTE[0], per_second(r, |p| p.latency.as_ref().map(|l| l.med))),
        Series::new("p95", PALETTE[1], per_second(r, |p| p.latency.as_ref().map(|l| l.p95))),
        Series::new("p99", PALETTE[3], per_second(r, |p| p.latency.as_ref().map(|l| l.p99))),
    ]
}

/// Active VUs and open connections at the end of each second.
pub fn vus_series(r: &RunResult) -> Vec<Series> {
    vec![
        Series::new("VUs", PALETTE[0], per_second(r, |p| Some(p.vus as f64))),
        Series {
            dashed: true,
            ..Series::new("connections", PALETTE[2], per_second(r, |p| Some(p.connections as f64)))
        },
    ]
}

/// Failures per second: all failures, and of them transport failures; dropped iterations when
/// the run had an open model.
pub fn failure_series(r: &RunResult) -> Vec<Series> {
    let mut v = vec![
        Series::new("failed", BAD, per_second(r, |p| Some(p.failures as f64))),
        Series::new(
            "transport failures",
            PALETTE[4],
            per_second(r, |p| Some(p.transport_failures as f64)),
        ),
    ];
    if r.open_model.is_some() {
        v.push(Series::new("dropped", PALETTE[6], per_second(r, |p| Some(p.dropped as f64))));
    }
    v
}

/// CPU (`cpu = true`, %) or memory (bytes) of every observed process over time; empty when
/// the result has no server observation.
pub fn resource_series(r: &RunResult, cpu: bool) -> Vec<Series> {
    let Some(s) = &r.server else { return Vec::new() };
    let mut out = Vec::new();
    let procs = s.instances.iter().chain(s.balancer.iter()).chain(s.generator.iter());
    for (i, u) in procs.enumerate() {
        let pts: Vec<(f64, f64)> = u
            .samples
            .iter()
            .map(|x| (x.t, if cpu { x.cpu_pct } else { x.mem_bytes as f64 }))
            .collect();
        if !pts.is_empty() {
            out.push(Series::new(u.label.clone(), PALETTE[i % PALETTE.len()], pts));
        }
    }
    out
}

/// The percentile spectrum of a histogram: (log10(1/(1-q)), latency ms) from the median to the
/// largest percentile the sample count supports, as HdrHistogram's plots.
pub fn spectrum_points(h: &Micros) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let max_x = (h.len() as f64).log10().clamp(1.0, 6.0);
    let mut out = Vec::new();
    let mut x = 0.0;
    while x <= max_x + 1e-9 {
        let p = 100.0 * (1.0 - 10f64.powf(-x));
        out.push((x, summary::percentile_ms(h, p)));
        x += 0.05;
    }
    out.push((max_x + 0.25, summary::percentile_ms(h, 100.0)));
    out
}

/// Draws the latency percentile spectrum of one or more histograms.
pub fn spectrum_chart(series: Vec<Series>) -> Result<String, ChartError> {
    line_chart(&Chart {
        x_label: "percentile (log scale)".into(),
        y_label: "latency".into(),
        x_unit: Unit::Percentile,
        y_unit: Unit::Ms,
        series,
    })
}

/// A time chart: seconds on x.
pub fn time_chart(y_label: &str, y_unit: Unit, series: Vec<Series>) -> Result<String, ChartError> {
    line_chart(&Chart {
        x_label: "time".into(),
        y_label: y_label.into(),
        x_unit: Unit::Seconds,
        y_unit,
        series,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::Spec;

    #[test]
    fn chart_has_lines_and_escaped_labels() {
        let r = Spec::default().build();
        let mut s = rps_series(&r);
        s[0].name = "<script>x</script>".into();
        let svg = time_chart("requests/s", Unit::Count, s).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        assert!(svg.contains("viewBox"));
        assert!(svg.contains("<polyline"));
        assert!(!svg.contains("<script>"));
    }

    #[test]
    fn markers_draw_a_dot_per_point() {
        let pts = vec![(1.0, 10.0), (2.0, 19.0), (3.0, 25.0)];
        let plain = line_chart(&Chart {
            x_label: "instances".into(),
            y_label: "req/s".into(),
            x_unit: Unit::Count,
            y_unit: Unit::Count,
            series: vec![Series::new("a", PALETTE[0], pts.clone())],
        })
        .unwrap();
        let dotted = line_chart(&Chart {
            x_label: "instances".into(),
            y_label: "req/s".into(),
            x_unit: Unit::Count,
            y_unit: Unit::Count,
            series: vec![Series { markers: true, ..Series::new("a", PALETTE[0], pts) }],
        })
        .unwrap();
        assert_eq!(plain.matches("<circle").count(), 0);
        assert_eq!(dotted.matches("<circle").count(), 3, "{dotted}");
    }

    #[test]
    fn downsampling_bounds_points() {
        let pts: Vec<(f64, f64)> = (0..3600).map(|i| (i as f64, 1.0)).collect();
        let d = downsample(&pts, MAX_POINTS);
        assert!(d.len() <= MAX_POINTS);
        assert!(d.iter().all(|p| p.1 == 1.0));
    }

    #[test]
    fn percentile_labels() {
        assert_eq!(Unit::Percentile.label(0.0), "0%");
        assert_eq!(Unit::Percentile.label(1.0), "90%");
        assert_eq!(Unit::Percentile.label(3.0), "99.9%");
        assert_eq!(Unit::Seconds.label(90.0), "1m30s");
    }

    #[test]
    fn spectrum_rises() {
        let mut h = volley_metrics::histogram::new();
        for v in 1..=10_000u64 {
            volley_metrics::histogram::record(&mut h, v * 10);
        }
        let pts = spectrum_points(&h);
        assert!(pts.windows(2).all(|w| w[1].1 >= w[0].1));
        assert!((pts[20].1 - 90.0).abs() < 1.0, "{:?}", pts[20]); // x = 1 → p90 = 90 ms
    }
}
