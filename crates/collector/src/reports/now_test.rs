//! The now-test: the live model's recent labelled outcomes against the minimum performance its
//! manifest states. Below the minimum the CLI exits non-zero and the server raises an alert.

use serde::Serialize;
use wasm_predict_manifest::Manifest;
use wasm_predict_manifest::Metric;

use super::stats::{self, Proportion};
use super::{joined_outcomes, label_of_actual, shown_predictions, JoinedOutcome};
use crate::events::Event;

/// Fewer labelled outcomes than this give no verdict.
pub const DEFAULT_MIN_OUTCOMES: u64 = 30;

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// At or above the minimum.
    Pass,
    /// Below the minimum.
    Fail,
    /// Too few outcomes to say.
    NotEnoughData,
}

/// The now-test of one model.
#[derive(Debug, Clone, Serialize)]
pub struct NowTest {
    /// `name@version`.
    pub model: String,
    /// The manifest's metric.
    pub metric: Metric,
    /// The manifest's minimum.
    pub minimum: f64,
    /// What it reached at bundling.
    pub at_bundling: Option<f64>,
    /// Labelled outcomes joined to its shown predictions.
    pub outcomes: u64,
    /// The metric on them.
    pub achieved: Option<f64>,
    /// For accuracy: the 95% interval.
    pub interval: Option<Proportion>,
    /// The verdict.
    pub verdict: Verdict,
}

/// Tests the model on the outcomes among `events` (its window).
pub fn now_test(manifest: &Manifest, events: &[Event], min_outcomes: u64) -> NowTest {
    let predictions = shown_predictions(events);
    let mut truth = Vec::new();
    let mut answers = Vec::new();
    let mut correct = 0;
    for JoinedOutcome {
        prediction,
        output,
        actual,
    } in joined_outcomes(events, &predictions)
    {
        let same_model = prediction
            .fields
            .model
            .as_ref()
            .is_some_and(|m| m.name == manifest.name && m.version == manifest.version);
        if !same_model {
            continue;
        }
        match manifest.performance.metric {
            Metric::Accuracy => {
                if let Some(label) = &output.label {
                    answers.push(0.0);
                    correct += u64::from(label_of_actual(actual).as_deref() == Some(label.as_str()));
                }
            }
            Metric::R2 => {
                if let (Some(value), Some(real)) = (output.value, actual.as_f64()) {
                    answers.push(value);
                    truth.push(real);
                }
            }
        }
    }
    let outcomes = answers.len() as u64;
    let (achieved, interval) = match manifest.performance.metric {
        Metric::Accuracy => {
            let interval = stats::wilson(correct, outcomes);
            (interval.map(|p| p.value), interval)
        }
        Metric::R2 => (r2(&truth, &answers), None),
    };
    let verdict = match achieved {
        _ if outcomes < min_outcomes => Verdict::NotEnoughData,
        Some(value) if value >= manifest.performance.minimum => Verdict::Pass,
        Some(_) => Verdict::Fail,
        None => Verdict::NotEnoughData,
    };
    NowTest {
        model: format!("{}@{}", manifest.name, manifest.version),
        metric: manifest.performance.metric,
        minimum: manifest.performance.minimum,
        at_bundling: manifest.performance.achieved,
        outcomes,
        achieved,
        interval,
        verdict,
    }
}

fn r2(truth: &[f64], predicted: &[f64]) -> Option<f64> {
    let mean = stats::summary(truth)?.mean;
    let total: f64 = truth.iter().map(|t| (t - mean).powi(2)).sum();
    if total == 0.0 {
        return None;
    }
    let residual: f64 = truth.iter().zip(predicted).map(|(t, p)| (t - p).powi(2)).sum();
    Some(1.0 - residual / total)
}
