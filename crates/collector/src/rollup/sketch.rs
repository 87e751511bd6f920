//! Latency quantiles that add up: a logarithmic histogram (DDSketch's mapping). A value goes to
//! bucket `ceil(ln x / ln γ)` with γ = (1 + α) / (1 − α); the bucket's representative value is
//! within α of every value in it, so a quantile read from summed counts is within α (1%) of the
//! exact one, however many minutes and arms were added together.

/// Relative accuracy of a quantile.
pub const ALPHA: f64 = 0.01;
/// The bucket of zero and of values too small to matter (under a nanosecond, in ms).
pub const ZERO_BUCKET: i32 = i32::MIN;
const SMALLEST: f64 = 1e-6;

fn gamma() -> f64 {
    (1.0 + ALPHA) / (1.0 - ALPHA)
}

/// The bucket of a latency in ms; `None` for a value that is not a finite non-negative number.
pub fn bucket_of(value: f64) -> Option<i32> {
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    if value < SMALLEST {
        return Some(ZERO_BUCKET);
    }
    Some((value.ln() / gamma().ln()).ceil() as i32)
}

/// The value a bucket stands for.
pub fn value_of(bucket: i32) -> f64 {
    if bucket == ZERO_BUCKET {
        return 0.0;
    }
    let g = gamma();
    2.0 * g.powi(bucket) / (1.0 + g)
}

/// The `q` quantile of counts per bucket (any order), interpolated between the ranks around
/// `q × (n − 1)` as [`crate::reports::stats::quantile`] does; `None` when there are no counts.
pub fn quantile(counts: &[(i32, u64)], q: f64) -> Option<f64> {
    let mut sorted: Vec<(i32, u64)> = counts.iter().copied().filter(|(_, n)| *n > 0).collect();
    sorted.sort_unstable();
    let total: u64 = sorted.iter().map(|(_, n)| n).sum();
    let last = total.checked_sub(1)?;
    let position = q.clamp(0.0, 1.0) * last as f64;
    let at_rank = |rank: u64| {
        let mut seen = 0;
        for (bucket, n) in &sorted {
            seen += n;
            if seen > rank {
                return value_of(*bucket);
            }
        }
        sorted.last().map_or(0.0, |(b, _)| value_of(*b))
    };
    let (low, high) = (position.floor(), position.ceil());
    let (a, b) = (at_rank(low as u64), at_rank(high as u64));
    Some(a + (b - a) * (position - low))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_value_is_within_alpha_of_its_bucket() {
        for value in [1e-5, 0.003, 0.2, 1.0, 1.7, 42.0, 999.0, 86_400_000.0] {
            let back = value_of(bucket_of(value).unwrap());
            assert!((back - value).abs() <= ALPHA * value * 1.000_001, "{value} -> {back}");
        }
        assert_eq!(value_of(bucket_of(0.0).unwrap()), 0.0);
        assert_eq!(bucket_of(-1.0), None);
        assert_eq!(bucket_of(f64::NAN), None);
    }

    #[test]
    fn quantiles_of_summed_counts_are_within_alpha_of_the_exact_ones() {
        let values: Vec<f64> = (1..=1000).map(|i| f64::from(i) * 0.37).collect();
        let mut counts = std::collections::BTreeMap::new();
        for v in &values {
            *counts.entry(bucket_of(*v).unwrap()).or_insert(0u64) += 1;
        }
        let counts: Vec<(i32, u64)> = counts.into_iter().collect();
        for q in [0.0, 0.5, 0.95, 0.99, 1.0] {
            let exact = crate::reports::stats::quantile(&values, q).unwrap();
            let sketched = quantile(&counts, q).unwrap();
            assert!(
                (sketched - exact).abs() <= ALPHA * exact * 1.000_001,
                "q {q}: {sketched} vs {exact}"
            );
        }
        assert_eq!(quantile(&[], 0.5), None);
    }
}
