//! The model's regression test: its fixtures and its performance requirement on the holdout.

use serde::Serialize;

use crate::error::{PredictError, Result};
use crate::manifest::{Metric, Target, Task};
use crate::predictor::{Prediction, Predictor};

/// How one regression fixture came out.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FixtureResult {
    /// Index of the fixture in the manifest.
    pub index: usize,
    /// Largest absolute difference between an output and its expected value.
    pub max_abs_diff: f32,
    /// Expected label (classification).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_label: Option<String>,
    /// Predicted label (classification).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Within tolerance, with the right label.
    pub passed: bool,
}

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
    let fixtures = fixture_results(predictor)?;
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

/// Fails with [`PredictError::FixtureFailed`] naming the first fixture out of tolerance.
pub fn check_fixtures(predictor: &mut Predictor) -> Result<()> {
    let tolerance = predictor.manifest().fixtures.tolerance;
    match fixture_results(predictor)?.into_iter().find(|f| !f.passed) {
        None => Ok(()),
        Some(f) => Err(PredictError::FixtureFailed(format!(
            "{}: fixture {} differs from its expected output by {} (tolerance {tolerance}){}",
            predictor.manifest().id(),
            f.index,
            f.max_abs_diff,
            match (&f.expected_label, &f.label) {
                (Some(e), Some(l)) if e != l => format!(", label {l:?} instead of {e:?}"),
                _ => String::new(),
            }
        ))),
    }
}

fn fixture_results(predictor: &mut Predictor) -> Result<Vec<FixtureResult>> {
    let fixtures = predictor.manifest().fixtures.clone();
    let mut results = Vec::with_capacity(fixtures.cases.len());
    for (index, case) in fixtures.cases.iter().enumerate() {
        let prediction = predictor.predict(&case.input)?;
        let expected = &case.expected;
        let result = match prediction {
            Prediction::Classification {
                probabilities, label, ..
            } => {
                let want = expected.probabilities.as_deref().unwrap_or(&[]);
                let max_abs_diff = max_abs_diff(&probabilities, want);
                // A near tie within tolerance may flip the label without any output being wrong.
                let tie = top_two_margin(want) <= 2.0 * fixtures.tolerance;
                let label_ok = tie || expected.label.as_deref() == Some(label.as_str());
                FixtureResult {
                    index,
                    max_abs_diff,
                    passed: max_abs_diff <= fixtures.tolerance && label_ok,
                    expected_label: expected.label.clone(),
                    label: Some(label),
                }
            }
            Prediction::Regression { value } => {
                let diff = (value - expected.value.unwrap_or(f32::NAN)).abs();
                FixtureResult {
                    index,
                    max_abs_diff: diff,
                    passed: diff <= fixtures.tolerance,
                    expected_label: None,
                    label: None,
                }
            }
        };
        results.push(result);
    }
    Ok(results)
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

/// Largest absolute elementwise difference; infinite when the lengths differ.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return f32::INFINITY;
    }
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn top_two_margin(p: &[f32]) -> f32 {
    let mut sorted = p.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    match sorted.as_slice() {
        [a, b, ..] => a - b,
        _ => f32::INFINITY,
    }
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
