//! The A/B report: per arm, traffic, errors, fallbacks, latency, confidence and, where outcomes
//! came back, accuracy (or mean absolute error) with a 95% interval; each challenger against the
//! champion with a p-value; and the sample ratio mismatch check.

use std::collections::BTreeMap;

use serde::Serialize;

use super::sequential::{confidence_sequence, ConfidenceSequence};
use super::stats::{self, ChiSquare, Comparison, Proportion};
use super::threshold::{at_threshold, AtThreshold, Positive};
use crate::experiment::Analysis;
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
    /// A binary classifier's precision and recall at its decision threshold.
    pub at_threshold: Option<AtThreshold>,
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
    /// The verdict on the compared metric, safe to read at any time.
    pub decision: Option<Decision>,
    /// Outcomes needed to detect the configured minimum effect.
    pub sample_size: Option<SampleSize>,
}

/// The verdict on one challenger: its metric's difference with a fixed-horizon test, Holm's
/// adjustment over all challengers, and the always-valid confidence sequence, which alone may be
/// read before the planned sample size is reached.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// `accuracy` (higher is better) or `mean_absolute_error` (lower is better).
    pub metric: &'static str,
    /// Challenger − champion.
    pub difference: f64,
    /// The fixed-horizon p-value, Holm-adjusted over the challengers.
    pub adjusted_p_value: f64,
    /// The (1 − α) confidence sequence of the difference.
    pub sequential: Option<ConfidenceSequence>,
    /// Its p-value, Holm-adjusted over the challengers.
    pub sequential_adjusted_p_value: Option<f64>,
    /// `better`, `worse` (the sequence excludes 0 at the adjusted level) or `undecided`.
    pub verdict: &'static str,
}

/// The outcomes a fixed-horizon test needs to detect the configured minimum effect (α divided
/// among the challengers), against those already joined.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SampleSize {
    /// The effect, absolute, in the compared metric's unit.
    pub minimum_detectable_effect: f64,
    /// Outcomes the champion needs.
    pub champion_needed: u64,
    /// Outcomes the challenger needs (its weight's share of the champion's).
    pub challenger_needed: u64,
    /// Outcomes still missing, both arms together.
    pub remaining: u64,
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
    /// The settings the comparisons were judged with.
    pub analysis: Analysis,
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

/// One metric of two arms, as the tests need it.
struct Metric {
    name: &'static str,
    fixed: Comparison,
    /// Estimated variance of the difference.
    variance: f64,
    /// Outcomes in the two arms.
    n: (u64, u64),
    /// Per-outcome variances of the two arms for planning (the challenger's at the minimum
    /// effect for accuracy).
    planning: Option<(f64, f64)>,
}

/// Accuracy when both arms have labelled outcomes, else mean absolute error.
fn metric_of(base: &Counts, other: &Counts, effect: Option<f64>) -> Option<Metric> {
    if let Some(fixed) = stats::two_proportion_z(base.correct, base.labelled, other.correct, other.labelled) {
        let (pa, pb) = (
            base.correct as f64 / base.labelled as f64,
            other.correct as f64 / other.labelled as f64,
        );
        let planning = effect.map(|d| {
            let alternative = if pa + d <= 1.0 { pa + d } else { pa - d };
            (pa * (1.0 - pa), alternative * (1.0 - alternative))
        });
        return Some(Metric {
            name: "accuracy",
            fixed,
            variance: pa * (1.0 - pa) / base.labelled as f64 + pb * (1.0 - pb) / other.labelled as f64,
            n: (base.labelled, other.labelled),
            planning,
        });
    }
    let a = summary_of_sums(base.numeric_n, base.abs_sum, base.sq_sum)?;
    let b = summary_of_sums(other.numeric_n, other.abs_sum, other.sq_sum)?;
    Some(Metric {
        name: "mean_absolute_error",
        fixed: stats::welch_t(&a, &b)?,
        variance: a.variance / a.n as f64 + b.variance / b.n as f64,
        n: (a.n, b.n),
        planning: Some((a.variance, b.variance)),
    })
}

/// Each challenger against the champion: the fixed-horizon tests, the always-valid sequence,
/// Holm's adjustment over the challengers, and the sample size for the minimum effect.
fn compare(
    experiment: &Experiment,
    champion: &crate::experiment::Arm,
    sums: &BTreeMap<String, Counts>,
) -> Vec<ArmComparison> {
    let analysis = experiment.analysis;
    let challengers: Vec<&crate::experiment::Arm> =
        experiment.arms.iter().filter(|a| a.name != champion.name).collect();
    let empty = Counts::default();
    let base = sums.get(&champion.name).unwrap_or(&empty);
    let metrics: Vec<Option<Metric>> = challengers
        .iter()
        .map(|arm| {
            metric_of(
                base,
                sums.get(&arm.name).unwrap_or(&empty),
                analysis.minimum_detectable_effect,
            )
        })
        .collect();
    let sequences: Vec<Option<ConfidenceSequence>> = metrics
        .iter()
        .map(|m| {
            let m = m.as_ref()?;
            confidence_sequence(
                m.fixed.difference,
                m.variance,
                m.n.0 + m.n.1,
                analysis.alpha,
                analysis.sequential_tuning,
            )
        })
        .collect();
    let fixed_p: Vec<f64> = metrics
        .iter()
        .map(|m| m.as_ref().map_or(1.0, |m| m.fixed.p_value))
        .collect();
    let sequential_p: Vec<f64> = sequences.iter().map(|s| s.map_or(1.0, |s| s.p_value)).collect();
    let (fixed_adjusted, sequential_adjusted) = (stats::holm(&fixed_p), stats::holm(&sequential_p));
    let tests = challengers.len().max(1) as f64;
    challengers
        .iter()
        .enumerate()
        .map(|(i, arm)| {
            let other = sums.get(&arm.name).unwrap_or(&empty);
            let decision = metrics[i].as_ref().map(|m| {
                let sequential_adjusted_p_value = sequences[i].map(|_| sequential_adjusted[i]);
                let decided = sequential_adjusted_p_value.is_some_and(|p| p < analysis.alpha);
                let improves = if m.name == "accuracy" {
                    m.fixed.difference > 0.0
                } else {
                    m.fixed.difference < 0.0
                };
                Decision {
                    metric: m.name,
                    difference: m.fixed.difference,
                    adjusted_p_value: fixed_adjusted[i],
                    sequential: sequences[i],
                    sequential_adjusted_p_value,
                    verdict: match (decided, improves) {
                        (false, _) => "undecided",
                        (true, true) => "better",
                        (true, false) => "worse",
                    },
                }
            });
            let sample_size = metrics[i].as_ref().and_then(|m| {
                let effect = analysis.minimum_detectable_effect?;
                let (va, vb) = m.planning?;
                let ratio = arm.weight / champion.weight;
                let (need_a, need_b) =
                    stats::sample_size(effect, va, vb, ratio, analysis.alpha / tests, analysis.power)?;
                Some(SampleSize {
                    minimum_detectable_effect: effect,
                    champion_needed: need_a,
                    challenger_needed: need_b,
                    remaining: need_a.saturating_sub(m.n.0) + need_b.saturating_sub(m.n.1),
                })
            });
            ArmComparison {
                arm: arm.name.clone(),
                accuracy: stats::two_proportion_z(base.correct, base.labelled, other.correct, other.labelled),
                mean_absolute_error: match (
                    summary_of_sums(base.numeric_n, base.abs_sum, base.sq_sum),
                    summary_of_sums(other.numeric_n, other.abs_sum, other.sq_sum),
                ) {
                    (Some(a), Some(b)) => stats::welch_t(&a, &b),
                    _ => None,
                },
                decision,
                sample_size,
            }
        })
        .collect()
}

/// Builds the report from the experiment's sums ([`crate::store::EventStore::ab_totals`]);
/// `positive_of` says which models are binary classifiers, and their positive class and
/// threshold. Events of clients outside the experiment (kill switch, coverage) are left out.
pub fn ab_report(
    experiment: &Experiment,
    totals: &AbTotals,
    positive_of: &dyn Fn(&str) -> Option<Positive>,
) -> AbReport {
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
            at_threshold: at_threshold(
                totals
                    .confusion
                    .iter()
                    .filter(|r| r.key.in_experiment && r.key.arm == arm.name),
                positive_of,
            ),
        });
        sums.insert(arm.name.clone(), counts);
    }
    let champion = experiment.champion_arm();
    let comparisons = compare(experiment, champion, &sums);
    let champion = champion.name.clone();
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
        analysis: experiment.analysis,
        arms,
        comparisons,
        events,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::experiment::Arm;
    use crate::rollup::{ArmKey, ArmRow};

    fn experiment(arms: &[(&str, f64)], analysis: Analysis) -> Experiment {
        Experiment {
            id: "e".into(),
            champion: arms[0].0.into(),
            enabled: true,
            mode: "split".into(),
            arms: arms
                .iter()
                .map(|(name, weight)| Arm {
                    name: (*name).into(),
                    bundle: format!("{name}@1"),
                    weight: *weight,
                })
                .collect(),
            fallback: None,
            analysis,
        }
    }

    fn key(arm: &str) -> ArmKey {
        ArmKey {
            experiment: "e".into(),
            arm: arm.into(),
            model: format!("{arm}@1"),
            in_experiment: true,
        }
    }

    fn labelled(arm: &str, n: u64, correct: u64) -> ArmRow {
        ArmRow {
            key: key(arm),
            counts: Counts {
                predictions: n,
                labelled: n,
                correct,
                ..Counts::default()
            },
        }
    }

    #[test]
    fn challengers_are_judged_together() {
        let analysis = Analysis {
            minimum_detectable_effect: Some(0.02),
            ..Analysis::default()
        };
        let e = experiment(&[("a", 1.0 / 3.0), ("b", 1.0 / 3.0), ("c", 1.0 / 3.0)], analysis);
        let totals = AbTotals {
            arms: vec![
                labelled("a", 20_000, 16_000),
                labelled("b", 20_000, 16_600),
                labelled("c", 20_000, 15_990),
            ],
            ..AbTotals::default()
        };
        let report = ab_report(&e, &totals, &|_| None);
        let (b, c) = (&report.comparisons[0], &report.comparisons[1]);
        let (db, dc) = (b.decision.as_ref().unwrap(), c.decision.as_ref().unwrap());
        // b: +3 points on 20,000 outcomes each is decided even by the always-valid sequence
        assert_eq!((db.metric, db.verdict, dc.verdict), ("accuracy", "better", "undecided"));
        // Holm over two challengers: the smaller p doubled, the larger kept (and ≥ the first)
        let (pb, pc) = (b.accuracy.unwrap().p_value, c.accuracy.unwrap().p_value);
        assert!((db.adjusted_p_value - (2.0 * pb).min(1.0)).abs() < 1e-12, "{pb} {db:?}");
        assert!((dc.adjusted_p_value - pc.max(2.0 * pb)).abs() < 1e-12, "{pc} {dc:?}");
        // the sample size for 2 points at α/2 = .025, power .8, from the champion's 80%:
        // (2.24140 + .84162)² = 9.50502; (.16 + .82 · .18) · 9.50502 / .0004 = 7309.4 -> 7310 each
        let size = b.sample_size.unwrap();
        assert_eq!(
            (size.champion_needed, size.challenger_needed, size.remaining),
            (7310, 7310, 0)
        );
        // a worse challenger is called worse once the sequence excludes zero
        let worse = ab_report(
            &experiment(&[("a", 0.5), ("b", 0.5)], Analysis::default()),
            &AbTotals {
                arms: vec![labelled("a", 20_000, 16_000), labelled("b", 20_000, 15_000)],
                ..AbTotals::default()
            },
            &|_| None,
        );
        assert_eq!(worse.comparisons[0].decision.as_ref().unwrap().verdict, "worse");
        assert!(worse.comparisons[0].sample_size.is_none(), "no effect configured");
    }

    #[test]
    fn binary_arms_show_precision_and_recall_at_their_threshold() {
        let cell = |arm: &str, predicted: &str, actual: &str, n: u64| crate::rollup::ConfusionRow {
            key: key(arm),
            predicted: predicted.into(),
            actual: actual.into(),
            n,
        };
        let totals = AbTotals {
            arms: vec![labelled("a", 100, 70), labelled("b", 100, 70)],
            confusion: vec![
                cell("a", "1", "1", 30),
                cell("a", "1", "0", 10),
                cell("a", "0", "1", 20),
                cell("a", "0", "0", 40),
            ],
            ..AbTotals::default()
        };
        let positive_of = |model: &str| {
            (model == "a@1").then(|| Positive {
                class: "1".into(),
                threshold: Some(0.35),
            })
        };
        let report = ab_report(
            &experiment(&[("a", 0.5), ("b", 0.5)], Analysis::default()),
            &totals,
            &positive_of,
        );
        let a = report.arms[0].at_threshold.as_ref().unwrap();
        assert_eq!(a.positive.threshold, Some(0.35));
        assert!((a.precision.unwrap().value - 0.75).abs() < 1e-12);
        assert!((a.recall.unwrap().value - 0.6).abs() < 1e-12);
        assert!(
            report.arms[1].at_threshold.is_none(),
            "no labels against outcomes for b"
        );
    }

    #[test]
    fn regressors_are_judged_on_mean_absolute_error() {
        let row = |arm: &str, n: u64, mean: f64, sd: f64| ArmRow {
            key: key(arm),
            counts: Counts {
                predictions: n,
                numeric_n: n,
                abs_sum: mean * n as f64,
                sq_sum: sd * sd * (n - 1) as f64 + mean * mean * n as f64,
                ..Counts::default()
            },
        };
        let analysis = Analysis {
            minimum_detectable_effect: Some(0.1),
            ..Analysis::default()
        };
        let report = ab_report(
            &experiment(&[("a", 0.5), ("b", 0.5)], analysis),
            &AbTotals {
                arms: vec![row("a", 5_000, 2.0, 1.0), row("b", 5_000, 1.8, 1.0)],
                ..AbTotals::default()
            },
            &|_| None,
        );
        let d = report.comparisons[0].decision.as_ref().unwrap();
        assert_eq!((d.metric, d.verdict), ("mean_absolute_error", "better"), "{d:?}");
        assert!((d.difference + 0.2).abs() < 1e-9);
        // 7.84888 · (1 + 1) / .01 = 1569.8 -> 1570 each
        let size = report.comparisons[0].sample_size.unwrap();
        assert_eq!((size.champion_needed, size.challenger_needed), (1570, 1570));
    }
}
