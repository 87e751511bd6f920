//! The model's regression test: its fixtures and its performance requirement on the holdout.

use serde::Serialize;

use crate::error::Result;
use crate::fixtures::{fixture_results, FixtureResult};
use crate::manifest::{Metric, Target, Task};
use crate::predictor::Predictor;

/// The performance requirement, measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PerformanceResult {
    /// The metric, as in the manifest.
    pub metric: Metric,
    /// The manifest's minimum.
    pub minimum: f64,
    /// What the model reaches on the holdout now.
    pub achieved: f64,
    /// Number of holdout rows.
    pub rows: usize,
    /// `achieved >= minimum`.
    pub passed: bool,
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationReport {
    /// `name@version` of the model.
    pub model: String,
    /// The fixtures' tolerance.
    pub tolerance: f32,
    /// One result per fixture.
    pub fixtures: Vec<FixtureResult>,
    /// The performance requirement.
    pub performance: PerformanceResult,
    /// Every fixture and the requirement passed.
    pub passed: bool,
}

/// Runs every fixture and measures the metric on the holdout.
pub fn verify(predictor: &mut Predictor) -> Result<VerificationReport> {
    let cases = predictor.manifest().fixtures.clone();
    let fixtures = fixture_results(&cases, |row| predictor.predict(row))?;
    let performance = measure_performance(predictor)?;
    let manifest = predictor.manifest();
    Ok(VerificationReport {
        model: manifest.id(),
        tolerance: manifest.fixtures.tolerance,
        passed: performance.passed && fixtures.iter().all(|f| f.passed),
        fixtures,
        performance,
    })
}

fn measure_performance(predictor: &mut Predictor) -> Result<PerformanceResult> {
    let manifest = predictor.manifest();
    let performance = manifest.performance.clone();
    let task = manifest.task;
    let flat: Vec<f32> = performance.holdout.inputs.iter().flatten().copied().collect();
    let rows = performance.holdout.inputs.len();
    let batch = predictor.predict_batch(&flat, rows)?;
    let achieved = match task {
        Task::Classification => {
            let classes = predictor.manifest().classes();
            let right = batch
                .label_indices
                .iter()
                .zip(&performance.holdout.targets)
                .filter(|(i, t)| matches!(t, Target::Label(l) if classes.get(**i as usize) == Some(l)))
                .count();
            right as f64 / rows as f64
        }
        Task::Regression => {
            let truth: Vec<f64> = performance
                .holdout
                .targets
                .iter()
                .map(|t| if let Target::Value(v) = t { *v } else { f64::NAN })
                .collect();
            r2(&truth, &batch.outputs)
        }
    };
    Ok(PerformanceResult {
        metric: performance.metric,
        minimum: performance.minimum,
        achieved,
        rows,
        passed: achieved >= performance.minimum,
    })
}

/// Coefficient of determination of `predicted` against `truth`.
pub fn r2(truth: &[f64], predicted: &[f32]) -> f64 {
    let n = truth.len() as f64;
    let mean = truth.iter().sum::<f64>() / n;
    let total: f64 = truth.iter().map(|t| (t - mean).powi(2)).sum();
    let residual: f64 = truth.iter().zip(predicted).map(|(t, p)| (t - *p as f64).powi(2)).sum();
    if total == 0.0 {
        return if residual == 0.0 { 1.0 } else { f64::NEG_INFINITY };
    }
    1.0 - residual / total
}
