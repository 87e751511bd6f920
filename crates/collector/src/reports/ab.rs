//! The A/B report: per arm, traffic, errors, fallbacks, latency, confidence and, where outcomes
//! came back, accuracy (or mean absolute error) with a 95% interval; each challenger against the
//! champion with a p-value; and the sample ratio mismatch check.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::stats::{self, ChiSquare, Comparison, Proportion};
use super::{joined_outcomes, label_of_actual, shown_predictions, JoinedOutcome};
use crate::events::{Event, EventKind};
use crate::experiment::Experiment;

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
    /// Latency quantiles in ms (p50, p95, p99).
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
    /// Events read.
    pub events: usize,
}

struct Outcomes {
    correct: u64,
    labelled: u64,
    absolute_errors: Vec<f64>,
}

/// Builds the report from the experiment's events (any order). Events of clients outside the
/// experiment (kill switch, coverage) are left out.
pub fn ab_report(experiment: &Experiment, events: &[Event]) -> AbReport {
    let events: Vec<&Event> = events
        .iter()
        .filter(|e| e.experiment == experiment.id && e.in_experiment)
        .collect();
    let predictions = shown_predictions(events.iter().copied());
    let joined = joined_outcomes(events.iter().copied(), &predictions);
    let mut arms = Vec::new();
    let mut outcome_sets: BTreeMap<String, Outcomes> = BTreeMap::new();
    for arm in &experiment.arms {
        let served: Vec<&&Event> = events
            .iter()
            .filter(|e| {
                e.kind == EventKind::Prediction
                    && e.fields.shadow != Some(true)
                    && e.fields.arm.as_deref() == Some(&arm.name)
            })
            .collect();
        let exposures: Vec<&&Event> = events
            .iter()
            .filter(|e| e.kind == EventKind::Exposure && e.fields.arm.as_deref() == Some(&arm.name))
            .collect();
        let clients: BTreeSet<&str> = served
            .iter()
            .chain(exposures.iter())
            .map(|e| e.client_id.as_str())
            .collect();
        let mut latencies: Vec<f64> = served.iter().filter_map(|e| e.fields.latency_ms).collect();
        latencies.sort_by(f64::total_cmp);
        let confidences: Vec<f64> = served
            .iter()
            .filter_map(|e| e.fields.output.as_ref()?.confidence)
            .collect();
        let mut outcomes = Outcomes {
            correct: 0,
            labelled: 0,
            absolute_errors: Vec::new(),
        };
        for JoinedOutcome { output, actual, .. } in joined
            .iter()
            .filter(|j| j.prediction.fields.arm.as_deref() == Some(&arm.name))
        {
            match (&output.label, output.value, actual.as_f64()) {
                (Some(label), _, _) => {
                    outcomes.labelled += 1;
                    outcomes.correct += u64::from(label_of_actual(actual).as_deref() == Some(label.as_str()));
                }
                (None, Some(value), Some(truth)) => outcomes.absolute_errors.push((value - truth).abs()),
                _ => {}
            }
        }
        let mae = stats::summary(&outcomes.absolute_errors).map(|s| {
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
            clients: clients.len(),
            exposures: exposures.len() as u64,
            predictions: served.len() as u64,
            errors: served.iter().filter(|e| e.fields.error.is_some()).count() as u64,
            fallbacks: events
                .iter()
                .filter(|e| e.kind == EventKind::Fallback && e.fields.from_arm.as_deref() == Some(&arm.name))
                .count() as u64,
            latency_ms: match (
                stats::quantile(&latencies, 0.5),
                stats::quantile(&latencies, 0.95),
                stats::quantile(&latencies, 0.99),
            ) {
                (Some(p50), Some(p95), Some(p99)) => Some(Latency { p50, p95, p99 }),
                _ => None,
            },
            mean_confidence: stats::summary(&confidences).map(|s| s.mean),
            outcomes: outcomes.labelled + outcomes.absolute_errors.len() as u64,
            accuracy: stats::wilson(outcomes.correct, outcomes.labelled),
            mean_absolute_error: mae,
        });
        outcome_sets.insert(arm.name.clone(), outcomes);
    }
    let champion = experiment.champion_arm().name.clone();
    let comparisons = experiment
        .arms
        .iter()
        .filter(|a| a.name != champion)
        .filter_map(|arm| {
            let (base, other) = (outcome_sets.get(&champion)?, outcome_sets.get(&arm.name)?);
            Some(ArmComparison {
                arm: arm.name.clone(),
                accuracy: stats::two_proportion_z(base.correct, base.labelled, other.correct, other.labelled),
                mean_absolute_error: match (
                    stats::summary(&base.absolute_errors),
                    stats::summary(&other.absolute_errors),
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
        events: events.len(),
    }
}
