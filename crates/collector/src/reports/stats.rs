//! The statistics behind the reports, each a small pure function checked against hand-computed
//! cases in the tests below.

use serde::Serialize;
use statrs::distribution::{ChiSquared, ContinuousCDF, Normal, StudentsT};

/// A proportion with its 95% Wilson score interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Proportion {
    /// successes / n
    pub value: f64,
    /// Lower end of the 95% interval.
    pub low: f64,
    /// Upper end of the 95% interval.
    pub high: f64,
    /// Sample size.
    pub n: u64,
}

/// z for a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// The 95% Wilson score interval of `successes` out of `n`; `None` when `n` is 0.
pub fn wilson(successes: u64, n: u64) -> Option<Proportion> {
    if n == 0 {
        return None;
    }
    let (s, n_f) = (successes as f64, n as f64);
    let p = s / n_f;
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * n_f)) / (1.0 + z2 / n_f);
    let half = Z95 / (1.0 + z2 / n_f) * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt();
    Some(Proportion {
        value: p,
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
        n,
    })
}

/// The result of comparing two groups.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Comparison {
    /// Second group minus first.
    pub difference: f64,
    /// The test statistic (z or t).
    pub statistic: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// Degrees of freedom (Welch), when the test has them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub degrees_of_freedom: Option<f64>,
}

/// Two-proportion z-test with the pooled standard error: does s2/n2 differ from s1/n1?
/// `None` when a group is empty or both proportions are 0 or 1 (no variance).
pub fn two_proportion_z(s1: u64, n1: u64, s2: u64, n2: u64) -> Option<Comparison> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let (p1, p2) = (s1 as f64 / n1 as f64, s2 as f64 / n2 as f64);
    let pooled = (s1 + s2) as f64 / (n1 + n2) as f64;
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 as f64 + 1.0 / n2 as f64)).sqrt();
    if se == 0.0 {
        return None;
    }
    let z = (p2 - p1) / se;
    let normal = Normal::standard();
    Some(Comparison {
        difference: p2 - p1,
        statistic: z,
        p_value: 2.0 * (1.0 - normal.cdf(z.abs())),
        degrees_of_freedom: None,
    })
}

/// Mean, sample variance and count of a sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Mean.
    pub mean: f64,
    /// Sample variance (n - 1).
    pub variance: f64,
    /// Count.
    pub n: u64,
}

/// Mean and sample variance; `None` for an empty sample.
pub fn summary(values: &[f64]) -> Option<Summary> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    Some(Summary {
        mean,
        variance,
        n: values.len() as u64,
    })
}

/// The 95% t interval of a mean: (low, high); `None` below two values.
pub fn mean_interval(s: &Summary) -> Option<(f64, f64)> {
    if s.n < 2 {
        return None;
    }
    let t = StudentsT::new(0.0, 1.0, (s.n - 1) as f64).ok()?.inverse_cdf(0.975);
    let half = t * (s.variance / s.n as f64).sqrt();
    Some((s.mean - half, s.mean + half))
}

/// Welch's t-test: does the mean of `b` differ from the mean of `a`? `None` below two values in
/// a group or with no variance in either.
pub fn welch_t(a: &Summary, b: &Summary) -> Option<Comparison> {
    if a.n < 2 || b.n < 2 {
        return None;
    }
    let (va, vb) = (a.variance / a.n as f64, b.variance / b.n as f64);
    if va + vb == 0.0 {
        return None;
    }
    let t = (b.mean - a.mean) / (va + vb).sqrt();
    let df = (va + vb).powi(2) / (va.powi(2) / (a.n - 1) as f64 + vb.powi(2) / (b.n - 1) as f64);
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    Some(Comparison {
        difference: b.mean - a.mean,
        statistic: t,
        p_value: 2.0 * (1.0 - dist.cdf(t.abs())),
        degrees_of_freedom: Some(df),
    })
}

/// A chi-square test's result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ChiSquare {
    /// The statistic.
    pub statistic: f64,
    /// Degrees of freedom.
    pub degrees_of_freedom: f64,
    /// P(χ² ≥ statistic).
    pub p_value: f64,
}

fn chi_square_tail(statistic: f64, df: f64) -> Option<f64> {
    if df <= 0.0 {
        return None;
    }
    Some(1.0 - ChiSquared::new(df).ok()?.cdf(statistic))
}

/// Goodness of fit of `observed` counts to `weights` (normalised to sum 1): the sample ratio
/// mismatch check. Arms of weight 0 must have no observations and do not count as categories.
/// `None` with fewer than two weighted categories or no observations.
pub fn chi_square_fit(observed: &[u64], weights: &[f64]) -> Option<ChiSquare> {
    let total: u64 = observed.iter().sum();
    let weight_sum: f64 = weights.iter().sum();
    if total == 0 || observed.len() != weights.len() || weight_sum <= 0.0 {
        return None;
    }
    let mut statistic = 0.0;
    let mut categories = 0;
    for (&o, &w) in observed.iter().zip(weights) {
        let expected = total as f64 * w / weight_sum;
        if expected == 0.0 {
            if o > 0 {
                return Some(ChiSquare {
                    statistic: f64::INFINITY,
                    degrees_of_freedom: 0.0,
                    p_value: 0.0,
                });
            }
            continue;
        }
        categories += 1;
        statistic += (o as f64 - expected).powi(2) / expected;
    }
    let df = (categories - 1) as f64;
    Some(ChiSquare {
        statistic,
        degrees_of_freedom: df,
        p_value: chi_square_tail(statistic, df)?,
    })
}

/// Chi-square test of homogeneity of two count vectors over the same bins (are they drawn from
/// the same distribution?). Bins empty in both are skipped. `None` when either is empty.
pub fn chi_square_homogeneity(a: &[u64], b: &[u64]) -> Option<ChiSquare> {
    let (na, nb) = (a.iter().sum::<u64>() as f64, b.iter().sum::<u64>() as f64);
    if na == 0.0 || nb == 0.0 || a.len() != b.len() {
        return None;
    }
    let total = na + nb;
    let mut statistic = 0.0;
    let mut bins = 0;
    for (&x, &y) in a.iter().zip(b) {
        let column = (x + y) as f64;
        if column == 0.0 {
            continue;
        }
        bins += 1;
        for (observed, row) in [(x as f64, na), (y as f64, nb)] {
            let expected = row * column / total;
            statistic += (observed - expected).powi(2) / expected;
        }
    }
    let df = (bins - 1) as f64;
    Some(ChiSquare {
        statistic,
        degrees_of_freedom: df,
        p_value: chi_square_tail(statistic, df).unwrap_or(1.0),
    })
}

/// Share floor for an empty bin in PSI, so that log(0) never happens.
pub const PSI_FLOOR: f64 = 1e-4;

/// Population stability index of `actual` against `expected` counts over the same bins:
/// Σ (a − e) · ln(a / e) over the bins' shares, each share floored at [`PSI_FLOOR`].
/// `None` when either is empty.
pub fn psi(expected: &[u64], actual: &[u64]) -> Option<f64> {
    let (ne, na) = (expected.iter().sum::<u64>() as f64, actual.iter().sum::<u64>() as f64);
    if ne == 0.0 || na == 0.0 || expected.len() != actual.len() {
        return None;
    }
    Some(
        expected
            .iter()
            .zip(actual)
            .map(|(&e, &a)| {
                let (e, a) = ((e as f64 / ne).max(PSI_FLOOR), (a as f64 / na).max(PSI_FLOOR));
                (a - e) * (a / e).ln()
            })
            .sum(),
    )
}

/// Holm's step-down adjustment of p-values tested together (a challenger each against the
/// champion): the i-th smallest is multiplied by (m − i + 1), kept monotone and capped at 1.
/// Rejecting where the adjusted value is below α keeps the chance of any false positive at α.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut adjusted = vec![1.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p_values[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// Observations per group a two-sided test at level `alpha` needs to detect a difference of
/// `effect` with probability `power`, when the groups' observations have variances `variance_a`
/// and `variance_b` and group b gets `ratio` times as many as group a: (n_a, n_b). `None` for
/// unusable inputs.
pub fn sample_size(
    effect: f64,
    variance_a: f64,
    variance_b: f64,
    ratio: f64,
    alpha: f64,
    power: f64,
) -> Option<(u64, u64)> {
    let positive = |x: f64| x.is_finite() && x > 0.0;
    let usable = positive(effect) && positive(ratio) && alpha > 0.0 && alpha < 1.0 && power > 0.0 && power < 1.0;
    if !usable {
        return None;
    }
    if !(variance_a.is_finite() && variance_b.is_finite()) || variance_a < 0.0 || variance_b < 0.0 {
        return None;
    }
    let normal = Normal::standard();
    let z = normal.inverse_cdf(1.0 - alpha / 2.0) + normal.inverse_cdf(power);
    let n_a = (z * z * (variance_a + variance_b / ratio) / (effect * effect)).ceil();
    if !n_a.is_finite() || n_a > 1e15 {
        return None;
    }
    let n_a = n_a.max(2.0);
    Some((n_a as u64, (n_a * ratio).ceil().max(2.0) as u64))
}

pub use wasm_predict_manifest::histogram::{bin_of, quantile};

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Whether `a` is within `tolerance` of `b`.
    pub(crate) fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn wilson_matches_a_hand_computation() {
        // 80/100: p = .8, z² = 3.8415; centre = (.8 + .019207) / 1.038415 = .78892;
        // half = 1.96 / 1.038415 · sqrt(.0016 + .000096) = .07775 -> [.7112, .8666]
        let p = wilson(80, 100).unwrap();
        assert!(close(p.low, 0.7112, 1e-4) && close(p.high, 0.8666, 1e-4), "{p:?}");
        assert!(wilson(0, 0).is_none());
        let all = wilson(10, 10).unwrap();
        assert!(all.high <= 1.0 && all.low > 0.69);
    }

    #[test]
    fn two_proportion_z_matches_a_hand_computation() {
        // 200/1000 vs 250/1000: pooled .225, se = sqrt(.225 · .775 · .002) = .018674,
        // z = .05 / .018674 = 2.6775, p = 2 · (1 − Φ(2.6775)) = .00742
        let c = two_proportion_z(200, 1000, 250, 1000).unwrap();
        assert!(close(c.difference, 0.05, 1e-12));
        assert!(close(c.statistic, 2.6775, 1e-3), "{c:?}");
        assert!(close(c.p_value, 0.00742, 1e-4), "{c:?}");
        assert!(two_proportion_z(0, 10, 0, 10).is_none());
        assert!(two_proportion_z(1, 0, 1, 10).is_none());
    }

    #[test]
    fn welch_matches_a_hand_computation() {
        // a = 1..5: mean 3, var 2.5; b = 2,4,6,8,10: mean 6, var 10.
        // se = sqrt(.5 + 2) = 1.5811, t = 1.8974; df = 6.25 / (.0625 + 1) = 5.8824; p ≈ .1076
        let a = summary(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        let b = summary(&[2.0, 4.0, 6.0, 8.0, 10.0]).unwrap();
        assert_eq!((a.mean, a.variance, b.mean, b.variance), (3.0, 2.5, 6.0, 10.0));
        let c = welch_t(&a, &b).unwrap();
        assert!(close(c.statistic, 1.8974, 1e-4), "{c:?}");
        assert!(close(c.degrees_of_freedom.unwrap(), 5.8824, 1e-4), "{c:?}");
        assert!(close(c.p_value, 0.1076, 2e-3), "{c:?}");
    }

    #[test]
    fn mean_interval_matches_a_hand_computation() {
        // 1..5: mean 3, se = sqrt(2.5 / 5) = .7071, t(4, .975) = 2.7764 -> 3 ± 1.9632
        let (low, high) = mean_interval(&summary(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap()).unwrap();
        assert!(close(low, 1.0368, 1e-3) && close(high, 4.9632, 1e-3), "{low} {high}");
    }

    #[test]
    fn srm_chi_square_matches_a_hand_computation() {
        // 5100 vs 4900 at 50/50: χ² = (100² + 100²) / 5000 = 4, df 1, p = .0455
        let c = chi_square_fit(&[5100, 4900], &[0.5, 0.5]).unwrap();
        assert!(close(c.statistic, 4.0, 1e-9) && c.degrees_of_freedom == 1.0);
        assert!(close(c.p_value, 0.0455, 1e-4), "{c:?}");
        // 600 vs 400 at 50/50: χ² = 40, p ≈ 2.5e-10: a mismatch
        assert!(chi_square_fit(&[600, 400], &[0.5, 0.5]).unwrap().p_value < 1e-9);
        // 10/90 weights, 103 vs 897: χ² = 9/100 + 9/900 = .1
        let uneven = chi_square_fit(&[103, 897], &[0.1, 0.9]).unwrap();
        assert!(close(uneven.statistic, 0.1, 1e-9));
        // a zero-weight arm with traffic is a certain mismatch; without, it is ignored
        assert_eq!(chi_square_fit(&[10, 5], &[1.0, 0.0]).unwrap().p_value, 0.0);
        assert_eq!(
            chi_square_fit(&[10, 0, 10], &[0.5, 0.0, 0.5])
                .unwrap()
                .degrees_of_freedom,
            1.0
        );
    }

    #[test]
    fn psi_matches_a_hand_computation() {
        // shares .5/.5 vs .6/.4: (.1 · ln 1.2) + (−.1 · ln .8) = .018232 + .022314 = .040546
        assert!(close(psi(&[50, 50], &[60, 40]).unwrap(), 0.040546, 1e-6));
        assert_eq!(psi(&[10, 30], &[1, 3]).unwrap(), 0.0);
        // an emptied bin counts at the floor: (1e-4 − .5) · ln(1e-4 / .5) + (.9999... ) ...
        let emptied = psi(&[50, 50], &[0, 100]).unwrap();
        let expected = (1e-4 - 0.5) * (1e-4_f64 / 0.5).ln() + (1.0 - 0.5) * (1.0_f64 / 0.5).ln();
        assert!(close(emptied, expected, 1e-9), "{emptied} {expected}");
        assert!(psi(&[], &[]).is_none());
    }

    #[test]
    fn holm_matches_a_hand_computation() {
        // .01, .04, .03 (m = 3): sorted .01·3 = .03, .03·2 = .06, .04·1 = .04 -> kept monotone .06
        let adjusted = holm(&[0.01, 0.04, 0.03]);
        assert!(close(adjusted[0], 0.03, 1e-12) && close(adjusted[1], 0.06, 1e-12) && close(adjusted[2], 0.06, 1e-12));
        assert_eq!(holm(&[0.5]), vec![0.5]);
        assert_eq!(holm(&[0.6, 0.9]), vec![1.0, 1.0]);
        assert!(holm(&[]).is_empty());
    }

    #[test]
    fn sample_size_matches_a_hand_computation() {
        // accuracy .80 vs .82, α .05, power .8: (1.95996 + .84162)² = 7.84887;
        // (.16 + .1476) · 7.84887 / .0004 = 6035.8 -> 6036 per arm
        let (a, b) = sample_size(0.02, 0.16, 0.82 * 0.18, 1.0, 0.05, 0.8).unwrap();
        assert_eq!((a, b), (6036, 6036));
        // twice as many in b: n_a = 7.84887 · (.16 + .0738) / .0004 = 4587.6 -> 4588, n_b = 9176
        assert_eq!(
            sample_size(0.02, 0.16, 0.82 * 0.18, 2.0, 0.05, 0.8).unwrap(),
            (4588, 9176)
        );
        assert!(sample_size(0.0, 0.16, 0.16, 1.0, 0.05, 0.8).is_none());
        assert!(sample_size(0.02, 0.16, 0.16, 1.0, 0.05, 1.0).is_none());
    }

    #[test]
    fn homogeneity_matches_a_hand_computation() {
        // [30, 70] vs [50, 50]: expected 40/60 per row; χ² = 2·(100/40 + 100/60) = 8.3333, df 1
        let c = chi_square_homogeneity(&[30, 70], &[50, 50]).unwrap();
        assert!(close(c.statistic, 8.3333, 1e-4) && c.degrees_of_freedom == 1.0, "{c:?}");
        assert!(close(c.p_value, 0.00389, 1e-4), "{c:?}");
    }
}
