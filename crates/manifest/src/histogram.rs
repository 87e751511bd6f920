//! Reference histograms: quantile-bin edges of a feature or score at bundling time, and the bin a
//! value falls in when the collector compares live traffic with them.

use crate::stored;

/// Quantile bins of the reference histograms.
pub const REFERENCE_BINS: usize = 10;

/// The `q`-quantile (0..=1) by linear interpolation between closest ranks (numpy's default);
/// `values` must be sorted. `None` when empty.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let position = q.clamp(0.0, 1.0) * last as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    let (a, b) = (sorted.get(low)?, sorted.get(high)?);
    Some(a + (b - a) * (position - low as f64))
}

/// Which bin of (-inf, e0], (e0, e1], ..., (e_last, +inf) holds `x`.
pub fn bin_of(edges: &[f64], x: f64) -> usize {
    edges.partition_point(|&edge| edge < x)
}

/// Bins of a string category feature, whose row values are category indices: edges halfway
/// between them, so that the first bin counts unknown categories (-1) and bin `k + 1` category `k`.
pub fn category_histogram(codes: &[f64], categories: usize) -> (Vec<f64>, Vec<u64>) {
    let edges: Vec<f64> = (0..categories).map(|k| k as f64 - 0.5).collect();
    let mut counts = vec![0; edges.len() + 1];
    for v in codes.iter().filter(|v| v.is_finite()) {
        if let Some(count) = counts.get_mut(bin_of(&edges, *v)) {
            *count += 1;
        }
    }
    (edges, counts)
}

/// Quantile-bin edges (deduplicated deciles, rounded to [`crate::STORED_DIGITS`] significant
/// digits) and counts of the finite `values`: bins are (-inf, e0], (e0, e1], ..., (e_last, +inf).
pub fn quantile_histogram(values: &[f64]) -> (Vec<f64>, Vec<u64>) {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let mut edges: Vec<f64> = (1..REFERENCE_BINS)
        .filter_map(|i| quantile(&sorted, i as f64 / REFERENCE_BINS as f64))
        .map(stored)
        .collect();
    edges.dedup();
    let mut counts = vec![0; edges.len() + 1];
    for v in &sorted {
        if let Some(count) = counts.get_mut(bin_of(&edges, *v)) {
            *count += 1;
        }
    }
    (edges, counts)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn quantiles_and_bins() {
        let sorted = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&sorted, 0.5), Some(2.5));
        assert!(close(quantile(&sorted, 0.99).unwrap(), 3.97, 1e-12));
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(bin_of(&[0.0, 1.0], -1.0), 0);
        assert_eq!(bin_of(&[0.0, 1.0], 0.0), 0);
        assert_eq!(bin_of(&[0.0, 1.0], 0.5), 1);
        assert_eq!(bin_of(&[0.0, 1.0], 1.0), 1);
        assert_eq!(bin_of(&[0.0, 1.0], 7.0), 2);
    }

    #[test]
    fn a_histogram_counts_every_finite_value_once() {
        let values: Vec<f64> = (0..100).map(f64::from).chain([f64::NAN, f64::INFINITY]).collect();
        let (edges, counts) = quantile_histogram(&values);
        assert_eq!(edges.len(), REFERENCE_BINS - 1);
        assert_eq!(counts.iter().sum::<u64>(), 100);
        assert!(counts.iter().all(|c| *c == 10));
    }
}
