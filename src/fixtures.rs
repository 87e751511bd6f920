//! A bundle's regression fixtures: rows with the outputs onnxruntime gave, checked at every load
//! and by `verify`.

use serde::Serialize;

use crate::error::{PredictError, Result};
use crate::manifest::{Fixtures, STORED_RELATIVE_ERROR};
use crate::prediction::Prediction;

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

/// Fails with [`PredictError::FixtureFailed`] naming the first fixture out of tolerance.
/// `predict` answers one row, as the predictor of model `model` (its `name@version`) does.
pub fn check_fixtures(
    model: &str,
    fixtures: &Fixtures,
    predict: impl FnMut(&[f32]) -> Result<Prediction>,
) -> Result<()> {
    let tolerance = fixtures.tolerance;
    match fixture_results(fixtures, predict)?.into_iter().find(|f| !f.passed) {
        None => Ok(()),
        Some(f) => Err(PredictError::FixtureFailed(format!(
            "{}: fixture {} differs from its expected output by {} (tolerance {tolerance}){}",
            model,
            f.index,
            f.max_abs_diff,
            match (&f.expected_label, &f.label) {
                (Some(e), Some(l)) if e != l => format!(", label {l:?} instead of {e:?}"),
                _ => String::new(),
            }
        ))),
    }
}

/// Runs every fixture through `predict` and compares it with its expected outputs.
pub fn fixture_results(
    fixtures: &Fixtures,
    mut predict: impl FnMut(&[f32]) -> Result<Prediction>,
) -> Result<Vec<FixtureResult>> {
    let mut results = Vec::with_capacity(fixtures.cases.len());
    for (index, case) in fixtures.cases.iter().enumerate() {
        let prediction = predict(&case.input)?;
        let expected = &case.expected;
        let result = match prediction {
            Prediction::Classification {
                probabilities, label, ..
            } => {
                let want = expected.probabilities.as_deref().unwrap_or(&[]);
                let max_abs_diff = max_abs_diff(&probabilities, want);
                let allowed =
                    fixtures.tolerance + STORED_RELATIVE_ERROR * want.iter().fold(0f32, |m, v| m.max(v.abs()));
                // A near tie within tolerance may flip the label without any output being wrong.
                let tie = top_two_margin(want) <= 2.0 * fixtures.tolerance;
                let label_ok = tie || expected.label.as_deref() == Some(label.as_str());
                FixtureResult {
                    index,
                    max_abs_diff,
                    passed: max_abs_diff <= allowed && label_ok,
                    expected_label: expected.label.clone(),
                    label: Some(label),
                }
            }
            Prediction::Regression { value } => {
                let want = expected.value.unwrap_or(f32::NAN);
                let diff = (value - want).abs();
                FixtureResult {
                    index,
                    max_abs_diff: diff,
                    // The expected value is stored to STORED_DIGITS digits: that rounding is allowed.
                    passed: diff <= fixtures.tolerance + STORED_RELATIVE_ERROR * want.abs(),
                    expected_label: None,
                    label: None,
                }
            }
        };
        results.push(result);
    }
    Ok(results)
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
