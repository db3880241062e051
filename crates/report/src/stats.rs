//! The statistics behind `volley compare`'s verdicts: Welch's t-test, a two-proportion z-test
//! and the Kolmogorov–Smirnov distance between two latency histograms.
//!
//! Why per-second values: requests within one run are not independent (they share queues,
//! caches and the same server state), so testing on millions of single requests would call any
//! difference "significant". Each second of a run is one observation of the service's
//! throughput and latency, and the spread between seconds is the run's own noise.

use volley_metrics::histogram::Micros;

/// Mean and sample variance.
pub fn mean_var(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    if xs.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let m = xs.iter().sum::<f64>() / n;
    let v = if xs.len() < 2 {
        0.0
    } else {
        xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)
    };
    (m, v)
}

/// Welch's t-test for a difference in means: (t, degrees of freedom, two-sided p).
/// `None` with fewer than 2 observations on either side.
pub fn welch(a: &[f64], b: &[f64]) -> Option<(f64, f64, f64)> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (ma, va) = mean_var(a);
    let (mb, vb) = mean_var(b);
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let se2 = va / na + vb / nb;
    if se2 <= 0.0 {
        // Both runs perfectly steady: any difference in means is exact.
        return Some(if ma == mb {
            (0.0, na + nb - 2.0, 1.0)
        } else {
            (f64::INFINITY, na + nb - 2.0, 0.0)
        });
    }
    let t = (mb - ma) / se2.sqrt();
    let df = se2.powi(2) / ((va / na).powi(2) / (na - 1.0) + (vb / nb).powi(2) / (nb - 1.0));
    Some((t, df, student_t_two_sided(t, df)))
}

/// Two-sided p-value of Student's t with `df` degrees of freedom.
pub fn student_t_two_sided(t: f64, df: f64) -> f64 {
    if !t.is_finite() {
        return 0.0;
    }
    let x = df / (df + t * t);
    reg_inc_beta(df / 2.0, 0.5, x).clamp(0.0, 1.0)
}

/// Two-proportion z-test (pooled): two-sided p that `fa/na` and `fb/nb` differ by chance.
pub fn two_proportions(fa: u64, na: u64, fb: u64, nb: u64) -> Option<f64> {
    if na == 0 || nb == 0 {
        return None;
    }
    let (na_f, nb_f) = (na as f64, nb as f64);
    let p = (fa + fb) as f64 / (na_f + nb_f);
    let se = (p * (1.0 - p) * (1.0 / na_f + 1.0 / nb_f)).sqrt();
    if se == 0.0 {
        return Some(1.0);
    }
    let z = (fa as f64 / na_f - fb as f64 / nb_f) / se;
    Some(erfc(z.abs() / std::f64::consts::SQRT_2))
}

/// Kolmogorov–Smirnov distance: the largest gap between the two cumulative distributions
/// (0 = identical, 1 = no overlap), evaluated at every bucket boundary either histogram has.
pub fn ks_distance(a: &Micros, b: &Micros) -> f64 {
    if a.is_empty() || b.is_empty() {
        return f64::NAN;
    }
    let mut edges: Vec<u64> =
        a.iter_recorded().chain(b.iter_recorded()).map(|v| v.value_iterated_to()).collect();
    edges.sort_unstable();
    edges.dedup();
    let (la, lb) = (a.len() as f64, b.len() as f64);
    let mut d = 0.0f64;
    for e in edges {
        let fa = a.count_between(0, e) as f64 / la;
        let fb = b.count_between(0, e) as f64 / lb;
        d = d.max((fa - fb).abs());
    }
    d
}

fn ln_gamma(x: f64) -> f64 {
    // Lanczos approximation (g = 7, n = 9).
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + 7.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Regularized incomplete beta I_x(a, b), by its continued fraction (modified Lentz).
fn reg_inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    // The fraction converges fast for x < (a+1)/(a+b+2); use the symmetry otherwise.
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - reg_inc_beta(b, a, 1.0 - x);
    }
    const TINY: f64 = 1e-300;
    let mut f = 1.0;
    let mut c = 1.0;
    let mut d = 0.0;
    for i in 0..400 {
        let m = (i / 2) as f64;
        let num = if i == 0 {
            1.0
        } else if i % 2 == 0 {
            m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m))
        } else {
            -((a + m) * (a + b + m) * x) / ((a + 2.0 * m) * (a + 2.0 * m + 1.0))
        };
        d = 1.0 + num * d;
        if d.abs() < TINY {
            d = TINY;
        }
        d = 1.0 / d;
        c = 1.0 + num / c;
        if c.abs() < TINY {
            c = TINY;
        }
        let cd = c * d;
        f *= cd;
        if (1.0 - cd).abs() < 1e-12 {
            return front * (f - 1.0) / a;
        }
    }
    front * (f - 1.0) / a
}

/// Complementary error function, by the classic exponential-times-polynomial approximation
/// (fractional error below 1.2e-7 everywhere), enough for p-values.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;
    use volley_metrics::histogram;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn t_distribution_matches_tables() {
        // Two-sided p for t = 2.228 with 10 df is 0.05; t = 1.0 with 1 df is 0.5.
        assert!(
            close(student_t_two_sided(2.228, 10.0), 0.05, 5e-4),
            "{}",
            student_t_two_sided(2.228, 10.0)
        );
        assert!(close(student_t_two_sided(1.0, 1.0), 0.5, 1e-6));
        assert!(close(student_t_two_sided(0.0, 5.0), 1.0, 1e-9));
        assert!(student_t_two_sided(20.0, 30.0) < 1e-15);
    }

    #[test]
    fn welch_separates_shifted_samples() {
        let a: Vec<f64> = (0..30).map(|i| 100.0 + (i % 5) as f64).collect();
        let b: Vec<f64> = (0..30).map(|i| 110.0 + (i % 5) as f64).collect();
        let (_, _, p) = welch(&a, &b).unwrap();
        assert!(p < 1e-6, "{p}");
        let c: Vec<f64> = (0..30).map(|i| 100.5 + ((i + 2) % 5) as f64).collect();
        let (_, _, p) = welch(&a, &c).unwrap();
        assert!(p > 0.05, "{p}");
        assert!(welch(&a[..1], &b).is_none());
    }

    #[test]
    fn proportions() {
        assert!(two_proportions(3883, 10_000, 1195, 10_000).unwrap() < 1e-10);
        assert!(two_proportions(50, 10_000, 52, 10_000).unwrap() > 0.5);
        assert!(close(erfc(0.0), 1.0, 1e-7));
        assert!(close(erfc(1.959_964 / std::f64::consts::SQRT_2), 0.05, 1e-6));
    }

    #[test]
    fn ks_of_histograms() {
        let mut a = histogram::new();
        let mut b = histogram::new();
        for v in 1..=1000u64 {
            histogram::record(&mut a, v * 100);
            histogram::record(&mut b, v * 100 + 50_000);
        }
        assert!(close(ks_distance(&a, &a), 0.0, 1e-12));
        let d = ks_distance(&a, &b);
        assert!(close(d, 0.5, 0.01), "{d}");
    }
}
