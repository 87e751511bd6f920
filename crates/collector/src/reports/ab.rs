//! The A/B report: per arm, traffic, errors, fallbacks, latency, confidence and, where outcomes
//! came back, accuracy (or mean absolute error) with a 95% interval; each challenger against the
//! champion with a p-value; and the sample ratio mismatch check.

use std::collections::BTreeMap;

use serde::Serialize;

use super::stats::{self, ChiSquare, Comparison, Proportion};
use crate::experiment::Experiment;
use crate::rollup::{sketch, AbTotals, Counts};

/// SRM is flagged below this p-value.
pub const SRM_THRESHOLD: f64 = 0.001;

/// One arm's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ArmReport {
    /// The arm.
    pub arm: String,
    /// Its configured weight.
    pub weight: f64,
    /// Distinct clients exposed to or served by it.
    pub clients: usize,
    /// Exposure events (assigned arm).
    pub exposures: u64,
    /// Predictions it served (shadow ones not counted).
    pub predictions: u64,
    /// Of which failed.
    pub errors: u64,
    /// Times it was refused and replaced by the champion.
    pub fallbacks: u64,
    /// Latency quantiles in ms (p50, p95, p99), within 1% ([`sketch::ALPHA`]).
    pub latency_ms: Option<Latency>,
    /// Mean confidence of its classifications.
    pub mean_confidence: Option<f64>,
    /// Outcomes joined to its predictions.
    pub outcomes: u64,
    /// Accuracy on them, with its 95% interval (classification).
    pub accuracy: Option<Proportion>,
    /// Mean absolute error on them, with its 95% interval (regression).
    pub mean_absolute_error: Option<MeanWithInterval>,
}

/// Latency quantiles.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// A mean with its 95% t interval.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MeanWithInterval {
    /// Mean.
    pub mean: f64,
    /// Lower end.
    pub low: Option<f64>,
    /// Upper end.
    pub high: Option<f64>,
    /// Count.
    pub n: u64,
}

/// A challenger against the champion.
#[derive(Debug, Clone, Serialize)]
pub struct ArmComparison {
    /// The challenger.
    pub arm: String,
    /// Accuracy difference (challenger − champion), two-proportion z-test.
    pub accuracy: Option<Comparison>,
    /// Mean absolute error difference (challenger − champion), Welch's t-test.
    pub mean_absolute_error: Option<Comparison>,
}

/// The sample ratio mismatch check over exposures.
#[derive(Debug, Clone, Serialize)]
pub struct SampleRatio {
    /// Exposures per arm, in config order.
    pub observed: Vec<u64>,
    /// Expected shares (weights).
    pub expected_shares: Vec<f64>,
    /// Goodness of fit of exposures to weights.
    pub test: Option<ChiSquare>,
    /// True when p < [`SRM_THRESHOLD`]: the assignment or the logging is broken.
    pub mismatch: bool,
}

/// The whole A/B report.
#[derive(Debug, Clone, Serialize)]
pub struct AbReport {
    /// Experiment id.
    pub experiment: String,
    /// The champion arm.
    pub champion: String,
    /// Per arm, in config order.
    pub arms: Vec<ArmReport>,
    /// Each challenger against the champion.
    pub comparisons: Vec<ArmComparison>,
    /// SRM.
    pub sample_ratio: SampleRatio,
    /// Events counted: exposures, shown predictions, fallbacks and joined outcomes.
    pub events: usize,
}

/// The summary (mean, sample variance, n) of values known by their count, sum and sum of squares.
pub fn summary_of_sums(n: u64, sum: f64, sum_sq: f64) -> Option<stats::Summary> {
    if n == 0 {
        return None;
    }
    let n_f = n as f64;
    let mean = sum / n_f;
    let variance = if n > 1 {
        ((sum_sq - sum * sum / n_f) / (n_f - 1.0)).max(0.0)
    } else {
        0.0
    };
    Some(stats::Summary { mean, variance, n })
}

/// Builds the report from the experiment's sums ([`crate::store::EventStore::ab_totals`]).
/// Events of clients outside the experiment (kill switch, coverage) are left out.
pub fn ab_report(experiment: &Experiment, totals: &AbTotals) -> AbReport {
    let mut arms = Vec::new();
    let mut sums: BTreeMap<String, Counts> = BTreeMap::new();
    for arm in &experiment.arms {
        let mut counts = Counts::default();
        for row in totals
            .arms
            .iter()
            .filter(|r| r.key.in_experiment && r.key.arm == arm.name)
        {
            counts.add(&row.counts);
        }
        let latency: Vec<(i32, u64)> = totals
            .latency
            .iter()
            .filter(|r| r.in_experiment && r.arm == arm.name)
            .map(|r| (r.bucket, r.n))
            .collect();
        let clients = totals
            .clients
            .iter()
            .find(|(name, _)| *name == arm.name)
            .map_or(0, |(_, n)| *n);
        let mae = summary_of_sums(counts.numeric_n, counts.abs_sum, counts.sq_sum).map(|s| {
            let interval = stats::mean_interval(&s);
            MeanWithInterval {
                mean: s.mean,
                low: interval.map(|i| i.0),
                high: interval.map(|i| i.1),
                n: s.n,
            }
        });
        arms.push(ArmReport {
            arm: arm.name.clone(),
            weight: arm.weight,
            clients: clients as usize,
            exposures: counts.exposures,
            predictions: counts.predictions,
            errors: counts.errors,
            fallbacks: counts.fallbacks,
            latency_ms: match (
                sketch::quantile(&latency, 0.5),
                sketch::quantile(&latency, 0.95),
                sketch::quantile(&latency, 0.99),
            ) {
                (Some(p50), Some(p95), Some(p99)) => Some(Latency { p50, p95, p99 }),
                _ => None,
            },
            mean_confidence: (counts.confidence_n > 0).then(|| counts.confidence_sum / counts.confidence_n as f64),
            outcomes: counts.labelled + counts.numeric_n,
            accuracy: stats::wilson(counts.correct, counts.labelled),
            mean_absolute_error: mae,
        });
        sums.insert(arm.name.clone(), counts);
    }
    let champion = experiment.champion_arm().name.clone();
    let comparisons = experiment
        .arms
        .iter()
        .filter(|a| a.name != champion)
        .filter_map(|arm| {
            let (base, other) = (sums.get(&champion)?, sums.get(&arm.name)?);
            Some(ArmComparison {
                arm: arm.name.clone(),
                accuracy: stats::two_proportion_z(base.correct, base.labelled, other.correct, other.labelled),
                mean_absolute_error: match (
                    summary_of_sums(base.numeric_n, base.abs_sum, base.sq_sum),
                    summary_of_sums(other.numeric_n, other.abs_sum, other.sq_sum),
                ) {
                    (Some(a), Some(b)) => stats::welch_t(&a, &b),
                    _ => None,
                },
            })
        })
        .collect();
    let observed: Vec<u64> = arms.iter().map(|a| a.exposures).collect();
    let weights: Vec<f64> = experiment.arms.iter().map(|a| a.weight).collect();
    let test = stats::chi_square_fit(&observed, &weights);
    let weight_sum: f64 = weights.iter().sum();
    let events = sums
        .values()
        .map(|c| c.exposures + c.predictions + c.fallbacks + c.labelled + c.numeric_n)
        .sum::<u64>() as usize;
    AbReport {
        experiment: experiment.id.clone(),
        champion,
        sample_ratio: SampleRatio {
            expected_shares: weights.iter().map(|w| w / weight_sum).collect(),
            mismatch: test.is_some_and(|t| t.p_value < SRM_THRESHOLD),
            observed,
            test,
        },
        arms,
        comparisons,
        events,
    }
}
